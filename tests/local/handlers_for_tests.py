"""Dummy Lambda handlers for tests/local/test_esm.py; each records what it was given in CALLS.

An SQS record's body is JSON telling the handler what to do with it:
  {"fail": true}               report the record in batchItemFailures
  {"fail_first_time": true}    the same, on its first delivery only
  {"raise": true}              raise: the invocation fails
  {"bad_response": true}       return a malformed batch response (empty itemIdentifier)
  {"sleep": 0.3}               take that long (seconds)
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

CALLS: list[dict[str, Any]] = []
_calls_lock = threading.Lock()  # the event source mapping invokes from several worker threads


def _record(call: dict[str, Any]) -> None:
    with _calls_lock:
        CALLS.append(call)


def _order(body: str) -> dict[str, Any]:
    try:
        order = json.loads(body)
    except ValueError:
        return {}  # plain text: nothing special to do
    return order if isinstance(order, dict) else {}


def sqs_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.monotonic()
    remaining_at_start = context.get_remaining_time_in_millis()
    orders = [_order(record["body"]) for record in event["Records"]]
    time.sleep(sum(order.get("sleep", 0) for order in orders))
    _record(
        {
            "event": event,
            "context": context,
            "remaining_ms": (remaining_at_start, context.get_remaining_time_in_millis()),
            "started": started,
            "ended": time.monotonic(),
        }
    )
    if any(order.get("raise") for order in orders):
        raise RuntimeError("told to raise")
    if any(order.get("bad_response") for order in orders):
        return {"batchItemFailures": [{"itemIdentifier": ""}]}
    failed = [
        record["messageId"]
        for record, order in zip(event["Records"], orders, strict=True)
        if order.get("fail")
        or (order.get("fail_first_time") and record["attributes"]["ApproximateReceiveCount"] == "1")
    ]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def http_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _record({"event": event, "context": context})
    token = event["pathParameters"]["token"]
    if token == "pdf":
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/pdf"},
            "body": "JVBERi0xLjc=",  # base64 of "%PDF-1.7"
            "isBase64Encoded": True,
        }
    if token == "boom":
        raise RuntimeError("told to raise")
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "text/plain", "X-Token": token},
        "cookies": ["seen=1; Path=/"],
        "body": f"hello {token}",
    }


# A stream record's new image says what to do with it, in its `do` attribute:
#   "fail" / "fail_once"     report it in batchItemFailures (always / the first time it is handed over)
#   "raise" / "raise_once"   raise: the invocation fails (always / the first time)
_handed_over: set[str] = set()


def stream_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _record({"event": event, "context": context})
    failed = []
    for record in event["Records"]:
        number = record["dynamodb"]["SequenceNumber"]
        first_time = number not in _handed_over
        _handed_over.add(number)
        do = record["dynamodb"].get("NewImage", {}).get("do", {}).get("S")
        if do == "raise" or (do == "raise_once" and first_time):
            raise RuntimeError("told to raise")
        if do == "fail" or (do == "fail_once" and first_time):
            failed.append(number)
    return {"batchItemFailures": [{"itemIdentifier": number} for number in failed]}

"""One cold process, as Lambda starts it: import the handler, handle one event, report, exit.

Run as a script (standard library only until it imports what it measures):

    python cold_process.py MARKER_FD floor < {"calls": [...], "also_import": [...]}
    python cold_process.py MARKER_FD MODULE.FUNCTION TIMEOUT_SECONDS [--snapstart] [--record] < {"event": {...}}

It writes each step on MARKER_FD as soon as it is done, with the process's CPU seconds so far
("imported 0.231"); the parent timestamps the lines (the process's stdout is the handler's logs).

`floor` imports only what any such function pays for (boto3, pydantic, Powertools) and the modules
`also_import` names, then makes the given calls with bare clients: the AWS calls with one boto3
client per service, the provider requests with requests - the same calls a function's first record
made (recorded with --record).
`--snapstart` runs the function's before-snapshot hooks (platform.snapstart) after the import and
marks "restored": what follows is what an environment restored from a SnapStart snapshot does.
`--record` writes "calls <json>": the AWS calls and provider requests the handler made.
"""

import importlib
import json
import os
import sys
import time
import uuid

FLOOR_MODULES = ("boto3", "pydantic", "aws_lambda_powertools")


class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name = "cold-start"
    function_version = "$LATEST"
    memory_limit_in_mb = "512"
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:cold-start"
    log_group_name = "/aws/lambda/cold-start"
    log_stream_name = "cold-start"

    def __init__(self, timeout_seconds: float) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> int:
    marker_fd, target, options = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    given = json.load(sys.stdin)
    with os.fdopen(marker_fd, "w", buffering=1) as markers:

        def mark(step: str) -> None:
            markers.write(f"{step} {time.process_time():.4f}\n")

        if target == "floor":
            for module in (*FLOOR_MODULES, *given.get("also_import", [])):
                importlib.import_module(module)
            mark("imported")
            make_calls(given.get("calls", []))
            mark("handled")
            return 0
        module_name, function_name = target.rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), function_name)
        mark("imported")
        if "--snapstart" in options:
            from invoice_export.platform import snapstart

            snapstart.before_snapshot()
            mark("restored")
        recorder = _recording() if "--record" in options else None
        response = handler(given["event"], LambdaContext(float(options[0])))
        failed = isinstance(response, dict) and (response.get("batchItemFailures")
                                                 or response.get("statusCode", 200) >= 400)
        mark("failed" if failed else "handled")
        if recorder is not None:
            markers.write("calls " + json.dumps(recorder()) + "\n")
        return 1 if failed else 0


def make_calls(calls: list) -> None:
    """The recorded calls, made with bare clients; an error answer is a call made like any other."""
    import boto3
    from botocore import xform_name
    from botocore.config import Config
    from botocore.exceptions import ClientError

    clients: dict = {}
    for call in calls:
        if call["kind"] == "http":
            import requests

            requests.request(call["method"], call["url"], headers=call["headers"], data=call["body"], timeout=30)
            continue
        service = call["service"]
        if service not in clients:
            # Path-style S3 only where a local endpoint (moto) has no per-bucket host names, as the service does.
            local = service == "s3" and os.environ.get("AWS_ENDPOINT_URL")
            clients[service] = boto3.client(service, config=Config(s3={"addressing_style": "path"}) if local else None)
        try:
            getattr(clients[service], xform_name(call["operation"]))(**_restore(call["params"]))
        except ClientError:
            pass


def _restore(value):
    import base64

    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {key: _restore(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore(item) for item in value]
    return value


def _recording():
    """Record the handler's AWS calls and provider requests (benchmarks.aws_calls.CallRecorder); returns a
    function giving them in the order made. Only the recording run, which is not timed, uses it."""
    sys.path.insert(0, os.environ["BENCH_REPOSITORY"])
    import requests.adapters

    from benchmarks.aws_calls import CallRecorder

    recorder = CallRecorder()
    recorder.install()
    send = requests.adapters.HTTPAdapter.send

    def recorded_send(adapter, request, *args, **kwargs):
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        recorder.record_http(request.method, request.url, dict(request.headers), body)
        return send(adapter, request, *args, **kwargs)

    requests.adapters.HTTPAdapter.send = recorded_send
    return lambda: recorder.calls


if __name__ == "__main__":
    sys.exit(main())

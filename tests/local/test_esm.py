"""The local stack against moto for real: event source mapping, gateway, environment, outcome capture.

These tests use a small template of their own (TEMPLATE below) and the dummy handlers in
handlers_for_tests.py, so they do not depend on the service's handler code. Visibility timeouts
are shrunk to 1 s so retries show up quickly.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model, SqsModel

from local.esm import failed_message_ids
from local.stack import LocalStack
from local.template import Template, load_yaml, merge_globals

VISIBILITY_S = 1

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  MaxReceives: {Type: Number, Default: 2}
  PublicBaseUrl: {Type: String, Default: ""}
Conditions:
  UseApiUrl: !Equals [!Ref PublicBaseUrl, ""]
Globals:
  Function:
    Runtime: python3.13
    Timeout: 5
    MemorySize: 256
    CodeUri: HANDLERS_DIR
    Environment:
      Variables:
        SHARED: from-globals
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 180
      RedrivePolicy: {deadLetterTargetArn: !GetAtt JobsDLQ.Arn, maxReceiveCount: !Ref MaxReceives}
  JobsDLQ:
    Type: AWS::SQS::Queue
  Ordered:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      VisibilityTimeout: 180
      RedrivePolicy: {deadLetterTargetArn: !GetAtt OrderedDLQ.Arn, maxReceiveCount: 5}
  OrderedDLQ:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true}
  Slow:
    Type: AWS::SQS::Queue
  Items:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: expiration, Enabled: true}
  Outcomes:
    Type: AWS::Events::EventBus
    Properties: {Name: !Sub "${AWS::StackName}-outcomes"}
  Keys:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString:
        SecretStringTemplate: '{"active_kid": "k1"}'
        GenerateStringKey: k1
        PasswordLength: 64
        ExcludePunctuation: true
  Api:
    Type: AWS::Serverless::HttpApi
  JobFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handlers_for_tests.sqs_handler
      Environment:
        Variables:
          JOBS_URL: !Ref Jobs
          JOBS_ARN: !GetAtt Jobs.Arn
          ITEMS_TABLE: !Ref Items
          BUS: !Ref Outcomes
          KEYS_ID: !Ref Keys
          PUBLIC_URL: !If
            - UseApiUrl
            - !Sub "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
            - !Ref PublicBaseUrl
          WHERE: !Sub "${AWS::StackName}/${AWS::Region}/${Items.Arn}"
          MAX_RECEIVES: !Ref MaxReceives
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
  OrderedFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handlers_for_tests.sqs_handler
      Events:
        Ordered:
          Type: SQS
          Properties:
            Queue: !GetAtt Ordered.Arn
            BatchSize: 1
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: {MaximumConcurrency: 2}
  SlowFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handlers_for_tests.sqs_handler
      Timeout: 1
      Events:
        Slow:
          Type: SQS
          Properties: {Queue: !GetAtt Slow.Arn}
  HttpFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handlers_for_tests.http_handler
      Events:
        OpenLink:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: GET, Path: "/d/{token}"}
"""


@pytest.fixture
def stack(template_path: Path) -> LocalStack:
    with LocalStack(template_path, visibility_timeout_override=VISIBILITY_S) as running:
        yield running


@pytest.fixture
def handlers(stack: LocalStack) -> ModuleType:
    """The handler module exactly as the stack imported it (its CALLS is what the handlers saw)."""
    module = sys.modules[stack.function("JobFunction").load().__module__]
    module.CALLS.clear()
    return module


def records_of(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [record for call in calls for record in call["event"]["Records"]]


def messages_left(stack: LocalStack, queue: str) -> int:
    """Messages still on the queue, in flight or not."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url(queue), AttributeNames=names
    )
    return sum(int(attributes["Attributes"][name]) for name in names)


def poll_after_visibility_timeout(stack: LocalStack, queue: str) -> int:
    time.sleep(VISIBILITY_S + 0.2)
    return stack.event_source(queue).poll_once()


# ---------------------------------------------------------------------------------------- SQS


def test_a_batch_reaches_the_handler_in_lambdas_sqs_event_shape(stack, handlers):
    stack.send("Jobs", {"n": 1}, attributes={"kind": "invoice", "size": 3, "blob": b"\x00\x01"})
    stack.send("Jobs", "plain text")

    assert stack.event_source("Jobs").poll_once() == 2

    (call,) = handlers.CALLS
    SqsModel.model_validate(call["event"])  # Powertools' own model of the Lambda SQS event
    first, second = call["event"]["Records"]
    assert set(first) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfMessageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert set(second) == set(first) - {"md5OfMessageAttributes"}  # no attributes, no digest
    assert set(first["attributes"]) == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert first["attributes"]["ApproximateReceiveCount"] == "1"
    assert json.loads(first["body"]) == {"n": 1}
    assert first["md5OfBody"] == hashlib.md5(first["body"].encode()).hexdigest()
    assert first["eventSource"] == "aws:sqs"
    assert first["eventSourceARN"] == stack.arn("Jobs")
    assert first["awsRegion"] == "eu-central-1"
    assert first["messageAttributes"] == {
        "kind": {
            "stringValue": "invoice",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "size": {"stringValue": "3", "stringListValues": [], "binaryListValues": [], "dataType": "Number"},
        "blob": {
            "binaryValue": base64.b64encode(b"\x00\x01").decode(),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }
    assert messages_left(stack, "Jobs") == 0  # both deleted


def test_partial_failure_returns_only_the_failed_record(stack, handlers):
    stack.send("Jobs", {"n": 1})
    failing_id = stack.send("Jobs", {"n": 2, "fail": True})
    stack.send("Jobs", {"n": 3})

    assert stack.event_source("Jobs").poll_once() == 3
    assert poll_after_visibility_timeout(stack, "Jobs") == 1

    retried = records_of(handlers.CALLS[1:])
    assert [record["messageId"] for record in retried] == [failing_id]
    assert retried[0]["attributes"]["ApproximateReceiveCount"] == "2"


def test_a_handler_that_raises_gets_the_whole_batch_again(stack, handlers):
    ids = [stack.send("Jobs", {"n": 1}), stack.send("Jobs", {"n": 2, "raise": True})]

    stack.event_source("Jobs").poll_once()
    assert poll_after_visibility_timeout(stack, "Jobs") == 2

    retried = records_of(handlers.CALLS[1:])
    assert sorted(record["messageId"] for record in retried) == sorted(ids)
    assert {record["attributes"]["ApproximateReceiveCount"] for record in retried} == {"2"}


def test_a_malformed_batch_response_fails_the_whole_batch(stack, handlers):
    stack.send("Jobs", {"n": 1})
    stack.send("Jobs", {"n": 2, "bad_response": True})

    stack.event_source("Jobs").poll_once()

    assert stack.event_source("Jobs").stats.returned == 2
    assert messages_left(stack, "Jobs") == 2


@pytest.mark.parametrize(
    ("response", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b"}),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, {"a", "b"}),
        ({"batchItemFailures": [{"itemIdentifier": "unknown"}]}, {"a", "b"}),
        ({"batchItemFailures": [{"itemId": "b"}]}, {"a", "b"}),
        ({"batchItemFailures": "b"}, {"a", "b"}),
        ("ok", {"a", "b"}),
    ],
)
def test_batch_responses_are_read_as_lambda_reads_them(response, failed):
    assert failed_message_ids(response, ["a", "b"]) == failed


def test_after_max_receive_count_the_message_is_in_the_dlq(stack, handlers):
    poison_id = stack.send("Jobs", {"fail": True})

    stack.run_until_idle(timeout=15)

    assert [message["MessageId"] for message in stack.dlq_messages("Jobs")] == [poison_id]
    assert len(records_of(handlers.CALLS)) == 2  # MaxReceives
    assert len(stack.dlq_messages("Jobs")) == 1  # a peek leaves the messages there


def test_an_invocation_past_its_timeout_fails_like_in_lambda(stack, handlers):
    stack.send("Slow", {"sleep": 1.2})  # SlowFunction's Timeout is 1 s

    stack.event_source("Slow").poll_once()

    assert stack.event_source("Slow").stats.returned == 1
    assert messages_left(stack, "Slow") == 1


def test_fifo_keeps_order_within_a_group_and_runs_groups_side_by_side(stack, handlers):
    sent: dict[str, list[str]] = {"A": [], "B": []}
    for n in range(4):
        for group, ids in sent.items():
            # A0 fails once: the rest of group A must wait for it, group B must not.
            body = {"group": group, "n": n, "sleep": 0.05, "fail_first_time": (group, n) == ("A", 0)}
            ids.append(stack.send("Ordered", body, group_id=group))

    stack.run_until_idle(timeout=20)

    succeeded = {"A": [], "B": []}
    spans = {"A": [], "B": []}
    for call in handlers.CALLS:
        (record,) = call["event"]["Records"]  # BatchSize 1
        group = record["attributes"]["MessageGroupId"]
        assert {"MessageDeduplicationId", "SequenceNumber"} <= set(record["attributes"])
        spans[group].append((call["started"], call["ended"]))
        if not (
            json.loads(record["body"])["fail_first_time"]
            and record["attributes"]["ApproximateReceiveCount"] == "1"
        ):
            succeeded[group].append(record["messageId"])
    assert succeeded == sent
    for group_spans in spans.values():  # never two invocations of one group at the same time
        ordered = sorted(group_spans)
        assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(ordered))
    a_retry_start = sorted(spans["A"])[1][0]
    # Group B went on while A0 waited out its visibility timeout.
    assert sum(end < a_retry_start for _, end in spans["B"]) >= 2
    assert stack.dlq_messages("Ordered") == []


def test_the_context_counts_down_from_the_function_timeout(stack, handlers):
    stack.send("Jobs", {"sleep": 0.3})

    stack.event_source("Jobs").poll_once()

    (call,) = handlers.CALLS
    context = call["context"]
    at_start, at_end = call["remaining_ms"]
    assert 4_500 < at_start <= 5_000  # Timeout: 5
    assert 250 <= at_start - at_end < 1_000
    assert context.function_name == "JobFunction"
    assert context.memory_limit_in_mb == "256"
    assert context.invoked_function_arn == "arn:aws:lambda:eu-central-1:123456789012:function:JobFunction"
    assert context.log_group_name == "/aws/lambda/JobFunction"
    assert context.aws_request_id and context.log_stream_name and context.function_version == "$LATEST"


def test_run_until_idle_processes_everything_then_stops_the_pollers(stack, handlers):
    for n in range(12):
        stack.send("Jobs", {"n": n})

    stack.run_until_idle(timeout=10)

    assert sorted(json.loads(record["body"])["n"] for record in records_of(handlers.CALLS)) == list(range(12))
    assert not any(mapping.running for mapping in stack.event_sources)


# ---------------------------------------------------------------------------------------- gateway


def test_the_gateway_builds_a_v2_event_and_returns_the_handlers_response(stack, handlers):
    request = urllib.request.Request(
        f"{stack.gateway_url}/d/abc123?x=1&x=2&y=",
        headers={"User-Agent": "test-agent", "X-Custom": "Yes", "Cookie": "a=1; b=2"},
    )
    with urllib.request.urlopen(request) as response:
        status, headers, body = response.status, response.headers, response.read()

    assert (status, body) == (201, b"hello abc123")
    assert headers["X-Token"] == "abc123" and headers["Content-Type"] == "text/plain"
    assert headers["Set-Cookie"] == "seen=1; Path=/"

    (call,) = handlers.CALLS
    event = call["event"]
    APIGatewayProxyEventV2Model.model_validate(event)
    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "GET /d/{token}"
    assert event["rawPath"] == "/d/abc123"
    assert event["rawQueryString"] == "x=1&x=2&y="
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["pathParameters"] == {"token": "abc123"}
    assert event["headers"]["x-custom"] == "Yes"
    assert all(name == name.lower() for name in event["headers"])
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["isBase64Encoded"] is False
    http = event["requestContext"]["http"]
    assert http == {
        "method": "GET",
        "path": "/d/abc123",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "test-agent",
    }
    assert event["requestContext"]["stage"] == "$default"
    assert abs(event["requestContext"]["timeEpoch"] / 1000 - time.time()) < 5
    assert call["context"].function_name == "HttpFunction"


def test_the_gateway_decodes_base64_bodies_and_answers_like_api_gateway(stack, handlers):
    with urllib.request.urlopen(f"{stack.gateway_url}/d/pdf") as response:
        assert response.read() == b"%PDF-1.7"
        assert response.headers["Content-Type"] == "application/pdf"

    with urllib.request.urlopen(f"{stack.gateway_url}/d/a%20b") as response:
        assert response.headers["X-Token"] == "a b"  # path parameters arrive URL-decoded

    for path, status, body in [
        ("/nowhere", 404, b'{"message":"Not Found"}'),
        ("/d/boom", 500, b'{"message":"Internal Server Error"}'),
    ]:
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(stack.gateway_url + path)
        assert (raised.value.code, raised.value.read()) == (status, body)


# ---------------------------------------------------------------------------------------- environment


def test_function_environment_resolves_to_local_names(stack):
    env = stack.function_env("JobFunction")

    assert env == {
        "SHARED": "from-globals",
        "JOBS_URL": stack.queue_url("Jobs"),
        "JOBS_ARN": "arn:aws:sqs:eu-central-1:123456789012:Jobs",
        "ITEMS_TABLE": "Items",
        "BUS": "invoice-export-local-outcomes",
        "KEYS_ID": stack.ref("Keys"),
        "PUBLIC_URL": stack.gateway_url,
        "WHERE": "invoice-export-local/eu-central-1/arn:aws:dynamodb:eu-central-1:123456789012:table/Items",
        "MAX_RECEIVES": "2",
    }
    assert stack.function_env("OrderedFunction") == {"SHARED": "from-globals"}
    assert all(os.environ[name] == value for name, value in env.items())
    assert os.environ["AWS_ENDPOINT_URL"] == stack.endpoint_url
    assert os.environ["AWS_SHARED_CREDENTIALS_FILE"] == os.environ["AWS_CONFIG_FILE"] == "/dev/null"


def test_resources_follow_the_template(stack):
    sqs = stack.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.queue_url("Ordered"), AttributeNames=["All"])[
        "Attributes"
    ]
    assert stack.queue_url("Ordered").endswith("/Ordered.fifo")
    assert attributes["FifoQueue"] == "true"
    assert attributes["VisibilityTimeout"] == str(VISIBILITY_S)
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": stack.arn("OrderedDLQ"),
        "maxReceiveCount": 5,
    }
    ttl = stack.client("dynamodb").describe_time_to_live(TableName="Items")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
    secret = json.loads(
        stack.client("secretsmanager").get_secret_value(SecretId=stack.ref("Keys"))["SecretString"]
    )
    assert secret["active_kid"] == "k1" and len(secret["k1"]) == 64 and secret["k1"].isalnum()


def test_overrides_and_the_environment_is_restored_on_stop(template_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://before")
    monkeypatch.setenv("AWS_PROFILE", "someones-real-profile")

    with LocalStack(
        template_path,
        parameter_overrides={"PublicBaseUrl": "https://docs.example"},
        max_receive_count_override=7,
    ) as stack:
        assert stack.function_env("JobFunction")["PUBLIC_URL"] == "https://docs.example"
        assert "AWS_PROFILE" not in os.environ
        attributes = stack.client("sqs").get_queue_attributes(
            QueueUrl=stack.queue_url("Jobs"), AttributeNames=["RedrivePolicy", "VisibilityTimeout"]
        )["Attributes"]
        assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 7
        assert attributes["VisibilityTimeout"] == "180"  # the template's, without an override

    assert os.environ["AWS_ENDPOINT_URL"] == "http://before"
    assert os.environ["AWS_PROFILE"] == "someones-real-profile"
    assert "JOBS_URL" not in os.environ


def test_the_outcome_capture_receives_events_put_on_the_bus(stack):
    # As a handler would: the default boto3 session, configured only by the environment.
    boto3.client("events").put_events(
        Entries=[
            {
                "EventBusName": os.environ["BUS"],
                "Source": "invoice-export",
                "DetailType": "DocumentExported",
                "Detail": json.dumps({"document_id": "d-1"}),
            }
        ]
    )

    (event,) = stack.outcome_events(drain=False)
    assert event["detail-type"] == "DocumentExported"
    assert event["source"] == "invoice-export"
    assert event["detail"] == {"document_id": "d-1"}
    assert stack.outcome_events() == [event]  # kept by drain=False, then drained
    assert stack.outcome_events() == []


# ---------------------------------------------------------------------------------------- template


def test_short_tags_load_as_long_form_intrinsics():
    document = load_yaml(
        "a: !Ref X\nb: !GetAtt Q.Arn\nc: !Sub 'x-${AWS::Region}'\nd: !If [C, 1, 2]\ne: !Join ['-', [a, b]]\n"
    )
    assert document == {
        "a": {"Ref": "X"},
        "b": {"Fn::GetAtt": ["Q", "Arn"]},
        "c": {"Fn::Sub": "x-${AWS::Region}"},
        "d": {"Fn::If": ["C", 1, 2]},
        "e": {"Fn::Join": ["-", ["a", "b"]]},
    }


def test_globals_merge_like_sam():
    merged = merge_globals(
        {"Timeout": 30, "Layers": ["L1"], "Environment": {"Variables": {"A": "1", "B": {"Ref": "X"}}}},
        {"Timeout": 15, "Layers": ["L2"], "Environment": {"Variables": {"B": "own"}}},
    )
    assert merged == {
        "Timeout": 15,
        "Layers": ["L1", "L2"],
        "Environment": {"Variables": {"A": "1", "B": "own"}},
    }


def test_the_real_template_reads_and_every_resource_is_accounted_for():
    template = Template(Path(__file__).resolve().parents[2] / "infra" / "template.yaml")
    functions = template.functions()
    assert {event.queue for spec in functions.values() for event in spec.sqs_events} == {
        "ExportQueue",
        "PdfQueue",
        "KsefQueue",
        "SettleQueue",
    }
    assert (
        template.queues()["ExportQueue"].redrive.max_receive_count
        == template.parameters["ExportMaxReceiveCount"]
    )
    assert all(spec.timeout_s and spec.handler for spec in functions.values())


def test_the_real_template_comes_up_locally():
    with LocalStack() as stack:
        names = {
            logical_id: stack.ref(logical_id)
            for logical_id in stack.template.resources
            if logical_id in stack._refs
        }
        assert {
            "ExportQueue",
            "ExportDLQ",
            "PdfQueue",
            "PdfDLQ",
            "AccountsTable",
            "DocumentsTable",
            "RecordChangeFailures",
            "PdfBucket",
            "OutcomeEventBus",
            "LinkSigningKeySecret",
        } <= set(names)
        assert stack.queue_url("ExportQueue").endswith("/ExportQueue.fifo")
        assert stack.ref("OutcomeEventBus") == "invoice-export-local-outcomes"
        assert stack.function_env("ExportFunction")["LINK_BASE_URL"] == stack.gateway_url
        assert [mapping.queue.name for mapping in stack.event_sources] == ["ExportQueue.fifo", "PdfQueue",
                                                                           "KsefQueue", "SettleQueue"]
        [stream] = stack.stream_sources
        assert (stream.event.table, stream.function.name, stream.stream_arn) == (
            "DocumentsTable", "RecordChangesFunction", stack._attributes["DocumentsTable"]["StreamArn"])
        assert stream.on_failure.url == stack.queue_url("RecordChangeFailures")

"""The DynamoDB Streams event source emulator (local/streams.py) against moto's streams, with a small
template of its own and the dummy handler in handlers_for_tests.py (`do` in an item's new image says
what the handler does with its record)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from botocore.exceptions import ClientError

from local.stack import LocalStack
from local.streams import StreamEventSourceMapping
from local.template import Template

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
    Timeout: 5
    CodeUri: HANDLERS_DIR
Resources:
  Items:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
  Others:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
  Given:
    Type: AWS::SQS::Queue
  ChangesFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handlers_for_tests.stream_handler
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Items.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: 4
            FunctionResponseTypes: [ReportBatchItemFailures]
            BisectBatchOnFunctionError: true
            MaximumRetryAttempts: 2
            DestinationConfig:
              OnFailure: {Type: SQS, Destination: !GetAtt Given.Arn}
  LatestFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handlers_for_tests.stream_handler
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Others.StreamArn
            StartingPosition: LATEST
"""


@pytest.fixture
def stack(template_path: Path) -> LocalStack:
    with LocalStack(template_path) as running:
        yield running


@pytest.fixture
def handlers(stack: LocalStack) -> ModuleType:
    module = sys.modules[stack.function("ChangesFunction").load().__module__]
    module.CALLS.clear()
    module._handed_over.clear()  # each stack's stream starts at the same sequence number
    return module


def put(stack: LocalStack, item_id: str, table: str = "Items", **attributes: str) -> None:
    item = {"id": {"S": item_id}, **{name: {"S": value} for name, value in attributes.items()}}
    stack.client("dynamodb").put_item(TableName=stack.ref(table), Item=item)


def handed_over(handlers: ModuleType) -> list[list[str]]:
    """Per invocation, the ids (and the change) of the records handed over."""
    return [[f"{r['eventName']} {r['dynamodb']['Keys']['id']['S']}" for r in call["event"]["Records"]]
            for call in handlers.CALLS]


def given_up(stack: LocalStack) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    messages = sqs.receive_message(QueueUrl=stack.queue_url("Given"), MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_the_template_event_is_read_with_every_setting(template_path):
    (event,) = Template(template_path).functions()["ChangesFunction"].stream_events
    assert (event.table, event.starting_position, event.batch_size, event.bisect_batch_on_function_error,
            event.maximum_retry_attempts, event.on_failure, event.reports_batch_item_failures) == (
        "Items", "TRIM_HORIZON", 4, True, 2, "Given", True)


def test_puts_updates_deletes_and_transactions_reach_the_handler_in_lambdas_shape(stack, handlers):
    dynamodb, table = stack.client("dynamodb"), stack.ref("Items")
    put(stack, "a", colour="red")
    dynamodb.update_item(TableName=table, Key={"id": {"S": "a"}}, UpdateExpression="SET colour = :c",
                         ExpressionAttributeValues={":c": {"S": "blue"}})
    dynamodb.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {"id": {"S": "b"}}}},
        {"Update": {"TableName": table, "Key": {"id": {"S": "a"}}, "UpdateExpression": "SET amount = :s",
                    "ExpressionAttributeValues": {":s": {"N": "3"}}}}])
    dynamodb.delete_item(TableName=table, Key={"id": {"S": "b"}})
    stack.run_until_idle(timeout=20)

    records = [r for call in handlers.CALLS for r in call["event"]["Records"]]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["id"]["S"]) for r in records] == [
        ("INSERT", "a"), ("MODIFY", "a"), ("INSERT", "b"), ("MODIFY", "a"), ("REMOVE", "b")]
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert numbers == sorted(numbers) and len(set(numbers)) == 5
    first, modified = records[0], records[1]
    assert first["eventSource"] == "aws:dynamodb" and first["awsRegion"] == stack.region
    assert first["eventSourceARN"] == stack._attributes["Items"]["StreamArn"]
    assert isinstance(first["dynamodb"]["ApproximateCreationDateTime"], int)
    assert "OldImage" not in first["dynamodb"]
    assert (modified["dynamodb"]["OldImage"]["colour"], modified["dynamodb"]["NewImage"]["colour"]) == (
        {"S": "red"}, {"S": "blue"})
    assert records[3]["dynamodb"]["NewImage"]["amount"] == {"N": "3"}
    assert "NewImage" not in records[4]["dynamodb"]
    # Powertools reads the event as Lambda's: the same shape.
    parsed = list(DynamoDBStreamEvent(handlers.CALLS[0]["event"]).records)
    assert parsed[0].dynamodb.new_image == {"id": "a", "colour": "red"}


def test_a_cancelled_transaction_writes_nothing_to_the_stream(stack, handlers):
    dynamodb, table = stack.client("dynamodb"), stack.ref("Items")
    put(stack, "a")
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"id": {"S": "c"}}}},
            {"Put": {"TableName": table, "Item": {"id": {"S": "a"}},
                     "ConditionExpression": "attribute_not_exists(id)"}}])
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    put(stack, "d")
    stack.run_until_idle(timeout=20)
    assert [name for batch in handed_over(handlers) for name in batch] == ["INSERT a", "INSERT d"]


def test_a_partial_failure_hands_over_again_from_the_first_failed_record(stack, handlers):
    for item_id, do in (("a", "ok"), ("b", "fail_once"), ("c", "ok")):
        put(stack, item_id, do=do)
    stack.run_until_idle(timeout=20)
    assert handed_over(handlers) == [["INSERT a", "INSERT b", "INSERT c"], ["INSERT b", "INSERT c"]]
    assert given_up(stack) == []


def test_a_failing_record_is_isolated_by_bisecting_retried_then_described_to_the_destination(stack, handlers):
    for item_id, do in (("a", "ok"), ("b", "ok"), ("c", "raise"), ("d", "ok"), ("e", "ok")):
        put(stack, item_id, do=do)
    stack.run_until_idle(timeout=30)
    calls = handed_over(handlers)
    # The first batch of 4 fails, its first half goes through, then the rest is halved down to c.
    assert calls[:3] == [["INSERT a", "INSERT b", "INSERT c", "INSERT d"], ["INSERT a", "INSERT b"],
                         ["INSERT c", "INSERT d", "INSERT e"]]
    assert calls.count(["INSERT c"]) == 2  # bisected to it, then its retries (2 in all)
    assert calls[-1] == ["INSERT d", "INSERT e"]  # the stream moves on past it
    (failure,) = given_up(stack)
    info = failure["DDBStreamBatchInfo"]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert (info["batchSize"], info["startSequenceNumber"], info["endSequenceNumber"]) == (
        1, info["startSequenceNumber"], info["startSequenceNumber"])
    assert info["streamArn"] == stack._attributes["Items"]["StreamArn"]
    # What it names is still in the stream (for 24 hours in DynamoDB): the record of c.
    streams = stack.client("dynamodbstreams")
    iterator = streams.get_shard_iterator(StreamArn=info["streamArn"], ShardId=info["shardId"],
                                          ShardIteratorType="AT_SEQUENCE_NUMBER",
                                          SequenceNumber=info["startSequenceNumber"])["ShardIterator"]
    (record,) = streams.get_records(ShardIterator=iterator, Limit=1)["Records"]
    assert record["dynamodb"]["Keys"]["id"]["S"] == "c"


def test_changes_of_one_item_arrive_in_the_order_they_were_made(stack, handlers):
    for colour in ("red", "green", "blue", "black", "white", "grey", "pink"):
        put(stack, "a", colour=colour)
    stack.run_until_idle(timeout=20)
    colours = [r["dynamodb"]["NewImage"]["colour"]["S"] for call in handlers.CALLS for r in call["event"]["Records"]]
    assert colours == ["red", "green", "blue", "black", "white", "grey", "pink"]


def test_latest_reads_only_what_is_written_after_the_mapping_started(stack, handlers):
    put(stack, "before", table="Others")
    mapping = stack.stream_source("Others")
    fresh = StreamEventSourceMapping(mapping.function, mapping.event, mapping.stream_arn,
                                     stack.client("dynamodbstreams"), stack.client("sqs"))
    put(stack, "after", table="Others")
    assert fresh.poll_once() == 1
    assert handed_over(handlers) == [["INSERT after"]]
    assert mapping.poll_once() == 2  # the stack's own mapping started before both


def test_run_until_idle_waits_for_the_stream_to_be_read(stack, handlers):
    put(stack, "a")
    assert stack.stream_source("Items").pending()
    stack.run_until_idle(timeout=20)
    assert not stack.stream_source("Items").pending()
    assert handed_over(handlers) == [["INSERT a"]]

"""The local stack: the SAM template brought up on moto, with the handlers run in this process.

Used by `make run` (the demo) and by the end-to-end tests, so both exercise the same wiring:

    with LocalStack() as stack:                 # moto server + every resource of infra/template.yaml
        stack.send("ExportQueue", {...}, group_id="acc-1")
        stack.run_until_idle()                  # drive the SQS and stream event sources until all is settled
        events = stack.outcome_events()         # what the functions put on the outcome bus
        requests.get(f"{stack.gateway_url}/d/{token}")   # the HttpApi routes, payload format 2.0

What it does, in order (see `start`):

1. points boto3 at a local moto server through the environment only (AWS_ENDPOINT_URL, fake
   credentials, no shared config files: a developer's real profile can never be used), so the
   handlers need no endpoint plumbing;
2. creates every template resource that has a local meaning, named after its logical id
   (`NOT_CREATED` lists the types that have none, and why);
3. resolves each function's Environment from the template (Ref/GetAtt/Sub/If) and sets the
   union in os.environ - all handlers share this process, and a variable name means the same in
   every function, which `start` checks;
4. serves the HttpApi routes through `local.gateway`, and builds one `local.esm` event source
   mapping per SQS event and one `local.streams` mapping per DynamoDB stream event; these poll
   only when asked (`run_until_idle`, `start_pollers`).

Timing: moto's SQS runs on real time. A message a handler failed stays invisible for the queue's
VisibilityTimeout (180 s in the template) before it is received again, and `run_until_idle` waits
for it. Tests that exercise retries should pass `visibility_timeout_override=1` or 2 (and maybe
`max_receive_count_override`), or make a message visible at once with
`change_message_visibility(..., VisibilityTimeout=0)`.

One stack per process at a time: moto keeps its state in process-wide globals, and the stack
owns os.environ while it runs. The moto server itself is started once per process and shared by
consecutive stacks, each of which starts from a reset (empty) moto: stopping the server costs
0.5 s, and a stable endpoint - like the reused gateway port and bucket name - keeps boto3 clients
and settings that handler modules captured at import time valid for the next stack.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import os
import re
import secrets
import socket
import string
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import boto3
from moto.server import ThreadedMotoServer

from local import moto_fixes
from local.esm import (
    ACCOUNT_ID,
    DEFAULT_WORKERS_PER_MAPPING,
    LocalFunction,
    SourceQueue,
    SqsEventSourceMapping,
)
from local.gateway import LOCAL_API_ID, HttpApiGateway, Route
from local.streams import FailureDestination, StreamEventSourceMapping
from local.template import (
    IntrinsicResolver,
    Queue,
    Template,
    UnresolvableError,
    environment_string,
)

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[1] / "infra" / "template.yaml"
STACK_NAME = "invoice-export-local"
REGION = "eu-central-1"
OUTCOME_CAPTURE_QUEUE = "OutcomeEventsCapture"  # local only: receives every event put on the bus(es)

# Template resource types that get no local resource, and why. A type that is neither here nor
# handled by `_create_resources` stops `start()`: a new kind of resource needs a decision.
NOT_CREATED = {
    "AWS::Serverless::Function": "run in this process (local.esm for SQS events, local.streams for DynamoDB "
                                 "stream events, local.gateway for HttpApi)",
    "AWS::Serverless::HttpApi": "served by local.gateway",
    "AWS::Serverless::Api": "served by local.gateway under /<StageName> (REST payload 1.0, see local.rest_api)",
    "AWS::CloudWatch::Alarm": "moto stores alarms but nothing here publishes the metrics they watch",
    "AWS::Serverless::LayerVersion": "its folder goes on sys.path, as the layer's python/ folder does in Lambda",
    "AWS::Logs::LogGroup": "handlers log to this process's stderr",
    "AWS::IAM::Role": "moto does not enforce IAM here",
    "AWS::IAM::Policy": "moto does not enforce IAM here",
    "AWS::IAM::ManagedPolicy": "moto does not enforce IAM here",
    "AWS::Lambda::Permission": "nothing invokes the functions but this process",
    # moto *does* evaluate bucket policies, and its endpoint is plain HTTP: the template's
    # DenyInsecureTransport statement would refuse every request (verified: 403 on PutObject).
    "AWS::S3::BucketPolicy": "would deny all plain-HTTP requests to moto",
}

# Template properties of AWS::SQS::Queue that are SQS queue attributes of the same name.
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)
# `https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}[/path]`: an HTTP API's own URL.
_EXECUTE_API_URL = re.compile(
    r"https://\$\{(\w+)\}\.execute-api\.\$\{AWS::Region\}\.\$\{AWS::URLSuffix\}(.*)"
)
_API_TYPES = {"AWS::Serverless::HttpApi", "AWS::Serverless::Api"}

# Kept per process: see "One stack per process" in the module docstring.
_active_stack: LocalStack | None = None
_moto_server: ThreadedMotoServer | None = None
_previous_gateway_port = 0
_BUCKET_SUFFIX = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(6))


class LocalStack:
    def __init__(
        self,
        template_path: Path | str = DEFAULT_TEMPLATE,
        *,
        parameter_overrides: Mapping[str, Any] | None = None,
        visibility_timeout_override: int | None = None,
        max_receive_count_override: int | None = None,
        workers_per_mapping: int = DEFAULT_WORKERS_PER_MAPPING,
        stack_name: str = STACK_NAME,
        region: str = REGION,
    ):
        self.template = Template(Path(template_path), parameter_overrides)
        self.stack_name = stack_name
        self.region = region
        self.visibility_timeout_override = visibility_timeout_override
        self.max_receive_count_override = max_receive_count_override
        self.workers_per_mapping = workers_per_mapping

        self._queues: dict[str, Queue] = self.template.queues()
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._saved_environ: dict[str, str | None] = {}
        self._gateway: HttpApiGateway | None = None
        self._forget_previous_run()

    def _forget_previous_run(self) -> None:
        """What one start() builds; a stopped stack can be started again from scratch."""
        self.env: dict[str, str] = {}  # every variable this stack put in os.environ
        self.endpoint_url = ""
        self.event_sources: list[SqsEventSourceMapping] = []
        self.stream_sources: list[StreamEventSourceMapping] = []
        self._functions: dict[str, LocalFunction] = {}
        self._function_env: dict[str, dict[str, str]] = {}
        self._refs: dict[str, str] = {}  # logical id -> what !Ref gives
        self._attributes: dict[str, dict[str, str]] = {}  # logical id -> what !GetAtt gives
        self._captured_events: list[dict[str, Any]] = []

    # ------------------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> Self:
        global _active_stack
        if _active_stack is not None:
            raise RuntimeError("another LocalStack is running in this process; stop it first")
        _active_stack = self
        self._forget_previous_run()
        try:
            self._point_aws_at_moto()
            self._functions = self._local_functions()
            self._start_gateway()
            self._create_resources()
            self._capture_outcome_events()
            self._apply_function_environment()
            self.event_sources = self._event_source_mappings()
            self.stream_sources = self._stream_event_source_mappings()
        except BaseException:
            self.stop()
            raise
        log.info("local stack up: AWS at %s, HTTP API at %s", self.endpoint_url, self.gateway_url)
        return self

    def stop(self) -> None:
        global _active_stack
        if _active_stack is not self:  # never started, or stopped already
            return
        self.stop_pollers()
        if self._gateway:
            self._gateway.stop()
            self._gateway = None
        if self.endpoint_url:
            _reset_moto(self.endpoint_url)  # frees what this stack stored; the server stays up
        self._restore_environ()
        self._clients.clear()
        _active_stack = None

    # ------------------------------------------------------------------------------ public helpers

    @property
    def gateway_url(self) -> str:
        if self._gateway is None:
            raise RuntimeError("stack not started")
        return self._gateway.url

    def client(self, service: str) -> Any:
        """A boto3 client bound to this stack's moto (independent of boto3's default session)."""
        with self._clients_lock:
            if service not in self._clients:
                session = _local_session(self.region)
                self._clients[service] = session.client(service, endpoint_url=self.endpoint_url)
            return self._clients[service]

    def ref(self, logical_id: str) -> str:
        """What `!Ref LogicalId` gives locally (queue URL, table/bucket/bus name, secret ARN)."""
        return self._refs[logical_id]

    def arn(self, logical_id: str) -> str:
        return self._attributes[logical_id]["Arn"]

    def queue_url(self, logical_id: str) -> str:
        return self._attributes[logical_id]["QueueUrl"]

    def function(self, logical_id: str) -> LocalFunction:
        """A function of the template, e.g. to invoke one that has no local trigger (schedules)."""
        return self._functions[logical_id]

    def function_env(self, logical_id: str) -> dict[str, str]:
        """The function's Environment Variables from the template, resolved to local values."""
        return dict(self._function_env[logical_id])

    def send(
        self,
        queue_logical_id: str,
        body: str | dict[str, Any],
        group_id: str | None = None,
        dedup_id: str | None = None,
        *,
        attributes: Mapping[str, str | float | bytes] | None = None,
        delay_s: int = 0,
    ) -> str:
        """Send one message as a producer would; returns its MessageId.

        On a FIFO queue without content-based deduplication a missing `dedup_id` becomes a fresh
        uuid, so every call is a new message; pass one to test deduplication.
        """
        queue = self._queues[queue_logical_id]
        request: dict[str, Any] = {
            "QueueUrl": self.queue_url(queue_logical_id),
            "MessageBody": body if isinstance(body, str) else json.dumps(body),
        }
        if queue.fifo:
            if group_id is None:
                raise ValueError(f"{queue_logical_id} is a FIFO queue: pass group_id")
            if dedup_id is None and not queue.content_based_deduplication:
                dedup_id = uuid.uuid4().hex
        if group_id is not None:
            request["MessageGroupId"] = group_id
        if dedup_id is not None:
            request["MessageDeduplicationId"] = dedup_id
        if attributes:
            request["MessageAttributes"] = {
                name: _message_attribute(value) for name, value in attributes.items()
            }
        if delay_s:
            request["DelaySeconds"] = delay_s
        return self.client("sqs").send_message(**request)["MessageId"]

    def dlq_messages(self, queue_logical_id: str) -> list[dict[str, Any]]:
        """The messages now in the dead-letter queue of `queue_logical_id` (ReceiveMessage shape).

        A peek: the messages stay in the DLQ. SQS (and moto) hands out a FIFO message group only
        after its received messages are released, so this shows at most 10 messages per group.
        """
        queue = self._queues[queue_logical_id]
        if queue.redrive is None:
            raise ValueError(f"{queue_logical_id} has no RedrivePolicy")
        dlq_url = self.queue_url(queue.redrive.dead_letter_queue)
        sqs = self.client("sqs")
        seen: dict[str, dict[str, Any]] = {}
        while True:
            received = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                break
            seen.update((message["MessageId"], message) for message in received)
        for message in seen.values():  # put them back
            sqs.change_message_visibility(
                QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return list(seen.values())

    def outcome_events(self, drain: bool = True) -> list[dict[str, Any]]:
        """EventBridge envelopes put on the template's bus(es) so far, oldest first
        (`{"detail-type": ..., "source": ..., "detail": {...}, ...}`). `drain=False` keeps them for
        the next call."""
        sqs = self.client("sqs")
        url = self.queue_url(OUTCOME_CAPTURE_QUEUE)
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            self._captured_events += [json.loads(message["Body"]) for message in messages]
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        events = list(self._captured_events)
        if drain:
            self._captured_events.clear()
        return events

    # ------------------------------------------------------------------------------ event sources

    def event_source(self, queue_logical_id: str) -> SqsEventSourceMapping:
        """The event source mapping that consumes this queue (e.g. for `poll_once()` in a test)."""
        for mapping in self.event_sources:
            if mapping.event.queue == queue_logical_id:
                return mapping
        raise KeyError(f"no function has an SQS event on {queue_logical_id}")

    def stream_source(self, table_logical_id: str) -> StreamEventSourceMapping:
        """The event source mapping that reads this table's stream (e.g. for `poll_once()` in a test)."""
        for mapping in self.stream_sources:
            if mapping.event.table == table_logical_id:
                return mapping
        raise KeyError(f"no function has a DynamoDB stream event on {table_logical_id}")

    def _all_sources(self) -> list[SqsEventSourceMapping | StreamEventSourceMapping]:
        return [*self.event_sources, *self.stream_sources]

    def start_pollers(self) -> None:
        """Poll every SQS and stream event source in the background until `stop_pollers()`."""
        for mapping in self._all_sources():
            mapping.function.load()  # an import error surfaces here, not as a retried batch
        for mapping in self._all_sources():
            mapping.start()

    def stop_pollers(self) -> None:
        for mapping in self._all_sources():
            mapping.request_stop()  # all at once: each may sit in a 1 s long poll
        for mapping in self._all_sources():
            mapping.stop()

    def run_until_idle(self, timeout: float = 60) -> None:
        """Drive all event sources until every source queue is empty, every stream read to its end,
        and no batch is in flight.

        Failed messages count as in flight until their visibility timeout lets them be received
        again (and, in the end, be dead-lettered) - see the module docstring about timing. Raises
        TimeoutError with the queue counts if that does not happen within `timeout` seconds.
        """
        started_here = not any(mapping.running for mapping in self._all_sources())
        if started_here:
            self.start_pollers()
        try:
            deadline = time.monotonic() + timeout
            quiet_checks = 0
            # Twice quiet in a row: a handler may send to another source queue just as the first
            # check passed that queue.
            while quiet_checks < 2:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"event sources still busy after {timeout} s: {self._backlog()}")
                quiet_checks = quiet_checks + 1 if self._idle() else 0
                time.sleep(0.1)
        finally:
            if started_here:
                self.stop_pollers()

    def _idle(self) -> bool:
        if any(mapping.busy for mapping in self.event_sources):
            return False
        return not any(sum(counts.values()) for counts in self._backlog().values())

    def _backlog(self) -> dict[str, dict[str, int]]:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        backlog = {}
        for mapping in self.event_sources:
            attributes = self.client("sqs").get_queue_attributes(
                QueueUrl=mapping.queue.url, AttributeNames=names
            )["Attributes"]
            backlog[mapping.queue.name] = {name: int(attributes.get(name, 0)) for name in names}
        for stream in self.stream_sources:
            backlog[f"{stream.event.table} stream"] = {"records after the checkpoint": int(stream.pending())}
        return backlog

    # ------------------------------------------------------------------------------ start-up steps

    def _point_aws_at_moto(self) -> None:
        self.endpoint_url = _moto_endpoint()
        # moto's state is process-wide: start from nothing, whatever ran before in this process.
        _reset_moto(self.endpoint_url)

        self._set_environ(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,  # what the Lambda runtime sets
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                "AWS_CONFIG_FILE": "/dev/null",
                "AWS_EC2_METADATA_DISABLED": "true",
                "POWERTOOLS_TRACE_DISABLED": "1",  # no X-Ray daemon here
                "POWERTOOLS_SERVICE_NAME": self.stack_name,  # defaults; the template's values win
                "POWERTOOLS_METRICS_NAMESPACE": self.stack_name,
            },
            # Anything that could steer boto3 elsewhere: a profile, real session credentials, or
            # per-service endpoints, which take precedence over AWS_ENDPOINT_URL.
            remove=["AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"]
            + [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")],
        )
        _forget_cached_aws_clients()

    def _local_functions(self) -> dict[str, LocalFunction]:
        return {
            logical_id: LocalFunction(
                name=logical_id,
                handler=spec.handler,
                # Lambda puts the layer folders (/opt/python) and the function code on the path.
                search_path=(spec.code_uri, *spec.layer_dirs),
                timeout_s=spec.timeout_s,
                memory_mb=spec.memory_mb,
                region=self.region,
            )
            for logical_id, spec in self.template.functions().items()
        }

    def _start_gateway(self) -> None:
        routes = [
            Route(event, self._functions[logical_id])
            for logical_id, spec in self.template.functions().items()
            for event in spec.http_events
        ]
        global _previous_gateway_port
        self._gateway = HttpApiGateway(routes, port=_free_or_any(_previous_gateway_port))
        self._gateway.start()
        _previous_gateway_port = self._gateway.port

    def _create_resources(self) -> None:
        creators = {
            "AWS::SQS::Queue": self._create_queue,
            "AWS::DynamoDB::Table": self._create_table,
            "AWS::S3::Bucket": self._create_bucket,
            "AWS::Events::EventBus": self._create_event_bus,
            "AWS::SecretsManager::Secret": self._create_secret,
        }
        unknown = {
            resource["Type"]
            for resource in self.template.resources.values()
            if resource["Type"] not in creators and resource["Type"] not in NOT_CREATED
        }
        if unknown:
            raise NotImplementedError(
                f"the local stack does not know these resource types: {sorted(unknown)}; "
                "create them in LocalStack._create_resources or list them in NOT_CREATED"
            )
        for logical_id, resource in self.template.resources.items():
            if resource["Type"] in creators and logical_id not in self._refs:
                creators[resource["Type"]](logical_id)
        for logical_id, resource in self.template.resources.items():
            if resource["Type"] == "AWS::Serverless::Function":
                self._refs[logical_id] = logical_id
                self._attributes[logical_id] = {"Arn": self._functions[logical_id].arn}
            elif resource["Type"] in _API_TYPES:
                self._refs[logical_id] = LOCAL_API_ID

    def _create_queue(self, logical_id: str) -> None:
        queue = self._queues[logical_id]
        props = self.template.properties(logical_id)
        attributes = {
            name: environment_string(self.template.literal(props[name]))
            for name in _QUEUE_ATTRIBUTES
            if name in props
        }
        if self.visibility_timeout_override is not None:
            attributes["VisibilityTimeout"] = str(self.visibility_timeout_override)
        if queue.redrive:
            dlq = queue.redrive.dead_letter_queue
            if dlq not in self._refs:
                self._create_queue(dlq)  # the DLQ must exist first: the policy names its ARN
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": self.arn(dlq),
                    "maxReceiveCount": self.max_receive_count_override or queue.redrive.max_receive_count,
                }
            )
        self._add_queue(logical_id, queue.local_name, attributes)

    def _add_queue(self, logical_id: str, name: str, attributes: dict[str, str]) -> None:
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._refs[logical_id] = url
        self._attributes[logical_id] = {"Arn": arn, "QueueName": name, "QueueUrl": url}

    def _create_table(self, logical_id: str) -> None:
        props = self.template.properties(logical_id)
        request: dict[str, Any] = {
            "TableName": logical_id,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": "PAY_PER_REQUEST",  # locally there is no capacity to plan
        }
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(kind):
                request[kind] = [
                    {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
                    for index in props[kind]
                ]
        if sse := props.get("SSESpecification"):
            request["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled"))}
        if stream := props.get("StreamSpecification"):
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        dynamodb = self.client("dynamodb")
        description = dynamodb.create_table(**request)["TableDescription"]
        arn = description["TableArn"]
        if ttl := props.get("TimeToLiveSpecification"):
            dynamodb.update_time_to_live(
                TableName=logical_id,
                TimeToLiveSpecification={
                    "AttributeName": ttl["AttributeName"],
                    "Enabled": bool(ttl["Enabled"]),
                },
            )
        if (props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled"):
            dynamodb.update_continuous_backups(
                TableName=logical_id,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        self._refs[logical_id] = logical_id
        self._attributes[logical_id] = {"Arn": arn}
        if "LatestStreamArn" in description:
            self._attributes[logical_id]["StreamArn"] = description["LatestStreamArn"]

    def _create_bucket(self, logical_id: str) -> None:
        props = self.template.properties(logical_id)
        # Bucket names must be lower-case; the suffix mimics CloudFormation's generated names.
        name = f"{logical_id.lower()}-{_BUCKET_SUFFIX}"
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region})
        if block := props.get("PublicAccessBlockConfiguration"):
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=block)
        if encryption := props.get("BucketEncryption"):
            rules = [
                {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                | ({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {})
                for rule in encryption["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if versioning := props.get("VersioningConfiguration"):
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning["Status"]})
        if ownership := props.get("OwnershipControls"):
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=ownership)
        # LifecycleConfiguration is not applied: moto never expires objects, so it has no local effect.
        self._refs[logical_id] = name
        self._attributes[logical_id] = {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
        }

    def _create_event_bus(self, logical_id: str) -> None:
        props = self.template.properties(logical_id)
        name = str(self._resolver().resolve(props.get("Name", logical_id)))
        arn = self.client("events").create_event_bus(Name=name)["EventBusArn"]
        self._refs[logical_id] = name
        self._attributes[logical_id] = {"Arn": arn, "Name": name}

    def _create_secret(self, logical_id: str) -> None:
        props = self.template.properties(logical_id)
        if "SecretString" in props:  # may reference parameters (e.g. !Sub with a NoEcho parameter)
            value = self._resolver().resolve(props["SecretString"])
        else:
            value = generate_secret_string(props.get("GenerateSecretString") or {})
        request = {"Name": logical_id, "SecretString": value}
        if description := props.get("Description"):
            request["Description"] = description
        arn = self.client("secretsmanager").create_secret(**request)["ARN"]
        self._refs[logical_id] = arn  # !Ref of a secret is its ARN
        self._attributes[logical_id] = {"Id": arn}

    def _capture_outcome_events(self) -> None:
        """A local-only queue that receives every event put on the template's buses, through an
        all-events rule (moto delivers put_events to SQS targets synchronously)."""
        self._add_queue(OUTCOME_CAPTURE_QUEUE, OUTCOME_CAPTURE_QUEUE, {})
        events = self.client("events")
        for bus in self.template.resources_of_type("AWS::Events::EventBus"):
            events.put_rule(
                Name=OUTCOME_CAPTURE_QUEUE,
                EventBusName=self.ref(bus),
                EventPattern=json.dumps({"source": [{"prefix": ""}]}),  # every event has a source
            )
            events.put_targets(
                Rule=OUTCOME_CAPTURE_QUEUE,
                EventBusName=self.ref(bus),
                Targets=[{"Id": OUTCOME_CAPTURE_QUEUE, "Arn": self.arn(OUTCOME_CAPTURE_QUEUE)}],
            )

    def _apply_function_environment(self) -> None:
        resolver = self._resolver()
        union: dict[str, str] = {}
        for logical_id, spec in self.template.functions().items():
            resolved = resolver.resolve(spec.environment)
            env = {name: environment_string(value) for name, value in resolved.items()}
            for name, value in env.items():
                if union.setdefault(name, value) != value:
                    # One process hosts every handler, so one variable can have only one value.
                    raise ValueError(
                        f"{logical_id} sets {name}={value!r} but another function sets {union[name]!r}"
                    )
            self._function_env[logical_id] = env
        self._set_environ(union)

    def _event_source_mappings(self) -> list[SqsEventSourceMapping]:
        return [
            SqsEventSourceMapping(
                self._functions[logical_id],
                event,
                SourceQueue(
                    url=self.queue_url(event.queue),
                    arn=self.arn(event.queue),
                    fifo=self._queues[event.queue].fifo,
                ),
                self.client("sqs"),
                workers=self.workers_per_mapping,
            )
            for logical_id, spec in self.template.functions().items()
            for event in spec.sqs_events
            if event.enabled
        ]

    def _stream_event_source_mappings(self) -> list[StreamEventSourceMapping]:
        mappings = []
        for logical_id, spec in self.template.functions().items():
            for event in spec.stream_events:
                if not event.enabled:
                    continue
                if "StreamArn" not in self._attributes.get(event.table, {}):
                    raise ValueError(f"{logical_id}.{event.name} reads the stream of {event.table}, which has "
                                     "no StreamSpecification")
                failures = None
                if event.on_failure is not None:
                    failures = FailureDestination(self.queue_url(event.on_failure), self.arn(event.on_failure))
                mappings.append(StreamEventSourceMapping(
                    self._functions[logical_id], event, self._resolve_get_att(event.table, "StreamArn"),
                    self.client("dynamodbstreams"), self.client("sqs"), failures, region=self.region))
        return mappings

    # ------------------------------------------------------------------------------ resolving

    def _resolver(self) -> IntrinsicResolver:
        return IntrinsicResolver(
            template=self.template,
            ref=self._resolve_ref,
            get_att=self._resolve_get_att,
            pseudo={
                "AWS::AccountId": ACCOUNT_ID,
                "AWS::Region": self.region,
                "AWS::StackName": self.stack_name,
                "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{self.stack_name}/local",
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            },
            sub_hook=self._local_api_url,
        )

    def _resolve_ref(self, logical_id: str) -> str:
        if logical_id not in self._refs:
            raise UnresolvableError(
                f"!Ref {logical_id}: no local value (type {self.template.resource_type(logical_id)})"
            )
        return self._refs[logical_id]

    def _resolve_get_att(self, logical_id: str, attribute: str) -> str:
        try:
            return self._attributes[logical_id][attribute]
        except KeyError:
            raise UnresolvableError(f"!GetAtt {logical_id}.{attribute}: no local value") from None

    def _local_api_url(self, text: str) -> str | None:
        """An HTTP API's execute-api URL means, locally, the gateway's URL."""
        match = _EXECUTE_API_URL.fullmatch(text)
        if match and self.template.resources.get(match.group(1), {}).get("Type") in _API_TYPES:
            return self.gateway_url + match.group(2)
        return None

    # ------------------------------------------------------------------------------ environment

    def _set_environ(self, values: Mapping[str, str], remove: list[str] = ()) -> None:
        for name in [*values, *remove]:
            self._saved_environ.setdefault(name, os.environ.get(name))
        for name in remove:
            os.environ.pop(name, None)
        os.environ.update(values)
        self.env.update(values)

    def _restore_environ(self) -> None:
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ.clear()
        _forget_cached_aws_clients()


# ---------------------------------------------------------------------------------------- helpers


def generate_secret_string(spec: Mapping[str, Any]) -> str:
    """What Secrets Manager's GenerateSecretString produces: a random password, placed under
    GenerateStringKey in the SecretStringTemplate JSON when one is given."""
    alphabet = string.ascii_letters + string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += string.punctuation
    if spec.get("IncludeSpace"):
        alphabet += " "
    for flag, characters in (
        ("ExcludeUppercase", string.ascii_uppercase),
        ("ExcludeLowercase", string.ascii_lowercase),
        ("ExcludeNumbers", string.digits),
    ):
        if spec.get(flag):
            alphabet = "".join(c for c in alphabet if c not in characters)
    alphabet = "".join(c for c in alphabet if c not in spec.get("ExcludeCharacters", ""))
    password = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    if "SecretStringTemplate" not in spec:
        return password
    document = json.loads(spec["SecretStringTemplate"])
    document[spec["GenerateStringKey"]] = password
    return json.dumps(document)


def _message_attribute(value: str | float | bytes) -> dict[str, Any]:
    if isinstance(value, bytes):
        return {"DataType": "Binary", "BinaryValue": value}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"DataType": "Number", "StringValue": str(value)}
    return {"DataType": "String", "StringValue": str(value)}


@functools.cache
def _local_session(region: str) -> boto3.session.Session:
    """One session for all stacks' own clients: a session caches the service models it loaded,
    which makes creating clients ~10x faster than with a new session each time."""
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
    )


# A moto server already running elsewhere (e.g. in a process of its own, so that what AWS stores is
# not counted in this process's memory): its URL. Unset, the stack starts one in this process.
EXTERNAL_MOTO_VARIABLE = "LOCAL_STACK_MOTO_URL"


def _moto_endpoint() -> str:
    """The process's moto server (started on first use, on a free port), unless one is given."""
    global _moto_server
    if os.environ.get(EXTERNAL_MOTO_VARIABLE):
        return os.environ[EXTERNAL_MOTO_VARIABLE].rstrip("/")
    if _moto_server is None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # it logs every request otherwise
        moto_fixes.apply()
        _moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        _moto_server.start()
        atexit.register(_moto_server.stop)
    host, port = _moto_server.get_host_and_port()
    return f"http://{host}:{port}"


def _reset_moto(endpoint_url: str) -> None:
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).close()


def _free_or_any(port: int) -> int:
    """`port` if it can be bound now, else 0 (let the OS pick)."""
    if port:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the HTTP servers do
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return 0
    return port


def _forget_cached_aws_clients() -> None:
    """boto3's default session caches the credentials it first found, and Powertools' parameter
    providers cache clients and values (5 min): neither may outlive the environment they came from."""
    boto3.DEFAULT_SESSION = None
    if parameters := sys.modules.get("aws_lambda_powertools.utilities.parameters"):
        parameters.clear_caches()

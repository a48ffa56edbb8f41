"""Reads the SAM template (infra/template.yaml) for the local stack.

The template is the single source of truth for the local topology: queues, tables, the bucket,
the bus, the functions and their event sources are all taken from it, so the local run cannot
drift from what is deployed. This module only *reads*; `local.stack` turns it into moto resources.

CloudFormation YAML uses short tags (`!Ref X`, `!GetAtt X.Arn`, `!Sub "..."`) that plain YAML
loaders reject. `CloudFormationLoader` turns them into the long JSON form (`{"Ref": "X"}`,
`{"Fn::GetAtt": ["X", "Arn"]}`, `{"Fn::Sub": "..."}`), which is what every consumer works with.
`IntrinsicResolver` evaluates that long form against caller-supplied local names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# ---------------------------------------------------------------------------------------- loading

# Every short tag CloudFormation defines. An unknown tag is a YAML error rather than a silent
# "Fn::Whatever" that would only fail much later, far from the typo.
_SHORT_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "And",
            "Base64",
            "Cidr",
            "Equals",
            "FindInMap",
            "GetAtt",
            "GetAZs",
            "If",
            "ImportValue",
            "Join",
            "Length",
            "Not",
            "Or",
            "Select",
            "Split",
            "Sub",
            "ToJsonString",
            "Transform",
        )
    },
}
_INTRINSIC_KEYS = frozenset(_SHORT_TAGS.values())


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation's short intrinsic-function tags."""


def _intrinsic_constructor(long_name: str) -> Callable[[yaml.Loader, yaml.Node], dict[str, Any]]:
    def construct(loader: yaml.Loader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if long_name == "Fn::GetAtt":
                # `!GetAtt Queue.Arn` is shorthand for ["Queue", "Arn"]; the attribute may itself
                # contain dots (e.g. Endpoint.Address), so split only once.
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {long_name: value}

    return construct


for _tag, _long_name in _SHORT_TAGS.items():
    CloudFormationLoader.add_constructor(f"!{_tag}", _intrinsic_constructor(_long_name))


def load_yaml(text: str) -> dict[str, Any]:
    return yaml.load(text, Loader=CloudFormationLoader)  # a SafeLoader subclass


# ---------------------------------------------------------------------------------------- model


def is_intrinsic(value: Any) -> bool:
    """True for `{"Ref": ...}` / `{"Fn::X": ...}` / `{"Condition": ...}`: a value, not a map."""
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _INTRINSIC_KEYS


def logical_id_of(value: Any) -> str:
    """The logical id a `!Ref X` or `!GetAtt X.Attr` points at (event sources reference queues so)."""
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return value["Fn::GetAtt"][0]
    raise ValueError(f"expected !Ref or !GetAtt of a resource in this template, got {value!r}")


@dataclass(frozen=True)
class SqsEvent:
    """A SAM `Type: SQS` event: one Lambda event source mapping."""

    name: str
    queue: str  # logical id of the source queue
    batch_size: int = 10
    batching_window_s: int = 0
    function_response_types: tuple[str, ...] = ()
    maximum_concurrency: int | None = None
    enabled: bool = True

    @property
    def reports_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


@dataclass(frozen=True)
class StreamEvent:
    """A SAM `Type: DynamoDB` event: one Lambda event source mapping on a table's stream."""

    name: str
    table: str  # logical id of the table whose stream it reads (`Stream: !GetAtt Table.StreamArn`)
    starting_position: str  # TRIM_HORIZON or LATEST
    batch_size: int = 100
    batching_window_s: int = 0
    bisect_batch_on_function_error: bool = False
    maximum_retry_attempts: int = -1  # -1: retried until the records expire from the stream
    maximum_record_age_s: int = -1  # -1: as old as the stream keeps them
    on_failure: str | None = None  # logical id of the SQS queue that gets a failed batch's description
    function_response_types: tuple[str, ...] = ()
    enabled: bool = True

    @property
    def reports_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


@dataclass(frozen=True)
class HttpApiEvent:
    """A SAM `Type: HttpApi` event: one route of an HTTP API (payload format 2.0)."""

    name: str
    method: str  # upper-case; "ANY" matches every method
    path: str  # e.g. /d/{token}
    api: str | None  # logical id of the HttpApi, None for SAM's implicit ServerlessHttpApi
    # A REST API (`Type: Api`) sends payload format 1.0 and serves its routes under /<stage>: then
    # `path` is the local path (/<stage>/<resource>) and `resource` the route as in the template.
    payload_format: str = "2.0"
    stage: str | None = None
    resource: str | None = None

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Function:
    """An AWS::Serverless::Function with Globals merged in."""

    logical_id: str
    handler: str  # "module.function"
    code_uri: Path  # absolute
    runtime: str | None
    timeout_s: int
    memory_mb: int
    environment: dict[str, Any]  # unresolved: values may still be intrinsics
    layer_dirs: tuple[Path, ...]  # absolute ContentUri of each local layer, in template order
    sqs_events: tuple[SqsEvent, ...] = ()
    http_events: tuple[HttpApiEvent, ...] = ()
    stream_events: tuple[StreamEvent, ...] = ()


@dataclass(frozen=True)
class Redrive:
    dead_letter_queue: str  # logical id
    max_receive_count: int


@dataclass(frozen=True)
class Queue:
    logical_id: str
    fifo: bool
    content_based_deduplication: bool
    visibility_timeout_s: int
    redrive: Redrive | None

    @property
    def local_name(self) -> str:
        # SQS requires the .fifo suffix on FIFO queue names.
        return f"{self.logical_id}.fifo" if self.fifo else self.logical_id


# Lambda's defaults when neither the function nor Globals set them.
_DEFAULT_TIMEOUT_S = 3
_DEFAULT_MEMORY_MB = 128
_DEFAULT_SQS_VISIBILITY_TIMEOUT_S = 30


class Template:
    """A parsed SAM template. `parameter_overrides` replace parameter Defaults (like `sam deploy`)."""

    def __init__(self, path: Path, parameter_overrides: Mapping[str, Any] | None = None):
        self.path = Path(path).resolve()
        self.directory = self.path.parent
        self.document = load_yaml(self.path.read_text())
        self.resources: dict[str, dict[str, Any]] = self.document.get("Resources", {})
        self.conditions: dict[str, Any] = self.document.get("Conditions", {})
        declared = self.document.get("Parameters", {})
        unknown = set(parameter_overrides or {}) - set(declared)
        if unknown:
            raise KeyError(f"parameter overrides for parameters the template does not declare: {unknown}")
        self.parameters: dict[str, Any] = {
            name: spec.get("Default") for name, spec in declared.items()
        } | dict(parameter_overrides or {})

    # ---- generic access

    def resource_type(self, logical_id: str) -> str:
        return self.resources[logical_id]["Type"]

    def properties(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id].get("Properties", {}) or {}

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Logical id -> Properties of every resource of that type, in template order."""
        return {
            logical_id: self.properties(logical_id)
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type
        }

    def parameter(self, name: str) -> Any:
        if name not in self.parameters:
            raise KeyError(f"template has no parameter {name}")
        if self.parameters[name] is None:
            raise ValueError(f"parameter {name} has no Default; pass it in parameter_overrides")
        return self.parameters[name]

    def literal(self, value: Any) -> Any:
        """A property value that may be `!Ref Parameter` (e.g. maxReceiveCount), as a plain value."""
        if isinstance(value, dict) and "Ref" in value and value["Ref"] in self.parameters:
            return self.parameter(value["Ref"])
        if is_intrinsic(value):
            raise ValueError(f"expected a literal or a !Ref to a parameter, got {value!r}")
        return value

    def path_of(self, relative: str) -> Path:
        """CodeUri/ContentUri are relative to the template's folder (as `sam build` reads them)."""
        return (self.directory / relative).resolve()

    # ---- queues

    def queues(self) -> dict[str, Queue]:
        return {
            logical_id: self._queue(logical_id, props)
            for logical_id, props in self.resources_of_type("AWS::SQS::Queue").items()
        }

    def _queue(self, logical_id: str, props: dict[str, Any]) -> Queue:
        redrive = None
        if policy := props.get("RedrivePolicy"):
            redrive = Redrive(
                dead_letter_queue=logical_id_of(policy["deadLetterTargetArn"]),
                max_receive_count=int(self.literal(policy["maxReceiveCount"])),
            )
        return Queue(
            logical_id=logical_id,
            fifo=_truthy(self.literal(props.get("FifoQueue", False))),
            content_based_deduplication=_truthy(self.literal(props.get("ContentBasedDeduplication", False))),
            visibility_timeout_s=int(
                self.literal(props.get("VisibilityTimeout", _DEFAULT_SQS_VISIBILITY_TIMEOUT_S))
            ),
            redrive=redrive,
        )

    # ---- functions

    def function_globals(self) -> dict[str, Any]:
        return (self.document.get("Globals") or {}).get("Function") or {}

    def functions(self) -> dict[str, Function]:
        return {
            logical_id: self._function(logical_id, merge_globals(self.function_globals(), props))
            for logical_id, props in self.resources_of_type("AWS::Serverless::Function").items()
        }

    def _function(self, logical_id: str, props: dict[str, Any]) -> Function:
        sqs_events, http_events, stream_events = [], [], []
        for name, event in (props.get("Events") or {}).items():
            event_props = event.get("Properties") or {}
            if event["Type"] == "SQS":
                sqs_events.append(self._sqs_event(name, event_props))
            elif event["Type"] == "DynamoDB":
                stream_events.append(self._stream_event(name, event_props))
            elif event["Type"] == "HttpApi":
                http_events.append(
                    HttpApiEvent(
                        name=name,
                        method=str(event_props.get("Method", "ANY")).upper(),
                        path=event_props.get("Path", "$default"),
                        api=logical_id_of(event_props["ApiId"]) if "ApiId" in event_props else None,
                    )
                )
            elif event["Type"] == "Api":
                http_events.append(self._rest_api_event(name, event_props))
            # Other event types (Schedule, EventBridgeRule, ...) have no local trigger: the demo
            # or the test invokes such a handler itself.
        return Function(
            logical_id=logical_id,
            handler=props["Handler"],
            code_uri=self.path_of(props["CodeUri"]),
            runtime=props.get("Runtime"),
            timeout_s=int(self.literal(props.get("Timeout", _DEFAULT_TIMEOUT_S))),
            memory_mb=int(self.literal(props.get("MemorySize", _DEFAULT_MEMORY_MB))),
            environment=dict((props.get("Environment") or {}).get("Variables") or {}),
            layer_dirs=tuple(self._layer_dir(layer) for layer in props.get("Layers") or []),
            sqs_events=tuple(sqs_events),
            http_events=tuple(http_events),
            stream_events=tuple(stream_events),
        )

    def _sqs_event(self, name: str, props: dict[str, Any]) -> SqsEvent:
        scaling = props.get("ScalingConfig") or {}
        concurrency = scaling.get("MaximumConcurrency")
        return SqsEvent(
            name=name,
            queue=logical_id_of(props["Queue"]),
            batch_size=int(self.literal(props.get("BatchSize", 10))),
            batching_window_s=int(self.literal(props.get("MaximumBatchingWindowInSeconds", 0))),
            function_response_types=tuple(props.get("FunctionResponseTypes") or ()),
            maximum_concurrency=None if concurrency is None else int(self.literal(concurrency)),
            enabled=_truthy(self.literal(props.get("Enabled", True))),
        )

    def _stream_event(self, name: str, props: dict[str, Any]) -> StreamEvent:
        stream = props["Stream"]
        if not (isinstance(stream, dict) and "Fn::GetAtt" in stream and stream["Fn::GetAtt"][1] == "StreamArn"):
            raise ValueError(f"{name}: Stream must be !GetAtt <Table>.StreamArn of a table in this template")
        on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        return StreamEvent(
            name=name,
            table=logical_id_of(stream),
            starting_position=str(self.literal(props["StartingPosition"])),
            batch_size=int(self.literal(props.get("BatchSize", 100))),
            batching_window_s=int(self.literal(props.get("MaximumBatchingWindowInSeconds", 0))),
            bisect_batch_on_function_error=_truthy(self.literal(props.get("BisectBatchOnFunctionError", False))),
            maximum_retry_attempts=int(self.literal(props.get("MaximumRetryAttempts", -1))),
            maximum_record_age_s=int(self.literal(props.get("MaximumRecordAgeInSeconds", -1))),
            on_failure=None if on_failure is None else logical_id_of(on_failure),
            function_response_types=tuple(props.get("FunctionResponseTypes") or ()),
            enabled=_truthy(self.literal(props.get("Enabled", True))),
        )

    def _rest_api_event(self, name: str, props: dict[str, Any]) -> HttpApiEvent:
        """A REST API route; only APIs declared in the template (RestApiId), whose StageName is known."""
        api = logical_id_of(props["RestApiId"])
        stage = str(self.literal(self.properties(api)["StageName"]))
        return HttpApiEvent(
            name=name,
            method=str(props.get("Method", "ANY")).upper(),
            path=f"/{stage}{props['Path']}",
            api=api,
            payload_format="1.0",
            stage=stage,
            resource=props["Path"],
        )

    def _layer_dir(self, layer: Any) -> Path:
        logical_id = logical_id_of(layer)
        if self.resource_type(logical_id) != "AWS::Serverless::LayerVersion":
            raise ValueError(f"layer {logical_id} is not an AWS::Serverless::LayerVersion")
        return self.path_of(self.properties(logical_id)["ContentUri"])


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def merge_globals(globals_: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals rules: maps merge (the function wins), lists add up (globals first),
    anything else - including intrinsics, which are values not maps - is overridden."""
    merged = dict(globals_)
    for key, value in own.items():
        inherited = merged.get(key)
        if (
            isinstance(inherited, dict)
            and isinstance(value, dict)
            and not (is_intrinsic(inherited) or is_intrinsic(value))
        ):
            merged[key] = merge_globals(inherited, value)
        elif isinstance(inherited, list) and isinstance(value, list):
            merged[key] = inherited + value
        else:
            merged[key] = value
    return merged


# ---------------------------------------------------------------------------------------- resolving


class UnresolvableError(ValueError):
    """An intrinsic the local stack cannot give a value to."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


# What `!Ref AWS::NoValue` resolves to: the property (or list item) is left out, as in CloudFormation.
NO_VALUE = _NoValue()


# A Fn::Sub placeholder: ${Name}, ${Resource.Attribute}; ${!Literal} is an escaped literal.
_SUB_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


@dataclass
class IntrinsicResolver:
    """Evaluates CloudFormation intrinsics with locally known values.

    `ref(logical_id)` and `get_att(logical_id, attribute)` give resource values; parameters come
    from the template; `pseudo` holds AWS::Region, AWS::StackName and friends. `sub_hook` may
    replace a whole `Fn::Sub` template string before it is evaluated (the stack uses it to turn an
    execute-api URL into the local gateway's URL).
    """

    template: Template
    ref: Callable[[str], str]
    get_att: Callable[[str, str], str]
    pseudo: Mapping[str, str]
    sub_hook: Callable[[str], str | None] = lambda _text: None

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if not is_intrinsic(value):
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not NO_VALUE}
        ((function, argument),) = value.items()
        match function:
            case "Ref":
                return self._ref(argument)
            case "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(logical_id, attribute)
            case "Fn::Sub":
                return self._sub(argument)
            case "Fn::If":
                condition, if_true, if_false = argument
                return self.resolve(if_true if self.condition(condition) else if_false)
            case "Fn::Join":
                separator, items = argument
                return separator.join(str(item) for item in self.resolve(items))
            case "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
            case "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            case "Fn::Equals" | "Fn::And" | "Fn::Or" | "Fn::Not" | "Condition":
                return self._evaluate_condition(value)
        raise UnresolvableError(f"{function} is not supported locally: {value!r}")

    def condition(self, name: str) -> bool:
        if name not in self.template.conditions:
            raise UnresolvableError(f"template has no condition {name}")
        return self._evaluate_condition(self.template.conditions[name])

    def _evaluate_condition(self, expression: Any) -> bool:
        ((function, argument),) = expression.items()
        match function:
            case "Fn::Equals":
                left, right = (self.resolve(item) for item in argument)
                return str(left) == str(right)  # CloudFormation compares as strings
            case "Fn::And":
                return all(self._evaluate_condition(item) for item in argument)
            case "Fn::Or":
                return any(self._evaluate_condition(item) for item in argument)
            case "Fn::Not":
                return not self._evaluate_condition(argument[0])
            case "Condition":
                return self.condition(argument)
        raise UnresolvableError(f"{function} is not a condition function")

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.template.parameters:
            return self.template.parameter(name)
        if name in self.template.resources:
            return self.ref(name)
        raise UnresolvableError(f"!Ref {name}: no such parameter, resource or pseudo parameter")

    def _sub(self, argument: str | list[Any]) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        if (replaced := self.sub_hook(text)) is not None:
            return replaced
        variables = {name: self.resolve(item) for name, item in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self.get_att(*name.split(".", 1)))
            return environment_string(self._ref(name))

        return _SUB_PLACEHOLDER.sub(substitute, text)


def environment_string(value: Any) -> str:
    """How CloudFormation writes a scalar into a string property (Lambda env values are strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

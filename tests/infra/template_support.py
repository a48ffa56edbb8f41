"""Helpers for tests/infra: translate the SAM template offline, lint it, and read IAM symbolically.

Nothing here talks to AWS. The SAM transform runs with a fixed region and a managed-policy loader that
refuses to be called (a call would mean an IAM lookup), and intrinsic functions are rendered to
strings that name logical ids (``${PdfBucket}``, ``${PdfQueue.QueueName}``) instead of being evaluated.
"""

from __future__ import annotations

import ast
import copy
import fnmatch
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "infra" / "template.yaml"
TEMPLATE_DIR = TEMPLATE_PATH.parent

REGION = "eu-central-1"
ACCOUNT = "123456789012"
PARTITION = "aws"
PSEUDO = {
    "AWS::Partition": PARTITION,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
}

# ---------------------------------------------------------------------------------------- translate


class OfflineManagedPolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader, which would list policies through IAM.

    samtranslator ships the AWS managed policy names it knows; it only asks the loader for a name it
    does not know. That would be an IAM call, so fail loudly instead.
    """

    def load(self) -> dict[str, str]:
        raise AssertionError(
            "samtranslator wanted to look up a managed policy by name through IAM. Use the policy's full "
            "ARN (arn:aws:iam::aws:policy/...) in infra/template.yaml instead of its bare name."
        )


@dataclass(frozen=True)
class Translation:
    sam: dict[str, Any]  # the SAM template as written (parsed)
    cfn: dict[str, Any]  # the CloudFormation template SAM produces
    local_uris: dict[str, Path]  # SAM logical id -> absolute local folder of CodeUri / ContentUri


def parse_sam(text: str) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(text)


def translate(text: str) -> Translation:
    """Run the SAM transform on ``text`` offline (region eu-central-1, parameter defaults)."""
    from samtranslator.translator.arn_generator import ArnGenerator
    from samtranslator.translator.transform import transform

    sam = parse_sam(text)
    fragment = copy.deepcopy(sam)
    globals_fn = (fragment.get("Globals") or {}).get("Function") or {}
    local_uris: dict[str, Path] = {}
    for logical_id, resource in fragment.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            key, default = "CodeUri", globals_fn.get("CodeUri")
        elif resource.get("Type") == "AWS::Serverless::LayerVersion":
            key, default = "ContentUri", None
        else:
            continue
        properties = resource.setdefault("Properties", {})
        uri = properties.get(key, default)
        if isinstance(uri, str) and not uri.startswith("s3://"):
            local_uris[logical_id] = (TEMPLATE_DIR / uri).resolve()
            # What `sam build` + `sam package` would do: upload the folder and point at the object.
            properties[key] = f"s3://local-build/{logical_id}.zip"
    if isinstance(globals_fn.get("CodeUri"), str) and not globals_fn["CodeUri"].startswith("s3://"):
        del globals_fn["CodeUri"]  # every function got its own placeholder above

    saved_region = ArnGenerator.BOTO_SESSION_REGION_NAME
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_REGION", REGION)
        mp.setenv("AWS_CONFIG_FILE", "/dev/null")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        mp.delenv("AWS_PROFILE", raising=False)
        ArnGenerator.BOTO_SESSION_REGION_NAME = REGION
        try:
            cfn = transform(fragment, {}, OfflineManagedPolicyLoader())
        finally:
            ArnGenerator.BOTO_SESSION_REGION_NAME = saved_region
    # Plain JSON types only (samtranslator can hand back its own str/dict subclasses).
    cfn = json.loads(json.dumps(cfn))
    return Translation(sam=sam, cfn=cfn, local_uris=local_uris)


# --------------------------------------------------------------------------------------------- lint


def lint(template: dict[str, Any] | str) -> list[Any]:
    """cfn-lint matches for a template dict (linted as JSON) or template text, in our region."""
    import cfnlint.api

    text = template if isinstance(template, str) else json.dumps(template, indent=1)
    return list(cfnlint.api.lint(text, regions=[REGION]))


def lint_errors(matches: Iterable[Any]) -> list[Any]:
    return [m for m in matches if m.rule.id.startswith("E")]


def match_path(match: Any) -> list[Any]:
    return list(getattr(match, "path", None) or [])


def describe_matches(matches: Iterable[Any]) -> str:
    lines = []
    for m in matches:
        where = "/".join(str(p) for p in match_path(m)) or f"line {m.linenumber}"
        lines.append(f"  {m.rule.id} at {where}: {m.message}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ CFN accessors


def resources_of_type(cfn: Mapping[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn.get("Resources", {}).items() if v.get("Type") == type_name}


def props(resource: Mapping[str, Any]) -> dict[str, Any]:
    return resource.get("Properties") or {}


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.lower() == "false")


def ref_target(value: Any) -> str | None:
    """Logical id named by ``{"Ref": X}`` or ``{"Fn::GetAtt": [X, ...]}`` (or "X.Attr")."""
    if isinstance(value, Mapping) and len(value) == 1:
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"]
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            if isinstance(att, str):
                return att.split(".", 1)[0]
            if isinstance(att, list) and att:
                return att[0]
    return None


def resolve_number(cfn: Mapping[str, Any], value: Any) -> int | None:
    """An int, a numeric string, or a Ref to a parameter with a numeric Default."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, Mapping) and set(value) == {"Ref"}:
        param = cfn.get("Parameters", {}).get(value["Ref"])
        if param and "Default" in param:
            return resolve_number(cfn, param["Default"])
    return None


def function_behind(cfn: Mapping[str, Any], logical_id: str | None) -> str | None:
    """The function a logical id invokes: itself, or the function of an alias (AutoPublishAlias)."""
    resource = cfn.get("Resources", {}).get(logical_id or "")
    if resource is not None and resource.get("Type") == "AWS::Lambda::Alias":
        return ref_target(props(resource).get("FunctionName"))
    return logical_id


def aliases_of(cfn: Mapping[str, Any], function_id: str) -> set[str]:
    """The AWS::Lambda::Alias resources of a function."""
    return {alias_id for alias_id in resources_of_type(cfn, "AWS::Lambda::Alias")
            if function_behind(cfn, alias_id) == function_id}


def integration_reaches(cfn: Mapping[str, Any], uri: str, function_id: str) -> bool:
    """Does an API integration URI (rendered) invoke the function, directly or through one of its aliases?"""
    return f"${{{function_id}.Arn}}" in uri or any(f"${{{alias}}}" in uri for alias in aliases_of(cfn, function_id))


def sqs_event_source_mappings(cfn: Mapping[str, Any]) -> dict[str, tuple[str | None, str | None]]:
    """ESM logical id -> (source queue logical id, function logical id), for mappings reading SQS.

    A mapping that invokes an alias (a function with AutoPublishAlias) is reported with the alias's
    function. A mapping whose source is not a queue of this template is reported with queue id None
    when its ARN still looks like SQS, so it cannot slip past the queue checks.
    """
    queues = resources_of_type(cfn, "AWS::SQS::Queue")
    out: dict[str, tuple[str | None, str | None]] = {}
    for esm_id, esm in resources_of_type(cfn, "AWS::Lambda::EventSourceMapping").items():
        p = props(esm)
        source = ref_target(p.get("EventSourceArn"))
        fn = function_behind(cfn, ref_target(p.get("FunctionName")))
        if source in queues:
            out[esm_id] = (source, fn)
        elif ":sqs:" in json.dumps(p.get("EventSourceArn")):
            out[esm_id] = (None, fn)
    return out


def stream_event_source_mappings(cfn: Mapping[str, Any]) -> dict[str, tuple[str | None, str | None]]:
    """ESM logical id -> (table logical id whose stream it reads, function logical id); a mapping that
    invokes an alias is reported with the alias's function."""
    tables = resources_of_type(cfn, "AWS::DynamoDB::Table")
    out: dict[str, tuple[str | None, str | None]] = {}
    for esm_id, esm in resources_of_type(cfn, "AWS::Lambda::EventSourceMapping").items():
        p = props(esm)
        source = ref_target(p.get("EventSourceArn"))
        if source in tables or ":dynamodb:" in json.dumps(p.get("EventSourceArn")):
            fn = function_behind(cfn, ref_target(p.get("FunctionName")))
            out[esm_id] = (source if source in tables else None, fn)
    return out


# ------------------------------------------------------------------------------------- conditions

NO_VALUE = {"Ref": "AWS::NoValue"}


def parameter_value(cfn: Mapping[str, Any], name: str, overrides: Mapping[str, str]) -> str:
    """A parameter's value as CloudFormation sees it (a string): the override, else its Default."""
    if name in overrides:
        return str(overrides[name])
    param = cfn.get("Parameters", {}).get(name)
    if param is None or "Default" not in param:
        raise KeyError(f"parameter {name} is not declared with a Default and was not given")
    return str(param["Default"])


def evaluate_condition(cfn: Mapping[str, Any], expression: Any, overrides: Mapping[str, str]) -> bool:
    """Evaluate a condition (by name or expression) for parameter values; parameters only, no resources."""
    if isinstance(expression, str):
        return evaluate_condition(cfn, cfn["Conditions"][expression], overrides)
    ((function, argument),) = expression.items()
    if function == "Condition":
        return evaluate_condition(cfn, argument, overrides)
    if function == "Fn::Not":
        return not evaluate_condition(cfn, argument[0], overrides)
    if function == "Fn::And":
        return all(evaluate_condition(cfn, item, overrides) for item in argument)
    if function == "Fn::Or":
        return any(evaluate_condition(cfn, item, overrides) for item in argument)
    if function == "Fn::Equals":
        left, right = (
            parameter_value(cfn, item["Ref"], overrides) if isinstance(item, Mapping) else str(item)
            for item in argument
        )
        return left == right  # CloudFormation compares strings
    raise ValueError(f"cannot evaluate {function} offline")


def choose_if(cfn: Mapping[str, Any], value: Any, overrides: Mapping[str, str]) -> Any:
    """The branch an ``Fn::If`` takes for these parameter values (other values are returned as they are)."""
    if isinstance(value, Mapping) and set(value) == {"Fn::If"}:
        condition, if_true, if_false = value["Fn::If"]
        return choose_if(cfn, if_true if evaluate_condition(cfn, condition, overrides) else if_false, overrides)
    return value


# --------------------------------------------------------------------------------- access log formats

_CONTEXT_VARIABLE = re.compile(r"\$context\.[A-Za-z0-9_.]*[A-Za-z0-9_]")


def context_variables(log_format: str) -> set[str]:
    """The ``$context.*`` variables an API Gateway access log format uses."""
    return set(_CONTEXT_VARIABLE.findall(log_format))


def raw_path_variables(log_format: str) -> list[str]:
    """Variables that write the request's path, which holds the customer-link token.

    Anything naming a path counts ($context.path, a $context.requestOverride.path.* value, ...) except
    $context.resourcePath, the REST resource template (/{proxy+}), the way routeKey is the HTTP API's.
    """
    return sorted(v for v in context_variables(log_format) if "path" in v.lower() and v != "$context.resourcePath")


# ----------------------------------------------------------------------------- symbolic intrinsics

_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


def render(value: Any) -> str:
    """Render an intrinsic expression to a string, naming logical ids instead of resolving them.

    ``{"Ref": "PdfBucket"}`` -> ``${PdfBucket}``; ``{"Fn::GetAtt": ["PdfQueue", "QueueName"]}`` ->
    ``${PdfQueue.QueueName}``; pseudo parameters become fixed example values (aws, eu-central-1, ...).
    """
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, Mapping) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            return PSEUDO.get(arg, "${" + str(arg) + "}")
        if key == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else [render(a) for a in arg]
            return "${" + ".".join(parts) + "}"
        if key == "Fn::Sub":
            template, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

            def sub(m: re.Match[str]) -> str:
                name = m.group(1)
                if name in variables:
                    return render(variables[name])
                return PSEUDO.get(name, m.group(0))

            return _SUB_VAR.sub(sub, template)
        if key == "Fn::Join":
            sep, items = arg
            return render(sep).join(render(i) for i in items)
    return f"<unresolved {json.dumps(value, sort_keys=True)}>"


def canonical_arn(value: Any, cfn: Mapping[str, Any]) -> str:
    """Render ``value`` and rewrite resource ARNs to one spelling per resource, so they compare."""
    text = render(value)
    for logical_id, resource in cfn.get("Resources", {}).items():
        t = resource.get("Type")
        if t == "AWS::DynamoDB::Table":
            canon = table_arn(logical_id)
        elif t == "AWS::SQS::Queue":
            canon = queue_arn(logical_id)
        elif t == "AWS::S3::Bucket":
            canon = bucket_arn(logical_id)
        elif t == "AWS::Events::EventBus":
            canon = f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:event-bus/${{{logical_id}}}"
        elif t == "AWS::SecretsManager::Secret":
            text = text.replace(f"${{{logical_id}.Id}}", f"${{{logical_id}}}")  # Ref already is the ARN
            continue
        else:
            continue
        text = text.replace(f"${{{logical_id}.Arn}}", canon)
    return text


def table_arn(logical_id: str) -> str:
    return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/${{{logical_id}}}"


def queue_arn(logical_id: str) -> str:
    return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:${{{logical_id}.QueueName}}"


def bucket_arn(logical_id: str) -> str:
    return f"arn:{PARTITION}:s3:::${{{logical_id}}}"


def object_arn(bucket_id: str, key: str) -> str:
    return f"{bucket_arn(bucket_id)}/{key}"


def secret_pattern_arn(pattern: str) -> str:
    """The ARN pattern a policy uses to grant secrets by name, e.g. ``invoice-export/accounts/*``."""
    return f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{pattern}"


def named_secret_arn(name: str) -> str:
    """A secret created outside the stack: Secrets Manager appends '-' and 6 random characters."""
    return secret_pattern_arn(f"{name}-AbC123")


def secret_arn(logical_id: str) -> str:
    """A secret declared in the template (its Ref is its ARN)."""
    return f"${{{logical_id}}}"


# ---------------------------------------------------------------------------------------------- IAM

# What the AWS managed policies SAM attaches contain (from the IAM console / AWS managed policy
# reference), so that checks see everything a role can do, not only its inline policies.
# `star_reason` says why a Resource "*" in that policy is accepted.
KNOWN_MANAGED_POLICIES: dict[str, dict[str, Any]] = {
    "service-role/AWSLambdaBasicExecutionRole": {
        "statements": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "*",
            }
        ],
    },
    "service-role/AWSLambdaSQSQueueExecutionRole": {
        "statements": [
            {
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "*",
            },
        ],
        # SAM attaches it to every function with an SQS event and offers no switch to leave it out
        # (only a hand-written Role would). It cannot send, purge or change queues.
        "star_reason": "attached by SAM for SQS events; poll/delete only",
        "requires": "sqs_event",
    },
    "service-role/AWSLambdaDynamoDBExecutionRole": {
        "statements": [
            {
                "Effect": "Allow",
                "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                           "dynamodb:ListStreams", "logs:CreateLogGroup", "logs:CreateLogStream",
                           "logs:PutLogEvents"],
                "Resource": "*",
            },
        ],
        # SAM attaches it to every function with a DynamoDB stream event (no switch but a hand-written
        # Role). It reads streams only: no table item can be read or written through it.
        "star_reason": "attached by SAM for DynamoDB stream events; stream reads only",
        "requires": "stream_event",
    },
    "AWSXrayWriteOnlyAccess": {
        "statements": [
            {
                "Effect": "Allow",
                "Action": [
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                    "xray:GetSamplingStatisticSummaries",
                ],
                "Resource": "*",
            }
        ],
    },
}
KNOWN_MANAGED_POLICIES["service-role/AWSXRayDaemonWriteAccess"] = KNOWN_MANAGED_POLICIES[
    "AWSXrayWriteOnlyAccess"
]

# Actions AWS only authorises on Resource "*".
ACTIONS_AWS_REQUIRES_ON_STAR = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
    "cloudwatch:PutMetricData",
)

# Nobody in this service deletes data stores or their objects, or reconfigures them.
FORBIDDEN_ACTIONS = (
    "dynamodb:CreateTable",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
    "dynamodb:UpdateTimeToLive",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:DeleteBackup",
    "dynamodb:RestoreTableFromBackup",
    "dynamodb:RestoreTableToPointInTime",
    "dynamodb:DeleteResourcePolicy",
    "dynamodb:PutResourcePolicy",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:DeleteBucket",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutObjectAcl",
    "s3:PutObjectVersionAcl",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketOwnershipControls",
    "s3:PutEncryptionConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketVersioning",
    "sqs:DeleteQueue",
    "sqs:PurgeQueue",
    "sqs:SetQueueAttributes",
    "sqs:CreateQueue",
    "secretsmanager:DeleteSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecret",
    "secretsmanager:RotateSecret",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:CreateSecret",
    "events:DeleteEventBus",
    "events:PutRule",
    "events:PutTargets",
    "iam:PassRole",
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "kms:ScheduleKeyDeletion",
    "kms:DisableKey",
)


@dataclass(frozen=True)
class Statement:
    source: str  # inline policy name or managed policy ARN
    effect: str
    actions: tuple[str, ...]  # as written (may hold wildcards)
    resources: tuple[str, ...]  # canonical symbolic ARNs (may hold wildcards)
    not_action_or_resource: bool = False
    star_reason: str | None = None  # why a Resource "*" is accepted (managed policies only)

    def describe(self) -> str:
        return f"{self.source}: {self.effect} {list(self.actions)} on {list(self.resources)}"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def statements_of_document(
    document: Mapping[str, Any], source: str, cfn: Mapping[str, Any], star_reason: str | None = None
) -> list[Statement]:
    out = []
    for st in _as_list(document.get("Statement")):
        out.append(
            Statement(
                source=source,
                effect=st.get("Effect", "Allow"),
                actions=tuple(render(a) for a in _as_list(st.get("Action"))),
                resources=tuple(canonical_arn(r, cfn) for r in _as_list(st.get("Resource"))),
                not_action_or_resource="NotAction" in st or "NotResource" in st,
                star_reason=star_reason,
            )
        )
    return out


@dataclass
class RolePolicies:
    function: str
    role: str | None
    statements: list[Statement] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # things the checker could not read


def role_policies(cfn: Mapping[str, Any], function_id: str) -> RolePolicies:
    """Every statement a function's execution role grants: inline policies + known managed ones."""
    resources = cfn.get("Resources", {})
    fn = resources[function_id]
    role_id = ref_target(props(fn).get("Role"))
    result = RolePolicies(function=function_id, role=role_id)
    role = resources.get(role_id or "")
    if not role or role.get("Type") != "AWS::IAM::Role":
        result.problems.append(
            f"{function_id}: Role {props(fn).get('Role')!r} is not an AWS::IAM::Role of this stack"
        )
        return result
    has_sqs_event = any(f == function_id for _, f in sqs_event_source_mappings(cfn).values())
    has_stream_event = any(f == function_id for _, f in stream_event_source_mappings(cfn).values())
    for arn in props(role).get("ManagedPolicyArns") or []:
        name = render(arn).split(":policy/", 1)[-1]
        known = KNOWN_MANAGED_POLICIES.get(name)
        if known is None:
            result.problems.append(
                f"{function_id}: managed policy {render(arn)} is not reviewed; add its statements to "
                "KNOWN_MANAGED_POLICIES in tests/infra/template_support.py or grant inline instead"
            )
            continue
        if known.get("requires") == "sqs_event" and not has_sqs_event:
            result.problems.append(f"{function_id}: {name} attached but the function reads no SQS queue")
        if known.get("requires") == "stream_event" and not has_stream_event:
            result.problems.append(f"{function_id}: {name} attached but the function reads no table stream")
        result.statements += statements_of_document(
            {"Statement": known["statements"]}, render(arn), cfn, known.get("star_reason")
        )
    for policy in props(role).get("Policies") or []:
        document = policy.get("PolicyDocument") or {}
        result.statements += statements_of_document(document, policy.get("PolicyName"), cfn)
    # Stand-alone AWS::IAM::Policy / ManagedPolicy resources attached to the role.
    for pid, pres in resources.items():
        if pres.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            roles = [ref_target(r) for r in _as_list(props(pres).get("Roles"))]
            if role_id in roles:
                result.statements += statements_of_document(props(pres).get("PolicyDocument") or {}, pid, cfn)
    return result


def inline_role_statements(cfn: Mapping[str, Any], role_id: str) -> list[Statement]:
    """The inline policies of a role that is not a function's (e.g. a schedule's execution role)."""
    return [
        st
        for policy in props(cfn["Resources"][role_id]).get("Policies") or []
        for st in statements_of_document(policy.get("PolicyDocument") or {}, policy.get("PolicyName"), cfn)
    ]


def action_matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def allows(statements: Iterable[Statement], action: str, resource: str) -> bool:
    """Does some Allow statement grant ``action`` on the concrete (symbolic) ``resource``?"""
    for st in statements:
        if st.effect != "Allow":
            continue
        if not any(action_matches(p, action) for p in st.actions):
            continue
        if any(fnmatch.fnmatchcase(resource, r) for r in st.resources):
            return True
    return False


def grantees(policies: Mapping[str, RolePolicies], action: str, resource: str) -> set[str]:
    return {fn for fn, rp in policies.items() if allows(rp.statements, action, resource)}


def wildcard_violations(statements: Iterable[Statement]) -> list[str]:
    """Action "*" / "service:*", NotAction/NotResource, and Resource "*" outside the accepted cases."""
    out = []
    for st in statements:
        if st.effect != "Allow":
            continue
        if st.not_action_or_resource:
            out.append(f"NotAction/NotResource (grants everything else): {st.describe()}")
        for a in st.actions:
            if a == "*" or a.endswith(":*"):
                out.append(f"wildcard action {a!r}: {st.describe()}")
        if "*" in st.resources and st.star_reason is None:
            needless = [
                a for a in st.actions if not any(action_matches(a, ok) for ok in ACTIONS_AWS_REQUIRES_ON_STAR)
            ]
            if needless:
                out.append(f"Resource '*' for {needless} (AWS allows scoping these): {st.describe()}")
    return out


def forbidden_action_violations(statements: Iterable[Statement]) -> list[str]:
    out = []
    for st in statements:
        if st.effect != "Allow":
            continue
        for pattern in st.actions:
            hits = [f for f in FORBIDDEN_ACTIONS if action_matches(pattern, f)]
            if hits:
                out.append(f"{pattern!r} grants {hits}: {st.describe()}")
    return out


def scope_violations(
    statements: Iterable[Statement], service: str, allowed_actions: set[str], allowed_resources: set[str]
) -> list[str]:
    """Statements touching ``service`` must use only ``allowed_actions`` on exactly ``allowed_resources``."""
    out = []
    allowed_lower = {a.lower() for a in allowed_actions}
    for st in statements:
        if st.effect != "Allow":
            continue
        mine = [a for a in st.actions if a.lower().startswith(service + ":") or a == "*"]
        if not mine:
            continue
        extra_actions = [a for a in mine if a.lower() not in allowed_lower]
        extra_resources = [r for r in st.resources if r not in allowed_resources]
        if extra_actions or extra_resources:
            out.append(
                f"{st.describe()} -> not allowed: actions {extra_actions or '-'}; "
                f"resources {extra_resources or '-'}"
            )
    return out


# ------------------------------------------------------------------------------------------ handlers


def _show(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def handler_problem(code_dir: Path, handler: str) -> str | None:
    """None if ``module.func`` names a top-level callable in ``code_dir/module.py`` (read with ast)."""
    if not isinstance(handler, str) or "." not in handler:
        return f"Handler {handler!r} is not of the form module.function"
    module, func = handler.rsplit(".", 1)
    path = code_dir.joinpath(*module.split(".")).with_suffix(".py")
    if not path.is_file():
        return f"handler file {_show(path)} does not exist (Handler {handler!r})"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        return f"{_show(path)} does not parse: {exc}"
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            defined.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
    if func not in defined:
        return f"{_show(path)} defines no top-level {func!r} (Handler {handler!r})"
    return None

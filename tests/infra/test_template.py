"""infra/template.yaml, checked after the SAM transform (offline): cfn-lint plus the project's own rules.

cfn-lint on the SAM template alone misses mistakes inside SAM event properties (aws-stack.md 0.4 and C),
so everything here looks at the CloudFormation that SAM generates, the way CloudFormation will see it.
"""

from __future__ import annotations

import json
import re

import pytest
from template_support import (
    NO_VALUE,
    TEMPLATE_PATH,
    aliases_of,
    allows,
    bucket_arn,
    choose_if,
    context_variables,
    describe_matches,
    forbidden_action_violations,
    function_behind,
    grantees,
    handler_problem,
    inline_role_statements,
    integration_reaches,
    is_false,
    is_true,
    lint,
    lint_errors,
    match_path,
    named_secret_arn,
    object_arn,
    props,
    queue_arn,
    raw_path_variables,
    ref_target,
    render,
    resolve_number,
    resources_of_type,
    scope_violations,
    secret_arn,
    secret_pattern_arn,
    sqs_event_source_mappings,
    statements_of_document,
    stream_event_source_mappings,
    table_arn,
    translate,
    wildcard_violations,
)

# Logical ids of the template (rename here if they are renamed there).
EXPORT_FN = "ExportFunction"
FETCH_PDF_FN = "FetchPdfFunction"
LINK_FN = "LinkFunction"
KSEF_FN = "KsefStatusFunction"
RECORD_CHANGES_FN = "RecordChangesFunction"
RECORD_CHANGE_FAILURES = "RecordChangeFailures"
EXPORT_QUEUE = "ExportQueue"
PDF_QUEUE = "PdfQueue"
KSEF_QUEUE = "KsefQueue"
PDF_BUCKET = "PdfBucket"
ACCOUNTS_TABLE = "AccountsTable"
DOCUMENTS_TABLE = "DocumentsTable"
RATE_LIMITS_TABLE = "RateLimitsTable"
LINK_SECRET = "LinkSigningKeySecret"
PROVIDER_APP_SECRETS = "ProviderAppSecrets"
LINK_API = "LinkApi"
LAYER = "CommonLayer"
BULK_EXPORT_FN = "BulkExportFunction"
DEAD_LETTER_CHECK_FN = "DeadLetterCheckFunction"
SETTLE_FN = "SettleInDoubtFunction"
SETTLE_QUEUE = "SettleQueue"
SETTLE_DLQ = "SettleDLQ"
EXPORT_DLQ = "ExportDLQ"
OUTCOME_BUS = "OutcomeEventBus"
BULK_RUNS_TABLE = "BulkRunsTable"
CONFIG_API_FN = "ConfigApiFunction"
CONFIG_API = "ConfigApi"
TENANTS_TABLE = "TenantsTable"
AUDIT_TABLE = "AuditTable"
OWN_NUMBERS_TABLE = "OwnNumbersTable"
SCHEDULE_DLQ = "ScheduleDLQ"
SCHEDULED_RUN_FAILURES = "ScheduledRunFailures"
SCHEDULED_FNS = (BULK_EXPORT_FN, DEAD_LETTER_CHECK_FN, RECORD_CHANGES_FN, SETTLE_FN)  # RECORD_CHANGES_FN: its replay
LOG_RETENTION = {"Ref": "LogRetentionDays"}

RUNTIME = "python3.13"
ARCH = "arm64"
ACCOUNT_SECRETS = secret_pattern_arn("invoice-export/accounts/*")  # per-account credentials, by name prefix

# Who may write items in which table (PutItem/UpdateItem). Change deliberately, not to make a test pass.
TABLE_WRITERS = {
    # connecting and settings; the export function pauses an account whose credentials were refused
    ACCOUNTS_TABLE: {CONFIG_API_FN, EXPORT_FN},
    # API: resolving in doubt; the DLQ check: recording documents whose message was dead-lettered unrecorded;
    # the settlement: a document in doubt found, requeued, or its evidence
    DOCUMENTS_TABLE: {EXPORT_FN, FETCH_PDF_FN, LINK_FN, KSEF_FN, CONFIG_API_FN, DEAD_LETTER_CHECK_FN, SETTLE_FN},
    # claimed with a document's record; older documents are registered by the operator (CLI)
    OWN_NUMBERS_TABLE: {EXPORT_FN},
    # every function that calls a provider (the API checks credentials and lists series)
    RATE_LIMITS_TABLE: {EXPORT_FN, FETCH_PDF_FN, LINK_FN, KSEF_FN, CONFIG_API_FN, SETTLE_FN},
    BULK_RUNS_TABLE: {BULK_EXPORT_FN, CONFIG_API_FN},  # run progress; the bulk function never writes documents
    TENANTS_TABLE: set(),  # the operator maps principals to tenants with own credentials (CLI)
    # PutItem only: bulk runs, operator actions and PDFs record what they did; what the export function,
    # the KSeF poller, the DLQ check and the settlement did is carried by the record's write (audit_note)
    # and written by the stream function.
    AUDIT_TABLE: {BULK_EXPORT_FN, CONFIG_API_FN, FETCH_PDF_FN, LINK_FN, RECORD_CHANGES_FN},
}
# Who may store account credentials (connecting checks them at the provider first), on the prefix only.
CREDENTIAL_WRITERS = {CONFIG_API_FN}
CREDENTIAL_WRITE_ACTIONS = {"secretsmanager:PutSecretValue", "secretsmanager:CreateSecret"}
# Who may send to which queue of the stack (producers outside the stack are not modelled here).
# An exported document's PDF fetch and first KSeF poll come from the record's stream (a document the
# settlement found included); the KSeF poller re-queues its own poll until KSeF's answer is final, and the
# PDF function puts a fetch the provider's rate limit holds back on its own queue again, for later. Bulk
# runs, the API's retries and the settlement (a document surely absent at the provider) re-queue documents.
# The settlement queue: the schedule (the settlement function itself) and the API (resolve --auto).
# Lambda sends a scheduled function's failed run, and a stream batch given up, to the OnFailure queue
# with the function's own role; the schedules' dead-letter queue is written by the schedules' roles.
QUEUE_SENDERS = {PDF_QUEUE: {RECORD_CHANGES_FN, FETCH_PDF_FN}, KSEF_QUEUE: {RECORD_CHANGES_FN, KSEF_FN},
                 # RECORD_CHANGES_FN: a document the settlement released (the settlement only writes the record)
                 EXPORT_QUEUE: {BULK_EXPORT_FN, CONFIG_API_FN, RECORD_CHANGES_FN},
                 SCHEDULED_RUN_FAILURES: set(SCHEDULED_FNS),
                 SCHEDULE_DLQ: set(), RECORD_CHANGE_FAILURES: {RECORD_CHANGES_FN},
                 SETTLE_QUEUE: {SETTLE_FN, CONFIG_API_FN}}
# Who may put events on the outcome bus: the stream function (every change's outcome), the export function
# (answers that change no record: superseded, already exported, still in doubt, pending; an account paused).
EVENT_PUBLISHERS = {RECORD_CHANGES_FN, EXPORT_FN}
S3_ACTIONS = {"s3:GetObject", "s3:PutObject"}  # what the PDF functions may do, on pdf/* only
WRITE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")


def _fail_if(problems: list[str], what_to_fix: str) -> None:
    if problems:
        pytest.fail(f"{what_to_fix}\n  - " + "\n  - ".join(problems), pytrace=False)


# =========================================================================================== cfn-lint


def test_translation_produces_plain_cloudformation(translation, functions):
    cfn_resources, sam_resources = translation.cfn["Resources"], translation.sam["Resources"]
    leftovers = [k for k, v in cfn_resources.items() if v["Type"].startswith("AWS::Serverless::")]
    sam_functions = [k for k, v in sam_resources.items() if v["Type"] == "AWS::Serverless::Function"]
    assert not leftovers, f"SAM resources survived the transform: {leftovers}"
    assert sorted(functions) == sorted(sam_functions), (
        "every AWS::Serverless::Function must become one AWS::Lambda::Function"
    )
    assert "Transform" not in translation.cfn


def test_cfn_lint_translated_template_has_no_errors(cfn):
    errors = lint_errors(lint(cfn))
    assert not errors, (
        "cfn-lint found errors in the CloudFormation SAM generates from infra/template.yaml "
        "(paths are in the translated template; map them back to the SAM resource/event):\n"
        + describe_matches(errors)
    )


def test_cfn_lint_sam_template_has_no_errors(sam_text):
    errors = lint_errors(lint(sam_text))
    assert not errors, "cfn-lint found errors in infra/template.yaml:\n" + describe_matches(errors)


# (regex on the template text, replacement, property path that cfn-lint must flag in an SQS mapping)
SAM_EVENT_MISTAKES = [
    (r"FunctionResponseTypes: \[ReportBatchItemFailures\]", "FunctionResponseTypes: [ReportBatchItemFailure]",
     ("FunctionResponseTypes",)),
    (r"MaximumConcurrency: \d+", "MaximumConcurrency: 1", ("ScalingConfig", "MaximumConcurrency")),
    (r"BatchSize: \d+", "BatchSize: 100000", ("BatchSize",)),
]


def test_translate_and_lint_catches_mistakes_in_sam_event_properties(sam_text):
    """The safety net itself: break SQS event properties in the template text and expect E-errors."""
    broken = sam_text
    for pattern, replacement, _ in SAM_EVENT_MISTAKES:
        broken, n = re.subn(pattern, replacement, broken, count=1)
        assert n == 1, f"the template no longer contains {pattern!r}; update SAM_EVENT_MISTAKES"
    mutated = translate(broken).cfn
    errors = lint_errors(lint(mutated))
    mappings = resources_of_type(mutated, "AWS::Lambda::EventSourceMapping")
    for _pattern, replacement, prop_path in SAM_EVENT_MISTAKES:
        hits = [
            m for m in errors
            if len(match_path(m)) >= 4 and match_path(m)[1] in mappings
            and tuple(match_path(m)[3:3 + len(prop_path)]) == prop_path
        ]
        assert hits, (
            f"translate + cfn-lint did not report {replacement!r} (expected an E-error at "
            f"Resources/<mapping>/Properties/{'/'.join(prop_path)}); errors seen:\n{describe_matches(errors)}"
        )


# =============================================================================================== SQS


def test_every_sqs_source_queue_dead_letters_to_a_matching_dlq(cfn):
    queues = resources_of_type(cfn, "AWS::SQS::Queue")
    esms = sqs_event_source_mappings(cfn)
    assert esms, "no SQS event source mappings found: did the SQS events disappear?"
    problems = []
    for esm_id, (queue_id, _) in sorted(esms.items()):
        if queue_id is None:
            problems.append(f"{esm_id}: reads an SQS queue that is not declared in this template")
            continue
        q = props(queues[queue_id])
        redrive = q.get("RedrivePolicy")
        if not isinstance(redrive, dict):
            problems.append(f"{queue_id}: no RedrivePolicy (a poison message loops until retention ends)")
            continue
        dlq_id = ref_target(redrive.get("deadLetterTargetArn"))
        if dlq_id not in queues:
            problems.append(f"{queue_id}: deadLetterTargetArn must be !GetAtt <queue of this stack>.Arn")
            continue
        dlq = props(queues[dlq_id])
        if is_true(q.get("FifoQueue")) != is_true(dlq.get("FifoQueue")):
            problems.append(f"{queue_id} -> {dlq_id}: FIFO must dead-letter to FIFO, standard to standard")
        receives = resolve_number(cfn, redrive.get("maxReceiveCount"))
        if receives is None or receives < 2:
            problems.append(f"{queue_id}: maxReceiveCount must be >= 2, got {redrive.get('maxReceiveCount')}")
        source_retention = resolve_number(cfn, q.get("MessageRetentionPeriod", 345600))
        dlq_retention = resolve_number(cfn, dlq.get("MessageRetentionPeriod", 345600))
        if dlq_retention is None or source_retention is None or dlq_retention < source_retention:
            problems.append(f"{dlq_id}: keeps messages shorter than {queue_id}; dead letters expire early")
    _fail_if(problems, "Fix the queues' RedrivePolicy in infra/template.yaml:")


def test_sqs_mappings_report_batch_item_failures(cfn):
    problems = []
    for esm_id in sorted(sqs_event_source_mappings(cfn)):
        types = props(cfn["Resources"][esm_id]).get("FunctionResponseTypes")
        if types != ["ReportBatchItemFailures"]:
            problems.append(f"{esm_id}: FunctionResponseTypes is {types!r}")
    _fail_if(problems, "Set `FunctionResponseTypes: [ReportBatchItemFailures]` on every SQS event "
                       "(without it Powertools' partial batch response is ignored and whole batches retry):")


def test_sqs_mappings_cap_concurrency_with_maximum_concurrency_not_reserved_concurrency(cfn):
    problems = []
    for esm_id, (_, fn) in sorted(sqs_event_source_mappings(cfn).items()):
        cap = props(cfn["Resources"][esm_id]).get("ScalingConfig", {}).get("MaximumConcurrency")
        if not isinstance(cap, int) or not 2 <= cap <= 1000:
            problems.append(f"{esm_id}: ScalingConfig.MaximumConcurrency must be 2..1000, got {cap!r}")
        if fn not in cfn["Resources"]:
            problems.append(f"{esm_id}: FunctionName is not a function of this stack")
        elif "ReservedConcurrentExecutions" in props(cfn["Resources"][fn]):
            problems.append(f"{fn}: remove ReservedConcurrentExecutions (throttled SQS invocations burn "
                            "receives and push valid messages into the DLQ)")
    _fail_if(problems, "Cap SQS consumers with the event's ScalingConfig.MaximumConcurrency:")


# ========================================================================================= streams


def test_the_documents_table_streams_every_change_before_and_after(cfn):
    spec = props(cfn["Resources"][DOCUMENTS_TABLE]).get("StreamSpecification") or {}
    assert spec.get("StreamViewType") == "NEW_AND_OLD_IMAGES", (
        f"{DOCUMENTS_TABLE} needs StreamSpecification NEW_AND_OLD_IMAGES: what follows from a change is "
        "decided from the record before and after it (domain/record_changes.py)")


def test_the_stream_function_reads_the_documents_stream_in_order_and_gives_up_to_an_alarmed_queue(cfn):
    mappings = stream_event_source_mappings(cfn)
    assert [(table, fn) for table, fn in mappings.values()] == [(DOCUMENTS_TABLE, RECORD_CHANGES_FN)], mappings
    (esm_id,) = mappings
    esm = props(cfn["Resources"][esm_id])
    problems = []
    if render(esm.get("EventSourceArn")) != f"${{{DOCUMENTS_TABLE}.StreamArn}}":
        problems.append(f"EventSourceArn is {esm.get('EventSourceArn')!r}")
    # TRIM_HORIZON: a mapping created after the stream (first deploy, re-created mapping) misses nothing;
    # what it reads twice the consumers absorb. LATEST would drop the changes written before it started.
    if esm.get("StartingPosition") != "TRIM_HORIZON":
        problems.append(f"StartingPosition is {esm.get('StartingPosition')!r}, not TRIM_HORIZON")
    if esm.get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
        problems.append("FunctionResponseTypes must be [ReportBatchItemFailures] (checkpoint at the first failure)")
    if esm.get("BisectBatchOnFunctionError") is not True:
        problems.append("BisectBatchOnFunctionError must be true (a change the function cannot handle is isolated)")
    retries = esm.get("MaximumRetryAttempts")
    if not isinstance(retries, int) or not 1 <= retries <= 100:
        problems.append(f"MaximumRetryAttempts must be 1..100 (-1 would block the shard for 24 h), got {retries!r}")
    if esm.get("ParallelizationFactor", 1) != 1:
        problems.append("ParallelizationFactor must stay 1: one batch at a time keeps each document's changes in order")
    destination = ((esm.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if ref_target(destination) != RECORD_CHANGE_FAILURES:
        problems.append(f"OnFailure destination must be !GetAtt {RECORD_CHANGE_FAILURES}.Arn, got {destination!r}")
    queue = props(cfn["Resources"][RECORD_CHANGE_FAILURES])
    kept = resolve_number(cfn, queue.get("MessageRetentionPeriod"))
    if kept != 1209600 or not is_true(queue.get("SqsManagedSseEnabled")):
        problems.append(f"{RECORD_CHANGE_FAILURES} must keep messages 14 days, encrypted")
    if not _depth_alarms(cfn, RECORD_CHANGE_FAILURES):
        problems.append(f"no alarm on the depth of {RECORD_CHANGE_FAILURES}")
    _fail_if(problems, f"The {DOCUMENTS_TABLE} stream mapping ({esm_id}):")


def test_the_stream_function_only_publishes_requests_and_audits_what_a_change_calls_for(policies):
    # Less Lambda's OnFailure grants (the mapping's and the replay schedule's run), checked on their own, and
    # the replay's reading of RecordChangeFailures (below).
    failures = (queue_arn(RECORD_CHANGE_FAILURES),)
    st = [s for s in policies[RECORD_CHANGES_FN].statements
          if s.resources not in (failures, (queue_arn(SCHEDULED_RUN_FAILURES),))]
    bus = f"arn:aws:events:eu-central-1:123456789012:event-bus/${{{OUTCOME_BUS}}}"
    problems = [f"missing {action} on {resource}" for action, resource in (
        ("events:PutEvents", bus),
        ("sqs:SendMessage", queue_arn(PDF_QUEUE)), ("sqs:SendMessage", queue_arn(KSEF_QUEUE)),
        ("sqs:SendMessage", queue_arn(EXPORT_QUEUE)),  # a document the settlement released, sent again
        ("dynamodb:PutItem", table_arn(AUDIT_TABLE)), ("dynamodb:GetItem", table_arn(ACCOUNTS_TABLE)),
        ("secretsmanager:GetSecretValue", secret_arn(LINK_SECRET)),
    ) if not allows(st, action, resource)]
    # It never writes a document record: the stream would hand it its own writes.
    for action in WRITE_ACTIONS:
        if allows(st, action, table_arn(DOCUMENTS_TABLE)):
            problems.append(f"{action} on {DOCUMENTS_TABLE}")
    problems += scope_violations([x for x in st if x.star_reason is None], "sqs", {"sqs:SendMessage*"},
                                 {queue_arn(PDF_QUEUE), queue_arn(KSEF_QUEUE), queue_arn(EXPORT_QUEUE)})
    replay = [s for s in policies[RECORD_CHANGES_FN].statements if s.resources == failures]
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage"):
        if not allows(replay, action, failures[0]):
            problems.append(f"missing {action} on {RECORD_CHANGE_FAILURES} (the mapping gives up to it, the "
                            "replay reads and deletes)")
    _fail_if(problems, f"{RECORD_CHANGES_FN}'s permissions:")


def test_source_queue_visibility_timeout_is_at_least_six_function_timeouts(cfn):
    problems = []
    for esm_id, (queue_id, fn) in sorted(sqs_event_source_mappings(cfn).items()):
        if queue_id is None or fn not in cfn["Resources"]:
            problems.append(f"{esm_id}: cannot tell which queue/function it connects")
            continue
        visibility = resolve_number(cfn, props(cfn["Resources"][queue_id]).get("VisibilityTimeout", 30))
        timeout = resolve_number(cfn, props(cfn["Resources"][fn]).get("Timeout", 3))
        if visibility is None or timeout is None or visibility < 6 * timeout:
            problems.append(f"{queue_id}.VisibilityTimeout={visibility} < 6 x {fn}.Timeout={timeout}")
    _fail_if(problems, "Raise the queue's VisibilityTimeout (or lower the function Timeout; Globals count):")


def test_export_queue_is_fifo_without_content_based_deduplication(cfn):
    q = props(cfn["Resources"][EXPORT_QUEUE])
    assert is_true(q.get("FifoQueue")), f"{EXPORT_QUEUE} must be FIFO (per-account order via MessageGroupId)"
    assert is_false(q.get("ContentBasedDeduplication", False)), (
        f"{EXPORT_QUEUE}: ContentBasedDeduplication must be false; producers set MessageDeduplicationId "
        "(two identical bodies can be two legitimate exports)"
    )
    readers = {fn for q_id, fn in sqs_event_source_mappings(cfn).values() if q_id == EXPORT_QUEUE}
    assert readers == {EXPORT_FN}, f"{EXPORT_QUEUE} should be read by {EXPORT_FN} only, read by {readers}"


# ======================================================================================== S3, DynamoDB


def test_pdf_bucket_is_private_encrypted_and_owner_enforced(cfn):
    b = props(cfn["Resources"][PDF_BUCKET])
    problems = []
    pab = b.get("PublicAccessBlockConfiguration") or {}
    for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
        if not is_true(pab.get(flag)):
            problems.append(f"PublicAccessBlockConfiguration.{flag} must be true")
    rules = (b.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration") or []
    algos = [(r.get("ServerSideEncryptionByDefault") or {}).get("SSEAlgorithm") for r in rules]
    if not any(a in ("AES256", "aws:kms", "aws:kms:dsse") for a in algos):
        problems.append(f"BucketEncryption with a default SSEAlgorithm is required (got {algos})")
    ownership = [r.get("ObjectOwnership") for r in (b.get("OwnershipControls") or {}).get("Rules", [])]
    if ownership != ["BucketOwnerEnforced"]:
        problems.append(f"OwnershipControls must be [BucketOwnerEnforced] (ACLs off), got {ownership}")
    _fail_if(problems, f"Fix {PDF_BUCKET} in infra/template.yaml:")


def test_pdf_bucket_policy_denies_insecure_transport_for_bucket_and_objects(cfn):
    policies = [
        props(p)["PolicyDocument"] for p in resources_of_type(cfn, "AWS::S3::BucketPolicy").values()
        if ref_target(props(p).get("Bucket")) == PDF_BUCKET
    ]
    assert policies, f"no AWS::S3::BucketPolicy attached to {PDF_BUCKET}"
    covered: set[str] = set()
    for doc in policies:
        # statements_of_document canonicalises the resources; the raw statement has Principal/Condition.
        parsed = statements_of_document(doc, "bucket policy", cfn)
        for raw_st, st in zip(doc["Statement"], parsed, strict=True):
            condition = (raw_st.get("Condition") or {}).get("Bool") or {}
            principal = raw_st.get("Principal")
            if (
                st.effect == "Deny"
                and principal in ("*", {"AWS": "*"})
                and "s3:*" in st.actions
                and is_false(condition.get("aws:SecureTransport"))
            ):
                covered.update(st.resources)
    missing = {bucket_arn(PDF_BUCKET), object_arn(PDF_BUCKET, "*")} - covered
    assert not missing, (
        f"{PDF_BUCKET}'s policy must Deny s3:* to Principal '*' when aws:SecureTransport is false, on both "
        f"the bucket ARN and <bucket ARN>/*; not covered: {sorted(missing)}"
    )


def test_every_table_has_point_in_time_recovery_and_encryption(cfn):
    tables = resources_of_type(cfn, "AWS::DynamoDB::Table")
    assert {ACCOUNTS_TABLE, DOCUMENTS_TABLE} <= set(tables)
    problems = []
    for table_id, table in sorted(tables.items()):
        p = props(table)
        if not is_true((p.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")):
            problems.append(f"{table_id}: PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled: true")
        if not is_true((p.get("SSESpecification") or {}).get("SSEEnabled")):
            problems.append(f"{table_id}: SSESpecification.SSEEnabled: true")
    _fail_if(problems, "Every DynamoDB table needs PITR and SSE:")


def test_no_idempotency_table_the_document_record_is_the_lock(cfn):
    # The claim on the document's record, held for the export function's Timeout, is what a duplicate
    # delivery waits for (domain/export_decision.py: claim_lease_seconds; ARCHITECTURE.md).
    tables = resources_of_type(cfn, "AWS::DynamoDB::Table")
    powertools = [t for t, table in tables.items() if props(table).get("KeySchema") == [
        {"AttributeName": "id", "KeyType": "HASH"}] and (props(table).get("TimeToLiveSpecification") or {}).get(
        "AttributeName") == "expiration"]
    assert powertools == [], f"a Powertools idempotency table is back: {powertools}"
    env = props(cfn["Resources"][EXPORT_FN])["Environment"]["Variables"]
    assert "IDEMPOTENCY_TABLE" not in env
    assert int(env["EXPORT_TIMEOUT_SECONDS"]) == resolve_number(cfn, props(cfn["Resources"][EXPORT_FN])["Timeout"]), (
        f"{EXPORT_FN}'s EXPORT_TIMEOUT_SECONDS must be its own Timeout: a claim younger than it may be live")


# ======================================================================================== IAM (roles)


def test_policy_checker_reads_every_role(policies):
    problems = [p for rp in policies.values() for p in rp.problems]
    _fail_if(problems, "The least-privilege checks cannot see everything these roles grant:")
    assert all(rp.statements for rp in policies.values())


def test_no_wildcard_actions_or_resources(policies):
    problems = [
        f"{fn}: {v}"
        for fn, rp in sorted(policies.items())
        for v in wildcard_violations(rp.statements)
    ]
    _fail_if(problems, "Scope these statements to named actions and the stack's resources:")


def _without_credential_writes(fn: str, statements: list) -> list:
    """The statements, less the credential writes CREDENTIAL_WRITERS may have (checked on their own below)."""
    if fn not in CREDENTIAL_WRITERS:
        return statements
    return [st for st in statements
            if not (st.resources == (ACCOUNT_SECRETS,) and CREDENTIAL_WRITE_ACTIONS & set(st.actions))]


def test_no_function_can_delete_or_reconfigure_data_stores(policies):
    problems = [
        f"{fn}: {v}"
        for fn, rp in sorted(policies.items())
        for v in forbidden_action_violations(_without_credential_writes(fn, rp.statements))
    ]
    _fail_if(problems, "Remove destructive/admin permissions (narrower SAM policy template or a Statement):")


def test_export_function_writes_documents_but_only_pauses_accounts(policies):
    st = policies[EXPORT_FN].statements
    problems = []
    for action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem"):
        if not allows(st, action, table_arn(DOCUMENTS_TABLE)):
            problems.append(f"missing {action} on {DOCUMENTS_TABLE}")
    if not allows(st, "dynamodb:GetItem", table_arn(ACCOUNTS_TABLE)):
        problems.append(f"missing dynamodb:GetItem on {ACCOUNTS_TABLE}")
    if not allows(st, "dynamodb:UpdateItem", table_arn(ACCOUNTS_TABLE)):
        problems.append(f"missing dynamodb:UpdateItem on {ACCOUNTS_TABLE} (it pauses accounts)")
    # A document's claim is one transaction: Update of its record, ConditionCheck of the number's earlier
    # holder, Put of the number.
    for action, table in (("dynamodb:UpdateItem", DOCUMENTS_TABLE), ("dynamodb:ConditionCheckItem", DOCUMENTS_TABLE),
                          ("dynamodb:PutItem", OWN_NUMBERS_TABLE)):
        if not allows(st, action, table_arn(table)):
            problems.append(f"missing {action} on {table} (claiming a document with our number)")
    for action in set(WRITE_ACTIONS) - {"dynamodb:UpdateItem"}:
        if allows(st, action, table_arn(ACCOUNTS_TABLE)):
            problems.append(f"{action} on {ACCOUNTS_TABLE} (it only pauses an account: UpdateItem)")
    _fail_if(problems, f"{EXPORT_FN}'s DynamoDB permissions:")


def test_table_writers_are_exactly_the_expected_functions(policies):
    problems = []
    for table, expected in TABLE_WRITERS.items():
        writers = set().union(*(grantees(policies, a, table_arn(table)) for a in WRITE_ACTIONS))
        if writers != expected:
            problems.append(f"{table}: writable by {sorted(writers)}, expected {sorted(expected)}")
    _fail_if(problems, "Table write access differs from TABLE_WRITERS (fix the template, or TABLE_WRITERS "
                       "on purpose):")


def test_no_table_allows_deleting_items(cfn, policies):
    # The documents table holds the provider mapping, the guard against a second invoice at the
    # provider: nothing may delete it; the other tables' items expire by TTL or stay.
    problems = []
    for table in resources_of_type(cfn, "AWS::DynamoDB::Table"):
        for action in ("dynamodb:DeleteItem", "dynamodb:BatchWriteItem"):
            who = grantees(policies, action, table_arn(table))
            if who:
                problems.append(f"{action} on {table} granted to {sorted(who)}")
    _fail_if(problems, "Replace DynamoDBCrudPolicy by DynamoDBReadPolicy + a Put/Update-only Statement for:")


def test_only_the_functions_that_sign_or_verify_links_read_the_link_signing_secret(policies):
    readers = grantees(policies, "secretsmanager:GetSecretValue", secret_arn(LINK_SECRET))
    signers = {RECORD_CHANGES_FN, EXPORT_FN, CONFIG_API_FN}  # exported / already_exported events, the API
    assert readers == signers | {LINK_FN}, (
        f"{LINK_SECRET} is readable by {sorted(readers)}; only {sorted(signers)} (sign links) "
        f"and {LINK_FN} (verifies them) may read it"
    )


def test_secret_reads_are_limited_to_account_credentials_and_the_link_secret(policies):
    # Plus the deployment's own provider credentials (wFirma's appKey), which every adapter user reads.
    allowed = {ACCOUNT_SECRETS, secret_arn(LINK_SECRET), secret_arn(PROVIDER_APP_SECRETS)}
    problems = [
        f"{fn}: {v}"
        for fn, rp in sorted(policies.items())
        for v in scope_violations(_without_credential_writes(fn, rp.statements), "secretsmanager",
                                  {"secretsmanager:GetSecretValue"}, allowed)
    ]
    for fn, rp in sorted(policies.items()):
        for outside in ("invoice-export/other", "prod/database", "invoice-export/accountsX"):
            if allows(rp.statements, "secretsmanager:GetSecretValue", named_secret_arn(outside)):
                problems.append(f"{fn}: can read secret {outside!r}")
    _fail_if(problems, "Secrets Manager access must be GetSecretValue on invoice-export/accounts/*, "
                       f"!Ref {LINK_SECRET} or !Ref {PROVIDER_APP_SECRETS} only:")


def test_only_fetch_pdf_and_link_functions_touch_s3_and_only_pdf_keys(policies):
    allowed = {object_arn(PDF_BUCKET, "pdf/*")}
    problems = []
    for fn, rp in sorted(policies.items()):
        touches_s3 = any(a.lower().startswith("s3:") or a == "*" for st in rp.statements for a in st.actions)
        if touches_s3 and fn not in (FETCH_PDF_FN, LINK_FN):
            problems.append(f"{fn}: has S3 permissions, but only {FETCH_PDF_FN} and {LINK_FN} need them")
        problems += [f"{fn}: {v}" for v in scope_violations(rp.statements, "s3", S3_ACTIONS, allowed)]
    for fn in (FETCH_PDF_FN, LINK_FN):
        for action in ("s3:GetObject", "s3:PutObject"):
            if not allows(policies[fn].statements, action, object_arn(PDF_BUCKET, "pdf/acc-1/doc-1.pdf")):
                problems.append(f"{fn}: missing {action} on {PDF_BUCKET}/pdf/*")
    _fail_if(problems, f"S3 access must be GetObject/PutObject on ${{{PDF_BUCKET}.Arn}}/pdf/* for the PDF "
                       "functions only:")


def test_only_expected_functions_send_to_the_stacks_queues(cfn, policies):
    problems = []
    for queue in resources_of_type(cfn, "AWS::SQS::Queue"):
        senders = grantees(policies, "sqs:SendMessage", queue_arn(queue))
        senders |= grantees(policies, "sqs:SendMessageBatch", queue_arn(queue))
        expected = QUEUE_SENDERS.get(queue, set())
        if senders != expected:
            problems.append(f"{queue}: senders {sorted(senders)}, expected {sorted(expected)}")
    _fail_if(problems, "SQS send permissions differ from QUEUE_SENDERS:")


def test_only_expected_functions_publish_on_the_outcome_bus(policies):
    bus = f"arn:aws:events:eu-central-1:123456789012:event-bus/${{{OUTCOME_BUS}}}"
    publishers = grantees(policies, "events:PutEvents", bus)
    assert publishers == EVENT_PUBLISHERS, f"events:PutEvents on {OUTCOME_BUS}: {sorted(publishers)}"


def test_export_function_can_back_off_on_its_own_queue(policies):
    # On a provider 429 the export function delays the message with ChangeMessageVisibility
    # (aws-stack.md F); it gets EXPORT_QUEUE_URL for that. The poller policy SAM attaches lacks it.
    if not allows(policies[EXPORT_FN].statements, "sqs:ChangeMessageVisibility", queue_arn(EXPORT_QUEUE)):
        pytest.fail(f"{EXPORT_FN} needs sqs:ChangeMessageVisibility on {EXPORT_QUEUE} (add a Statement on "
                    f"!GetAtt {EXPORT_QUEUE}.Arn)", pytrace=False)


def test_policy_checkers_catch_synthetic_violations():
    """Negative control: the same checkers flag a deliberately bad role and accept a good one."""
    cfn = {
        "Resources": {
            PDF_BUCKET: {"Type": "AWS::S3::Bucket"},
            DOCUMENTS_TABLE: {"Type": "AWS::DynamoDB::Table"},
            PDF_QUEUE: {"Type": "AWS::SQS::Queue"},
            LINK_SECRET: {"Type": "AWS::SecretsManager::Secret"},
        }
    }
    bad = statements_of_document(
        {
            "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"},
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:DeleteObject"],
                 "Resource": {"Fn::Sub": "${PdfBucket.Arn}/*"}},
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                 "Resource": {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:"
                                         "${AWS::AccountId}:secret:invoice-export/*"}},
                {"Effect": "Allow", "Action": "sqs:Send*", "Resource": {"Fn::GetAtt": [PDF_QUEUE, "Arn"]}},
                {"Effect": "Allow", "Action": "dynamodb:*",
                 "Resource": {"Fn::GetAtt": [DOCUMENTS_TABLE, "Arn"]}},
            ]
        },
        "synthetic",
        cfn,
    )
    wild = wildcard_violations(bad)
    assert any("'*'" in v and "wildcard action" in v for v in wild)
    assert any("Resource '*' for ['dynamodb:GetItem']" in v for v in wild)
    assert any("'dynamodb:*'" in v for v in wild)
    forbidden = " ".join(forbidden_action_violations(bad))
    assert "s3:DeleteObject" in forbidden and "dynamodb:DeleteTable" in forbidden
    assert scope_violations(bad[2:3], "s3", S3_ACTIONS, {object_arn(PDF_BUCKET, "pdf/*")})
    assert scope_violations(bad[3:4], "secretsmanager", {"secretsmanager:GetSecretValue"}, {ACCOUNT_SECRETS})
    assert allows(bad[3:4], "secretsmanager:GetSecretValue", named_secret_arn("invoice-export/other"))
    assert allows(bad[4:5], "sqs:SendMessage", queue_arn(PDF_QUEUE))
    assert allows(bad[5:6], "dynamodb:DeleteItem", table_arn(DOCUMENTS_TABLE))
    assert not allows(bad[2:3], "s3:GetObject", bucket_arn(PDF_BUCKET))  # bucket ARN is not an object ARN

    good = statements_of_document(
        {
            "Statement": [
                {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "logs:PutLogEvents"],
                 "Resource": "*"},
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                 "Resource": {"Fn::Sub": "${PdfBucket.Arn}/pdf/*"}},
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                 "Resource": {"Fn::Sub": ["${a}", {"a": {"Ref": LINK_SECRET}}]}},
            ]
        },
        "synthetic",
        cfn,
    )
    assert wildcard_violations(good) == []
    assert forbidden_action_violations(good) == []
    assert scope_violations(good, "s3", S3_ACTIONS, {object_arn(PDF_BUCKET, "pdf/*")}) == []
    assert allows(good, "secretsmanager:GetSecretValue", secret_arn(LINK_SECRET))
    assert not allows(good, "s3:GetObject", object_arn(PDF_BUCKET, "other/x.pdf"))


# ====================================================================================== code, runtime


def test_functions_and_layer_use_python313_on_arm64(cfn, functions, translation):
    problems = []
    for fn, res in sorted(functions.items()):
        p = props(res)
        if p.get("Runtime") != RUNTIME:
            problems.append(f"{fn}: Runtime {p.get('Runtime')!r}")
        if p.get("Architectures") != [ARCH]:
            problems.append(f"{fn}: Architectures {p.get('Architectures')!r}")
    layers = resources_of_type(cfn, "AWS::Lambda::LayerVersion")
    if not layers:
        problems.append("no Lambda layer in the translated template")
    for layer_id, res in layers.items():
        p = props(res)
        if p.get("CompatibleRuntimes") != [RUNTIME]:
            problems.append(f"{layer_id}: CompatibleRuntimes {p.get('CompatibleRuntimes')!r}")
        if p.get("CompatibleArchitectures") != [ARCH]:
            problems.append(f"{layer_id}: CompatibleArchitectures {p.get('CompatibleArchitectures')!r}")
    meta = translation.sam["Resources"][LAYER].get("Metadata") or {}
    if meta.get("BuildMethod") != "makefile" or meta.get("BuildArchitecture") != ARCH:
        problems.append(f"{LAYER}: Metadata needs BuildMethod makefile + BuildArchitecture {ARCH}: {meta}")
    _fail_if(problems, f"Use {RUNTIME} on {ARCH} everywhere (Globals.Function, the layer and its Metadata):")


def test_the_layer_makefile_builds_for_the_functions_platform_with_bytecode(translation):
    """`sam build` runs `make build-<LayerId>` in the layer's folder (BuildMethod: makefile)."""
    makefile = (translation.local_uris[LAYER] / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", makefile, flags=re.MULTILINE))
    assert f"build-{LAYER}" in targets, f"layers/common/Makefile has no build-{LAYER} target: {sorted(targets)}"
    for needed in ("--platform manylinux2014_aarch64", "--python-version 3.13", "--only-binary=:all:",
                   "$(ARTIFACTS_DIR)/python", "--invalidation-mode unchecked-hash", "version_info[:2] == (3, 13)"):
        assert needed in makefile, f"layers/common/Makefile should build with {needed!r}"


def test_snapstart_functions_are_invoked_through_their_alias_by_every_event_source(cfn, functions):
    """SnapStart snapshots published versions only: anything invoking the function itself ($LATEST)
    would get ordinary cold starts. So each such function has an alias (AutoPublishAlias), and its
    queue mappings, API permissions and API integrations all name the alias."""
    snapstart = {fn for fn, res in functions.items() if props(res).get("SnapStart")}
    assert snapstart >= {"ExportFunction", "FetchPdfFunction", LINK_FN, CONFIG_API_FN, RECORD_CHANGES_FN}, snapstart
    problems = []
    for fn in sorted(snapstart):
        if props(functions[fn])["SnapStart"] != {"ApplyOn": {"Ref": "SnapStart"}}:
            problems.append(f"{fn}: SnapStart {props(functions[fn])['SnapStart']}")
        if props(functions[fn]).get("Runtime") not in ("python3.12", "python3.13"):
            problems.append(f"{fn}: SnapStart for Python needs python3.12 or later")
        aliases = aliases_of(cfn, fn)
        if len(aliases) != 1:
            problems.append(f"{fn}: aliases {aliases} (AutoPublishAlias makes one)")
        for kind in ("AWS::Lambda::EventSourceMapping", "AWS::Lambda::Permission"):
            for rid, res in resources_of_type(cfn, kind).items():
                target = ref_target(props(res).get("FunctionName"))
                if function_behind(cfn, target) == fn and target not in aliases:
                    problems.append(f"{rid} ({kind}) invokes {target}, not the alias {aliases}")
        apis = resources_of_type(cfn, "AWS::ApiGatewayV2::Api") | resources_of_type(cfn, "AWS::ApiGateway::RestApi")
        for api, res in apis.items():
            body = json.dumps(props(res).get("Body") or {})
            if f"${{{fn}.Arn}}" in body or f'"{fn}", "Arn"' in body:
                problems.append(f"{api} integrates with {fn} itself, not its alias")
    assert cfn["Parameters"]["SnapStart"]["Default"] == "PublishedVersions"
    _fail_if(problems, "SnapStart functions must be invoked through their alias:")


def test_a_new_layer_publishes_new_versions_of_the_aliased_functions(sam_text, cfn, functions):
    """Most of the code is in the layer: a deploy that changes only the layer must still move each alias to
    a new version, or the SnapStart functions would go on running the old layer."""
    aliased = {fn for fn in functions if aliases_of(cfn, fn)}
    assert aliased, "no function has an alias"
    changed = translate(sam_text.replace("ContentUri: ../layers/common/", "ContentUri: s3://elsewhere/layer-v2.zip"))

    def versions(template: dict) -> dict[str, str]:
        return {function_behind(template, ref_target(props(res)["FunctionName"])): vid
                for vid, res in resources_of_type(template, "AWS::Lambda::Version").items()}

    before, after = versions(cfn), versions(changed.cfn)
    unchanged = sorted(fn for fn in aliased if before.get(fn) == after.get(fn))
    assert not unchanged, f"a layer-only change publishes no new version of {unchanged}"


def test_every_function_uses_the_common_layer(cfn, functions):
    layer_ids = set(resources_of_type(cfn, "AWS::Lambda::LayerVersion"))
    problems = [
        f"{fn}: Layers {props(res).get('Layers')!r}"
        for fn, res in sorted(functions.items())
        if not any(ref_target(layer) in layer_ids for layer in props(res).get("Layers") or [])
    ]
    _fail_if(problems, f"Every function needs !Ref {LAYER} (Globals.Function.Layers):")


def test_layer_folder_has_requirements_and_no_python_subfolder(translation):
    folder = translation.local_uris.get(LAYER)
    expected = TEMPLATE_PATH.parents[1] / "layers" / "common"
    problems = []
    if folder != expected:
        problems.append(f"{LAYER}: ContentUri resolves to {folder}, expected the local folder {expected}")
    elif not folder.is_dir():
        problems.append(f"{folder} does not exist")
    else:
        if not (folder / "requirements.txt").is_file():
            problems.append(f"{folder}/requirements.txt is missing (sam build pip-installs it)")
        if (folder / "python").exists():
            problems.append(f"{folder}/python exists: with BuildMethod python3.x SAM copies the folder INTO "
                            "python/, so it becomes python/python/... and imports break")
    _fail_if(problems, "Keep the layer's packages and requirements.txt at the layer root:")


def test_every_handler_resolves_to_a_function_in_its_code_folder(translation, functions):
    problems = []
    for fn, res in sorted(functions.items()):
        code_dir = translation.local_uris.get(fn)
        if code_dir is None:
            problems.append(f"{fn}: CodeUri is not a local folder")
            continue
        problem = handler_problem(code_dir, props(res).get("Handler"))
        if problem:
            problems.append(f"{fn}: {problem}")
    _fail_if(problems, "Each Handler `module.func` must name a top-level `func` in <CodeUri>/<module>.py:")


def test_handler_checker_rejects_missing_functions(tmp_path):
    source = "import x\nfrom y import handler as h2\n\n\ndef handler(e, c):\n    pass\n"
    (tmp_path / "mod_app.py").write_text(source)
    assert handler_problem(tmp_path, "mod_app.handler") is None
    assert handler_problem(tmp_path, "mod_app.h2") is None
    assert "defines no top-level 'other'" in handler_problem(tmp_path, "mod_app.other")
    assert "does not exist" in handler_problem(tmp_path, "missing_app.handler")
    (tmp_path / "broken_app.py").write_text("def handler(:\n")
    assert "does not parse" in handler_problem(tmp_path, "broken_app.handler")


# ============================================================================================ logging, API


def test_every_function_has_a_log_group_with_retention(cfn, functions):
    groups = resources_of_type(cfn, "AWS::Logs::LogGroup")
    problems = []
    for fn, res in sorted(functions.items()):
        explicit = ref_target(((props(res).get("LoggingConfig") or {}).get("LogGroup")))
        matching = [
            g for g, gres in groups.items()
            if g == explicit or render(props(gres).get("LogGroupName")) == f"/aws/lambda/${{{fn}}}"
        ]
        if not matching:
            problems.append(f"{fn}: no AWS::Logs::LogGroup named !Sub /aws/lambda/${{{fn}}}")
        for g in matching:
            if resolve_number(cfn, props(groups[g]).get("RetentionInDays")) is None:
                problems.append(f"{g}: RetentionInDays missing (logs would be kept forever)")
    _fail_if(problems, "Declare one log group with RetentionInDays per function:")


def test_http_api_routes_get_d_token_to_the_link_function(cfn):
    api = cfn["Resources"].get(LINK_API)
    assert api and api["Type"] == "AWS::ApiGatewayV2::Api", f"{LINK_API} must translate to an HTTP API"
    route = ((props(api).get("Body") or {}).get("paths") or {}).get("/d/{token}", {}).get("get")
    paths = list((props(api).get("Body") or {}).get("paths") or {})
    assert route, f"{LINK_API} has no GET /d/{{token}} route; paths: {paths}"
    uri = render(route.get("x-amazon-apigateway-integration", {}).get("uri"))
    assert integration_reaches(cfn, uri, LINK_FN), f"GET /d/{{token}} must integrate with {LINK_FN}, not {uri}"
    permissions = [
        p for p in resources_of_type(cfn, "AWS::Lambda::Permission").values()
        if function_behind(cfn, ref_target(props(p).get("FunctionName"))) == LINK_FN
        and props(p).get("Principal") == "apigateway.amazonaws.com"
        and f"${{{LINK_API}}}" in render(props(p).get("SourceArn"))
    ]
    assert permissions, f"{LINK_FN} has no lambda:InvokeFunction permission for {LINK_API}"


# ======================================================================================== operations


def test_bulk_export_runs_nightly_in_warsaw_time_with_the_input_its_handler_parses(cfn):
    from invoice_export.entrypoints.schedules import NightlyRequest

    schedules = [
        props(s) for s in resources_of_type(cfn, "AWS::Scheduler::Schedule").values()
        if BULK_EXPORT_FN in render(props(s).get("Target", {}).get("Arn"))
    ]
    assert len(schedules) == 1, f"{BULK_EXPORT_FN} needs exactly one ScheduleV2 event, found {len(schedules)}"
    schedule = schedules[0]
    assert schedule.get("ScheduleExpressionTimezone") == "Europe/Warsaw"
    assert re.fullmatch(r"cron\(\d+ [0-5] \* \* \? \*\)", schedule.get("ScheduleExpression", "")), (
        f"the nightly run should fire once a night, early: {schedule.get('ScheduleExpression')}")
    NightlyRequest.model_validate_json(schedule["Target"]["Input"])  # what the handler will parse


def test_bulk_export_function_only_reads_documents_and_sends_to_the_export_queue(policies):
    st = policies[BULK_EXPORT_FN].statements
    problems = []
    for table in (ACCOUNTS_TABLE, DOCUMENTS_TABLE, BULK_RUNS_TABLE):
        for action in ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"):
            if not allows(st, action, table_arn(table)):
                problems.append(f"missing {action} on {table}")
    if not allows(st, "dynamodb:Query", f"{table_arn(DOCUMENTS_TABLE)}/index/by_account_status"):
        problems.append(f"missing dynamodb:Query on {DOCUMENTS_TABLE}'s by_account_status index")
    if not allows(st, "dynamodb:Scan", table_arn(ACCOUNTS_TABLE)):
        problems.append(f"missing dynamodb:Scan on {ACCOUNTS_TABLE} (the nightly run lists accounts)")
    if allows(st, "secretsmanager:GetSecretValue", ACCOUNT_SECRETS):
        problems.append("reads account credentials, but it only queues documents")
    _fail_if(problems, f"{BULK_EXPORT_FN}'s permissions:")


def test_dead_letter_check_runs_every_few_minutes_with_the_input_its_handler_parses(cfn):
    from invoice_export.entrypoints.dead_letters import DeadLetterCheckRequest

    schedules = [
        props(s) for s in resources_of_type(cfn, "AWS::Scheduler::Schedule").values()
        if DEAD_LETTER_CHECK_FN in render(props(s).get("Target", {}).get("Arn"))
    ]
    assert len(schedules) == 1, f"{DEAD_LETTER_CHECK_FN} needs exactly one ScheduleV2 event, found {len(schedules)}"
    expression = schedules[0]["ScheduleExpression"]
    if ref_target(expression) in cfn.get("Parameters", {}):
        expression = cfn["Parameters"][ref_target(expression)]["Default"]
    period = re.fullmatch(r"rate\((\d+) minutes?\)", expression)
    assert period and 1 <= int(period.group(1)) <= 15, f"check the DLQ every few minutes, not {expression!r}"
    timeout = resolve_number(cfn, props(cfn["Resources"][DEAD_LETTER_CHECK_FN]).get("Timeout"))
    assert timeout is not None and timeout < 60 * int(period.group(1)), "one check must end before the next starts"
    DeadLetterCheckRequest.model_validate_json(schedules[0]["Target"]["Input"])


def test_settlement_runs_every_few_minutes_with_the_input_its_handler_parses_and_only_reads_providers(
        cfn, policies):
    from invoice_export.entrypoints.settlement import SettleInDoubtRequest
    from invoice_export.services.settlement import SettleRequest

    schedule = _schedule_targeting(cfn, SETTLE_FN)
    expression = schedule["ScheduleExpression"]
    if ref_target(expression) in cfn.get("Parameters", {}):
        expression = cfn["Parameters"][ref_target(expression)]["Default"]
    period = re.fullmatch(r"rate\((\d+) minutes?\)", expression)
    assert period and 5 <= int(period.group(1)) <= 60, f"settle documents in doubt every few minutes: {expression!r}"
    SettleInDoubtRequest.model_validate_json(schedule["Target"]["Input"])
    SettleRequest(account_id="a", document_id="d")  # what the queue's messages are
    readers = {fn for q_id, fn in sqs_event_source_mappings(cfn).values() if q_id == SETTLE_QUEUE}
    assert readers == {SETTLE_FN}
    # Records change only by conditional updates of an existing item (no put: it never creates a record).
    st = policies[SETTLE_FN].statements
    assert allows(st, "dynamodb:UpdateItem", table_arn(DOCUMENTS_TABLE))
    assert not allows(st, "dynamodb:PutItem", table_arn(DOCUMENTS_TABLE))
    # It only writes the record: the event, PDF request, KSeF poll, audit entry and a released document's
    # export message come from its stream (EVENT_PUBLISHERS, QUEUE_SENDERS and TABLE_WRITERS hold the rest).
    assert not allows(st, "dynamodb:PutItem", table_arn(AUDIT_TABLE))
    assert "EXPORT_QUEUE_URL" not in props(cfn["Resources"][SETTLE_FN])["Environment"]["Variables"]
    stream_env = props(cfn["Resources"][RECORD_CHANGES_FN])["Environment"]["Variables"]
    assert ref_target(stream_env.get("EXPORT_QUEUE_URL")) == EXPORT_QUEUE, (
        f"{RECORD_CHANGES_FN} sends a released document's export message: EXPORT_QUEUE_URL: !Ref {EXPORT_QUEUE}")


def test_dead_letter_check_knows_the_export_functions_timeout(cfn):
    # It leaves a document `sending` for less than this alone: a live attempt may be sending it.
    env = props(cfn["Resources"][DEAD_LETTER_CHECK_FN])["Environment"]["Variables"]
    export_timeout = resolve_number(cfn, props(cfn["Resources"][EXPORT_FN]).get("Timeout"))
    assert int(env["EXPORT_TIMEOUT_SECONDS"]) == export_timeout, (
        f"{DEAD_LETTER_CHECK_FN}'s EXPORT_TIMEOUT_SECONDS must be {EXPORT_FN}'s Timeout ({export_timeout})")
    assert render(env["EXPORT_DLQ_URL"]) == f"${{{EXPORT_DLQ}}}"


def test_dead_letter_check_only_reads_the_dlq_and_records_documents(policies):
    # Less the grant Lambda uses to keep a failed run (its OnFailure destination), checked on its own below.
    st = [s for s in policies[DEAD_LETTER_CHECK_FN].statements
          if s.resources != (queue_arn(SCHEDULED_RUN_FAILURES),) or s.actions != ("sqs:SendMessage",)]
    dlq = queue_arn(EXPORT_DLQ)
    problems = [f"missing {action} on {resource}" for action, resource in (
        ("sqs:ReceiveMessage", dlq), ("sqs:ChangeMessageVisibility", dlq),
        ("dynamodb:GetItem", table_arn(DOCUMENTS_TABLE)), ("dynamodb:PutItem", table_arn(DOCUMENTS_TABLE)),
        ("dynamodb:UpdateItem", table_arn(DOCUMENTS_TABLE)),
    ) if not allows(st, action, resource)]
    # The messages stay in the DLQ (replaying them is the operator's): no delete, no send, no other queue.
    # What it records is announced and audited from the record's stream: no events, no audit writes.
    problems += scope_violations(st, "sqs", {"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility"}, {dlq})
    problems += scope_violations(st, "dynamodb", {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
                                 {table_arn(DOCUMENTS_TABLE)})
    touched = {a.split(":")[0].lower() for s in st for a in s.actions}
    problems += [f"has {service} permissions it does not need" for service in sorted(touched - {
        "sqs", "dynamodb", "logs"})]
    _fail_if(problems, f"{DEAD_LETTER_CHECK_FN}'s permissions:")


def test_only_the_config_api_stores_credentials_and_only_under_the_accounts_prefix(policies):
    problems = []
    for fn, rp in sorted(policies.items()):
        for action in sorted(CREDENTIAL_WRITE_ACTIONS):
            may = allows(rp.statements, action, secret_pattern_arn("invoice-export/accounts/acc-1-AbC123"))
            if may != (fn in CREDENTIAL_WRITERS):
                problems.append(f"{fn}: {action} on account credentials is {'granted' if may else 'missing'}")
            for outside in ("invoice-export/other", "prod/database"):
                if allows(rp.statements, action, named_secret_arn(outside)):
                    problems.append(f"{fn}: {action} on {outside!r}")
    _fail_if(problems, f"Only {sorted(CREDENTIAL_WRITERS)} may store credentials, on invoice-export/accounts/*:")


def test_config_api_requires_iam_auth_on_every_route_and_reaches_its_function(cfn):
    api = cfn["Resources"].get(CONFIG_API)
    assert api and api["Type"] == "AWS::ApiGateway::RestApi", f"{CONFIG_API} must translate to a REST API"
    body = props(api).get("Body") or {}
    schemes = body.get("securityDefinitions") or {}
    iam = [name for name, s in schemes.items() if s.get("x-amazon-apigateway-authtype") == "awsSigv4"]
    assert iam, f"{CONFIG_API} has no SigV4 (AWS_IAM) security scheme: {schemes}"
    problems = []
    for path, methods in (body.get("paths") or {}).items():
        for method, operation in methods.items():
            required = {name for entry in operation.get("security") or [] for name in entry}
            if not required & set(iam):
                problems.append(f"{method.upper()} {path}: security {operation.get('security')}")
            uri = render(operation.get("x-amazon-apigateway-integration", {}).get("uri"))
            if not integration_reaches(cfn, uri, CONFIG_API_FN):
                problems.append(f"{method.upper()} {path}: integrates with {uri}")
    assert body.get("paths"), f"{CONFIG_API} has no routes"
    _fail_if(problems, f"Every {CONFIG_API} route must require AWS_IAM and reach {CONFIG_API_FN}:")


def test_config_api_only_reads_tenants_and_touches_no_pdfs(policies):
    st = policies[CONFIG_API_FN].statements
    assert allows(st, "dynamodb:GetItem", table_arn(TENANTS_TABLE))
    assert not any(a.lower().startswith("s3:") for s in st for a in s.actions), f"{CONFIG_API_FN} needs no S3"


def _alarm_metrics(alarm: dict) -> dict[str, dict]:
    return {m["Id"]: m["MetricStat"]["Metric"] for m in props(alarm).get("Metrics", []) if "MetricStat" in m}


def test_alarms_watch_the_dlq_the_failure_rate_and_paused_accounts_under_the_metric_names_the_code_writes(cfn):
    from invoice_export.services.events import Outcome

    alarms = resources_of_type(cfn, "AWS::CloudWatch::Alarm")
    dlq = props(alarms["ExportDLQDepthAlarm"])
    assert dlq["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert [render(d["Value"]) for d in dlq["Dimensions"]] == ["${ExportDLQ.QueueName}"]
    env = props(cfn["Resources"][EXPORT_FN])["Environment"]["Variables"]
    expected = {"Namespace": env["POWERTOOLS_METRICS_NAMESPACE"],
                "Dimensions": [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]}
    watched = {}
    for name in ("ExportFailureRateAlarm", "AccountsNeedingReconnectAlarm"):
        for metric in _alarm_metrics(alarms[name]).values():
            assert {k: metric[k] for k in expected} == expected, f"{name} watches {metric}"
            watched.setdefault(name, set()).add(metric["MetricName"])
    assert watched["ExportFailureRateAlarm"] == {f"Outcome_{Outcome.FAILED.value}", f"Outcome_{Outcome.EXPORTED.value}"}
    # AccountPaused: written by the export service when it pauses; the gauge by the nightly function.
    assert watched["AccountsNeedingReconnectAlarm"] == {"AccountPaused", "AccountsNeedingReconnect"}


def test_audit_entries_are_only_added(policies):
    changers = set().union(*(grantees(policies, action, table_arn(AUDIT_TABLE))
                             for action in ("dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")))
    assert not changers, f"{sorted(changers)} may change or delete audit entries; only PutItem of new ones"


def test_pdfs_expire_after_the_retention_period(cfn):
    rules = props(cfn["Resources"][PDF_BUCKET])["LifecycleConfiguration"]["Rules"]
    retention = [r for r in rules if r.get("ExpirationInDays") == {"Ref": "DataRetentionDays"}]
    assert [r.get("Prefix") for r in retention] == ["pdf/"], f"PDFs need an expiry after DataRetentionDays: {rules}"


# ================================================================================ failed scheduled runs


def _schedule_targeting(cfn: dict, fn: str) -> dict:
    """The schedule of a function: it invokes the function itself, or its alias (a SnapStart function)."""
    schedules = [props(s) for s in resources_of_type(cfn, "AWS::Scheduler::Schedule").values()
                 if function_behind(cfn, ref_target(props(s).get("Target", {}).get("Arn"))) == fn]
    assert len(schedules) == 1, f"{fn} needs exactly one ScheduleV2 event, found {len(schedules)}"
    return schedules[0]


def _depth_alarms(cfn: dict, queue: str) -> dict[str, dict]:
    return {a: props(alarm) for a, alarm in resources_of_type(cfn, "AWS::CloudWatch::Alarm").items()
            if props(alarm).get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and [render(d["Value"]) for d in props(alarm).get("Dimensions", [])] == [f"${{{queue}.QueueName}}"]}


@pytest.mark.parametrize("fn", SCHEDULED_FNS)
def test_a_schedule_that_cannot_invoke_its_function_dead_letters_to_the_schedule_dlq(cfn, fn):
    target = _schedule_targeting(cfn, fn)["Target"]
    assert ref_target((target.get("DeadLetterConfig") or {}).get("Arn")) == SCHEDULE_DLQ, (
        f"{fn}'s schedule: DeadLetterConfig.Arn must be !GetAtt {SCHEDULE_DLQ}.Arn (ScheduleV2 DeadLetterConfig), "
        f"got {target.get('DeadLetterConfig')}")
    # Scheduler writes the dead-letter event with the schedule's execution role (no queue policy).
    role = ref_target(target.get("RoleArn"))
    assert cfn["Resources"].get(role, {}).get("Type") == "AWS::IAM::Role", f"{fn}'s schedule role: {role}"
    st = inline_role_statements(cfn, role)
    assert allows(st, "sqs:SendMessage", queue_arn(SCHEDULE_DLQ)), f"{role} cannot send to {SCHEDULE_DLQ}"
    invoked = ref_target(target["Arn"])
    invoked_arn = f"${{{fn}.Arn}}" if invoked == fn else f"${{{invoked}}}"  # an alias's Ref is its ARN
    assert allows(st, "lambda:InvokeFunction", invoked_arn), f"{role} cannot invoke {invoked}"
    problems = scope_violations(st, "sqs", {"sqs:SendMessage"}, {queue_arn(SCHEDULE_DLQ)})
    _fail_if(problems, f"{role} may only send to {SCHEDULE_DLQ}:")


# A failed nightly run resumes where it stopped, so Lambda retries it; the DLQ check runs again soon anyway.
FAILED_RUN_RETRIES = {BULK_EXPORT_FN: 2, DEAD_LETTER_CHECK_FN: 0, RECORD_CHANGES_FN: 0, SETTLE_FN: 0}


@pytest.mark.parametrize("fn", SCHEDULED_FNS)
def test_a_scheduled_run_that_fails_inside_the_function_goes_to_the_on_failure_queue(cfn, policies, fn):
    configs = [props(c) for c in resources_of_type(cfn, "AWS::Lambda::EventInvokeConfig").values()
               if ref_target(props(c).get("FunctionName")) == fn]
    assert len(configs) == 1, f"{fn} needs one EventInvokeConfig (SAM EventInvokeConfig), found {len(configs)}"
    config = configs[0]
    # The config must be on what the schedule invokes: the unqualified function ARN ($LATEST), or the
    # alias of a SnapStart function.
    invoked = ref_target(_schedule_targeting(cfn, fn)["Target"]["Arn"])
    qualifier = "$LATEST" if invoked == fn else props(cfn["Resources"][invoked])["Name"]
    assert config.get("Qualifier") == qualifier, f"{fn}: EventInvokeConfig.Qualifier {config.get('Qualifier')!r}"
    on_failure = (config.get("DestinationConfig") or {}).get("OnFailure") or {}
    assert ref_target(on_failure.get("Destination")) == SCHEDULED_RUN_FAILURES, (
        f"{fn}: DestinationConfig.OnFailure must be !GetAtt {SCHEDULED_RUN_FAILURES}.Arn, got {on_failure}")
    assert config.get("MaximumRetryAttempts") == FAILED_RUN_RETRIES[fn], (
        f"{fn}: MaximumRetryAttempts {config.get('MaximumRetryAttempts')!r}, expected {FAILED_RUN_RETRIES[fn]}")
    # Lambda sends the failure record with the function's execution role.
    assert allows(policies[fn].statements, "sqs:SendMessage", queue_arn(SCHEDULED_RUN_FAILURES)), (
        f"{fn}'s role cannot send to {SCHEDULED_RUN_FAILURES} (SAM adds it for Type: SQS with a Destination)")


# SettleDLQ: settlements of documents in doubt that failed on every delivery (the same pattern).
@pytest.mark.parametrize("queue", [SCHEDULE_DLQ, SCHEDULED_RUN_FAILURES, SETTLE_DLQ])
def test_failed_run_queues_are_standard_encrypted_kept_14_days_and_alarmed(cfn, queue):
    q = props(cfn["Resources"][queue])
    problems = []
    if is_true(q.get("FifoQueue")):
        problems.append("FIFO: EventBridge Scheduler refuses a FIFO dead-letter queue")
    if not is_true(q.get("SqsManagedSseEnabled")):
        problems.append("SqsManagedSseEnabled must be true (error records can quote the schedule's input)")
    if resolve_number(cfn, q.get("MessageRetentionPeriod", 345600)) != 1209600:
        problems.append("MessageRetentionPeriod must be 1209600 (14 days, like the other DLQs)")
    alarms = _depth_alarms(cfn, queue)
    pattern = props(cfn["Resources"]["ExportDLQDepthAlarm"])
    if not alarms:
        problems.append(f"no ApproximateNumberOfMessagesVisible alarm on ${{{queue}.QueueName}}")
    for name, alarm in alarms.items():
        same = ("Namespace", "Statistic", "Threshold", "ComparisonOperator", "TreatMissingData", "AlarmActions")
        differs = {k: alarm.get(k) for k in same if alarm.get(k) != pattern.get(k)}
        if differs:
            problems.append(f"{name} differs from ExportDLQDepthAlarm's pattern (one message alarms, "
                            f"notifies AlarmTopicArn if set): {differs}")
    _fail_if(problems, f"{queue}:")


# ============================================================================ the public link API


def _stages_of(cfn: dict, api: str) -> dict[str, dict]:
    return {k: props(v) for k, v in cfn["Resources"].items()
            if v["Type"] in ("AWS::ApiGatewayV2::Stage", "AWS::ApiGateway::Stage")
            and ref_target(props(v).get("ApiId") or props(v).get("RestApiId")) == api}


def test_link_api_throttles_every_route_with_parameters(cfn):
    (stage,) = _stages_of(cfn, LINK_API).values()
    settings = stage.get("DefaultRouteSettings") or {}
    problems = []
    values = {}
    for key in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
        param = ref_target(settings.get(key))
        spec = cfn.get("Parameters", {}).get(param or "")
        if spec is None:
            problems.append(f"DefaultRouteSettings.{key} must be !Ref <parameter>, got {settings.get(key)!r}")
            continue
        values[key] = resolve_number(cfn, settings[key])
        min_value = resolve_number(cfn, spec.get("MinValue"))
        if min_value is None or min_value < 1:
            problems.append(f"{param}: MinValue must be >= 1 (0 refuses every customer link)")
    if len(values) == 2:
        rate, burst = values["ThrottlingRateLimit"], values["ThrottlingBurstLimit"]
        if not (rate and burst and 1 <= rate <= burst <= 5000):
            problems.append(f"defaults rate={rate}/s, burst={burst}: need 1 <= rate <= burst <= 5000 "
                            "(the account's burst quota per region)")
    _fail_if(problems, f"{LINK_API}'s stage must throttle its routes (DefaultRouteSettings):")


@pytest.mark.parametrize(("value", "reserves"), [("", False), ("0", False), ("5", True), ("10", True)])
def test_link_function_reserves_concurrency_only_when_asked(cfn, value, reserves):
    setting = props(cfn["Resources"][LINK_FN]).get("ReservedConcurrentExecutions")
    chosen = choose_if(cfn, setting, {"LinkReservedConcurrency": value})
    expected = {"Ref": "LinkReservedConcurrency"} if reserves else NO_VALUE
    assert chosen == expected, f"LinkReservedConcurrency={value!r}: ReservedConcurrentExecutions is {chosen}"


def test_link_reserved_concurrency_is_off_by_default_and_refuses_ambiguous_values(cfn):
    spec = cfn["Parameters"]["LinkReservedConcurrency"]
    setting = props(cfn["Resources"][LINK_FN]).get("ReservedConcurrentExecutions")
    assert choose_if(cfn, setting, {}) == NO_VALUE, "the default must reserve nothing (accounts with a quota of 10)"
    pattern = re.compile(spec["AllowedPattern"])
    assert all(pattern.fullmatch(v) for v in ("", "0", "5", "100"))
    # "00" would pass the condition's `!= "0"` and reserve 0, which stops the function altogether.
    assert not any(pattern.fullmatch(v) for v in ("00", "05", "-1", "five", " 5"))


def test_api_stages_write_json_access_logs_without_the_request_path(cfn):
    groups = resources_of_type(cfn, "AWS::Logs::LogGroup")
    expected = {LINK_API: {"$context.routeKey"}, CONFIG_API: {"$context.resourcePath", "$context.httpMethod"}}
    problems = []
    for api, required in expected.items():
        stages = _stages_of(cfn, api)
        if not stages:
            problems.append(f"{api}: no stage found")
        for stage_id, stage in stages.items():
            setting = stage.get("AccessLogSettings") or stage.get("AccessLogSetting") or {}
            group = ref_target(setting.get("DestinationArn"))
            if group not in groups:
                problems.append(f"{stage_id}: DestinationArn must be !GetAtt <LogGroup of this stack>.Arn")
            elif props(groups[group]).get("RetentionInDays") != LOG_RETENTION:
                problems.append(f"{group}: RetentionInDays must be !Ref LogRetentionDays")
            log_format = setting.get("Format") or ""
            try:
                fields = json.loads(log_format)
            except ValueError:
                problems.append(f"{stage_id}: Format is not JSON: {log_format!r}")
                continue
            if not all(isinstance(v, str) for v in fields.values()):
                problems.append(f"{stage_id}: quote every value (an empty variable would break the JSON)")
            missing = (required | {"$context.requestId", "$context.status"}) - context_variables(log_format)
            if missing:
                problems.append(f"{stage_id}: Format lacks {sorted(missing)}")
            if raw_path := raw_path_variables(log_format):
                problems.append(f"{stage_id}: Format logs the request path {raw_path} (it holds link tokens)")
    _fail_if(problems, "API access logs (infra/template.yaml, AccessLogSettings/AccessLogSetting):")


def test_raw_path_check_flags_path_variables_only():
    assert raw_path_variables('{"p":"$context.path","r":"$context.routeKey"}') == ["$context.path"]
    assert raw_path_variables('{"o":"$context.requestOverride.path.token","x":"$context.rawPath"}') == [
        "$context.rawPath", "$context.requestOverride.path.token"]
    assert raw_path_variables('{"r":"$context.resourcePath","m":"$context.httpMethod"}') == []
    assert context_variables('"$context.error.message", "$context.status"') == {
        "$context.error.message", "$context.status"}

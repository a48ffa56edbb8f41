"""Audit trail per document: who or what triggered each action, the settings version used, the
request and answer with secrets and personal data removed, and when.

    document_key (account#document) | entry (<timestamp>#<random>) | action, actor, ... | expires_at (TTL)

Entries expire after the deployment's retention (DataRetentionDays). Requests are redacted by
field name before they are stored (`redact`): buyer data and anything that looks like a secret
never reach the table; amounts, dates, VAT rates, line names and our ids stay, so an audit can
still see what was sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from invoice_export.domain.clock import now_iso
from invoice_export.platform.observability import logger
from invoice_export.storage.paging import all_items

REDACTED = "<redacted>"
# Field names (any provider, any nesting) whose value is personal data or a secret. A matching
# object or list is removed whole: e.g. wFirma's `contractor`, iFirma's `Kontrahent`.
_PERSONAL_OR_SECRET = re.compile(
    r"buyer|recipient|contractor|kontrahent|customer|client|nabywca|odbiorca|email|phone|street|address|"
    r"post_?code|zip|city|tax_?no|tax_?id|nip|pesel|first_?name|last_?name|token|secret|password|api_?key|"
    r"app_?key|access_?key|authorization|signature", re.IGNORECASE)


def redact(value: Any) -> Any:
    """A copy of a request/answer with personal data and secrets replaced by "<redacted>"."""
    if isinstance(value, dict):
        return {key: REDACTED if _PERSONAL_OR_SECRET.search(str(key)) else redact(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


class AuditEntry(BaseModel):
    account_id: str
    document_id: str
    at: str
    action: str  # queued, sent, failed, held, retry_requested, resolved, ...
    actor: str  # "order system", "bulk run <id> requested by <principal>", an IAM principal, ...
    trigger: str | None = None
    settings_version: int | None = None
    outcome: str | None = None
    error_code: str | None = None
    request: Any = None  # redacted
    response: Any = None  # redacted


class AuditTrail:
    def __init__(self, table: Any, retention_days: int) -> None:
        self.table = table
        self.retention_seconds = retention_days * 86400

    def record(self, account_id: str, document_id: str, action: str, actor: str, **details: Any) -> AuditEntry:
        for name in ("request", "response"):
            if details.get(name) is not None:
                details[name] = redact(details[name])
        entry = AuditEntry(account_id=account_id, document_id=document_id, at=now_iso(), action=action, actor=actor,
                           **details)
        item = {"document_key": _document_key(account_id, document_id), "entry": f"{entry.at}#{uuid.uuid4().hex[:8]}",
                "expires_at": int(time.time()) + self.retention_seconds,
                # JSON text: DynamoDB takes no floats, and the redacted bodies keep their exact shape.
                "body": entry.model_dump_json(exclude_none=True)}
        self.table.put_item(Item=item)
        return entry

    def write_note(self, account_id: str, document_id: str, note: str) -> AuditEntry:
        """Store the audit entry a record's write carried (`audit_note`). Keyed by its time and digest,
        so the same note written again (its change read twice from the stream) is the same item."""
        entry = AuditEntry(account_id=account_id, document_id=document_id, **json.loads(note))
        digest = hashlib.sha256(note.encode()).hexdigest()[:8]
        self.table.put_item(Item={"document_key": _document_key(account_id, document_id),
                                  "entry": f"{entry.at}#{digest}",
                                  "expires_at": int(time.time()) + self.retention_seconds,
                                  "body": entry.model_dump_json(exclude_none=True)})
        return entry

    def entries(self, account_id: str, document_id: str) -> list[AuditEntry]:
        items = all_items(self.table.query,
                          KeyConditionExpression=Key("document_key").eq(_document_key(account_id, document_id)))
        return [AuditEntry.model_validate(json.loads(item["body"])) for item in items]

    def delete_document(self, account_id: str, document_id: str) -> int:
        from invoice_export.storage.bulk_runs import delete_partition  # tenant-data deletion only: not at cold start

        return delete_partition(self.table, "document_key", _document_key(account_id, document_id), sort_key="entry")


def audit_note(action: str, actor: str, **details: Any) -> str:
    """An audit entry to write with a record's change (its `audit_note`), redacted as `record` redacts:
    the change stream stores it in the trail (AuditTrail.write_note), once the write is done."""
    for name in ("request", "response"):
        if details.get(name) is not None:
            details[name] = redact(details[name])
    note = {"at": now_iso(), "action": action, "actor": actor, **details}
    # Validated as an entry now, so that a note the trail would refuse is never written on a record.
    AuditEntry(account_id="-", document_id="-", **note)
    return json.dumps({name: value for name, value in note.items() if value is not None}, default=str)


def _document_key(account_id: str, document_id: str) -> str:
    return f"{account_id}#{document_id}"


def record_quietly(audit: AuditTrail | None, account_id: str, document_id: str, action: str, actor: str,
                   **details: Any) -> None:
    """Best effort: an action is never held back by its audit entry (a failure is logged).
    No trail configured (a function without AUDIT_TABLE): nothing to write."""
    if audit is None:
        return
    try:
        audit.record(account_id, document_id, action, actor, **details)
    except (BotoCoreError, ClientError):
        logger.exception("audit entry not written", extra={"action": action, "document_id": document_id})

"""Accounts whose credentials stopped working are paused instead of burning retries into the DLQ.

A create refused with 401/403 (or stored credentials that no longer fit) is checked once more with
the credentials read fresh from Secrets Manager: if the provider accepts those (the key was changed
and our 5-minute cache was stale), the document is simply retried. If it refuses them too - the
second refusal in a row - the account is paused (`needs_reconnect`), an "Account needs reconnect"
event goes on the bus, and every document of the account is held as pending with the reason, its
message acknowledged. Reconnecting (configuration API) queues the held documents again.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from invoice_export.domain.clock import now_iso
from invoice_export.domain.export_decision import PAUSED_CODE
from invoice_export.platform.observability import logger
from invoice_export.services.events import EVENT_SOURCE

ACCOUNT_DETAIL_TYPE = "Account needs reconnect"
__all__ = ["ACCOUNT_DETAIL_TYPE", "PAUSED_CODE", "AccountPausedEvent", "publish_account_paused"]


class AccountPausedEvent(BaseModel):
    account_id: str
    provider: str
    reason: str
    fix: str = "reconnect the account with working credentials; its held documents are sent then"
    occurred_at: str


def publish_account_paused(events_client: Any, bus_name: str, account_id: str, provider: str, reason: str) -> None:
    event = AccountPausedEvent(account_id=account_id, provider=provider, reason=reason, occurred_at=now_iso())
    response = events_client.put_events(Entries=[{
        "Source": EVENT_SOURCE, "DetailType": ACCOUNT_DETAIL_TYPE, "Detail": json.dumps(event.model_dump()),
        "EventBusName": bus_name, "Resources": []}])
    if response.get("FailedEntryCount"):
        # The pause itself is recorded; the alarm on paused accounts still fires.
        logger.error("account paused, but its event was not published", extra={"account_id": account_id})

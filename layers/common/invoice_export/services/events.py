"""Outcome events: every export ends in exactly one of these on the EventBridge bus.

An automation chain can stop on anything but `exported` (e.g. not e-mail a customer a document
that never reached the accounting system). Versioned schema: schemas/outcome-event.v1.json.
Events carry ids, numbers and error texts, never buyer data or credentials.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from invoice_export.domain.clock import now_iso
from invoice_export.domain.errors import TransientError
from invoice_export.domain.records import DocumentRecord

EVENT_SOURCE = "invoice-export"
DETAIL_TYPE = "Document export outcome"


class Outcome(StrEnum):
    EXPORTED = "exported"  # the provider has the document
    ALREADY_EXPORTED = "already_exported"  # a re-send of an exported document: nothing was sent
    PENDING = "pending"  # bulk-mode account: recorded, waits for a bulk export
    SUPERSEDED = "superseded"  # an older version arrived after a newer one: ignored
    FAILED = "failed"  # not exported: see error.code / error.fix
    IN_DOUBT = "in_doubt"  # may exist at the provider; held until an operator resolves it
    KSEF_ACCEPTED = "ksef_accepted"  # KSeF gave the exported document its number (ksef_number)
    KSEF_REJECTED = "ksef_rejected"  # KSeF refused it: see error
    KSEF_UNCONFIRMED = "ksef_unconfirmed"  # no final KSeF answer after hours of polling
    KSEF_SUBMITTED = "ksef_submitted"  # handed to a provider whose API does not report KSeF's answer: see warnings
    # Romania's e-Factura (ANAF's SPV), read back by the same poller for a Romanian provider (Oblio):
    EFACTURA_ACCEPTED = "efactura_accepted"  # ANAF validated the document (efactura_index: its upload index)
    EFACTURA_REJECTED = "efactura_rejected"  # ANAF (or the provider's e-Factura check) refused it: see error
    EFACTURA_UNCONFIRMED = "efactura_unconfirmed"  # no final e-Factura answer after hours of polling
    EFACTURA_SUBMITTED = "efactura_submitted"  # handed to a provider whose API does not report the answer


class OutcomeError(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str = Field(description="Stable machine-readable reason, e.g. series_not_linked")
    message: str
    fix: str = Field(description="What to change before retrying")
    retryable: bool = Field(description="True when the same input may work later without a change")


class SplitAtRate(BaseModel):
    model_config = ConfigDict(frozen=True)
    net: str
    vat: str


class SplitFigures(BaseModel):
    model_config = ConfigDict(frozen=True)
    net: str
    vat: str
    by_rate: dict[str, SplitAtRate] | None = Field(
        default=None, description="Per VAT percentage ('23'); absent where only the provider's totals were read back")
    vat_in_pln: str | None = Field(default=None, description="A foreign-currency document's VAT in PLN by this split")
    vat_in_home_currency: str | None = Field(
        default=None, description="A foreign-currency document's VAT in the seller's home currency (home_currency: "
        "PLN, RON) by this split")


class VatSplitWarning(BaseModel):
    """The provider split our gross (the amount due, the same both ways) into other net and VAT figures:
    VAT per rate instead of per line or the reverse, both lawful; the provider's document is the invoice."""

    model_config = ConfigDict(frozen=True)
    code: Literal["vat_split_differs"] = "vat_split_differs"
    gross: str = Field(description="The amount due, the same at the provider and on our document")
    ours: SplitFigures
    theirs: SplitFigures = Field(description="The provider's figures")
    read_back: bool = Field(description="True: the provider's totals were read back after the create; false: "
                            "predicted before sending (its API returns no totals to read)")
    home_currency: str | None = Field(
        default=None, description="The currency of vat_in_home_currency (a foreign-currency document only)")


class OutcomeEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: Literal["1"] = "1"
    event_id: str = Field(description="Deterministic per (document, version, outcome, attempt): de-duplicate on it")
    outcome: Outcome
    account_id: str
    document_id: str
    document_version: int | None = None
    kind: str | None = None
    our_number: str | None = None
    order_id: str | None = None
    provider: str | None = None
    provider_document_id: str | None = None
    provider_number: str | None = None
    customer_link: str | None = Field(default=None, description="Set when the account shows the provider's document")
    ksef_number: str | None = None
    efactura_index: str | None = Field(
        default=None, description="e-Factura (Romania): the upload index ANAF gave the document (efactura_accepted)")
    error: OutcomeError | None = None
    warnings: list[str] = []
    vat_in_pln: dict[str, str] | None = Field(
        default=None, description="A foreign-currency document's VAT in PLN (art. 106e ust. 11) as we compute it: "
        "per VAT rate ('23': '97.75'), 'total', 'exchange_rate', 'table_id', and 'checked' ('yes' when the "
        "provider's own figure was read back and compared, 'no' when its API does not return one)")
    vat_in_home_currency: dict[str, str] | None = Field(
        default=None, description="A foreign-currency document's VAT in the seller's home currency as we compute "
        "it, for any home currency (PLN: art. 106e ust. 11; RON: Codul fiscal art. 319 alin. (23)): per VAT rate "
        "('21': '115.51'), 'total', 'exchange_rate', 'table_id', 'currency' ('RON', 'PLN') and 'checked' ('yes' "
        "when the provider's own figure was read back and compared, 'no' when its API does not return one). For "
        "a PLN seller the same figures as vat_in_pln, which stays for its consumers")
    vat_split: VatSplitWarning | None = Field(
        default=None, description="Set when the provider split the same gross into other net/VAT figures than ours "
        "(also in warnings as a 'vat_split_differs: ...' line)")
    occurred_at: str

    @classmethod
    def build(cls, outcome: Outcome, account_id: str, document_id: str, *, attempt: int = 0,
              document_version: int | None = None, occurred_at: str | None = None, **fields: Any) -> OutcomeEvent:
        """`occurred_at`: when it happened (a record's change: the change's time), else now."""
        seed = f"{account_id}|{document_id}|{document_version}|{outcome.value}|{attempt}"
        return cls(event_id=hashlib.sha256(seed.encode()).hexdigest()[:32], outcome=outcome,
                   account_id=account_id, document_id=document_id, document_version=document_version,
                   occurred_at=occurred_at or now_iso(), **fields)


def document_identity(record: DocumentRecord) -> dict[str, Any]:
    """Which document an outcome event is about, as its record holds it (every event of a document)."""
    return {"kind": record.kind, "our_number": record.number, "order_id": record.order_id,
            "provider": record.provider, "provider_document_id": record.provider_document_id,
            "provider_number": record.provider_number}


def document_figures(record: DocumentRecord) -> dict[str, Any]:
    """What an export's event reports of the document's figures, as its record holds them: the same in
    the events the record's stream produces and in the answers to deliveries that change no record."""
    return {"warnings": record.warnings, "vat_in_pln": record.vat_in_pln,
            "vat_in_home_currency": record.vat_in_home_currency, "vat_split": record.vat_split}


class OutcomePublisher:
    def __init__(self, events_client: Any, bus_name: str) -> None:
        self.events = events_client
        self.bus_name = bus_name

    def publish(self, event: OutcomeEvent) -> None:
        response = self.events.put_events(Entries=[{
            "Source": EVENT_SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(event.model_dump(mode="json", exclude_none=True)),
            "EventBusName": self.bus_name,
            "Resources": [],
        }])
        if response.get("FailedEntryCount"):
            code = response["Entries"][0].get("ErrorCode", "unknown")
            raise TransientError(f"the outcome event could not be published ({code})", code="event_bus_unavailable")

"""Registering the numbers documents already hold at their providers, for the duplicate-number guard.

The export claims our number for a document in the same write as its claim (storage.own_numbers),
but documents sent before numbers were kept hold theirs unrecorded: a new document could still go
out with one of them. This registers them, once, after the deployment that adds the numbers table:
`invoice-export numbers backfill` (the operator's own credentials, as for tenant data: no function
of the stack needs to scan every account's documents). It is idempotent - run it again at any time,
it only adds what is missing - and it reports numbers two documents already hold at a provider.

Which number a document holds, for an account whose provider takes ours:
- exported: the provider's number of it (ours where we passed it; a number the provider gave it
  is taken all the same, and one of ours repeating it would be a duplicate there);
- in doubt or sending: our number, where the account passes ours (it may be at the provider);
- anything else holds none (pending and failed documents created nothing).
"""

from __future__ import annotations

from pydantic import BaseModel

from invoice_export.domain.account_settings import AccountSettings, Numbering
from invoice_export.domain.own_numbers import NumberClaim
from invoice_export.domain.records import DocumentRecord, Status
from invoice_export.providers import adapter_class, supported_providers
from invoice_export.storage.accounts import AccountStore
from invoice_export.storage.documents import DocumentStore
from invoice_export.storage.own_numbers import OwnNumberStore


class NumberHeldTwice(BaseModel):
    account_id: str
    number: str
    document_id: str  # not registered: the number is registered for the holder
    holder_document_id: str


class NumberBackfill(BaseModel):
    dry_run: bool
    accounts: list[str] = []  # accounts whose provider takes our numbers (the others have nothing to register)
    registered: int = 0  # newly registered (with dry_run: would be)
    already_registered: int = 0
    # Numbers two documents hold at a provider already: check them there (one may have to be corrected).
    held_twice: list[NumberHeldTwice] = []


def register_used_numbers(*, accounts: AccountStore, documents: DocumentStore, account_id: str | None = None,
                          dry_run: bool = False) -> NumberBackfill:
    if documents.numbers is None:
        raise RuntimeError("no numbers table (NUMBERS_TABLE): nothing to register numbers in")
    report = NumberBackfill(dry_run=dry_run)
    would_register: dict[tuple[str, str], str] = {}  # dry run: (account, key) -> the document it would go to
    for settings in _accounts(accounts, account_id):
        if not _takes_our_numbers(settings):
            continue
        report.accounts.append(settings.account_id)
        for record in documents.account_documents(settings.account_id):
            _register(record, settings, documents.numbers, report, would_register)
    return report


def _register(record: DocumentRecord, settings: AccountSettings, numbers: OwnNumberStore, report: NumberBackfill,
              would_register: dict[tuple[str, str], str]) -> None:
    """Register the number `record` holds (if any) and count what happened in `report`."""
    number = _number_held(record, settings)
    if number is None or record.kind is None:
        return
    claim = NumberClaim.of(adapter_class(settings.provider).own_number_scope, number, record.kind,
                           settings.series_links.get(record.series or ""))
    holder = numbers.holder(settings.account_id, claim.key)
    if holder is None and report.dry_run:
        holder = would_register.setdefault((settings.account_id, claim.key), record.document_id)
        holder = None if holder == record.document_id else holder
    elif holder is None:
        holder = numbers.register_existing(settings.account_id, claim, record.document_id)
    if holder is None:
        report.registered += 1
    elif holder == record.document_id:
        report.already_registered += 1
    else:
        report.held_twice.append(NumberHeldTwice(account_id=settings.account_id, number=number,
                                                 document_id=record.document_id, holder_document_id=holder))


def _takes_our_numbers(settings: AccountSettings) -> bool:
    return settings.provider in supported_providers() and adapter_class(settings.provider).capabilities.own_numbering


def _accounts(accounts: AccountStore, account_id: str | None) -> list[AccountSettings]:
    if account_id is None:
        return accounts.list_accounts()
    settings = accounts.get(account_id)
    if settings is None:
        raise LookupError(f"account {account_id} is not connected")
    return [settings]


def _number_held(record: DocumentRecord, settings: AccountSettings) -> str | None:
    ours = record.number if settings.numbering == Numbering.OURS else None
    if record.status == Status.EXPORTED:
        return record.provider_number or ours  # an operator may settle a document without its number
    if record.status in (Status.IN_DOUBT, Status.SENDING):
        return ours
    return None

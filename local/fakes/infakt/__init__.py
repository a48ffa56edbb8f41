"""Strict local fake of the inFakt HTTP API (v3).

An independent model of the provider, written from its public documentation (infakt/API
readme.md and the official Postman collection behind docs.infakt.pl; summarised with sources in
/work/shared/providers/fakturownia-infakt.md section 2) plus what a live sandbox integration
reported (openlinker PRs, marked as such). It never imports the production package: it must be
able to prove that package wrong.

What makes inFakt different, and what this fake therefore insists on:

* every amount is an INTEGER number of grosze: a decimal (59.98 or "59.98") is refused with a 422
  instead of being read 100x too low, the bug other integrations shipped;
* documents are created ASYNCHRONOUSLY: POST /async/invoices.json answers a task reference; the
  document appears when the task is processed, and the status endpoint tells 100/120/140, then
  201 with ``invoice_uuid`` or 422 with ``invoice_errors``;
* corrections have their own resource (/async/corrective_invoices.json, /corrective_invoices/...):
  a correction body posted to the invoice endpoint is refused, and a correction's uuid is unknown
  under /invoices/;
* downloading a draft's PDF turns it into "printed" (documented side effect);
* a create's ``status`` is honoured, or ignored so that every document starts as a draft (the docs
  say both: ``create_status``); a draft moves on through the documented calls
  POST /async/invoices/{uuid}/paid.json (a task, ``action: mark_as_paid``) and
  PUT /invoices/{uuid}/mark_as_accounted.json (the draft is booked);
* the rate limit is per calling IP: 300 GET and 150 other requests per 60 s;
* KSeF (infakt/API ksef.md): the create's top-level ``send_to_ksef: true``, or
  POST /{resource}/{uuid}/send_to_ksef.json and POST /ksef[2]/documents/{uuid}/send.json, send a
  document; 422 ``{"error": "Użytkownik nie jest zintegrowany z KSeF."}`` without an integration.
  The document's ``ksef_data`` (null until sent) is ``sent`` first and, after the account's
  ``ksef_reads_until_final`` reads, ``success`` with a ``ksef_number`` or ``error`` with its
  ``status_description``; GET /ksef[2]/documents/{uuid}/status.json answers the same with
  ``invoice_uuid``/``invoice_kind``; GET /ksef[2]/integration.json tells ``active``.

Public API (tests and the local demo)::

    fake = InfaktFake(processing_polls=1, processing_seconds=0.5)
    InfaktFake(create_status="always_draft")  # the readme's "always created as a draft" reading
    base_url = fake.start()                 # the API lives under f"{base_url}/api/v3"
    account = fake.add_account("key-1")     # scopes, default VAT exemption, bank accounts...
    fake.add_vat_exemption("key-1", "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT")  # -> id
    fake.add_bank_account("key-1", "PL61109010140000071219812874", verified=False)
    fake.set_exchange_rate("EUR", "4.2400", "223/A/NBP/2026")   # the rate inFakt applies itself
    fake.settle_tasks()                     # process every pending task now (background worker)
    account.invoices / account.corrections  # stored documents by uuid (API representation)
    account.tasks                           # async tasks by reference
    account.accounted                       # uuids of drafts booked with mark_as_accounted
    account.ksef_connected / ksef_auto_send / ksef_reads_until_final / ksef_rejects
    account.ksef_submissions                # {document uuid: sends received}: a second one is visible
    fake.requests, fake.faults, fake.limiter.peak(("write", "127.0.0.1"))

Every behaviour the documentation does not define is marked ``ASSUMPTION:``.

The fake is split by concern: `vocabulary` (documented values, messages, error bodies, the account
and task records, field checks), `invoices` (the document builder: validation and the fake's own
totals in grosze, edits, the PDF), `server` (the HTTP endpoints: auth, per-method rate limits,
async tasks, lists and filters, KSeF, PDF download).
"""

from local.fakes.infakt.server import InfaktFake
from local.fakes.infakt.vocabulary import InfaktAccount, Task

__all__ = ["InfaktAccount", "InfaktFake", "Task"]

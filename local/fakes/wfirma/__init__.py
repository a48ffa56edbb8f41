"""Strict local fake of the wFirma API v2 (https://api2.wfirma.pl), JSON flavour.

An independent model of the provider written from its public documentation (doc.wfirma.pl, read
through the scraped official Postman collection) and integration-tested community clients; the
facts with their sources are in /work/shared/providers/wfirma-ifirma.md section 1. It never
imports the production package: it must be able to prove that package wrong.

What makes wFirma different, and what the fake therefore insists on:

* API-key auth in three headers: ``accessKey`` + ``secretKey`` (the merchant's) and ``appKey``
  (issued once per integration). Any of them wrong: status ``AUTH``; no keys at all: the bare
  string ``AUTH`` (what a community client met); repeated failures lock the key for 5 minutes.
* Every answer is HTTP 200 with ``status.code`` in the body (OK, ERROR, AUTH, NOT FOUND, ...);
  validation errors are echoed back on the failing record (``errors > error {field, message}``).
* Formats come from ``?inputFormat=json&outputFormat=json``; lists of records are objects with
  numeric string keys (``{"0": {"invoice": {...}}}``), in requests and answers.
* ``company_id`` is required when the key reaches several companies (``COMPANY ID REQUIRED``).
* VAT goes as ``vat_code > id`` from ``/vat_codes/find``; each company gets its own ids.
* ``id_external`` is stored and searchable but NOT unique: a second add makes a second document.
* Numbers come only from the series template (``[numer]``); a series serves one document type
  (its ``type``, listed by series/find), and an invoice in another type's series is refused; the
  request limit answers ``TOTAL REQUESTS LIMIT EXCEEDED``.
* KSeF: wFirma submits documents by the company's own settings (E-FAKTURY), never through an API
  action; invoices carry the read-only ``ksef_status``, ``ksef_reference_number`` and
  ``ksef_registration_date``. ``company.ksef_auto_send`` makes wFirma submit each new invoice and
  correction, which KSeF answers after ``company.ksef_reads_until_final`` reads of the document
  (``ksef_rejects``: refused). The status words are undocumented (see KSEF_* below).

Public API (tests and the local demo)::

    fake = WfirmaFake(app_key="app-1", rate_limit=(30, 15.0))
    WfirmaFake(own_rate_fields="ignored")            # a rate we send: honoured (default) / ignored / refused
    WfirmaFake(errors_as_xml=True)                   # non-OK status answers in XML, whatever outputFormat says
    base_url = fake.start()                          # or: with WfirmaFake() as fake: ...
    company_id = fake.add_company("access-1", "secret-1", name="Sklep", nip="5252445767")
    fake.add_company("access-1", "secret-1", name="Druga firma")   # the key now needs company_id
    series_id = fake.add_series(company_id, "Sklep", "SKL [numer]/[rok]", invoice_type="normal")
    good_id = fake.add_good(company_id, "Kubek", "MUG-300", netto="24.38", vat="23", count=10)
    fake.set_exchange_rate("EUR", "4.2351")          # the NBP rate wFirma itself applies
    fake.company(company_id).invoices                # stored invoices by id (API representation)
    fake.company(company_id).vat_code_id("23")       # this company's id of a Polish code
    fake.company(company_id).delete_invoice(id)      # "the merchant deleted it in the app"
    fake.company(company_id).ksef_auto_send = True   # wFirma sends to KSeF by its settings
    fake.company(company_id).ksef_submissions        # {invoice id: submissions}: 2+ is a double
    fake.answer_status("SNAPSHOT LOCK", path=r"/invoices/add")  # a wFirma status answer, once
    fake.faults.rate_limited() / .status(502) / .stall_after_commit(2.0)  # see common.FaultPlan
    fake.requests / fake.limiter.peak("access-1")    # request log (no secrets), per-key peak

Endpoints (POST; reads also by GET, as the documentation's collection shows both):
invoices/add, invoices/edit/{id}, invoices/get/{id}, invoices/find, invoices/download/{id},
vat_codes/find, series/find, goods/find, payments/find, payments/edit/{id}.

Payments (W-SDK Payments/Payment.php, integration-tested): a payment record {object_name "invoice",
object_id, value, date, payment_method, initial}. ``alreadypaid_initial`` on an invoice makes its
initial payment (``initial`` 1), dated the issue date (ASSUMPTION: "paid when issued"); its date,
like any payment's, can be changed with payments/edit.

Everything the documentation does not define is marked ``ASSUMPTION:``.

The fake is split by concern: `vocabulary` (documented values and messages, records, the numbered
JSON form), `server` (the HTTP endpoints: auth, rate limit, lists, PDFs), `invoices` (the invoice
builder: validation and the fake's own totals, and the PDF).
"""

from local.fakes.wfirma.server import WfirmaFake
from local.fakes.wfirma.vocabulary import BAD_DATE, BLANK, NO_PDF_FOR_FISCAL, WfirmaCompany, nip_is_valid

__all__ = ["BAD_DATE", "BLANK", "NO_PDF_FOR_FISCAL", "WfirmaCompany", "WfirmaFake", "nip_is_valid"]

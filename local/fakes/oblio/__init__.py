"""Strict local fake of the Oblio API (Romanian online invoicing, https://www.oblio.eu/api).

An independent model of the provider from its public sources (listed in ``vocabulary``): it
never imports the production package, so it can prove that package wrong. Behaviour the sources
leave open is marked ``ASSUMPTION:`` where it is implemented, and the wider choices are switches
on :class:`OblioFake`.

What makes Oblio different, and what the fake therefore insists on:

* OAuth client credentials: POST /api/authorize/token (form or JSON) answers a Bearer token
  that lives 3600 s; every other /api call needs it, 401 when missing, unknown or expired;
* every call names the issuing company by ``cif``, which must belong to the account;
* documents (invoice, proforma, notice) are created from a raw JSON body; unknown fields are
  refused; series, VAT rates and languages must come from the company's nomenclatures; the fake
  computes lines and totals itself (``documents``) and answers only seriesName, number and link;
* ``idempotencyKey`` returns the first document again instead of issuing a second one;
* storno = a new invoice with ``referenceDocument`` {type: "Factura", ...}; cancel/restore;
  delete only of the last document in a series (its number is given out again);
* list with filters, limitPerPage <= 100 and offset; e-Factura (SPV) status codes -1/0/1/2;
* two rate-limit rules at once (``limits``), with a 10-minute block, on the fake's own clock.

Public API (tests and the local demo)::

    clock = ManualClock()                       # from local.fakes.common; or time.time
    fake = OblioFake(clock=clock)
    base_url = fake.start()
    fake.add_account("shop@example.ro", "secret")
    fake.add_company("shop@example.ro", "RO37311090", "OBLIO SOFTWARE SRL", use_stock=True)
    fake.add_series("RO37311090", "Factura", "WEB", default=False)
    fake.set_vat_rates(...), fake.add_management(...), fake.add_product(..., stock={"Magazin": 5})
    fake.set_exchange_rate("RO37311090", "EUR", "5.0900")
    fake.documents("RO37311090"), fake.document("RO37311090", "FCT", 1), fake.stock(...)
    fake.tokens_issued(email), fake.token_requests, fake.peak_rate(email), fake.blocked_until(email)
    fake.process_spv(accept=True)               # ANAF's answer to submitted e-Facturas
    fake.requests, fake.faults                  # request log and fault injection (common)
"""

from .documents import Company, Document, Line, Series
from .server import OblioFake

__all__ = ["Company", "Document", "Line", "OblioFake", "Series"]

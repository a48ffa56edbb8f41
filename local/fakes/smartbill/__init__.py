"""Strict local fake of the SmartBill Cloud REST API (Romania), https://ws.smartbill.ro/SBORO/api/.

An independent model of the provider written from SmartBill's own OpenAPI document (api.smartbill.ro),
its Postman collection and its Magento plugin; weaker third-party clients only where those are silent
(sources: model.py; facts: /work/shared/providers/next-providers.md section 3). It never imports the
production package: it must be able to prove that package wrong.

What makes SmartBill different, and what the fake therefore insists on:

* Basic auth with the login e-mail and the API token; a wrong pair gets Tomcat's HTML 401 page.
* Every call names the firm by its CIF (``companyVatCode`` in bodies, ``cif`` in queries).
* Invoices are keyed by series + number; the number is the series' next one ("0001"). There is no
  idempotency key, no list and no search: a second POST makes a second invoice.
* Reading back: only GET /invoice/paymentstatus (total, paid, unpaid, paid flag; no currency) and the
  PDF. No endpoint returns an invoice's lines, client or dates.
* Credit documents: only POST /invoice/reverse (a storno of the WHOLE invoice, once); besides that
  PUT /invoice/cancel + /invoice/restore, and DELETE /invoice for the last invoice of a series.
* No e-Factura (SPV/ANAF) state anywhere in the API: SmartBill submits by the account's settings.
* Errors: HTTP 400 + ``{"errorText": "...", "message": "", "number": "", "series": "", "url": ""}``,
  one message at a time, in Romanian.
* 30 calls per 10 s per user; the 31st blocks the user for 10 minutes (403). Every answer carries
  X-RateLimit-Limit / -Remaining / -Reset.

Public API (tests and the local demo)::

    fake = SmartBillFake(clock=manual_clock, today=date(2026, 3, 2))   # rate_limit=None: not enforced
    base_url = fake.start()                       # the API lives at fake.api_url (base_url + /SBORO/api)
    company = fake.add_account("shop@example.ro", "token-1", "RO14399840", vat_payer=True)
    fake.add_company("shop@example.ro", "RO18547290", name="Second SRL")      # one login, two firms
    fake.add_series("RO14399840", "WEB", "f", next_number=117, default=True)
    fake.add_tax("RO14399840", "Redusa locuinte", 5)
    fake.add_warehouse("RO14399840", "Magazin"); fake.add_stock("RO14399840", "Magazin", "Cana", 10)
    fake.set_exchange_rate("EUR", "5.0900")       # the BNR rate used when a request sends none
    company.invoices[("FCT", "0001")]             # stored documents with the fake's own totals
    company.drafts / company.stock_of("Magazin", "Cana") / company.series["FCT"].next_number
    company.stock_of_code("Magazin", "CANA-1")   # a firm that uses product codes
    fake.limiter.peak("shop@example.ro") / fake.limiter.blocked_until("shop@example.ro")
    fake.requests / fake.faults.status(503, method="POST", path=r"/SBORO/api/invoice")

Every behaviour the sources do not define is marked ``ASSUMPTION:``.
"""

from .model import Company, Series, StockItem, Tax
from .server import API, BlockingRateLimiter, SmartBillFake

__all__ = ["API", "BlockingRateLimiter", "Company", "Series", "SmartBillFake", "StockItem", "Tax"]

"""Strict local fake of the Fakturownia (a.k.a. InvoiceOcean) HTTP API.

An independent model of the provider, written from its public documentation
(fakturownia/API README.md and KSeF.md; summarised with sources in
/work/shared/providers/fakturownia-infakt.md section 1). It never imports the production
package: it must be able to prove that package wrong.

Public API (for tests and the local demo)::

    fake = FakturowniaFake(rate_limit=(600, 60.0))
    base_url = fake.start()                      # or: with FakturowniaFake() as fake: ...
    account = fake.add_account("token-1", prefix="shop", validate_for_ksef=True)
    dep_id = fake.add_department("token-1", "Sklep 2", "5252445767", shortcut="S2")
    prod_id = fake.add_product("token-1", "Kubek", "MUG-300", "29.99", 23, stock_level=10)
    client_id = fake.add_client("token-1", "Firma ABC", tax_no="9876543210")
    cat_id = fake.add_category("token-1", "Sklep")
    wh_id = fake.add_warehouse("token-1", "Magazyn główny")
    fake.account("token-1").invoices             # stored invoice dicts (API representation)
    fake.account("token-1").delete_invoice(id)   # "the merchant deleted it in the app"
    fake.account("token-1").ksef_number_with_check = False  # gov_id as the KSeF guide shows it (32 chars)
    fake.requests                                # RequestLog (no credentials in it)
    fake.limiter.peak("token-1")                 # most requests seen in one window for the token
    fake.faults.status(503, method="POST", path=r"/invoices\\.json")   # see common.FaultPlan

Endpoints: POST/GET /invoices.json, GET/PUT /invoices/{id}.json, GET /invoices/{id}.pdf,
GET /invoice/{token}.pdf and /invoice/{token} (public, no auth), GET /departments.json,
/departments/{id}.json, /products.json, /products/{id}.json, /categories.json, /warehouses.json.

Every behaviour the documentation does not define is marked ``ASSUMPTION:`` in the modules.

The fake is split by concern: `vocabulary` (the documented values, messages and field validators),
`invoices` (accounts and the invoice builder: validation and the fake's own totals), `server` (the
HTTP endpoints, auth, rate limit, PDFs).
"""

from local.fakes.fakturownia.invoices import FakturowniaAccount
from local.fakes.fakturownia.server import FakturowniaFake

__all__ = ["FakturowniaAccount", "FakturowniaFake"]

"""Strict local fake of the Firmao API (https://system.firmao.pl/{organisation}/svc/v1/...).

An independent model of the provider, written from the vendor's README (github.com/FirmaoCRM/API,
commit c3ed124; summarised with sources in /work/shared/providers/next-providers.md section 1). It
never imports the production package: it must be able to prove that package wrong. The README
documents by example only, so much is undocumented: every such choice is marked ``ASSUMPTION:``
where it is made, and where the README allows two readings the fake offers both as a switch.

Split by concern: ``model`` (vocabulary, records, value checks, error and JSON helpers),
``transactions`` (the checks and totals of POST /transactions), ``listing`` (paging, sorting,
``field(op)=value`` filters), ``server`` (routes, auth, seeding, introspection, PDF).

Public API (tests and the local demo)::

    fake = FirmaoFake(rate_limit=(60, 60.0))     # per organisation; None = unlimited, peak still kept
    base_url = fake.start()                      # the API lives under f"{base_url}/{org}/svc/v1"
    account = fake.add_account("sklep1", "api@sklep1", "generated-password",
                               direct_stock_modification=False, api_enabled=True)
    # each account has series 1 "Domyślna", warehouse 1 "Magazyn 1", bank account 1
    fake.add_series("sklep1", "Sklep", {"invoice": "FV/{n}/{mm}/{yyyy}", "receipt": "PAR/{n}/{yyyy}",
                                        "correction": "KOR/{n}/{yyyy}"})            # -> series id
    fake.add_product("sklep1", "MUG-300", "Kubek", net_price="24.38", vat=23, stock=10)  # -> id
    fake.add_customer("sklep1", "Firma ABC", nip="1060000062")                          # -> id
    fake.add_warehouse("sklep1", "Magazyn 2")                                           # -> id
    fake.transactions("sklep1"); fake.transaction_by_number("sklep1", "1/8/2026")
    fake.entries("sklep1", transaction_id); fake.stock("sklep1", product_id[, warehouse])
    fake.requests, fake.faults, fake.limiter.peak("sklep1"), fake.server_errors

Switches (the readings the README leaves open; defaults first):
    totals="refuse" | "recompute"        totals that differ from the fake's: 400, or replaced + changelog
    vat_totals="per_line" | "per_rate"   header VAT: sum of the lines, or per rate
    gross_price_field="unitBruttoPrice" | "unitNettoPrice"   the gross unit price with calculateFromGross
    correction_lines="all" | "changed"   a correction repeats every original line, or the changed ones
    undocumented_filters="honour" | "ignore"   transactionNumber(eq)=, customFields.*, productCode(eq)=...
    single_transaction_get=True          GET /transactions/{id} served, or 404 (use id(eq)=)
    total_size_unknown=False             totalSize -1 whenever a page is full (README: "at least limit")
    string_object_ids=False              changelog objectId as "50007" (README prose) instead of 50007
    max_limit=100, payment_types={"CASH", "TRANSFER"}, today=date.today

Endpoints (all under /{org}/svc/v1, HTTP Basic): POST/GET /transactions, GET /transactions/{id},
GET /transactionentries, GET /products, PUT /products/{id}, GET/POST /customers,
GET /invoicenumbers, GET /invoicenumbers/next, GET /reports/invoices/transaction/{template}/{file}.pdf.
"""

from .model import FirmaoAccount, FirmaoError
from .server import DEFAULT_RATE_LIMIT, FirmaoFake

__all__ = ["DEFAULT_RATE_LIMIT", "FirmaoAccount", "FirmaoError", "FirmaoFake"]

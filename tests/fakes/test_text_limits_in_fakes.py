"""The fakes refuse a text beyond the provider's limit, as the real API would (issue 13 §5).

Documented limits where the provider gives them, ASSUMPTION limits (labelled in each fake) where it
does not: either way a too-long text cannot pass a fake unnoticed, so the adapters' cuts are proven.
iFirma's fake checked its documented lengths already (tests/fakes/test_ifirma_fake.py).
Helpers come from each fake's own test module.
"""

from __future__ import annotations

import pytest

from local.fakes.fakturownia import FakturowniaFake
from local.fakes.infakt import InfaktFake
from local.fakes.wfirma import WfirmaFake
from tests.fakes import test_fakturownia_fake as fakturownia
from tests.fakes import test_infakt_fake as infakt
from tests.fakes import test_wfirma_fake as wfirma


@pytest.fixture
def fakturownia_fake():
    with FakturowniaFake(rate_limit=None) as server:
        server.add_account(fakturownia.TOKEN, prefix="shop")
        yield server
    assert server.server_errors == []


@pytest.fixture
def infakt_fake():
    with InfaktFake(read_limit=None, write_limit=None, processing_polls=1, processing_seconds=30) as server:
        server.add_account(infakt.KEY)
        yield server
    assert server.server_errors == []


@pytest.fixture
def wfirma_fake():
    with WfirmaFake(app_key=wfirma.APP_KEY, rate_limit=None) as server:
        yield server
    assert server.server_errors == []


@pytest.mark.parametrize("field, limit", [("buyer_name", 255), ("buyer_street", 255), ("buyer_city", 255),
                                          ("description", 256), ("exempt_tax_kind", 256)])
def test_fakturownia_refuses_a_text_one_character_over_its_limit(fakturownia_fake, http, field, limit) -> None:
    at_limit = fakturownia.create(http, fakturownia_fake, fakturownia.company_invoice(**{field: "ż" * limit}))
    assert at_limit.status_code == 201, at_limit.text
    over = fakturownia.create(http, fakturownia_fake, fakturownia.company_invoice(**{field: "ż" * (limit + 1)}))
    assert over.status_code == 422
    assert over.json()["message"] == {field: [f"- pole jest za długie (maksymalna ilość znaków: {limit})"]}


def test_fakturownia_refuses_an_emoji_in_the_description_but_not_in_a_position_name(fakturownia_fake, http) -> None:
    emoji = fakturownia.create(http, fakturownia_fake, fakturownia.company_invoice(description="Dzięki 🌷"))
    assert emoji.status_code == 422 and list(emoji.json()["message"]) == ["description"]
    position = {"name": "Herbata 🍵 „Zażółć”", "quantity": 1, "tax": 23, "total_price_gross": "12.30"}
    kept = fakturownia.create(http, fakturownia_fake, fakturownia.company_invoice(positions=[position]))
    assert kept.status_code == 201 and kept.json()["positions"][0]["name"] == "Herbata 🍵 „Zażółć”"


@pytest.mark.parametrize("change, field, limit", [
    ({"services": [{"name": "ż" * 257, "tax_symbol": "23", "quantity": 1, "gross_price": 12300}]},
     "services.name", 256),
    ({"notes": "ż" * 3501}, "notes", 3500),
    ({"client_company_name": "ż" * 256}, "client_company_name", 255),
    ({"client_street": "ż" * 256}, "client_street", 255),
    ({"client_city": "ż" * 256}, "client_city", 255),
])
def test_infakt_refuses_a_text_over_its_limit(infakt_fake, http, change, field, limit) -> None:
    errors = infakt.errors_of(http, infakt_fake, infakt.company_invoice(**change))
    assert errors == {field: [f"jest za długie (maksymalnie {limit} znaków)"]}


def test_infakt_takes_texts_at_their_limits(infakt_fake, http) -> None:
    service = {"name": "ż" * 256, "tax_symbol": "23", "quantity": 1, "gross_price": 12300}
    document = infakt.create(http, infakt_fake, infakt.company_invoice(
        services=[service], notes="ż" * 3500, client_company_name="ż" * 255, client_street="ż" * 255))
    assert document["services"][0]["name"] == "ż" * 256 and len(document["notes"]) == 3500


def test_wfirma_refuses_texts_over_its_limits_on_the_record_that_carries_them(wfirma_fake, http) -> None:
    company_id = wfirma_fake.add_company(wfirma.ACCESS, wfirma.SECRET, name="Sklep Demo Sp. z o.o.",
                                         nip="5252445767")
    long_line = wfirma.line(wfirma_fake, company_id, name="ż" * 257)
    response = wfirma.add(http, wfirma_fake, company_id, long_line, description="ż" * 3501,
                          contractor=wfirma.buyer(name="ż" * 256, street="ż" * 256, city="ż" * 256))
    assert wfirma.status(response) == "ERROR"
    echoed = wfirma.first(response)
    too_long = "Wartość jest za długa (maksymalnie {} znaków)"
    assert [e["error"] for e in echoed["errors"].values()] == [
        {"field": "description", "message": too_long.format(3500), "method": {"name": "validation", "parameters": ""}}]
    assert {e["error"]["field"]: e["error"]["message"] for e in echoed["contractor"]["errors"].values()} == {
        "name": too_long.format(255), "street": too_long.format(255), "city": too_long.format(255)}
    [line_error] = echoed["invoicecontents"]["0"]["invoicecontent"]["errors"].values()
    assert line_error["error"]["field"] == "name" and line_error["error"]["message"] == too_long.format(256)
    at_limits = wfirma.add(http, wfirma_fake, company_id, wfirma.line(wfirma_fake, company_id, name="ż" * 256),
                           description="ż" * 3500, contractor=wfirma.buyer(name="ż" * 255))
    assert wfirma.status(at_limits) == "OK"

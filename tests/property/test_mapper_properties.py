"""Properties of every registered provider mapper (`adapter.build_request` after `plan_export`).

A valid document maps without error and the mapped lines add up to our totals; a document the
account or the provider cannot express is refused with a ConfigurationError that says what to
change, never with another exception. Each provider joins by being registered in
`invoice_export.providers` and, for the totals check, by a reader of its mapped line totals below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from property.strategies import PAYMENT_METHODS, PROPERTY_SETTINGS, SERIES, as_romanian, documents, to_body
from pydantic import BaseModel, SecretStr

from invoice_export.domain.account_settings import AccountSettings, ProviderName
from invoice_export.domain.documents import (
    Document,
    DocumentKind,
    ExportMessage,
    Line,
    PriceBasis,
    VatCode,
    compute_totals,
    vat_percent,
)
from invoice_export.domain.errors import ConfigurationError
from invoice_export.domain.money import loads_exact, round_money
from invoice_export.domain.planning import plan_export
from invoice_export.domain.provider_contract import ExportPlan, ProviderReference
from invoice_export.providers import adapter_class, supported_providers
from invoice_export.providers.base import ProviderAdapter
from invoice_export.providers.firmao import mapping as firmao_mapping
from invoice_export.providers.http import ProviderHttp
from invoice_export.providers.ifirma import adapter as ifirma
from invoice_export.providers.wfirma import adapter as wfirma

DUMMY_URL = "http://127.0.0.1:9"  # never called: mapping is pure
CORRECTED = ProviderReference(provider_document_id="1001", number="FV 1/2026", series="7")


# A reader gets the request body the adapter built and, for a correction, the body that created the
# corrected invoice (our mapping of its lines before; see `original_request`): a provider whose
# correction states only the lines after the change (wFirma, iFirma) shows after minus that original.
# It answers the mapped line totals in the document's price basis, as the provider computes them,
# corrected (before) lines negative, and fails on anything that would make the provider read the
# amounts in another basis.
LineTotalReader = Callable[[dict[str, Any], PriceBasis, dict[str, Any] | None], list[Decimal]]


def fakturownia_line_totals(body: dict[str, Any], basis: PriceBasis, original: dict[str, Any] | None) -> list[Decimal]:
    # A correction's positions carry the difference of each line (the request holds both states).
    # A discounted line goes as its discounted total (no discount_percent, which would need
    # show_discount and the account's discount mode): the total is the line's value as it is.
    field = "total_price_gross" if basis == PriceBasis.GROSS else "total_price_net"
    positions = body["invoice"]["positions"]
    assert not any({"discount", "discount_percent"} & position.keys() for position in positions), positions
    return [Decimal(position[field]) for position in positions]


def _grosze(value: Any) -> Decimal:
    """inFakt's money: a JSON integer of grosze (a decimal would be read 100x too low or refused)."""
    assert type(value) is int, f"inFakt amount {value!r} is not an integer number of grosze"
    return Decimal(value).scaleb(-2)


def _infakt_line_total(service: dict[str, Any], basis: PriceBasis) -> Decimal:
    # A discounted line goes as its exact discounted value, without inFakt's discount fields.
    assert not {"discount", "unit_net_price_before_discount"} & service.keys(), service
    if basis == PriceBasis.GROSS:
        # Documented: any net value makes inFakt compute the line from net, so a gross-priced line
        # is its gross_price only when it carries no net value.
        assert not {"net_price", "unit_net_price"} & service.keys(), f"gross line sent with a net value: {service}"
        return _grosze(service["gross_price"])
    net = _grosze(service["net_price"]) if "net_price" in service else None
    if "unit_net_price" in service:
        # Only a unit price: inFakt computes the line as quantity x unit_net_price rounded half-up
        # (local/fakes/infakt/invoices.py `_amounts`), and refuses a net_price that contradicts it.
        from_unit = round_money(_grosze(service["unit_net_price"]) * Decimal(service["quantity"]))
        assert net in (None, from_unit), f"net_price {net} contradicts quantity x unit_net_price {from_unit}"
        net = from_unit
    assert net is not None, f"net line without a net amount: {service}"
    return net


def infakt_line_totals(body: dict[str, Any], basis: PriceBasis, original: dict[str, Any] | None) -> list[Decimal]:
    # A correction (its own resource) holds both states: per group a row as it was (correction
    # false, subtracted) and as it is now (correction true); inFakt shows after minus before.
    if "corrective_invoice" in body:
        return [-_infakt_line_total(service, basis) if service["correction"] is False
                else _infakt_line_total(service, basis) for service in body["corrective_invoice"]["services"]]
    return [_infakt_line_total(service, basis) for service in body["invoice"]["services"]]


def _count_times_price(count: Any, price: Any, discount: Any = None) -> Decimal:
    """wFirma and iFirma take only quantity and unit price per line, no line total: both compute a
    line's value as quantity x unit price rounded half-up to the grosz, in the document's basis (as
    their fakes model it, local/fakes/wfirma.py `_content` and ifirma.py `_positions`; the docs in
    /work/shared/providers/wfirma-ifirma.md give no other line amount). A discount percentage
    (wFirma discount_percent, iFirma Rabat) is applied before the one rounding, as the fakes model
    it; our adapters send a discounted line as its discounted unit price instead, without one."""
    amount = Decimal(count) * Decimal(price)
    if discount not in (None, "", 0, "0"):
        amount = amount * (100 - Decimal(str(discount))) / 100
    return round_money(amount)


def _wfirma_invoice(body: dict[str, Any], basis: PriceBasis) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    [entry] = body["invoices"].values()
    invoice = entry["invoice"]
    # price_type says how wFirma reads every line's price.
    assert invoice["price_type"] == ("brutto" if basis == PriceBasis.GROSS else "netto"), invoice["price_type"]
    contents = invoice["invoicecontents"]  # wFirma's numbered list: {"0": {"invoicecontent": {...}}, ...}
    assert sorted(contents, key=int) == [str(index) for index in range(len(contents))], list(contents)
    return invoice, [contents[str(index)]["invoicecontent"] for index in range(len(contents))]


def wfirma_line_totals(body: dict[str, Any], basis: PriceBasis, original: dict[str, Any] | None) -> list[Decimal]:
    invoice, contents = _wfirma_invoice(body, basis)
    after = [_count_times_price(content["count"], content["price"],
                                content.get("discount_percent") if content.get("discount") in (True, 1, "1") else None)
             for content in contents]
    if invoice["type"] != "correction":
        return after
    # A correction states the lines after the change; a changed or removed (count 0) line names the
    # original's line in parent_id, an original line it does not name stays as it was, and wFirma shows
    # after minus the original. In a dry run the original's n-th line is the placeholder below.
    assert original is not None
    before = wfirma_line_totals(original, basis, None)
    line_ids = [wfirma.LOOKED_UP_WHEN_SENT.format(f"line {n} of the corrected invoice")
                for n in range(1, len(before) + 1)]
    named = [content["parent_id"] for content in contents if "parent_id" in content]
    assert len(named) == len(set(named)) and set(named) <= set(line_ids), named
    untouched = [value for line_id, value in zip(line_ids, before, strict=True) if line_id not in named]
    return after + untouched + [-value for value in before]


def ifirma_line_totals(body: dict[str, Any], basis: PriceBasis, original: dict[str, Any] | None) -> list[Decimal]:
    sent = loads_exact(ifirma.encode_json(body))  # the JSON as it is sent: Decimals as exact numbers
    after = [_count_times_price(position["Ilosc"], position["CenaJednostkowa"], position.get("Rabat"))
             for position in sent["Pozycje"]]
    if "PowodKorekty" not in sent:
        if "LiczOd" in sent:  # LiczOd says how iFirma reads every unit price
            assert sent["LiczOd"] == ("BRT" if basis == PriceBasis.GROSS else "NET"), sent["LiczOd"]
        else:  # art. 28b services: outside Polish VAT, net is gross
            assert {position["TypStawkiVat"] for position in sent["Pozycje"]} == {"NP"}, sent["Pozycje"]
        return after
    # A correction states the full state after the change (a removed line with Ilosc 0) in the
    # basis of the original (LiczOd inherited), and iFirma shows after minus the original.
    assert original is not None and "LiczOd" not in sent
    before = ifirma_line_totals(original, basis, None)
    assert len(after) >= len(before), "an iFirma correction must restate every line of the original"
    return after + [-value for value in before]


def firmao_line_totals(body: dict[str, Any], basis: PriceBasis, original: dict[str, Any] | None) -> list[Decimal]:
    # Quantity x unit price rounded, as Firmao's fake computes a line (local/fakes/firmao/transactions.py
    # `_amounts`); calculateFromGross says how every unit price is read. A correction restates each line
    # before (baseEntryId, subtracted) and after (invalidRecordId); Firmao shows after minus before.
    assert body["calculateFromGross"] is (basis == PriceBasis.GROSS), body["calculateFromGross"]
    field = "unitBruttoPrice" if basis == PriceBasis.GROSS else "unitNettoPrice"
    entries = body["transactionEntries"]
    assert not any("discount" in entry for entry in entries), entries
    return [(-1 if "baseEntryId" in entry else 1) * _count_times_price(entry["quantity"], entry[field])
            for entry in entries]


def _romanian_line_totals(products_of: Callable[[dict[str, Any]], list[dict[str, Any]] | None], gross_flag: str,
                          price: str, body: dict[str, Any], basis: PriceBasis,
                          original: dict[str, Any] | None) -> list[Decimal]:
    """Oblio and SmartBill value a line as quantity x unit price rounded half-up to the ban (as their fakes
    model it), in the basis its flag says. Their only correction, a storno, names the original and has no
    lines of its own: they show the original's lines negated."""
    products = products_of(body)
    if products is None:
        assert original is not None, "a storno without its original"
        return [-value for value in _romanian_line_totals(products_of, gross_flag, price, original, basis, None)]
    assert all(product[gross_flag] == (basis == PriceBasis.GROSS) for product in products), products
    return [_count_times_price(product["quantity"], product[price]) for product in products]


def oblio_line_totals(body: dict[str, Any], basis: PriceBasis, original: dict[str, Any] | None) -> list[Decimal]:
    return _romanian_line_totals(lambda b: None if "referenceDocument" in b else b["products"], "vatIncluded",
                                 "price", body, basis, original)


def smartbill_line_totals(body: dict[str, Any], basis: PriceBasis, original: dict[str, Any] | None) -> list[Decimal]:
    return _romanian_line_totals(lambda b: b.get("products"), "isTaxIncluded", "price", body, basis, original)


# Provider -> the mapped line totals (in the document's price basis) of a request body.
LINE_TOTAL_READERS: dict[ProviderName, LineTotalReader] = {
    ProviderName.FAKTUROWNIA: fakturownia_line_totals,
    ProviderName.INFAKT: infakt_line_totals,
    ProviderName.WFIRMA: wfirma_line_totals,
    ProviderName.IFIRMA: ifirma_line_totals,
    ProviderName.FIRMAO: firmao_line_totals,
    ProviderName.OBLIO: oblio_line_totals,
    ProviderName.SMARTBILL: smartbill_line_totals,
}
# The decimals of a unit price each provider takes, where fewer than our 4; the quantity's likewise.
PRICE_PLACES = {ProviderName.FIRMAO: firmao_mapping.PRICE_PLACES}
QUANTITY_PLACES = {ProviderName.FIRMAO: firmao_mapping.QUANTITY_PLACES}


def dummy_credentials(model: type[BaseModel]) -> BaseModel:
    """Any well-formed credentials: mapping never uses them."""
    return model.model_validate({name: "dummy-secret" if field.annotation is SecretStr else "dummy"
                                 for name, field in model.model_fields.items() if field.is_required()})


def build_adapter(provider: ProviderName, **setting_changes: Any) -> ProviderAdapter:
    cls = adapter_class(provider)
    caps = cls.capabilities
    settings = AccountSettings.model_validate({
        "account_id": "shop-1", "provider": provider.value, "api_url": DUMMY_URL, "home_currency": cls.home_currency,
        # A series id the provider can take where it has series ("7": a numeric id, e.g. a department).
        "series_links": dict.fromkeys(SERIES, "7" if caps.series else None),
        "payment_links": dict.fromkeys(PAYMENT_METHODS, "transfer"), **setting_changes})
    http = ProviderHttp(provider=cls.display_name, base_url=DUMMY_URL, auth=None, read_rejection=cls.read_rejection)
    return cls(settings, dummy_credentials(cls.credentials_model), http)


def plan(adapter: ProviderAdapter, document: Document) -> ExportPlan:
    corrected = CORRECTED if document.kind == DocumentKind.CORRECTION else None
    return plan_export(document, adapter.settings, type(adapter), corrected=corrected)


def read(message_document: dict[str, Any], provider: ProviderName | None = None) -> Document:
    """The drawn document as the provider's accounts issue it (a Romanian one: strategies.as_romanian)."""
    if provider is not None and adapter_class(provider).home_currency == "RON":
        message_document = as_romanian(message_document)
    return ExportMessage.model_validate_json(
        to_body({"schema_version": "1", "account_id": "shop-1", "document": message_document})).document


def supported_kinds(provider: ProviderName) -> tuple[str, ...]:
    caps = adapter_class(provider).capabilities
    return tuple(kind.value for kind in DocumentKind if caps.supports_kind(kind))


PROVIDERS = pytest.mark.parametrize("provider", supported_providers(), ids=lambda p: p.value)


@PROVIDERS
@given(data=st.data())
@PROPERTY_SETTINGS
def test_every_valid_document_maps_and_its_lines_add_up_to_our_totals(provider, data) -> None:
    document = read(data.draw(documents(kinds=supported_kinds(provider))), provider)
    adapter = build_adapter(provider)
    try:
        export = plan(adapter, document)
        body = adapter.build_request(export)
    except ConfigurationError as error:
        assert_declared_refusal(adapter, document, error)
    else:
        assert_lines_add_up(adapter, export, body)


def assert_declared_refusal(adapter: ProviderAdapter, document: Document, error: ConfigurationError) -> None:
    """A valid document may be refused only for a limit the provider declares, and the refusal must hold."""
    assert error.fix, error.message
    if error.code == "provider_gross_differs":
        # The provider's VAT arithmetic would change the amount due: right only if, sent as it would go,
        # the provider's gross (independently recomputed) is not ours, or net lines that must go as gross
        # unit prices have none.
        method = type(adapter).vat_calculation
        assert method is not None and method != document.vat_calculation
        assert document.price_basis == PriceBasis.NET, "a gross-priced document keeps its gross everywhere"
        sides = [(document.lines, 1)] + ([(document.correction.lines_before, -1)] if document.correction else [])
        theirs = sum((sign * compute_totals(lines, PriceBasis.NET, method).gross for lines, sign in sides),
                     Decimal("0.00"))
        without_price = type(adapter).gross_unit_price_places is not None and any(
            not _exact_price_exists(line, _line_gross(line)) for lines, _ in sides for line in lines)
        assert theirs != document.totals.gross or without_price, "refused although the amount due is the same"
    elif error.code == "unsupported_correction":
        assert document.kind == DocumentKind.CORRECTION
    elif error.code in ("discount_not_exact", "unit_price_not_exact"):
        # No unit price with the provider's places gives the line our exact value: the line must be
        # discounted (or priced finer than the provider takes), and no grid price within reach may hit it.
        places = PRICE_PLACES.get(adapter.name, 4)
        lines = document.lines + (document.correction.lines_before if document.correction else [])
        assert any((line.discount_percent is not None) == (error.code == "discount_not_exact")
                   and not _exact_price_exists(line, places=places) for line in lines)
    elif error.code == "unsupported_quantity" and adapter.name in QUANTITY_PLACES:
        step = Decimal(1).scaleb(-QUANTITY_PLACES[adapter.name])
        lines = document.lines + (document.correction.lines_before if document.correction else [])
        assert any(line.quantity != line.quantity.quantize(step) for line in lines)
    elif error.code == "unsupported_vat_code" and adapter.name == ProviderName.FIRMAO:
        # Firmao's API documents numeric VAT percentages only: zw and np have no form there.
        lines = document.lines + (document.correction.lines_before if document.correction else [])
        assert any(isinstance(line.vat, VatCode) for line in lines)
    else:
        raise AssertionError(f"refused a valid document: {error.code}: {error.message}")


def _exact_price_exists(line: Line, value: Decimal | None = None, places: int = 4) -> bool:
    """Brute force over `places`-place prices near the exact unit price, or near the one giving `value`
    (independent of the adapters' helper)."""
    value, unit = (line.value() if value is None else value), Decimal(1).scaleb(-places)
    low = ((value - Decimal("0.005")) / line.quantity).quantize(unit) - 2 * unit
    return any(round_money(line.quantity * (low + step * unit)) == value
               for step in range(int(Decimal("0.01") / line.quantity / unit) + 6))


def _line_gross(line: Line) -> Decimal:
    """A net line's value plus its own VAT (its gross with VAT per line)."""
    return line.value() + round_money(line.value() * vat_percent(line.vat) / 100)


def original_request(adapter: ProviderAdapter, export: ExportPlan) -> dict[str, Any]:
    """The request that created the invoice a correction corrects: the same account's mapping of
    the lines before the correction (the original at the provider holds exactly those)."""
    document = export.document
    assert document.correction is not None
    before = document.correction.lines_before
    original = Document.model_validate({
        **dict(document), "kind": DocumentKind.INVOICE, "series": "FV", "correction": None, "lines": before,
        "totals": compute_totals(before, document.price_basis, document.vat_calculation)})
    try:
        return adapter.build_request(replace(export, document=original, corrected=None))
    except ConfigurationError as refused:
        # An original the provider could never have taken (no exact unit price for its lines) was never
        # exported, so no correction of it reaches the provider: not a case to check.
        assume(refused.code not in ("discount_not_exact", "unit_price_not_exact"))
        raise


def assert_lines_add_up(adapter: ProviderAdapter, export: ExportPlan, body: dict[str, Any]) -> None:
    reader = LINE_TOTAL_READERS.get(adapter.name)
    assert reader is not None, f"add a reader of {adapter.name.value}'s mapped line totals to LINE_TOTAL_READERS"
    document = export.document
    original = original_request(adapter, export) if document.correction is not None else None
    # Net lines sent as gross unit prices (send_gross_prices) add up to our gross.
    basis = PriceBasis.GROSS if export.send_gross_prices else document.price_basis
    total = document.totals.gross if basis == PriceBasis.GROSS else document.totals.net
    assert sum(reader(body, basis, original), Decimal("0.00")) == total


@PROVIDERS
def test_every_provider_has_a_reader_of_its_mapped_line_totals(provider) -> None:
    # Fails, not skips: a provider without a reader would pass the totals properties unchecked.
    assert provider in LINE_TOTAL_READERS, (
        f"add a reader of {provider.value}'s mapped line totals to LINE_TOTAL_READERS")


@PROVIDERS
@given(data=st.data())
@PROPERTY_SETTINGS
def test_any_vat_mix_maps_adding_up_or_is_refused_as_configuration(provider, data) -> None:
    document = read(data.draw(documents(kinds=supported_kinds(provider), provider_mappable=False)), provider)
    adapter = build_adapter(provider)
    try:
        export = plan(adapter, document)
        body = adapter.build_request(export)
    except ConfigurationError as error:
        if error.code in ("provider_gross_differs", "unsupported_correction", "discount_not_exact",
                          "unit_price_not_exact", "unsupported_quantity"):
            assert_declared_refusal(adapter, document, error)
            return
        assert error.code in ("unsupported_vat_mix", "unsupported_vat_code") and error.fix
        assert any(code in error.message for code in ("zw", "np", "np-EU", "oo", "exemption")), error.message
    else:
        assert_lines_add_up(adapter, export, body)


@PROVIDERS
@given(data=st.data())
@PROPERTY_SETTINGS
def test_unlinked_series_and_payment_methods_are_refused_naming_them(provider, data) -> None:
    document = read(data.draw(documents(kinds=supported_kinds(provider))), provider)
    missing = data.draw(st.sampled_from(("series", "payment")))
    if missing == "series":
        adapter = build_adapter(provider, series_links={})
        expected = (f"our series '{document.series}' is not linked", "series_not_linked")
    else:
        adapter = build_adapter(provider, payment_links={})
        expected = (f"our payment method '{document.payment.method}' is not linked", "payment_type_not_linked")
    with pytest.raises(ConfigurationError) as refused:
        plan(adapter, document)
    assert expected[0] in refused.value.message and refused.value.code == expected[1]
    assert refused.value.fix

"""Our numbers: how they are normalised, which bucket they are unique in, and what each provider declares."""

from __future__ import annotations

import json

import pytest

from invoice_export.domain.account_settings import MissingSku
from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.own_numbers import (
    ONE_SEQUENCE_PER_ACCOUNT,
    DuplicateNumber,
    NumberClaim,
    OwnNumberScope,
    normalised_number,
)
from invoice_export.domain.provider_contract import ExportPlan
from invoice_export.providers import adapter_class, supported_providers
from invoice_export.providers.base import ProviderAdapter
from testsupport import load_example


@pytest.mark.parametrize("typed", [
    "FV 1/11/2026", " FV 1/11/2026 ", "FV  1/11/2026", "FV1/11/2026", "fv 1/11/2026", "Fv\t1/11/2026\n",
    "FV\u00a01/11/2026",  # no-break space
    "FV\u200b 1/11/2026",  # zero-width space
    "ＦＶ １/１１/２０２６",  # full-width forms
])
def test_numbers_typed_differently_are_one_number(typed: str) -> None:
    assert normalised_number(typed) == "fv1/11/2026"


@pytest.mark.parametrize("dash", ["-", "\u2010", "\u2011", "\u2013", "\u2014", "\u2212", "\uff0d"])
def test_every_dash_is_a_hyphen(dash: str) -> None:
    assert normalised_number(f"FV{dash}7{dash}2026") == "fv-7-2026"


@pytest.mark.parametrize(("one", "other"), [
    ("FV/01/2026", "FV/1/2026"),  # leading zeros are a different number
    ("FV/1/2026", "FV-1-2026"),  # so are other separators
    ("FV/1/2026", "FV.1.2026"),
    ("В1/2026", "B1/2026"),  # a Cyrillic letter that only looks Latin
    ("FV 1/11/2026", "FV 11/1/2026"),
])
def test_numbers_that_read_differently_stay_apart(one: str, other: str) -> None:
    assert normalised_number(one) != normalised_number(other)


def test_the_bucket_separates_kinds_and_series_only_where_the_provider_numbers_them_apart() -> None:
    def key(scope: OwnNumberScope, kind: str, series: str | None) -> list[str]:
        return json.loads(NumberClaim.of(scope, "FV 1/2026", kind, series).key)

    by_kind = OwnNumberScope(per_kind=True, per_series=False, source="test")
    by_series = OwnNumberScope(per_kind=False, per_series=True, source="test")
    assert key(by_kind, "invoice", "10") == ["invoice", "*", "fv1/2026"]
    assert key(by_kind, "invoice", "10") == key(by_kind, "invoice", "20") != key(by_kind, "receipt", "10")
    assert key(by_series, "invoice", "10") == ["*", "10", "fv1/2026"]
    assert key(by_series, "invoice", None) == ["*", "default", "fv1/2026"]
    assert key(by_series, "invoice", "10") == key(by_series, "correction", "10") != key(by_series, "invoice", "20")
    assert key(ONE_SEQUENCE_PER_ACCOUNT, "invoice", "10") == key(ONE_SEQUENCE_PER_ACCOUNT, "receipt", None)


def test_a_key_is_unambiguous_whatever_a_series_or_number_holds() -> None:
    scope = OwnNumberScope(per_kind=True, per_series=True, source="test")
    assert (NumberClaim.of(scope, "C", "invoice", 'A", "B').key
            != NumberClaim.of(scope, '", "C', "invoice", "A").key)


def _plan(number: str | None, kind_example: str = "01-invoice-company.json") -> ExportPlan:
    document = ExportMessage.model_validate(load_example(kind_example)).document
    return ExportPlan(document=document, number=number, provider_series="10", provider_payment_type="transfer",
                      send_skus=False, missing_sku=MissingSku.FAIL)


def test_a_plan_claims_the_number_it_sends_and_none_when_the_provider_numbers() -> None:
    scope = OwnNumberScope(per_kind=True, per_series=True, source="test")
    claim = NumberClaim.for_plan(scope, _plan("FV 1/11/2026"))
    assert claim is not None and claim.number == "FV 1/11/2026"
    assert json.loads(claim.key) == ["invoice", "10", "fv1/11/2026"]
    assert NumberClaim.for_plan(scope, _plan(None)) is None


def test_every_provider_that_takes_our_number_declares_its_numbering_bucket() -> None:
    # Inheriting the base's safe default would be a silent choice: a provider that takes our number
    # decides in its adapter whether kinds and series number apart, and says why.
    takes_ours = [adapter_class(p) for p in supported_providers() if adapter_class(p).capabilities.own_numbering]
    assert takes_ours, "no provider takes our number: this test checks nothing"
    for adapter in takes_ours:
        assert "own_number_scope" in vars(adapter), f"{adapter.__name__} does not declare own_number_scope"
        assert adapter.own_number_scope.source
    assert ProviderAdapter.own_number_scope == ONE_SEQUENCE_PER_ACCOUNT


@pytest.mark.parametrize("provider", ["fakturownia", "infakt"])
def test_fakturownia_and_infakt_number_each_kind_apart_and_have_no_series_buckets(provider: str) -> None:
    scope = next(adapter_class(p) for p in supported_providers() if p.value == provider).own_number_scope
    assert (scope.per_kind, scope.per_series) == (True, False)


def test_a_duplicate_number_names_the_earlier_document_and_what_to_fix() -> None:
    error = DuplicateNumber("FV 1/11/2026", "INV-2", "INV-1")
    assert error.code == "duplicate_number"
    assert "'FV 1/11/2026'" in error.message and "INV-1" in error.message and "INV-2" in error.message
    assert "INV-2 its own number" in error.fix and "new version of INV-1" in error.fix

"""The configuration API over HTTP through the local gateway (REST payload 1.0, caller named by header)."""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest
import requests

from invoice_export.domain.clock import now_iso
from invoice_export.domain.records import RecordedError, Status
from invoice_export.platform.runtime import reset_runtime
from invoice_export.providers.fakturownia.adapter import FakturowniaAdapter
from local.rest_api import CALLER_HEADER

INVOICE = "01-invoice-company.json"


pytestmark = pytest.mark.usefixtures("custom_provider_urls")


class Api:
    """A caller of the configuration API as one IAM principal."""

    def __init__(self, base_url: str, principal: str | None) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if principal:
            self.session.headers[CALLER_HEADER] = principal

    def __call__(self, method: str, path: str, body: object = None, **params: object) -> requests.Response:
        return self.session.request(method, f"{self.base_url}{path}", json=body, params=params or None, timeout=30)


def tenant_api(shop, tenant: str) -> Api:
    principal = f"arn:aws:iam::123456789012:user/{tenant}-{uuid.uuid4().hex[:6]}"
    shop.runtime.tenants.map(principal, tenant)
    return Api(f"{shop.stack.gateway_url}/v1", principal)


@pytest.fixture
def merchant(shop):
    """Tenant A's caller, with account `<shop>-api` connected through the API."""
    api = tenant_api(shop, f"tenant-a-{uuid.uuid4().hex[:6]}")
    api.account_id = f"{shop.account_id}-api"
    answer = api("PUT", f"/accounts/{api.account_id}/connection",
                 {"provider": "fakturownia", "credentials": {"api_token": shop.token}, "api_url": shop.fake.base_url})
    assert answer.status_code == 200, answer.text
    answer = api("PATCH", f"/accounts/{api.account_id}/settings", {
        "series_links": {"FV": str(shop.department), "PAR": None, "KOR": None, "FV-EXPORT": str(shop.department)},
        "payment_links": {"Przelew": "transfer", "Karta": "card"}})
    assert answer.status_code == 200, answer.text
    return api


def issue(shop, account_id: str, example: str = INVOICE, **changes) -> str:
    message = shop.message(example, **changes)
    message["account_id"] = account_id
    shop.stack.send("ExportQueue", json.dumps(message), group_id=account_id)
    shop.run()
    return message["document"]["document_id"]


# ---------------------------------------------------------------- auth


def test_unsigned_and_unmapped_callers_are_refused(shop):
    unsigned = Api(f"{shop.stack.gateway_url}/v1", None)("GET", "/me")
    assert unsigned.status_code == 403 and unsigned.json() == {"message": "Missing Authentication Token"}
    stranger = "arn:aws:iam::123456789012:user/stranger"
    answer = Api(f"{shop.stack.gateway_url}/v1", stranger)("GET", "/me")
    assert answer.status_code == 403
    assert answer.json()["code"] == "not_mapped" and f"tenants map {stranger}" in answer.json()["fix"]


def test_an_assumed_role_session_acts_for_the_tenant_its_role_is_mapped_to(shop):
    shop.runtime.tenants.map("arn:aws:iam::123456789012:role/shop-backend", "tenant-role")
    session = "arn:aws:sts::123456789012:assumed-role/shop-backend/session-17"
    answer = Api(f"{shop.stack.gateway_url}/v1", session)("GET", "/me")
    assert answer.status_code == 200 and answer.json()["tenant_id"] == "tenant-role"


# ---------------------------------------------------------------- connect


def test_connect_checks_the_credentials_at_the_provider_and_never_returns_them(shop, merchant):
    body = merchant("GET", f"/accounts/{merchant.account_id}").json()
    assert body["settings"]["tenant_id"] and body["settings"]["status"] == "active"
    assert shop.token not in json.dumps(body)
    stored = shop.runtime.accounts.credentials(merchant.account_id, refresh=True)
    assert stored == {"api_token": shop.token}
    assert merchant("GET", "/me").json()["accounts"] == [merchant.account_id]


def test_connect_with_refused_or_incomplete_credentials_stores_nothing_and_says_why(shop):
    api = tenant_api(shop, "tenant-bad-key")
    rejected = api("PUT", "/accounts/acc-bad-key/connection",
                   {"provider": "fakturownia", "credentials": {"api_token": "wrong-token-123"},
                    "api_url": shop.fake.base_url})
    assert rejected.status_code == 400 and rejected.json()["code"] == "credentials_rejected"
    assert "wrong-token-123" not in rejected.text and "connect again" in rejected.json()["fix"]
    incomplete = api("PUT", "/accounts/acc-bad-key/connection",
                     {"provider": "fakturownia", "credentials": {"token": "x-secret-x"}, "api_url": shop.fake.base_url})
    assert incomplete.status_code == 422 and "x-secret-x" not in incomplete.text
    assert "api_token" in incomplete.json()["fix"]
    assert shop.runtime.accounts.get("acc-bad-key") is None
    # Refused as not supported yet, or (once its adapter exists) for the missing credentials.
    other_provider = api("PUT", "/accounts/acc-bad-key/connection",
                         {"provider": "ifirma", "credentials": {}, "api_url": shop.fake.base_url})
    assert other_provider.status_code in (400, 422), other_provider.text
    assert shop.runtime.accounts.get("acc-bad-key") is None


def test_reconnect_keeps_the_settings_and_counts_a_new_version(shop, merchant):
    before = merchant("GET", f"/accounts/{merchant.account_id}").json()["settings"]
    answer = merchant("PUT", f"/accounts/{merchant.account_id}/connection",
                      {"provider": "fakturownia", "credentials": {"api_token": shop.token},
                       "api_url": shop.fake.base_url})
    after = answer.json()["settings"]
    assert after["series_links"] == before["series_links"]
    assert after["settings_version"] == before["settings_version"] + 1


def test_custom_provider_url_is_refused_where_the_deployment_does_not_allow_it(shop, monkeypatch):
    api = tenant_api(shop, "tenant-url")
    monkeypatch.setenv("ALLOW_CUSTOM_PROVIDER_URLS", "false")
    reset_runtime()
    try:
        answer = api("PUT", "/accounts/acc-url/connection", {
            "provider": "fakturownia", "credentials": {"api_token": shop.token}, "api_url": "http://169.254.169.254"})
    finally:
        monkeypatch.undo()
        reset_runtime()
    assert answer.status_code == 400 and answer.json()["code"] == "custom_api_url"


# ---------------------------------------------------------------- cross-tenant


def test_another_tenant_cannot_see_or_touch_the_account(shop, merchant):
    document_id = issue(shop, merchant.account_id)
    other = tenant_api(shop, "tenant-b")
    account = f"/accounts/{merchant.account_id}"
    missing = other("GET", "/accounts/no-such-account")
    for method, path, body in [
        ("GET", account, None),
        ("PATCH", f"{account}/settings", {"export_mode": "bulk"}),
        ("GET", f"{account}/documents/{document_id}", None),
        ("GET", f"{account}/documents/{document_id}/link", None),
        ("POST", f"{account}/documents/{document_id}/retry", None),
        ("GET", f"{account}/documents", None),
        ("POST", f"{account}/bulk-exports", {"dry_run": True}),
    ]:
        answer = other(method, path, body, **({"status": "exported"} if path.endswith("/documents") else {}))
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["code"] == "account_not_found"
    assert missing.json()["message"] == "account no-such-account not found"  # the same answer
    taken = other("PUT", f"{account}/connection", {"provider": "fakturownia", "credentials": {"api_token": "t"},
                                                   "api_url": shop.fake.base_url})
    assert taken.status_code == 409 and shop.runtime.accounts.get(merchant.account_id).tenant_id != "tenant-b"
    assert other("GET", "/me").json()["accounts"] == []


# ---------------------------------------------------------------- settings


def test_settings_refuse_what_the_provider_cannot_do(shop, merchant, monkeypatch):
    limited = dataclasses.replace(FakturowniaAdapter.capabilities, own_numbering=False, sku_stock=False)
    monkeypatch.setattr(FakturowniaAdapter, "capabilities", limited)
    answer = merchant("PATCH", f"/accounts/{merchant.account_id}/settings", {"numbering": "ours", "send_skus": True})
    assert answer.status_code == 400 and answer.json()["code"] == "unsupported_setting"
    assert "does not accept our document numbers" in answer.json()["message"]
    assert "set send_skus to false" in answer.json()["fix"]
    monkeypatch.undo()
    bad_option = merchant("PATCH", f"/accounts/{merchant.account_id}/settings", {"provider_options": {"x": 1}})
    assert bad_option.status_code == 400 and "options" in bad_option.json()["message"]
    bad_value = merchant("PATCH", f"/accounts/{merchant.account_id}/settings", {"export_mode": "sometimes"})
    assert bad_value.status_code == 422
    ok = merchant("PATCH", f"/accounts/{merchant.account_id}/settings", {"numbering": "ours", "export_mode": "bulk"})
    assert ok.status_code == 200 and ok.json()["settings"]["numbering"] == "ours"
    assert shop.runtime.accounts.get(merchant.account_id).export_mode.value == "bulk"


def test_totals_policy_is_set_through_the_api_adapt_by_default(shop, merchant):
    path = f"/accounts/{merchant.account_id}"
    assert merchant("GET", path).json()["settings"]["totals_policy"] == "adapt"
    strict = merchant("PATCH", f"{path}/settings", {"totals_policy": "strict"})
    assert strict.status_code == 200 and strict.json()["settings"]["totals_policy"] == "strict"
    assert shop.runtime.accounts.get(merchant.account_id).totals_policy.value == "strict"
    assert merchant("PATCH", f"{path}/settings", {"totals_policy": "lenient"}).status_code == 422


def test_provider_lists_for_linking(shop, merchant):
    series = merchant("GET", f"/accounts/{merchant.account_id}/provider/series").json()
    assert {"id": str(shop.department), "name": "Sklep internetowy",
            "kinds": ["invoice", "receipt", "correction"]} in series  # a department takes every kind
    payment_types = merchant("GET", f"/accounts/{merchant.account_id}/provider/payment-types").json()
    assert {"id": "transfer", "name": "transfer", "kinds": ["invoice", "receipt", "correction"]} in payment_types


# ---------------------------------------------------------------- documents


def test_document_status_list_link_and_retry_after_a_fix(shop, merchant):
    account = f"/accounts/{merchant.account_id}"
    exported_id = issue(shop, merchant.account_id)
    failed_id = issue(shop, merchant.account_id, "06-series-not-linked.json")

    exported = merchant("GET", f"{account}/documents/{exported_id}").json()
    assert exported["status"] == "exported" and exported["provider_number"]
    failed = merchant("GET", f"{account}/documents/{failed_id}").json()
    assert failed["status"] == "failed" and failed["error"]["code"] == "series_not_linked"
    assert failed["error"]["fix"]
    page = merchant("GET", f"{account}/documents", status="failed").json()
    assert [d["document_id"] for d in page["documents"]] == [failed_id]
    assert merchant("GET", f"{account}/documents", status="exported", date_from="2026-12-01").json()["documents"] == []
    assert merchant("GET", f"{account}/documents", status="nonsense").status_code == 422

    link = merchant("GET", f"{account}/documents/{exported_id}/link").json()
    assert requests.get(link["url"], allow_redirects=False, timeout=10).status_code == 302
    assert merchant("GET", f"{account}/documents/{failed_id}/link").status_code == 409

    merchant("PATCH", f"{account}/settings", {"series_links": {"FV-B2B": str(shop.department), "FV": None}})
    assert merchant("POST", f"{account}/documents/{failed_id}/retry").status_code == 200
    shop.run()
    assert merchant("GET", f"{account}/documents/{failed_id}").json()["status"] == "exported"
    assert merchant("POST", f"{account}/documents/{exported_id}/retry").status_code == 409


def test_retry_all_failed_and_resolve_in_doubt(shop, merchant):
    account = f"/accounts/{merchant.account_id}"
    failed_id = issue(shop, merchant.account_id, "06-series-not-linked.json")
    merchant("PATCH", f"{account}/settings", {"series_links": {"FV-B2B": None}})
    run = merchant("POST", f"{account}/failed/retry").json()
    assert run["status"] == "queued" and run["queued"] == 1
    shop.run()
    assert shop.runtime.documents.get(merchant.account_id, failed_id).status == Status.EXPORTED

    # An interrupted create the look-up could not settle (tests/stack/test_export_flow.py shows how it
    # comes about, slowly): held in doubt, then attached by the merchant to the document found there.
    in_doubt_id = issue(shop, merchant.account_id, document_id="INV-DOUBT-1", series="NOT-LINKED")
    store = shop.runtime.documents
    assert store.claim(merchant.account_id, in_doubt_id, "attempt-1")[0]
    store.mark_in_doubt(merchant.account_id, in_doubt_id, RecordedError(
        code="in_doubt", message="the look-up could not decide", fix="resolve it", at=now_iso()))
    assert merchant("GET", f"{account}/documents/{in_doubt_id}").json()["status"] == "in_doubt"
    wrong = merchant("POST", f"{account}/documents/{in_doubt_id}/resolve", {"action": "attach"})
    assert wrong.status_code == 422
    numberless = merchant("POST", f"{account}/documents/{in_doubt_id}/resolve",
                          {"action": "attach", "provider_document_id": "100999"})
    assert (numberless.status_code, numberless.json()["code"]) == (422, "missing_provider_number")
    attached = merchant("POST", f"{account}/documents/{in_doubt_id}/resolve",
                        {"action": "attach", "provider_document_id": "100999", "provider_number": "FV 9/2026"})
    assert attached.status_code == 200
    assert (attached.json()["status"], attached.json()["provider_number"]) == ("exported", "FV 9/2026")
    again = merchant("POST", f"{account}/documents/{in_doubt_id}/resolve", {"action": "release"})
    assert again.status_code == 409


# ---------------------------------------------------------------- bulk export


def test_bulk_export_dry_run_run_and_summary_through_the_api(shop, merchant):
    account = f"/accounts/{merchant.account_id}"
    merchant("PATCH", f"{account}/settings", {"export_mode": "bulk"})
    document_id = issue(shop, merchant.account_id)
    dry = merchant("POST", f"{account}/bulk-exports", {"dry_run": True}).json()["dry_run"]
    assert dry["ready"] == 1 and dry["documents"][0]["request"]["invoice"]["oid"] == document_id
    assert shop.provider_documents(document_id) == []

    run = merchant("POST", f"{account}/bulk-exports", {"filters": {"series": ["FV"]}}).json()["run"]
    assert run["status"] == "queued" and run["queued"] == 1
    shop.run()
    summary = merchant("GET", f"{account}/bulk-exports/{run['run_id']}").json()
    assert summary["settled"] and [d["document_id"] for d in summary["exported"]] == [document_id]
    assert [r["run_id"] for r in merchant("GET", f"{account}/bulk-exports").json()] == [run["run_id"]]
    assert merchant("GET", f"{account}/bulk-exports/nope").status_code == 404
    bad = merchant("POST", f"{account}/bulk-exports", {"filters": {"only_failed": True, "include_failed": True}})
    assert bad.status_code == 422

"""A series link of the wrong type is refused when it is saved (issue 14, part 2), through the
configuration API over the local gateway, against the wFirma fake, whose series each number one
document type (`series/find` lists the type; `invoices/add` refuses a document of another type).
"""

from __future__ import annotations

import json
import secrets
import uuid

import pytest
import requests

from invoice_export.platform.runtime import get_runtime
from local.fakes.wfirma import WfirmaFake
from local.rest_api import CALLER_HEADER
from testsupport import load_example

WFIRMA_APP_KEY = secrets.token_hex(16)
STACK_PARAMETERS = {"WfirmaAppKey": WFIRMA_APP_KEY}

pytestmark = pytest.mark.usefixtures("custom_provider_urls")


@pytest.fixture(scope="module")
def wfirma():
    with WfirmaFake(app_key=WFIRMA_APP_KEY, rate_limit=None) as server:
        yield server
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


@pytest.fixture
def merchant(stack, wfirma):
    """A tenant's caller with a wFirma account connected through the API, and the company's series ids."""
    principal = f"arn:aws:iam::123456789012:user/shop-{uuid.uuid4().hex[:6]}"
    get_runtime().tenants.map(principal, f"tenant-{uuid.uuid4().hex[:6]}")
    session = requests.Session()
    session.headers[CALLER_HEADER] = principal
    access_key, secret_key = secrets.token_hex(16), secrets.token_hex(16)
    company_id = wfirma.add_company(access_key, secret_key, name="Herbaciarnia Sp. z o.o.", nip="5252445767")
    account = f"wf-{uuid.uuid4().hex[:8]}"

    def call(method: str, path: str, body: object = None) -> requests.Response:
        return session.request(method, f"{stack.gateway_url}/v1/accounts/{account}{path}", json=body, timeout=30)

    answer = call("PUT", "/connection", {
        "provider": "wfirma", "api_url": wfirma.base_url,
        "credentials": {"access_key": access_key, "secret_key": secret_key, "company_id": str(company_id)}})
    assert answer.status_code == 200, answer.text
    series = {s["name"]: s for s in call("GET", "/provider/series").json()}
    call.account_id, call.series = account, series
    call.normal = next(s for name, s in series.items() if "(normal)" in name)
    call.corrections = next(s for name, s in series.items() if "(correction)" in name)
    return call


def test_the_series_list_says_which_kinds_each_series_takes(merchant):
    assert merchant.normal["kinds"] == ["invoice"]
    assert merchant.corrections["kinds"] == ["correction"]


def test_a_correction_series_linked_to_a_series_for_normal_invoices_is_refused_when_saved(merchant):
    answer = merchant("PATCH", "/settings", {"series_links": {"KOR": merchant.normal["id"]},
                                             "series_link_kinds": {"KOR": ["correction"]}})
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["code"] == "series_kind_mismatch"
    assert "'KOR' serves correction" in error["message"] and merchant.normal["name"] in error["message"]
    assert "takes invoice" in error["message"] and "series of that type" in error["fix"]
    # Nothing was stored: the account keeps its earlier links.
    assert merchant("GET", "").json()["settings"]["series_links"] == {}


def test_a_link_of_the_right_type_is_saved_and_a_document_of_another_kind_is_refused_before_sending(
        merchant, stack, wfirma):
    answer = merchant("PATCH", "/settings", {
        "series_links": {"FV": merchant.normal["id"], "KOR": merchant.corrections["id"]},
        "series_link_kinds": {"FV": ["invoice"], "KOR": ["correction"]},
        "payment_links": {"Przelew": "transfer"}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["warnings"] == []
    # A correction issued in our invoice series never reaches wFirma: the settings say FV serves invoices.
    message = load_example("01-invoice-company.json")
    message["account_id"] = merchant.account_id
    message["document"]["kind"] = "receipt"
    stack.send("ExportQueue", json.dumps(message), group_id=merchant.account_id)
    stack.run_until_idle()
    record = get_runtime().documents.get(merchant.account_id, message["document"]["document_id"])
    assert record.status.value == "failed" and record.last_error.code == "series_kind_not_linked"
    assert "invoices only" in record.last_error.message


def test_existing_links_without_kinds_stay_valid_and_are_saved_with_a_warning(merchant):
    answer = merchant("PATCH", "/settings", {"series_links": {"KOR": merchant.normal["id"]}})
    assert answer.status_code == 200, answer.text
    [warning] = answer.json()["warnings"]
    assert merchant.normal["name"] in warning and "takes only invoice" in warning and "series_link_kinds" in warning

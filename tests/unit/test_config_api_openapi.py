"""The committed OpenAPI document is what the configuration API's routes generate."""

from __future__ import annotations

import json

from tools.generate_openapi import OPENAPI_FILE, render


def test_committed_openapi_document_is_current() -> None:
    assert OPENAPI_FILE.read_text(encoding="utf-8") == render(), (
        f"{OPENAPI_FILE.name} is stale: run `make schemas` and commit it")


def test_openapi_document_describes_every_route_with_its_models() -> None:
    document = json.loads(render())
    assert document["info"]["title"] == "invoice-export configuration API"
    connect = document["paths"]["/accounts/{account_id}/connection"]["put"]
    assert connect["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ConnectRequest")
    assert "status" in {p["name"] for p in document["paths"]["/accounts/{account_id}/documents"]["get"]["parameters"]}

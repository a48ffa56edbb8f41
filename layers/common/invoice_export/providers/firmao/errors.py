"""Firmao's error answers read into our error types.

Facts (FirmaoCRM/API README, commit c3ed124; /work/shared/providers/next-providers.md section 1): an
error body names one field, `{"errorCode":"entityNotFoundForId","field":"project","rejectedValue":"50",
"additionalInfo":{...}}`; a sale number taken answers `400 {"errorCode":"transactionNumberAlreadyExists",
"additionalInfo":{"suggestedNumber":...}}` and creates nothing; a duplicate value answers `409
{"errorCode":"duplicateValueFoundException","objectName":...,"fieldName":...,"duplicateValues":[...]}`.
Every other errorCode is undocumented, so the message carries Firmao's own code and field as given.
"""

from __future__ import annotations

import re
from typing import Any

import requests

from invoice_export.domain.errors import ProviderRejected
from invoice_export.domain.money import loads_exact

# Our codes for the answers the adapter acts on.
DUPLICATE_NUMBER = "provider_duplicate_number"
ORGANISATION_NOT_FOUND = "provider_organisation_not_found"

# Where a rejected Firmao field comes from in our message, to say what to fix. Line fields are keyed
# without their index ("transactionEntries[2].quantity" -> "quantity").
OUR_FIELD = {
    "customerName": "document.buyer.name",
    "nipNumber": "document.buyer.tax_id",
    "customerAddress.street": "document.buyer.address.street",
    "customerAddress.postCode": "document.buyer.address.postal_code",
    "customerAddress.city": "document.buyer.address.city",
    "customerAddress.country": "document.buyer.address.country",
    "emails": "document.buyer.email",
    "phones": "document.buyer.phone",
    "invoiceDate": "document.issue_date",
    "transactionDate": "document.sale_date",
    "paymentDate": "document.payment.due_date",
    "paymentType": "the account's payment-type link (Firmao documents CASH and TRANSFER)",
    "paidValue": "document.payment.paid_date",
    "invoicePatternId": "the account's series link (a Firmao numbering series with a template for this document type)",
    "transactionNumber": "document.number (or switch the account to Firmao's numbering)",
    "currency": "document.currency",
    "exchangeRate": "document.exchange_rate",
    "exchangeRateDate": "document.exchange_rate.date",
    "invoiceAnnotations": "document.notes",
    "correctionCause": "document.correction.reason",
    "connectedDocNumber": "the corrected document (a sale invoice or receipt in this Firmao organisation)",
    "connectedDocDate": "the corrected document (a sale invoice or receipt in this Firmao organisation)",
    "calculateFromGross": "document.price_basis (a correction keeps its original's)",
    "warehouse": "provider option warehouse_id (a Firmao warehouse id)",
    "transactionEntries": "document.lines, or for a correction document.correction.lines_before (the corrected "
                          "document's lines as they stand now, after any earlier correction)",
    "transactionNettoPrice": "document.totals (Firmao computed other totals)",
    "transactionVatPrice": "document.totals (Firmao computed other totals)",
    "transactionBruttoPrice": "document.totals (Firmao computed other totals)",
    "product": "document.lines[].sku (the linked Firmao product) or document.lines[].name",
    "productCode": "document.lines[].sku",
    "quantity": "document.lines[].quantity",
    "unit": "document.lines[].unit",
    "vatPercent": "document.lines[].vat",
    "unitNettoPrice": "document.lines[].unit_price",
    "unitBruttoPrice": "document.lines[].unit_price",
    "baseEntryId": "document.correction.lines_before (the corrected document's lines were changed in Firmao)",
    "recordId": "document.correction.lines_before (the corrected document's lines were changed in Firmao)",
    "invalidRecordId": "document.correction.lines_before",
}
ENTRY_FIELD = re.compile(r"transactionEntries\[\d+\](\.(?P<name>\w+))?")
CUSTOM_FIELD = re.compile(r"customFields\.custom\d+")


def our_field(firmao_field: str) -> str:
    entry = ENTRY_FIELD.fullmatch(firmao_field)
    if entry:
        return OUR_FIELD.get(entry["name"] or "transactionEntries", "document.lines")
    if CUSTOM_FIELD.fullmatch(firmao_field):
        return "provider option reference_field (an additional field of transactions in Firmao)"
    return OUR_FIELD.get(firmao_field, "the document")


def error_body(response: requests.Response) -> dict[str, Any]:
    try:
        body = loads_exact(response.content) if response.content else {}
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def read_rejection(response: requests.Response) -> ProviderRejected:
    """A 4xx other than 401/403/429 turned into a specific error naming Firmao's field and ours."""
    body = error_body(response)
    code = str(body.get("errorCode") or "")
    reader = _READERS.get(code, _field_or_status)
    return reader(body, code, response.status_code)


def _organisation_not_found(body: dict[str, Any], code: str, status: int) -> ProviderRejected:
    # ASSUMPTION: the fake's word; Firmao documents no such answer.
    return ProviderRejected(
        f"Firmao knows no organisation at this address (HTTP {status})", code=ORGANISATION_NOT_FOUND,
        fix="check the organisation id (the name after system.firmao.pl/ once logged in) and reconnect")


def _number_taken(body: dict[str, Any], code: str, status: int) -> ProviderRejected:
    suggested = (body.get("additionalInfo") or {}).get("suggestedNumber")
    return ProviderRejected(
        "Firmao already has a sale document with this number (transactionNumberAlreadyExists"
        f"{f'; it suggests {suggested}' if suggested else ''})", code=DUPLICATE_NUMBER,
        field_errors={"transactionNumber": [code]},
        fix="give the document a number not used in Firmao yet, or switch the account to Firmao's numbering")


def _duplicate_value(body: dict[str, Any], code: str, status: int) -> ProviderRejected:
    field = f"{body.get('objectName') or 'object'}.{body.get('fieldName') or 'value'}"
    values = ", ".join(str(v.get("value")) for v in body.get("duplicateValues") or [] if isinstance(v, dict))
    return ProviderRejected(
        f"Firmao rejected {field}: the value {values or 'sent'} exists already (HTTP {status})",
        field_errors={field: [code]}, code="provider_duplicate_value",
        fix=f"correct {OUR_FIELD.get(str(body.get('fieldName')), 'the document')} or the record in Firmao")


def _field_or_status(body: dict[str, Any], code: str, status: int) -> ProviderRejected:
    """The documented one-field error body, or, without a field, what the status says."""
    field = str(body.get("field") or "")
    if field:
        rejected, info = body.get("rejectedValue"), body.get("additionalInfo")
        detail = code + (f", value {rejected}" if rejected is not None else "") + (f", {info}" if info else "")
        return ProviderRejected(
            f"Firmao rejected {field} ({detail}; HTTP {status})", field_errors={field: [detail]},
            code="provider_not_found" if code == "entityNotFoundForId" or status == 404 else None,
            fix=f"correct {our_field(field)} and retry the document")
    if status == 404:
        return ProviderRejected(f"Firmao answered Not Found (HTTP 404{f', {code}' if code else ''})",
                                code="provider_not_found",
                                fix="check that the document still exists in Firmao (it may have been deleted)")
    return ProviderRejected(f"Firmao rejected the request (HTTP {status}{f', {code}' if code else ''})",
                            fix="correct the document and retry it; if it persists, report it to the maintainers")


# Firmao's errorCode -> its reader; any other code: its field, or its status.
_READERS = {
    "organizationNotFound": _organisation_not_found,
    "transactionNumberAlreadyExists": _number_taken,
    "duplicateValueFoundException": _duplicate_value,
}

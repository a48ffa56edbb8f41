"""Who is who: the IAM principal calling the configuration API -> the tenant it acts for.

The operator manages this mapping (`invoice-export tenants ...`); the API only reads it. An
assumed-role session (arn:aws:sts::<acct>:assumed-role/<role>/<session>) is found under its
session ARN first and then under its role's ARN, so a role can be mapped once for all sessions.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from invoice_export.domain.clock import now_iso
from invoice_export.domain.documents import Identifier
from invoice_export.storage.paging import all_items

_ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>[\w-]+):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/[^/]+$")


class TenantMapping(BaseModel):
    model_config = ConfigDict(frozen=True)
    principal_arn: str
    tenant_id: Identifier
    mapped_at: str


def principal_candidates(principal_arn: str) -> list[str]:
    """The ARNs a caller may be mapped under, most specific first."""
    candidates = [principal_arn]
    if match := _ASSUMED_ROLE.match(principal_arn):
        candidates.append(f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}")
    return candidates


class TenantStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def tenant_of(self, principal_arn: str) -> str | None:
        for candidate in principal_candidates(principal_arn):
            item = self.table.get_item(Key={"principal_arn": candidate}, ConsistentRead=True).get("Item")
            if item:
                return str(item["tenant_id"])
        return None

    def map(self, principal_arn: str, tenant_id: str) -> TenantMapping:
        mapping = TenantMapping(principal_arn=principal_arn, tenant_id=tenant_id, mapped_at=now_iso())
        self.table.put_item(Item=mapping.model_dump())
        return mapping

    def unmap(self, principal_arn: str) -> bool:
        response = self.table.delete_item(Key={"principal_arn": principal_arn}, ReturnValues="ALL_OLD")
        return "Attributes" in response

    def mappings(self, tenant_id: str | None = None) -> list[TenantMapping]:
        found = [TenantMapping.model_validate(item) for item in all_items(self.table.scan, ConsistentRead=True)]
        return sorted((m for m in found if tenant_id is None or m.tenant_id == tenant_id),
                      key=lambda m: (m.tenant_id, m.principal_arn))

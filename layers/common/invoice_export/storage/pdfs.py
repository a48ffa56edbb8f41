"""PDF copies in the private bucket. Keys hold only our ids, never buyer data."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from invoice_export.domain.clock import now_iso
from invoice_export.domain.records import PdfCopy

# Presigned URLs are minted per click by the link route, so they can be this short.
PRESIGNED_URL_SECONDS = 300


class PdfStore:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self.s3 = s3_client
        self.bucket = bucket

    @staticmethod
    def key(account_id: str, document_id: str) -> str:
        return f"pdf/{account_id}/{document_id}.pdf"

    def put(self, account_id: str, document_id: str, data: bytes, previous: PdfCopy | None) -> PdfCopy:
        digest = hashlib.sha256(data).hexdigest()
        now = now_iso()
        if previous is not None and previous.sha256 == digest:
            return previous.model_copy(update={"fetched_at": now})
        key = self.key(account_id, document_id)
        response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/pdf",
                                      ChecksumSHA256=_b64_sha256(data), ServerSideEncryption="AES256")
        changed = previous is not None
        return PdfCopy(key=key, version_id=response.get("VersionId"), size=len(data), sha256=digest, fetched_at=now,
                       previous_sha256=previous.sha256 if changed else None, changed_at=now if changed else None)

    def presigned_url(self, pdf: PdfCopy, filename: str) -> str:
        params = {"Bucket": self.bucket, "Key": pdf.key,
                  "ResponseContentType": "application/pdf",
                  "ResponseContentDisposition": f'inline; filename="{filename}"'}
        if pdf.version_id:
            params["VersionId"] = pdf.version_id
        return self.s3.generate_presigned_url("get_object", Params=params, ExpiresIn=PRESIGNED_URL_SECONDS)


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()

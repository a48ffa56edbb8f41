"""The PDF path end to end: from export to the PDF stored, and the customer link's redirect.

Everything runs as deployed, over HTTP: the local stack (moto server, the queue emulator running
every event source, the HTTP API gateway) and the Fakturownia fake with no latency. One document
at a time: it is put on the export queue, and the time from its record's `exported_at` to its
PDF's `fetched_at` is taken from the record itself. Reference: the same work done bare, one GET of
the provider's PDF and one S3 PutObject.

Then each document's customer link is opened (GET, no redirect followed) through the gateway;
reference: following the redirect, i.e. downloading the PDF from S3 with the presigned URL.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import requests

from benchmarks.support import (
    Spread,
    benchmark_main,
    billed,
    connect_account,
    document_body,
    ratio,
    recording,
)
from invoice_export.domain.records import DocumentRecord
from invoice_export.platform.runtime import get_runtime, reset_runtime
from local.fakes.fakturownia import FakturowniaFake
from local.stack import LocalStack

DOCUMENTS, QUICK_DOCUMENTS = 20, 1
WAIT_SECONDS = 30


def run(quick: bool) -> dict[str, Any]:
    count = QUICK_DOCUMENTS if quick else DOCUMENTS
    with FakturowniaFake(rate_limit=None) as fake, LocalStack() as stack:
        reset_runtime()
        runtime = get_runtime()
        account = connect_account(fake, runtime, fake.base_url, account_id="bench-pdf")
        headers = {"Authorization": f"Bearer {account.api_token}"}
        bucket, s3 = stack.ref("PdfBucket"), stack.client("s3")
        to_pdf, bare_pdf, redirects, downloads = [], [], [], []
        stack.start_pollers()
        try:
            fetch_pdf = stack.function("FetchPdfFunction")
            with recording(fetch_pdf) as fetches:
                for index in range(count):
                    stack.send("ExportQueue", document_body(account.account_id, index), group_id=account.account_id)
                    record = _pdf_stored(runtime, account.account_id, f"BENCH-{index:06d}")
                    to_pdf.append(_seconds_between(record.exported_at, record.pdf.fetched_at))
                    started = time.perf_counter()
                    pdf = requests.get(f"{fake.base_url}/invoices/{record.provider_document_id}.pdf",
                                       headers=headers, timeout=10)
                    pdf.raise_for_status()
                    s3.put_object(Bucket=bucket, Key=f"bare/{index}.pdf", Body=pdf.content)
                    bare_pdf.append(time.perf_counter() - started)
                    # The local stack's link base URL is its HTTP API gateway.
                    redirect, seconds = _timed_get(runtime.make_link(account.account_id, record.document_id))
                    if redirect.status_code != 302:
                        raise RuntimeError(f"the link answered {redirect.status_code}, not a redirect")
                    redirects.append(seconds)
                    download, seconds = _timed_get(redirect.headers["Location"])
                    if not download.content.startswith(b"%PDF"):
                        raise RuntimeError("the redirect did not lead to the PDF")
                    downloads.append(seconds)
        finally:
            stack.stop_pollers()
    export_to_pdf, bare, link, follow = (Spread.of_seconds(s) for s in (to_pdf, bare_pdf, redirects, downloads))
    return {
        "export_to_pdf": export_to_pdf.as_dict(), "bare_fetch_and_store": bare.as_dict(),
        "ratio_export_to_pdf": ratio(export_to_pdf.median_ms, bare.median_ms),
        "pdf_batching_window_s": stack.template.functions()["FetchPdfFunction"].sqs_events[0].batching_window_s,
        "link_redirect": link.as_dict(), "presigned_download": follow.as_dict(),
        "ratio_redirect": ratio(link.median_ms, follow.median_ms),
        "pdf_invocations": billed(fetches), "memory_mb": fetch_pdf.memory_mb, "documents": count,
    }


def _pdf_stored(runtime: Any, account_id: str, document_id: str) -> DocumentRecord:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        record = runtime.documents.get(account_id, document_id)
        if record is not None and record.pdf is not None:
            return record
        time.sleep(0.02)
    raise TimeoutError(f"no PDF stored for {document_id} after {WAIT_SECONDS} s")


def _seconds_between(start: str | None, end: str) -> float:
    if start is None:
        raise RuntimeError("an exported record without exported_at")
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _timed_get(url: str) -> tuple[requests.Response, float]:
    started = time.perf_counter()
    response = requests.get(url, allow_redirects=False, timeout=10)
    return response, time.perf_counter() - started


if __name__ == "__main__":
    benchmark_main(run)

"""The cost table: what benchmarks.cost measured, priced with benchmarks.prices.

Per 1,000,000 documents, by service, for both shapes of traffic the cost benchmark ran; then
what a deployment pays whatever its documents (secrets stored, SnapStart's cache, the dead-letter
check's runs) and what each month of documents adds at rest, at the scale the README's capacity
section uses (10,000 merchants x 1,000 documents a day).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmarks import prices

PER = 1_000_000
SCALE_MERCHANTS, SCALE_DOCUMENTS_PER_MERCHANT_DAY = 10_000, 1_000
DAYS_PER_MONTH = 30.4
DOCUMENTS_PER_MONTH = SCALE_MERCHANTS * SCALE_DOCUMENTS_PER_MERCHANT_DAY * DAYS_PER_MONTH
DEPLOYMENT_SECRETS = 2  # the link-signing keys and the providers' application keys (infra/template.yaml)
DEAD_LETTER_CHECKS_PER_MONTH = 30.4 * 24 * 12  # rate(5 minutes)
DEAD_LETTER_CHECK_SECONDS = 1.0  # its long poll of the (empty) DLQ waits 1 s
RETENTION_DAYS = 400  # DataRetentionDays' default: PDFs and audit entries; document records do not expire
GB = 1024**3


@dataclass(frozen=True)
class Line:
    service: str
    per_document: dict[str, float]  # shape -> dollars per document
    detail: str


def per_document_lines(cost: dict[str, Any]) -> list[Line]:
    shapes = cost["shapes"]
    documents = cost["documents"]
    measured = {shape: _Shape(result, documents, cost["memory_mb"]) for shape, result in shapes.items()}

    def line(service: str, dollars: Any, detail: Any) -> Line:
        return Line(service, {shape: dollars(m) for shape, m in measured.items()},
                    "; ".join(f"{shape}: {detail(m)}" for shape, m in measured.items()))

    return [
        line("Lambda duration (export, record changes, PDF, link functions; billed duration measured)",
             lambda m: m.gb_seconds() * prices.LAMBDA_GB_SECOND,
             lambda m: ", ".join(f"{_short(name)} {ms:.0f} ms" for name, ms in m.billed_ms().items())
             + " per document"),
        line("Lambda requests", lambda m: m.invocations() * prices.LAMBDA_REQUEST,
             lambda m: f"{m.invocations():.2f} invocations per document"),
        line("DynamoDB on-demand (request units measured from item sizes)",
             lambda m: m.write_units() * prices.DYNAMODB_WRITE_UNIT + m.read_units() * prices.DYNAMODB_READ_UNIT,
             lambda m: f"{m.write_units():.1f} WRU ({m.units_by('write')}), {m.read_units():.1f} RRU per document"),
        line("SQS requests (FIFO export queue, standard PDF queue; order system, event sources, functions; "
             "the stream's reads by its Lambda trigger are not billed)",
             lambda m: m.sqs("fifo") * prices.SQS_FIFO_REQUEST + m.sqs("standard") * prices.SQS_STANDARD_REQUEST,
             lambda m: f"{m.sqs('fifo'):.2f} FIFO + {m.sqs('standard'):.2f} standard requests per document"),
        line("EventBridge events (outcome events)", lambda m: m.events() * prices.EVENTBRIDGE_EVENT,
             lambda m: f"{m.events():.2f} events per document"),
        line("S3 requests (PDF stored; the customer's download)",
             lambda m: m.s3("put") * prices.S3_PUT_REQUEST + m.s3("get") * prices.S3_GET_REQUEST,
             lambda m: f"{m.s3('put'):.2f} PUT + {m.s3('get'):.2f} GET per document"),
        line("Secrets Manager calls (after the functions' 5-minute cache)",
             lambda m: m.calls("secretsmanager") * prices.SECRETS_MANAGER_CALL,
             lambda m: f"{m.calls('secretsmanager'):.2f} calls per document"),
        line("CloudWatch Logs ingestion (bytes logged, measured; Lambda's START/END/REPORT lines included)",
             lambda m: m.log_bytes() / GB * prices.CLOUDWATCH_LOGS_INGESTED_GB,
             lambda m: f"{m.log_bytes():,.0f} bytes per document"),
        line("API Gateway HTTP API (the customer's link, opened once)",
             lambda m: m.http_api_requests() * prices.HTTP_API_REQUEST,
             lambda m: f"{m.http_api_requests():.2f} requests per document"),
        line("KMS (no key of ours: tables use the AWS managed key, queues and bucket SSE-SQS/SSE-S3)",
             lambda m: 0.0, lambda m: "DynamoDB asks KMS per table key refresh (5 minutes of use per role), "
                                      "not per document: not counted"),
    ]


class _Shape:
    """One shape of traffic's measurements, per document."""

    def __init__(self, result: dict[str, Any], documents: int, memory_mb: dict[str, int]) -> None:
        self.result, self.documents, self.memory_mb = result, documents, memory_mb
        self.usages = [*(f["aws"] for f in result["functions"].values()),
                       *(value for key, value in result.items() if isinstance(value, dict) and "calls" in value)]

    def billed_ms(self) -> dict[str, float]:
        return {name: f["billed_ms"] / self.documents for name, f in self.result["functions"].items()}

    def gb_seconds(self) -> float:
        return sum(ms / 1000 * self.memory_mb[name] / 1024 for name, ms in self.billed_ms().items())

    def invocations(self) -> float:
        return sum(f["invocations"] for f in self.result["functions"].values()) / self.documents

    def write_units(self) -> float:
        return sum(u["write_units"] for u in self.usages) / self.documents

    def read_units(self) -> float:
        return sum(u["read_units"] for u in self.usages) / self.documents

    def units_by(self, kind: str) -> str:
        tables: dict[str, float] = {}
        for usage in self.usages:
            for name, units in usage["units_by_table"].items():
                table, unit_kind = name.rsplit(" ", 1)
                if unit_kind == kind:
                    tables[table] = tables.get(table, 0.0) + units / self.documents
        return ", ".join(f"{table.removesuffix('Table').lower()} {units:.1f}"
                         for table, units in sorted(tables.items(), key=lambda t: -t[1]) if units)

    def sqs(self, kind: str) -> float:
        return sum(u["sqs_requests"].get(kind, 0) for u in self.usages) / self.documents

    def events(self) -> float:
        return sum(u["events"] for u in self.usages) / self.documents

    def s3(self, kind: str) -> float:
        ours = sum(u["s3_requests"].get(kind, 0) for u in self.usages)
        customers = self.result["customer_s3_gets"] if kind == "get" else 0
        return (ours + customers) / self.documents

    def calls(self, service: str) -> float:
        return sum(count for u in self.usages for name, count in u["calls"].items()
                   if name.startswith(f"{service}:")) / self.documents

    def log_bytes(self) -> float:
        return sum(f["log_bytes"] + f["platform_log_bytes"] for f in self.result["functions"].values()) / self.documents

    def http_api_requests(self) -> float:
        return self.result["http_api_requests"] / self.documents


def _short(function_name: str) -> str:
    return {"ExportFunction": "export", "RecordChangesFunction": "record changes", "FetchPdfFunction": "PDF",
            "LinkFunction": "link"}.get(
        function_name, function_name)


def monthly_lines(cost: dict[str, Any], snapstart_functions: dict[str, int]) -> list[tuple[str, float, str]]:
    """(what, dollars a month, how) a deployment pays at the README's scale whatever the documents."""
    secrets = SCALE_MERCHANTS + DEPLOYMENT_SECRETS
    snapstart_gb = sum(memory / 1024 for memory in snapstart_functions.values())
    checks = DEAD_LETTER_CHECKS_PER_MONTH * DEAD_LETTER_CHECK_SECONDS * 0.5 * prices.LAMBDA_GB_SECOND
    at_rest = cost["at_rest"]
    month_of_documents = DOCUMENTS_PER_MONTH
    pdfs = month_of_documents * at_rest["pdf_bytes_per_document"] / GB * prices.S3_STORAGE_GB_MONTH
    records = month_of_documents * (at_rest["record_bytes_per_document"] + at_rest["audit_bytes_per_document"]) \
        / GB * prices.DYNAMODB_STORAGE_GB_MONTH
    return [
        ("Secrets Manager: secrets stored", secrets * prices.SECRETS_MANAGER_SECRET_MONTH,
         f"one per merchant account + {DEPLOYMENT_SECRETS} of the deployment, {secrets:,} x "
         f"${prices.SECRETS_MANAGER_SECRET_MONTH:.2f}"),
        ("SnapStart cache", snapstart_gb * prices.HOURS_PER_MONTH * 3600 * prices.SNAPSTART_CACHE_GB_SECOND,
         f"{len(snapstart_functions)} functions with SnapStart ({', '.join(sorted(snapstart_functions))}), "
         f"{snapstart_gb:.1f} GB cached, one active version each (two for up to 14 days after a deploy)"),
        ("Dead-letter check (every 5 minutes)", checks,
         f"{DEAD_LETTER_CHECKS_PER_MONTH:,.0f} runs x about {DEAD_LETTER_CHECK_SECONDS:g} s (its long poll) x 0.5 GB"),
        ("At rest: each month of PDFs (S3 Standard), kept 400 days", pdfs,
         f"{month_of_documents / 1e6:,.0f} million PDFs of {at_rest['pdf_bytes_per_document']:,.0f} bytes "
         f"(the fake's PDF; real ones are larger)"),
        ("At rest: each month of records and audit entries (DynamoDB)", records,
         f"{at_rest['record_bytes_per_document']:,.0f} bytes of record (kept; no expiry) + "
         f"{at_rest['audit_bytes_per_document']:,.0f} bytes of audit entries (400 days) per document"),
    ]


def cold_start_lines(cold: dict[str, Any], memory_mb: dict[str, int],
                     snapstart_functions: dict[str, int]) -> list[tuple[str, float, str]]:
    """What one cold start of each measured function costs: its INIT (billed since 2025-08-01), or with
    SnapStart the restore charge instead (plus a billed restore duration not measurable here)."""
    lines = []
    for name, figures in cold["functions"].items():
        gb = memory_mb.get(name, 512) / 1024
        if name in snapstart_functions:
            lines.append((name, gb * prices.SNAPSTART_RESTORE_GB,
                          f"SnapStart restore of {gb:g} GB (without it: INIT of {figures['imported_ms']:.0f} ms, "
                          f"${figures['imported_ms'] / 1000 * gb * prices.LAMBDA_GB_SECOND:.7f})"))
        else:
            lines.append((name, figures["imported_ms"] / 1000 * gb * prices.LAMBDA_GB_SECOND,
                          f"INIT of {figures['imported_ms']:.0f} ms at {gb:g} GB"))
    return lines


def table_rows(cost: dict[str, Any], cold: dict[str, Any] | None) -> list[tuple[str, ...]]:
    """`make bench`'s rows: per 1,000,000 documents by service, then the monthly and per-cold-start costs."""
    lines = per_document_lines(cost)
    shapes = list(cost["shapes"])
    totals = {shape: sum(line.per_document[shape] for line in lines) for shape in shapes}
    last = shapes[-1]

    def dollars(per_document: dict[str, float]) -> str:
        return " / ".join(f"${per_document[shape] * PER:,.2f}" for shape in shapes)

    where = (f"{prices.REGION} list prices read {prices.READ_ON} (benchmarks/prices.py); {' / '.join(shapes)}: "
             f"{cost['documents']} documents each (benchmarks/cost.py), provider latency "
             f"{cost['provider_latency_ms']:.0f} ms")
    rows = [(f"Cost per {PER:,} documents, all services on the path ({where})", dollars(totals),
             "order system -> export queue -> export function -> provider; the record's stream -> record-changes "
             "function -> outcome event, audit entry, PDF queue -> PDF function -> S3; customer link opened once",
             f"share of the {last} total", "", "")]
    rows += [(f"... {line.service}", dollars(line.per_document), line.detail,
              f"{line.per_document[last] / totals[last]:.0%}" if totals[last] else "", "", "")
             for line in lines]
    snapstart = cost.get("snapstart_functions", {})
    scale = f"{SCALE_MERCHANTS:,} merchants x {SCALE_DOCUMENTS_PER_MERCHANT_DAY:,} documents/day"
    rows += [(f"Per month at {scale}: {what}", f"${monthly:,.2f}", how, "", "", "")
             for what, monthly, how in monthly_lines(cost, snapstart)]
    if cold:
        rows += [(f"Per cold start: {name}", f"${dollars_each:.7f}", how, "", "", "")
                 for name, dollars_each, how in cold_start_lines(cold, cost["memory_mb"], snapstart)]
    return rows

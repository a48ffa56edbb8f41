"""`make bench`: every benchmark, each in a process of its own, then one table on stdout.

    python -m benchmarks.run                  # the full run (README: Performance)
    python -m benchmarks.run --quick          # minimal sizes: proves the scripts work, figures mean nothing
    python -m benchmarks.run --only bulk memory
    python -m benchmarks.run --only bulk_tight   # bulk export under iFirma's 100 requests a minute, scaled

Progress goes to stderr; the table (Markdown) to stdout. A benchmark that fails stops the run with
its error. Every figure is compared with a reference measured in the same run and process,
because the machines these run on are shared and noisy; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import cost_model

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ("overhead", "coldstart", "bulk", "bulk_tight", "memory", "pdf_links", "cost")
# Run side by side: memory measures memory, not time, and the PDF benchmark mostly waits (queue
# batching windows, the fake's answers), which leaves the second core to the memory run. Not the
# bulk export: it is bound by its process's CPU (moto answers its AWS calls in that process), and the
# memory run with its moto server would take the other core from it.
SIDE_BY_SIDE = {"memory": "pdf_links"}

LAMBDA_UNZIPPED_LIMIT = 250 * 2**20

TARGET_OVERHEAD_MS = 2.0
TARGET_CALLS_PER_DOCUMENT = 4  # issue 18 §1: a one-request create
TARGET_COLD_RATIO = 1.2
TARGET_BULK_RATIO = 1.10
TARGET_TIGHT_BULK_RATIO = 1.20
FLAT_MEMORY_GROWTH = 0.05  # "flat": the last peak within 5 % of the first
MEMORY_COUNTS_VARIABLE = "BENCH_MEMORY_DOCUMENTS"  # read by benchmarks.memory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="minimal sizes: proves the scripts work")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--memory-documents", nargs="+", type=int, metavar="N",
                        help="the memory benchmark's counts (default 100 500 1000; the issue's 1000 5000 10000 "
                             "take about 40 minutes here)")
    args = parser.parse_args(argv)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")])}
    if args.memory_documents:
        environment[MEMORY_COUNTS_VARIABLE] = " ".join(str(n) for n in args.memory_documents)
    started = time.perf_counter()
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        alongside = {partner: name for name, partner in SIDE_BY_SIDE.items() if {name, partner} <= set(args.only)}
        for name in args.only:
            if name in SIDE_BY_SIDE and name in alongside.values():
                continue  # started with its partner
            companion = alongside.get(name)
            running = {n: Benchmark(n, Path(folder), args.quick, environment) for n in (name, companion) if n}
            for benchmark in running.values():
                results[benchmark.name] = benchmark.result()
    elapsed = time.perf_counter() - started
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(render(results, machine(load_before, os.getloadavg()), elapsed, args.quick))
    return 0


class Benchmark:
    """One benchmark module running in a process of its own."""

    def __init__(self, name: str, folder: Path, quick: bool, environment: dict[str, str]) -> None:
        self.name = name
        self.out, self.errors = folder / f"{name}.json", folder / f"{name}.stderr"
        print(f"running {name} ...", file=sys.stderr, flush=True)
        self.started = time.perf_counter()
        with self.errors.open("wb") as stderr:
            # stdout carries the handlers' JSON logs, as CloudWatch would get them: not needed here.
            self.process = subprocess.Popen([sys.executable, "-m", f"benchmarks.{name}", "--out", str(self.out)]
                                            + (["--quick"] if quick else []), cwd=ROOT, env=environment,
                                            stdout=subprocess.DEVNULL, stderr=stderr)

    def result(self) -> dict[str, Any]:
        if self.process.wait() != 0:
            tail = self.errors.read_text(errors="replace")[-4000:]
            raise SystemExit(f"benchmark {self.name} failed (exit {self.process.returncode}):\n{tail}")
        print(f"  {self.name}: {time.perf_counter() - self.started:.0f} s", file=sys.stderr, flush=True)
        return json.loads(self.out.read_text(encoding="utf-8"))


def machine(load_before: tuple[float, ...], load_after: tuple[float, ...]) -> dict[str, str]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown CPU")
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpus": str(os.cpu_count()),
            "cpu": model, "python": platform.python_version(),
            "load": f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (1-min load average)"}


# ---------------------------------------------------------------------------------------- table


def render(results: dict[str, Any], host: dict[str, str], elapsed: float, quick: bool) -> str:
    rows: list[tuple[str, ...]] = []
    if "overhead" in results:
        rows += _overhead_rows(results["overhead"])
    if "coldstart" in results:
        rows += _cold_rows(results["coldstart"])
    if "bulk" in results:
        rows += _bulk_rows(results["bulk"])
    if "bulk_tight" in results:
        rows += _tight_bulk_rows(results["bulk_tight"])
    if "memory" in results:
        rows += _memory_rows(results["memory"])
    if "pdf_links" in results:
        rows += _pdf_rows(results["pdf_links"])
    if "cost" in results:
        rows += cost_model.table_rows(results["cost"], results.get("coldstart"))
    header = ("Figure", "Measured", "Compared with (same run)", "Ratio", "Target", "Met")
    lines = [_row(header), _row(tuple("---" for _ in header)), *(_row(row) for row in rows)]
    title = (f"{host['date']} on {host['cpus']} CPUs ({host['cpu']}), Python {host['python']}, load {host['load']}; "
             f"whole run {elapsed / 60:.1f} min" + (" - QUICK RUN: minimal sizes, the figures mean nothing" if quick
                                                    else ""))
    return "\n".join([title, "", *lines])


def _row(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |"


def _spread(spread: dict[str, float]) -> str:
    return f"median {spread['median_ms']:.1f} ms, p99 {spread['p99_ms']:.1f} ms (n={spread['count']})"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _overhead_rows(overhead: dict[str, Any]) -> list[tuple[str, ...]]:
    transport, end_to_end = overhead["transport"], overhead["end_to_end"]
    shares = ", ".join(f"{area} {share:.0f} %" for area, share in transport["cpu_shares"].items())
    return [
        ("Export overhead per document, transport level (CPU; AWS and provider answered in memory; "
         "one record per invocation)", _spread(transport["ours"]),
         f"building and sending the same create with a bare requests session: {_spread(transport['bare_requests'])}",
         f"{transport['ratio_median']:.1f}x", f"< {TARGET_OVERHEAD_MS:g} ms median",
         _met(transport["ours"]["median_ms"] < TARGET_OVERHEAD_MS)),
        ("... where that CPU time goes (cProfile, in-memory backends left out)", shares, "", "", "", ""),
        _calls_row(transport),
        *_record_changes_rows(transport),
        ("Export per document end to end (wall; local stack over HTTP: moto server, fake on 127.0.0.1)",
         _spread(end_to_end["ours"]), f"the bare HTTP create: {_spread(end_to_end['bare_http'])}",
         f"{end_to_end['ratio_median']:.1f}x", "", ""),
    ]


def _calls_row(transport: dict[str, Any]) -> tuple[str, ...]:
    """AWS calls the export function made per document in the overhead run, counted (benchmarks.aws_calls)."""
    calls = transport["aws_calls_per_document"]
    total = sum(calls.values())
    batched = transport.get("aws_calls_per_document_in_batch")
    if batched is None:  # a result file from before the batch count
        return ("AWS calls per exported document (export function, counted as made; one-request create, one "
                "record per invocation)", f"{total:.1f}: " + ", ".join(f"{name} {n:g}" for name, n in calls.items()),
                f"the export overhead beside it: {transport['ratio_median']:.1f}x the bare provider request",
                "", f"<= {TARGET_CALLS_PER_DOCUMENT} (issue 18)", _met(total <= TARGET_CALLS_PER_DOCUMENT))
    steady = sum(batched.values())
    return ("AWS calls per exported document (export function, counted as made; one-request create; steady "
            f"state: a batch of {transport['batch_size']}, the template's BatchSize, settings read once for it)",
            f"{steady:.1f}: " + ", ".join(f"{name} {n:g}" for name, n in batched.items()),
            f"one record per invocation, as the overhead rows: {total:.1f} ("
            + ", ".join(f"{name} {n:g}" for name, n in calls.items())
            + f"); the export overhead beside it: {transport['ratio_median']:.1f}x the bare provider request",
            "", f"<= {TARGET_CALLS_PER_DOCUMENT} and the settings once per batch (issue 18)",
            _met(steady <= TARGET_CALLS_PER_DOCUMENT + 1 / transport["batch_size"]))


def _record_changes_rows(transport: dict[str, Any]) -> list[tuple[str, ...]]:
    """What follows from the document's record, done by the stream function off the export path."""
    if "record_changes" not in transport:
        return []
    changes = transport["record_changes"]
    calls = changes["aws_calls_per_document"]
    return [("... and after it, off the export path: the record-changes function, per document (CPU; its "
             "record changes handed over from the stream, one invocation)", _spread(changes["cpu"]), "", "", "", ""),
            ("... its AWS calls per document (outcome event, audit entry, PDF request, account settings; "
             "counted as made)", f"{sum(calls.values()):.1f}: " + ", ".join(f"{n} {k:g}" for n, k in calls.items()),
             "", "", "", "")]


def _cold_rows(cold: dict[str, Any]) -> list[tuple[str, ...]]:
    """Per function: the import against the import floor, the whole against a floor making the same calls
    (benchmarks/coldstart.py). Judged on the processes' CPU time: the machine is shared, and its load
    stretches wall times of alternating samples unevenly; both are shown."""
    floor = (f"the import floor (boto3, pydantic, Powertools imported): {cold['floor_ms']:.0f} ms wall, "
             f"{cold['floor_cpu_ms']:.0f} ms CPU (medians of {cold['repeats']}); with pydantic's models "
             f"(pydantic.main) imported too: {cold['floor_with_pydantic_models_cpu_ms']:.0f} ms CPU")
    rows = []
    for name, f in cold["functions"].items():
        waits = (f", a {f['long_polls_s']:g} s long poll of the empty DLQ (the floor waits it too)"
                 if f["long_polls_s"] else "")
        rows += [
            (f"Cold start, import (INIT): {name}", f"{f['imported_ms']:.0f} ms wall, {f['imported_cpu_ms']:.0f} ms CPU",
             floor, f"{f['import_cpu_ratio']:.2f}x CPU ({f['import_ratio']:.2f}x wall)", f"<= {TARGET_COLD_RATIO}x",
             _met(f["import_cpu_ratio"] <= TARGET_COLD_RATIO)),
            (f"... whole, to the first record handled ({f['aws_calls']} AWS calls, {f['provider_requests']} provider "
             f"request(s){waits})", f"{f['handled_ms']:.0f} ms wall (first record {f['first_record_ms']:.0f} ms), "
             f"{f['handled_cpu_ms']:.0f} ms CPU",
             f"a floor process making the same calls with bare boto3 and requests: {f['floor_with_calls_ms']:.0f} ms "
             f"wall (its calls {f['floor_calls_ms']:.0f} ms), {f['floor_with_calls_cpu_ms']:.0f} ms CPU",
             f"{f['whole_cpu_ratio']:.2f}x CPU ({f['whole_ratio']:.2f}x wall)", f"<= {TARGET_COLD_RATIO}x",
             _met(f["whole_cpu_ratio"] <= TARGET_COLD_RATIO)),
        ]
        if "restored_first_record_ms" in f:
            cpu_without = f["handled_cpu_ms"] - f["imported_cpu_ms"]
            rows.append(("... first record with SnapStart (timed after the before-snapshot hooks; Lambda's restore "
                         "itself not measurable here)", f"{f['restored_first_record_ms']:.0f} ms wall, "
                         f"{f['restored_first_record_cpu_ms']:.0f} ms CPU",
                         f"without SnapStart: {f['first_record_ms']:.0f} ms wall, {cpu_without:.0f} ms CPU, after an "
                         f"import of {f['imported_ms']:.0f} ms",
                         f"{f['restored_first_record_cpu_ms'] / cpu_without:.2f}x CPU", "", ""))
    plain = cold["no_bytecode"]
    compiled = cold["functions"][plain["function"]]
    rows.append((f"Cold start, import: {plain['function']} with no bytecode in the layer (as SAM's python3.13 builder "
                 f"built it, before layers/common/Makefile)", f"{plain['imported_ms']:.0f} ms wall, "
                 f"{plain['imported_cpu_ms']:.0f} ms CPU",
                 f"with the Makefile's bytecode: {compiled['imported_ms']:.0f} ms wall, "
                 f"{compiled['imported_cpu_ms']:.0f} ms CPU",
                 f"{plain['imported_cpu_ms'] / compiled['imported_cpu_ms']:.2f}x CPU", "", ""))
    if cold["not_measured"]:
        rows.append(("Cold start: not measured", ", ".join(cold["not_measured"]),
                     "no event for it in benchmarks/coldstart.py yet", "", "", ""))
    for package, size in cold["sizes"].items():
        files = f"{size['files']:,} file{'s' if size['files'] != 1 else ''}"
        rows.append((f"Size: {package}", f"{_size(size['unzipped_bytes'])} unzipped, {_size(size['zipped_bytes'])} "
                     f"zipped, {files}", "Lambda's limit: 250 MB unzipped, function and layers",
                     f"{size['unzipped_bytes'] / LAMBDA_UNZIPPED_LIMIT:.1%} of it", "", ""))
    return rows


def _size(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 2**10:.1f} KB"


def _bulk_rows(bulk: dict[str, Any]) -> list[tuple[str, ...]]:
    numbered = ("by the provider: its calls in issue order" if bulk.get("numbering", "provider") == "provider"
                else "by us: same-day documents side by side")
    return [(
        f"Bulk export of {bulk['documents']:,} documents (nightly bulk run -> FIFO queue -> export function; "
        f"provider 50 ms latency, 20 requests/s per account; AWS in memory; numbered {numbered})",
        f"{bulk['wall_s']:.1f} s; {bulk['provider_calls']:,} provider calls, {bulk['http_429']} answered 429; "
        f"of the wall time, {bulk.get('emulated_aws_cpu_s', 0):.1f} s was moto answering AWS calls on this "
        f"process's CPU (latency in AWS, no CPU of the function's)",
        f"rate-limit floor: {bulk['accepted_calls']:,} accepted calls / 20 per s = {bulk['floor_s']:.1f} s "
        f"(the provider's latency alone, one call at a time: {bulk['latency_only_s']:.1f} s)",
        f"{bulk['ratio']:.2f}x", f"<= {TARGET_BULK_RATIO:.2f}x", _met(bulk["ratio"] <= TARGET_BULK_RATIO))]


def _tight_bulk_rows(tight: dict[str, Any]) -> list[tuple[str, ...]]:
    pdfs = ("fetched right after their documents (the account shows them to customers)"
            if tight["shows_provider_document"] else "using what the limit leaves after the creates")
    return [(
        f"Bulk export of {tight['documents']:,} iFirma documents under a tight limit: iFirma's {tight['limit']} "
        f"requests per {tight['window_s']:g} s, 3 requests per document (create, read-back of the number, PDF; "
        f"PDFs {pdfs}); provider {tight['latency_s'] * 1000:.0f} ms latency; AWS in memory",
        f"{tight['wall_s']:.1f} s to the last PDF stored, every document exported with its number at "
        f"{tight['all_exported_s']:.1f} s (floor of the creates and read-backs: {tight['numbering_floor_s']:.1f} s); "
        f"{tight['provider_calls']:,} provider calls, {tight['http_429']} answered 429, at most "
        f"{tight['peak_in_window']} in one window; {tight['numberless']} exported without its number; "
        f"{tight['pdf_postponed']} PDF fetches postponed to leave the limit to the creates",
        f"rate-limit floor: {tight['accepted_calls']:,} accepted calls / {tight['limit']} per {tight['window_s']:g} s "
        f"= {tight['floor_s']:.1f} s",
        f"{tight['ratio']:.2f}x", f"<= {TARGET_TIGHT_BULK_RATIO:.2f}x",
        _met(tight["ratio"] <= TARGET_TIGHT_BULK_RATIO))]


def _memory_rows(memory: dict[str, Any]) -> list[tuple[str, ...]]:
    peaks = memory["peaks"]
    first, last = peaks[0]["peak_rss_mb"], peaks[-1]["peak_rss_mb"]
    growth = (last - first) / first
    return [(
        "Peak memory (RSS high-water mark) of one process running the export function through the queue "
        "emulator, zero-latency provider (moto in a process of its own, as AWS is outside the function)",
        ", ".join(f"{p['peak_rss_mb']:.1f} MB after {p['documents']:,} documents" for p in peaks),
        f"the first count: {peaks[-1]['documents'] / peaks[0]['documents']:.0f}x the documents",
        f"{last / first:.3f}x ({last - first:+.1f} MB)", "flat", _met(growth <= FLAT_MEMORY_GROWTH))]


def _pdf_rows(pdf: dict[str, Any]) -> list[tuple[str, ...]]:
    return [
        ("Export to PDF stored (record's exported_at -> PDF fetched_at; local stack over HTTP)",
         _spread(pdf["export_to_pdf"]),
         f"bare GET of the provider's PDF + S3 PutObject: {_spread(pdf['bare_fetch_and_store'])}; the PDF "
         f"queue's batching window alone is {pdf['pdf_batching_window_s']} s",
         f"{pdf['ratio_export_to_pdf']:.1f}x", "", ""),
        ("Customer link: redirect latency (GET /d/{token} through the HTTP API gateway, stored PDF fresh)",
         _spread(pdf["link_redirect"]), f"following the redirect (presigned S3 download): "
         f"{_spread(pdf['presigned_download'])}", f"{pdf['ratio_redirect']:.1f}x", "", ""),
    ]


if __name__ == "__main__":
    sys.exit(main())

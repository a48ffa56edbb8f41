"""The benchmark scripts work: each runs with minimal sizes and the table is printed.

Not a timed test: quick figures mean nothing, so only their shape and the facts each benchmark
checks by itself (every document exported, every PDF stored) are asserted here. The benchmarks
run side by side, each in a process of its own, as `make bench` starts them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.run import BENCHMARKS, ROOT, Benchmark, machine, render


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("bench")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(Path(ROOT, "layers", "common"))])}
    running = [Benchmark(name, folder, quick=True, environment=environment) for name in BENCHMARKS]
    return {benchmark.name: benchmark.result() for benchmark in running}


def test_every_benchmark_reports_its_figures(results: dict) -> None:
    overhead = results["overhead"]
    assert overhead["transport"]["ours"]["count"] == overhead["transport"]["bare_requests"]["count"] > 1
    assert overhead["transport"]["ours"]["median_ms"] > 0 and overhead["end_to_end"]["bare_http"]["median_ms"] > 0
    assert sum(overhead["transport"]["cpu_shares"].values()) == pytest.approx(100, abs=1)

    assert overhead["transport"]["aws_calls_per_document"]["dynamodb:PutItem"] > 0
    # Steady state (issue 18): register, claim, settle and the rate-limit window, the settings once per batch.
    in_batch = overhead["transport"]["aws_calls_per_document_in_batch"]
    assert sum(in_batch.values()) <= 4 + 1 / overhead["transport"]["batch_size"], in_batch

    cold = results["coldstart"]
    assert {"ExportFunction", "RecordChangesFunction", "FetchPdfFunction", "LinkFunction"} <= set(cold["functions"])
    for figures in cold["functions"].values():
        assert 0 < figures["imported_ms"] <= figures["handled_ms"]
        assert 0 < figures["imported_cpu_ms"] <= figures["handled_cpu_ms"]
        assert figures["floor_with_calls_cpu_ms"] > cold["floor_cpu_ms"] and figures["aws_calls"] > 0
    export = cold["functions"]["ExportFunction"]
    assert export["provider_requests"] == 1 and "restored_first_record_ms" in export
    assert cold["functions"]["DeadLetterCheckFunction"]["long_polls_s"] == 1
    assert cold["no_bytecode"]["imported_cpu_ms"] > export["imported_cpu_ms"]
    assert cold["sizes"]["layer layers/common"]["unzipped_bytes"] > cold["sizes"]["layer layers/common"]["zipped_bytes"]

    bulk = results["bulk"]
    assert bulk["accepted_calls"] >= bulk["documents"] > 0
    assert bulk["floor_s"] == round(bulk["accepted_calls"] / 20, 1)
    assert bulk["export_invocations"]["invocations"] >= 1 and bulk["export_invocations"]["billed_ms"] > 0

    tight = results["bulk_tight"]
    assert tight["accepted_calls"] == 3 * tight["documents"] > 0  # create, read-back, PDF: each once
    assert tight["numberless"] == 0 and tight["http_429"] == 0 and tight["peak_in_window"] <= tight["limit"]
    assert tight["floor_s"] == round(tight["accepted_calls"] / tight["limit"] * tight["window_s"], 1)

    peaks = results["memory"]["peaks"]
    assert [p["documents"] for p in peaks] == sorted(p["documents"] for p in peaks) and len(peaks) == 3
    assert all(p["peak_rss_mb"] > 0 for p in peaks)

    pdf = results["pdf_links"]
    assert pdf["export_to_pdf"]["count"] == pdf["link_redirect"]["count"] == pdf["documents"]
    assert pdf["pdf_invocations"]["invocations"] >= 1

    cost = results["cost"]
    for shape in cost["shapes"].values():
        export_calls = shape["functions"]["ExportFunction"]["aws"]
        assert export_calls["write_units"] > 0 and "events:PutEvents" not in export_calls["calls"]
        # The outcome events come from the documents table's stream: the stream function's calls, on the path.
        changes = shape["functions"]["RecordChangesFunction"]
        assert changes["aws"]["calls"]["events:PutEvents"] == cost["documents"] and changes["billed_ms"] > 0
        assert shape["functions"]["FetchPdfFunction"]["aws"]["s3_requests"]["put"] == cost["documents"]
        assert shape["functions"]["ExportFunction"]["log_bytes"] > 0
    assert cost["at_rest"]["record_bytes_per_document"] > 0


def test_the_table_has_a_row_per_figure(results: dict) -> None:
    table = render(results, machine((0.0,), (0.0,)), elapsed=1.0, quick=True)
    assert "QUICK RUN" in table.splitlines()[0]
    for figure in ("Export overhead per document", "end to end", "AWS calls per exported document",
                   "Cold start, import (INIT): ExportFunction", "whole, to the first record handled",
                   "first record with SnapStart", "no bytecode in the layer", "Size: layer", "Bulk export of",
                   "iFirma documents under a tight limit",
                   "Peak memory", "Export to PDF stored", "redirect latency", "Cost per 1,000,000 documents",
                   "DynamoDB on-demand", "Secrets Manager: secrets stored", "Per cold start: ExportFunction"):
        assert figure in table, figure

"""Cold start per function, and the size of the layer and of each function package.

Each sample is a new Python process (benchmarks/cold_process.py) with the function's code and the
layer on its path, as Lambda arranges them: it imports the handler and handles one real event
against the local stack (moto server and the Fakturownia fake on 127.0.0.1, over HTTP). It is
timed from the moment the process is spawned to "imported" and to "handled". The floor is a
process that only imports boto3, pydantic and Powertools; floor and functions take turns, so
the machine's noise hits them alike. The OS file cache is warm here, unlike on a fresh Lambda host;
our modules are compiled in each sample, as in Lambda (see _cold_run).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from benchmarks.support import ROOT, BenchAccount, benchmark_main, connect_account, document_body, ratio, sqs_event
from invoice_export.platform.runtime import Runtime, get_runtime, reset_runtime
from invoice_export.services.ksef import KsefPollRequest
from invoice_export.services.pdf import PdfRequest
from local.fakes.fakturownia import FakturowniaFake
from local.gateway import Route, http_api_event
from local.rest_api import CALLER_HEADER, rest_api_event
from local.stack import LocalStack

COLD_PROCESS = Path(__file__).with_name("cold_process.py")
TENANT = "bench-cold-tenant"
CALLER = "arn:aws:iam::123456789012:user/bench-merchant"  # the configuration API's IAM caller
REPEATS, QUICK_REPEATS = 5, 1
FLOOR = "floor (boto3 + pydantic + Powertools imported)"
EventMaker = Callable[[int], dict[str, Any]]


def run(quick: bool) -> dict[str, Any]:
    with FakturowniaFake(rate_limit=None) as fake, LocalStack() as stack:
        reset_runtime()
        runtime = get_runtime()
        account = connect_account(fake, runtime, fake.base_url, account_id="bench-cold", ksef="send_on_export",
                                  tenant_id=TENANT)
        runtime.tenants.map(CALLER, TENANT)
        exported = _export_one(stack, account)
        makers = _event_makers(stack, runtime, account, exported)
        functions = stack.template.functions()
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in [FLOOR, *makers]}
        repeats = QUICK_REPEATS if quick else REPEATS
        for repeat in range(repeats):
            for name in samples:
                samples[name].append(_cold_run(["floor"]) if name == FLOOR else _cold_run(
                    [functions[name].handler, str(functions[name].timeout_s)], makers[name](repeat),
                    _python_path(functions[name])))
        not_measured = sorted(set(functions) - set(makers))
    floor = statistics.median(handled for _, handled in samples[FLOOR])
    cold = {name: {"imported_ms": round(1000 * statistics.median(i for i, _ in runs), 1),
                   "handled_ms": round(1000 * statistics.median(h for _, h in runs), 1),
                   "ratio": ratio(statistics.median(h for _, h in runs), floor)}
            for name, runs in samples.items() if name != FLOOR}
    return {"floor_ms": round(1000 * floor, 1), "functions": cold, "not_measured": not_measured,
            "repeats": repeats, "sizes": package_sizes(stack.template.functions())}


def _export_one(stack: LocalStack, account: BenchAccount) -> str:
    """A document exported (with its PDF), for the PDF, KSeF and link functions to work on."""
    body = document_body(account.account_id, 0, prefix="COLD")
    response = stack.function("ExportFunction").invoke(sqs_event(stack, "ExportQueue", [body], account.account_id))
    if response.failed or response.response.get("batchItemFailures"):
        raise RuntimeError(f"the set-up export failed: {response}")
    return json.loads(body)["document"]["document_id"]


def _event_makers(stack: LocalStack, runtime: Runtime, account: BenchAccount, exported: str) -> dict[str, EventMaker]:
    """One real event per function that has a trigger here; each export sample exports a new document."""
    task = {"account_id": account.account_id, "document_id": exported}
    link = runtime.make_link(account.account_id, exported)
    token = link.rsplit("/", 1)[-1]
    [link_event] = stack.template.functions()["LinkFunction"].http_events
    config_event = next(event for event in stack.template.functions()["ConfigApiFunction"].http_events
                        if event.method.upper() in {"ANY", "GET"})
    account_path = f"/accounts/{account.account_id}"
    return {
        "ExportFunction": lambda repeat: sqs_event(stack, "ExportQueue", [
            document_body(account.account_id, repeat + 1, prefix="COLD")], account.account_id),
        "FetchPdfFunction": lambda _: sqs_event(stack, "PdfQueue", [PdfRequest(**task).model_dump_json()]),
        "KsefStatusFunction": lambda _: sqs_event(stack, "KsefQueue", [KsefPollRequest(**task).model_dump_json()]),
        "LinkFunction": lambda _: http_api_event(
            Route(link_event, stack.function("LinkFunction")), {"token": token}, method="GET",
            raw_path=f"/d/{token}", raw_query="", headers=[("host", "links.local")], body=b"",
            source_ip="127.0.0.1"),
        "BulkExportFunction": lambda _: {"trigger": "nightly"},
        # Its schedule's Input (infra/template.yaml); the DLQ is empty: a look, nothing to record.
        "DeadLetterCheckFunction": lambda _: {"trigger": "dead_letter_check"},
        # The merchant reads its account (GET /accounts/{id}): a REST API payload 1.0 event with the
        # caller's IAM identity, as API Gateway sends it after checking the SigV4 signature.
        "ConfigApiFunction": lambda _: rest_api_event(
            Route(config_event, stack.function("ConfigApiFunction")), {"proxy": account_path.lstrip("/")},
            method="GET", raw_path=f"/{config_event.stage}{account_path}", raw_query="",
            headers=[("Host", "config.local"), (CALLER_HEADER, CALLER)], body=b"", source_ip="127.0.0.1"),
    }


def _python_path(function: Any) -> str:
    return os.pathsep.join(str(folder) for folder in (function.code_uri, *function.layer_dirs))


def _cold_run(arguments: list[str], event: dict[str, Any] | None = None, python_path: str = "") -> tuple[float, float]:
    """Seconds from spawning the process to 'imported' and to 'handled'."""
    # No bytecode written (so none of an earlier sample is reused): Lambda's /opt and /var/task are
    # read-only, and the layer and functions carry our sources only, so each cold start compiles our
    # modules. The libraries are imported with the bytecode pip wrote installing them here, by the floor
    # and the functions alike (whether a layer built by `sam build` carries theirs was not checked).
    environment = {**os.environ, "PYTHONPATH": python_path, "PYTHONDONTWRITEBYTECODE": "1"}
    read_end, write_end = os.pipe()
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, str(COLD_PROCESS), str(write_end), *arguments],
                                   env=environment, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors,
                                   pass_fds=(write_end,), cwd=tempfile.gettempdir())
        os.close(write_end)
        assert process.stdin is not None
        process.stdin.write(json.dumps(event or {}).encode())
        process.stdin.close()
        stamps = {}
        with os.fdopen(read_end) as markers:
            for line in markers:
                stamps[line.strip()] = time.perf_counter() - started
        process.wait(timeout=120)
        if process.returncode != 0 or "handled" not in stamps:
            errors.seek(0)
            raise RuntimeError(f"cold run of {arguments[0]} failed ({process.returncode}): "
                               f"{errors.read().decode()[-2000:]}")
    return stamps["imported"], stamps["handled"]


# ---------------------------------------------------------------------------------------- sizes


def package_sizes(functions: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Unzipped and zipped size of the layer (our package + the installed runtime dependencies, as pip
    installs them on this machine: arm64 wheels differ a little) and of each function's code."""
    layer_dirs = {folder for function in functions.values() for folder in function.layer_dirs}
    sizes = {}
    for layer in sorted(layer_dirs):
        sizes[f"layer {layer.relative_to(ROOT)}"] = _zip_size(_layer_files(layer))
    for code in sorted({function.code_uri for function in functions.values()}):
        sizes[f"function {code.relative_to(ROOT)}"] = _zip_size(_source_files(code))
    return sizes


def _source_files(folder: Path) -> dict[str, Path]:
    return {str(path.relative_to(folder)): path for path in sorted(folder.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts}


def _layer_files(layer: Path) -> dict[str, Path]:
    files = {f"python/{name}": path for name, path in _source_files(layer).items() if name != "requirements.txt"}
    for distribution in _requirement_closure(layer / "requirements.txt"):
        for file in distribution.files or ():
            path = Path(str(distribution.locate_file(file))).resolve()
            if path.is_file() and "__pycache__" not in path.parts and ".." not in file.parts:
                files[f"python/{file}"] = path
    return files


def _requirement_closure(requirements_file: Path) -> list[metadata.Distribution]:
    """The installed distributions a requirements file pulls in, dependencies included."""
    pending = [Requirement(line.split("#")[0].strip()) for line in requirements_file.read_text().splitlines()
               if line.split("#")[0].strip()]
    found: dict[str, metadata.Distribution] = {}
    while pending:
        requirement = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = requirement.name.lower().replace("_", "-")
        if name in found:
            continue
        found[name] = metadata.distribution(requirement.name)
        pending += [Requirement(text) for text in found[name].requires or ()]
    return list(found.values())


def _zip_size(files: dict[str, Path]) -> dict[str, int]:
    with tempfile.TemporaryFile() as archive:
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for name, path in files.items():
                bundle.write(path, name)
        zipped = archive.tell()
    unzipped = sum(path.stat().st_size for path in files.values())
    return {"files": len(files), "unzipped_bytes": unzipped, "zipped_bytes": zipped}


if __name__ == "__main__":
    benchmark_main(run)

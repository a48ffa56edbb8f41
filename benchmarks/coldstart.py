"""Cold start per function, in two parts, each against its own floor; and the size of each package.

Each sample is a new Python process (benchmarks/cold_process.py) with the function's code and the
layer on its path, as Lambda arranges them: it imports the handler and handles one real event
against the local stack (moto server and the Fakturownia fake on 127.0.0.1, over HTTP), timed
from the moment the process is spawned. Two parts:
- the import (Lambda's INIT), against the import floor: a process that only imports boto3,
  pydantic and Powertools (`import pydantic` loads almost nothing: pydantic imports its modules
  when first used, so a floor that also imports pydantic.main, where BaseModel lives, is measured
  too: what any use of pydantic costs);
- the whole, to the first record handled, against a floor that imports the same and then makes
  the same calls as the function's first record with bare clients: its AWS calls with one boto3
  client per service, its provider requests with requests. The calls are recorded once per
  function, in a run not timed (benchmarks.aws_calls.CallRecorder), so the floor follows whatever
  the code does.
Floors and functions take turns, so the machine's noise hits them alike; the process's own CPU time
is reported beside the wall time (the machine is shared: CPU time varies less with its load).

The layer is what its Makefile builds (layers/common/Makefile, `make package`): our package with
its bytecode; the libraries are imported with the bytecode pip wrote installing them here, as the
Makefile's layer carries theirs. One more sample of the export function runs with no bytecode in
the layer at all (a copy of our package and its dependencies, sources only; the standard library
keeps its bytecode, as in Lambda's runtime): the layer SAM's python builder made, which carried
none. The export function (SnapStart in the template) is also measured the way a restored
environment starts: the before-snapshot hooks run after the import (platform.snapstart), and the
first record is timed from there; Lambda's restore itself cannot be measured here.
The OS file cache is warm here, unlike on a fresh Lambda host.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from benchmarks.support import (
    ROOT,
    BenchAccount,
    RecordStream,
    benchmark_main,
    connect_account,
    document_body,
    ratio,
    sqs_event,
)
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
REPEATS, QUICK_REPEATS = 3, 1  # medians of 3: about 60 processes, 2 minutes of the 10 `make bench` may take
NO_BYTECODE_FUNCTION = SNAPSTART_FUNCTION = "ExportFunction"  # the goal's function; one sample each per repeat
PYDANTIC_MODELS = ["pydantic.main"]
EventMaker = Callable[[int], dict[str, Any]]


@dataclass
class Samples:
    """Seconds (wall, and the process's CPU) from spawning a process to each of its steps, per sample."""

    runs: list[dict[str, tuple[float, float]]] = field(default_factory=list)

    def median(self, step: str, cpu: bool = False) -> float:
        return statistics.median(run[step][1 if cpu else 0] for run in self.runs)

    def median_between(self, start: str, end: str, cpu: bool = False) -> float:
        index = 1 if cpu else 0
        return statistics.median(run[end][index] - run[start][index] for run in self.runs)


def run(quick: bool) -> dict[str, Any]:
    repeats = QUICK_REPEATS if quick else REPEATS
    with FakturowniaFake(rate_limit=None) as fake, LocalStack() as stack, \
            tempfile.TemporaryDirectory(prefix="bench-layer-") as built, \
            tempfile.TemporaryDirectory(prefix="bench-no-bytecode-") as no_bytecode:
        layer = build_layer_package(Path(built))
        sourceless_layer = _copy_without_bytecode(_layer_files(ROOT / "layers" / "common", layer), Path(no_bytecode))
        reset_runtime()
        runtime = get_runtime()
        account = connect_account(fake, runtime, fake.base_url, account_id="bench-cold", ksef="send_on_export",
                                  tenant_id=TENANT)
        runtime.tenants.map(CALLER, TENANT)
        exported = _export_one(stack, account)
        makers = _event_makers(stack, runtime, account, exported)
        functions = stack.template.functions()
        if not (stack.template.properties(SNAPSTART_FUNCTION).get("SnapStart")):
            raise RuntimeError(f"{SNAPSTART_FUNCTION} has no SnapStart in the template: nothing to emulate")
        documents = itertools.count(1)  # the export samples each export a document of their own

        def sample(name: str, *options: str, layer_folder: Path = layer) -> dict[str, Any]:
            function = functions[name]
            python_path = os.pathsep.join([str(function.code_uri), str(layer_folder)])
            return _cold_run([function.handler, str(function.timeout_s), *options],
                             {"event": makers[name](next(documents))}, python_path)

        calls = {name: sample(name, "--record")["calls"] for name in makers}
        floor, floor_with_models, floors_with_calls = Samples(), Samples(), {name: Samples() for name in makers}
        cold = {name: Samples() for name in makers}
        restored, sourceless = {SNAPSTART_FUNCTION: Samples()}, Samples()
        for _ in range(repeats):
            floor.runs.append(_cold_run(["floor"], {"calls": []}))
            floor_with_models.runs.append(_cold_run(["floor"], {"calls": [], "also_import": PYDANTIC_MODELS}))
            for name in makers:
                cold[name].runs.append(sample(name))
                floors_with_calls[name].runs.append(_cold_run(["floor"], {"calls": calls[name]}))
            restored[SNAPSTART_FUNCTION].runs.append(sample(SNAPSTART_FUNCTION, "--snapstart"))
            sourceless.runs.append(sample(NO_BYTECODE_FUNCTION, layer_folder=sourceless_layer))
        not_measured = sorted(set(functions) - set(makers))
    return {
        "floor_ms": _ms(floor.median("imported")), "floor_cpu_ms": _ms(floor.median("imported", cpu=True)),
        "floor_with_pydantic_models_ms": _ms(floor_with_models.median("imported")),
        "floor_with_pydantic_models_cpu_ms": _ms(floor_with_models.median("imported", cpu=True)),
        "functions": {name: _figures(cold[name], floors_with_calls[name], floor, calls[name],
                                     restored.get(name), functions[name].memory_mb) for name in makers},
        "no_bytecode": {"function": NO_BYTECODE_FUNCTION, "imported_ms": _ms(sourceless.median("imported")),
                        "imported_cpu_ms": _ms(sourceless.median("imported", cpu=True))},
        "not_measured": not_measured, "repeats": repeats, "sizes": package_sizes(functions, layer),
    }


def _figures(cold: Samples, floor_with_calls: Samples, floor: Samples, calls: list[dict[str, Any]],
             restored: Samples | None, memory_mb: int) -> dict[str, Any]:
    figures = {
        "imported_ms": _ms(cold.median("imported")), "handled_ms": _ms(cold.median("handled")),
        "first_record_ms": _ms(cold.median_between("imported", "handled")),
        "imported_cpu_ms": _ms(cold.median("imported", cpu=True)),
        "handled_cpu_ms": _ms(cold.median("handled", cpu=True)),
        "floor_with_calls_ms": _ms(floor_with_calls.median("handled")),
        "floor_calls_ms": _ms(floor_with_calls.median_between("imported", "handled")),
        "floor_with_calls_cpu_ms": _ms(floor_with_calls.median("handled", cpu=True)),
        "aws_calls": sum(call["kind"] == "aws" for call in calls),
        "provider_requests": sum(call["kind"] == "http" for call in calls),
        "long_polls_s": sum(call["params"].get("WaitTimeSeconds", 0) for call in calls if call["kind"] == "aws"
                            and call["operation"] == "ReceiveMessage"),
        "memory_mb": memory_mb,
    }
    figures["import_ratio"] = ratio(cold.median("imported"), floor.median("imported"))
    figures["import_cpu_ratio"] = ratio(cold.median("imported", cpu=True), floor.median("imported", cpu=True))
    figures["whole_ratio"] = ratio(cold.median("handled"), floor_with_calls.median("handled"))
    figures["whole_cpu_ratio"] = ratio(cold.median("handled", cpu=True), floor_with_calls.median("handled", cpu=True))
    if restored is not None:
        figures["restored_first_record_ms"] = _ms(restored.median_between("restored", "handled"))
        figures["restored_first_record_cpu_ms"] = _ms(restored.median_between("restored", "handled", cpu=True))
    return figures


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 1)


def build_layer_package(folder: Path) -> Path:
    """Our package as the layer's Makefile builds it (with its bytecode); the folder Lambda puts on sys.path."""
    subprocess.run(["make", "--no-print-directory", "-C", str(ROOT / "layers" / "common"), "package",
                    f"ARTIFACTS_DIR={folder}", f"PYTHON={sys.executable}"], check=True, capture_output=True)
    return folder / "python"


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
    # The set-up export's record changes as the stream mapping hands them over (registered, claimed,
    # exported: its event, audit entry, PDF request); a repeat is absorbed (deterministic event ids).
    changes = RecordStream(stack).next_event()
    if changes is None:
        raise RuntimeError("the set-up export changed no document record")
    return {
        "ExportFunction": lambda n: sqs_event(stack, "ExportQueue", [
            document_body(account.account_id, n, prefix="COLD")], account.account_id),
        "RecordChangesFunction": lambda _: changes,
        "FetchPdfFunction": lambda _: sqs_event(stack, "PdfQueue", [PdfRequest(**task).model_dump_json()]),
        "KsefStatusFunction": lambda _: sqs_event(stack, "KsefQueue", [KsefPollRequest(**task).model_dump_json()]),
        "LinkFunction": lambda _: http_api_event(
            Route(link_event, stack.function("LinkFunction")), {"token": token}, method="GET",
            raw_path=f"/d/{token}", raw_query="", headers=[("host", "links.local")], body=b"",
            source_ip="127.0.0.1"),
        "BulkExportFunction": lambda _: {"trigger": "nightly"},
        # Its schedule's Input (infra/template.yaml); the DLQ is empty: a look (a 1 s long poll), nothing to record.
        "DeadLetterCheckFunction": lambda _: {"trigger": "dead_letter_check"},
        # The merchant reads its account (GET /accounts/{id}): a REST API payload 1.0 event with the
        # caller's IAM identity, as API Gateway sends it after checking the SigV4 signature.
        "ConfigApiFunction": lambda _: rest_api_event(
            Route(config_event, stack.function("ConfigApiFunction")), {"proxy": account_path.lstrip("/")},
            method="GET", raw_path=f"/{config_event.stage}{account_path}", raw_query="",
            headers=[("Host", "config.local"), (CALLER_HEADER, CALLER)], body=b"", source_ip="127.0.0.1"),
    }


def _copy_without_bytecode(files: dict[str, Path], folder: Path) -> Path:
    """The layer's files (as `_layer_files` names them) copied into `folder`, without their bytecode."""
    for name, path in files.items():
        if "__pycache__" in Path(name).parts:
            continue
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    return folder / "python"


def _cold_run(arguments: list[str], given: dict[str, Any], python_path: str = "") -> dict[str, Any]:
    """(wall, CPU) seconds from spawning the process to each step it reports, and the calls it recorded."""
    # No bytecode written, so no sample reuses an earlier one's: Lambda's /opt and /var/task are read-only.
    env = {**os.environ, "PYTHONPATH": python_path, "PYTHONDONTWRITEBYTECODE": "1", "BENCH_REPOSITORY": str(ROOT)}
    read_end, write_end = os.pipe()
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, str(COLD_PROCESS), str(write_end), *arguments],
                                   env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors,
                                   pass_fds=(write_end,), cwd=tempfile.gettempdir())
        os.close(write_end)
        assert process.stdin is not None
        process.stdin.write(json.dumps(given).encode())
        process.stdin.close()
        steps: dict[str, Any] = {}
        with os.fdopen(read_end) as markers:
            for line in markers:
                step, value = line.rstrip("\n").split(" ", 1)
                steps[step] = json.loads(value) if step == "calls" else (time.perf_counter() - started, float(value))
        process.wait(timeout=120)
        if process.returncode != 0 or "handled" not in steps:
            errors.seek(0)
            raise RuntimeError(f"cold run of {arguments[0]} failed ({process.returncode}): "
                               f"{errors.read().decode()[-2000:]}")
    return steps


# ---------------------------------------------------------------------------------------- sizes


def package_sizes(functions: dict[str, Any], built_package: Path) -> dict[str, dict[str, int]]:
    """Unzipped and zipped size of the layer as its Makefile builds it (our package and the runtime
    dependencies, each with bytecode; the dependencies as pip installed them on this machine: arm64
    wheels differ a little) and of each function's code."""
    layer_dirs = {folder for function in functions.values() for folder in function.layer_dirs}
    sizes = {}
    for layer in sorted(layer_dirs):
        sizes[f"layer {layer.relative_to(ROOT)}"] = _zip_size(_layer_files(layer, built_package))
    for code in sorted({function.code_uri for function in functions.values()}):
        sizes[f"function {code.relative_to(ROOT)}"] = _zip_size(_source_files(code))
    return sizes


def _source_files(folder: Path) -> dict[str, Path]:
    return {str(path.relative_to(folder)): path for path in sorted(folder.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts}


def _layer_files(layer: Path, built_package: Path) -> dict[str, Path]:
    files = {f"python/{path.relative_to(built_package)}": path for path in sorted(built_package.rglob("*"))
             if path.is_file()}
    for distribution in _requirement_closure(layer / "requirements.txt"):
        for file in distribution.files or ():
            path = Path(str(distribution.locate_file(file))).resolve()
            if path.is_file() and ".." not in file.parts:
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

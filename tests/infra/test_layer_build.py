"""The layer's Makefile (what `sam build` runs for CommonLayer) ships bytecode Lambda will use.

`make package` builds our package alone (the dependencies need PyPI and arm64 wheels, so they are
not built here): every module gets a .pyc for the running Python 3.13, hash-based and unchecked,
so it is used whatever modification times the zip keeps (Python does not even read the source).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from template_support import REPO_ROOT

LAYER = REPO_ROOT / "layers" / "common"
UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked


def test_make_package_compiles_every_module_to_unchecked_hash_bytecode(tmp_path: Path) -> None:
    build = _make_package(tmp_path, sys.executable)
    assert build.returncode == 0, build.stdout + build.stderr
    target = tmp_path / "python"
    sources = sorted(target.rglob("*.py"))
    assert len(sources) == len(list((LAYER / "invoice_export").rglob("*.py"))) > 10
    problems = []
    for source in sources:
        compiled = Path(importlib.util.cache_from_source(str(source)))
        if not compiled.is_file():
            problems.append(f"{source.relative_to(target)}: no {compiled.name}")
            continue
        header = compiled.read_bytes()[:8]
        if header[:4] != importlib.util.MAGIC_NUMBER or int.from_bytes(header[4:8], "little") != UNCHECKED_HASH:
            problems.append(f"{compiled.relative_to(target)}: not unchecked-hash bytecode of this Python")
    assert problems == []
    assert not [p for p in target.rglob("__pycache__/*") if not p.name.endswith(".cpython-313.pyc")]

    # The bytecode is what runs: a source changed after the build (as a zip's times may suggest) is not read.
    changed = target / "invoice_export" / "platform" / "partial_batch.py"
    changed.write_text(changed.read_text() + "\nraise RuntimeError('the source was compiled again')\n")
    imported = subprocess.run([sys.executable, "-c", "import invoice_export.platform.partial_batch"],
                              env={**os.environ, "PYTHONPATH": str(target), "PYTHONDONTWRITEBYTECODE": "1"},
                              capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert imported.returncode == 0, imported.stderr


def test_make_package_refuses_a_python_that_is_not_the_runtimes(tmp_path: Path) -> None:
    other = _python_other_than_313()
    build = _make_package(tmp_path, other)
    assert build.returncode != 0 and "is not Python 3.13" in build.stdout + build.stderr
    assert not (tmp_path / "python").exists()


def _make_package(artifacts: Path, python: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-C", str(LAYER), "package", f"ARTIFACTS_DIR={artifacts}", f"PYTHON={python}"],
                          capture_output=True, text=True, timeout=300)


def _python_other_than_313() -> str:
    for name in ("python3.11", "python3.12", "python3.10", "python3"):
        path = shutil.which(name)
        if path is None:
            continue
        version = subprocess.run([path, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
                                 capture_output=True, text=True, timeout=30).stdout.strip()
        if version == "False":
            return path
    import pytest

    pytest.skip("no Python other than 3.13 on this machine")

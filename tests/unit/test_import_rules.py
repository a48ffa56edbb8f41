"""The layer's folders keep their roles: what each may import (ARCHITECTURE.md).

- domain/ imports nothing else of the layer;
- providers/ and storage/ import only domain/ (and the logger in platform.observability);
- services/ import domain/, providers/, storage/ and the platform pieces below the wiring;
- platform/'s wiring (runtime) may use everything but the entry points;
- entrypoints/ sit on top.

Every import counts, including those under TYPE_CHECKING and inside functions: a lazy import is still
a dependency, and one pointing the wrong way is how a layer's rules erode.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "common" / "invoice_export"

# The platform modules that only support the others (no wiring): anything may use them.
PLATFORM_SUPPORT = {"platform.observability", "platform.side_by_side", "platform.runtime_settings",
                    "platform.rate_limiter", "platform.partial_batch"}

ALLOWED: dict[str, set[str]] = {
    "domain": {"domain"},
    "providers": {"domain", "providers", "platform.observability"},
    "storage": {"domain", "storage", "platform.observability"},
    "services": {"domain", "providers", "storage", "services", *PLATFORM_SUPPORT},
    "platform": {"domain", "providers", "storage", "services", "platform"},
    "entrypoints": {"domain", "providers", "storage", "services", "platform", "entrypoints"},
}
# Platform support modules sit below the services: they may not reach up into them.
SUPPORT_ALLOWED = {"domain", "platform.observability", "platform.runtime_settings", "platform.partial_batch"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """The layer's modules `path` imports, relative to the package (e.g. 'domain.money')."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name.removeprefix("invoice_export.") for name in names if name.startswith("invoice_export.")}
    return found


def allowed(importer: str, imported: str) -> bool:
    if importer in PLATFORM_SUPPORT:
        rules = SUPPORT_ALLOWED
    else:
        rules = ALLOWED.get(importer.split(".")[0], set())
    return any(imported == rule or imported.startswith(rule + ".") for rule in rules)


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_sits_in_a_folder_with_a_role():
    loose = [module_name(p) for p in MODULES if p.parent == PACKAGE and p.name != "__init__.py"]
    assert loose == [], f"modules outside domain/, services/, providers/, storage/, entrypoints/, platform/: {loose}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p) or "invoice_export")
def test_imports_point_only_down(path: Path):
    importer = module_name(path)
    wrong = sorted(m for m in imported_modules(path) if not allowed(importer, m))
    assert wrong == [], f"{importer} may not import {wrong}"


def test_the_rule_itself_catches_a_wrong_way_import(tmp_path):
    """The check would fail on a domain module reaching into storage (it is not vacuous)."""
    assert not allowed("domain.planning", "storage.documents")
    assert not allowed("providers.fakturownia.adapter", "services.export")
    assert not allowed("storage.documents", "providers.base")
    assert not allowed("platform.side_by_side", "services.export")
    assert allowed("services.export", "platform.side_by_side")
    assert allowed("entrypoints.sqs", "platform.runtime")
    probe = tmp_path / "probe.py"
    probe.write_text("from invoice_export.storage.documents import DocumentStore\n"
                     "def later():\n    import invoice_export.services.export\n")
    assert imported_modules(probe) == {"storage.documents", "services.export"}

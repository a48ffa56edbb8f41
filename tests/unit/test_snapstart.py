"""SnapStart hooks (platform.snapstart): before the snapshot a function loads what its first record
needs without creating a client or looking up credentials; after a restore `random` is seeded again."""

from __future__ import annotations

import random
import sys
import types
from typing import Any

import pytest

from invoice_export.entrypoints.link_api import warm_up as warm_up_link
from invoice_export.entrypoints.record_changes import warm_up_record_changes
from invoice_export.entrypoints.sqs import warm_up_export, warm_up_pdf
from invoice_export.platform import snapstart
from invoice_export.platform.runtime import get_runtime, reset_runtime


@pytest.fixture
def runtime_environment(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in {"ACCOUNTS_TABLE": "accounts", "DOCUMENTS_TABLE": "documents", "EVENT_BUS_NAME": "bus",
                        "AWS_DEFAULT_REGION": "eu-central-1"}.items():
        monkeypatch.setenv(name, value)
    # No credentials anywhere: looking any up would fail (or, in Lambda, fetch the environment's own).
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    reset_runtime()
    yield
    reset_runtime()


@pytest.mark.parametrize(("warm_up", "services"), [
    (warm_up_export, ("dynamodb", "secretsmanager", "sqs", "events")),
    (warm_up_pdf, ("dynamodb", "secretsmanager", "s3", "events")),
    (warm_up_link, ("dynamodb", "secretsmanager", "s3")),
    (warm_up_record_changes, ("dynamodb", "secretsmanager", "sqs", "events")),
])
def test_the_warm_up_leaves_models_loaded_and_no_client_or_credentials(runtime_environment: Any, warm_up: Any,
                                                                        services: tuple[str, ...]) -> None:
    warm_up()
    runtime = get_runtime()
    botocore_session = runtime._session._session
    assert runtime._clients == {} and "_dynamodb" not in runtime.__dict__
    assert botocore_session._credentials is None  # never looked up: nothing of them is in the snapshot

    # After the restore, the first record's clients are built from what the warm-up parsed: no file is read.
    loader = botocore_session.get_component("data_loader")
    read: list[str] = []
    load_file = loader.file_loader.load_file
    loader.file_loader.load_file = lambda path: read.append(path) or load_file(path)
    for service in services:
        runtime.client(service)
    runtime._dynamodb.Table("documents")
    assert read == []


def test_the_warm_up_imports_the_modules_the_first_record_needs(runtime_environment: Any) -> None:
    warm_up_export()
    for module in ("invoice_export.services.export", "invoice_export.providers.fakturownia.adapter",
                   "invoice_export.providers.wfirma.adapter", "requests"):
        assert module in sys.modules


def test_hooks_are_registered_where_lambdas_runtime_offers_them(monkeypatch: pytest.MonkeyPatch) -> None:
    registered: dict[str, list[Any]] = {"before": [], "after": []}
    library = types.ModuleType("snapshot_restore_py")
    library.register_before_snapshot = registered["before"].append  # type: ignore[attr-defined]
    library.register_after_restore = registered["after"].append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", library)
    monkeypatch.setattr(snapstart, "_warm_ups", [])
    calls: list[str] = []

    snapstart.prepare(lambda: calls.append("warmed"))
    assert len(registered["before"]) == 1 and registered["after"] == [snapstart.reseed]
    registered["before"][0]()
    assert calls == ["warmed"]


def test_without_lambdas_runtime_nothing_is_registered_but_the_benchmark_can_run_the_warm_up(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails, as outside Lambda
    monkeypatch.setattr(snapstart, "_warm_ups", [])
    calls: list[str] = []
    snapstart.prepare(lambda: calls.append("first"))
    snapstart.prepare(lambda: calls.append("second"))
    snapstart.before_snapshot()
    assert calls == ["second", "first"]  # as Lambda runs them: in reverse order of registration


def test_environments_restored_from_one_snapshot_draw_different_jitter() -> None:
    snapshot = random.getstate()

    def restored_environment_draws(after_restore: Any) -> list[float]:
        random.setstate(snapshot)  # the memory every environment restored from the snapshot starts with
        after_restore()
        return [random.random() for _ in range(3)]

    try:
        assert restored_environment_draws(lambda: None) == restored_environment_draws(lambda: None)
        assert restored_environment_draws(snapstart.reseed) != restored_environment_draws(snapstart.reseed)
    finally:
        random.setstate(snapshot)

"""A stage change is one database transaction: a fault or a crash between any two of its
statements leaves the old state (aliases, version tags, MLflow's legacy stage, our approved
state and audit), never a mix; a plain MlflowClient reads a committed change correctly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from registry_mcp.core.registry import Registry
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.schemas import Decision
from registry_mcp.store import approved_state, stage_writes
from tests.conftest import Backend
from tests.test_mcp import seed

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def reg(backend: Backend) -> Iterator[Registry]:
    registry = Registry.open(backend.settings)
    seed(registry, backend.model_uris[0])  # digits: v1 Production, v3 Staging
    try:
        yield registry
    finally:
        registry.close()


def state(reg: Registry) -> dict[str, Any]:
    """Every row a stage change may touch, in MLflow's tables and ours."""
    queries = {
        "aliases": "SELECT name, alias, version FROM registered_model_aliases",
        "version_tags": "SELECT name, version, key, value FROM model_version_tags",
        "versions": "SELECT name, version, current_stage, last_updated_time FROM model_versions",
        "models": "SELECT name, last_updated_time FROM registered_models",
        "approved": "SELECT model, production, staging, previous, audit_id, moving_ms "
        "FROM modelreg_approved_state",
        "done": "SELECT id FROM modelreg_audit WHERE decision = 'done'",
    }
    with reg.engine.connect() as conn:
        return {key: sorted(map(tuple, conn.exec_driver_sql(sql))) for key, sql in queries.items()}


class Fault:
    """Raises a database error before the n-th statement of a stage-change transaction."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, at: int) -> None:
        self.at = at
        self.seen = 0
        self.fired = False
        real_init = stage_writes.StageTransaction.__init__

        def init(tx: stage_writes.StageTransaction, conn: Connection, workspace: str) -> None:
            real_init(tx, conn, workspace)
            sa.event.listen(conn, "before_cursor_execute", self._before)

        monkeypatch.setattr(stage_writes.StageTransaction, "__init__", init)

    def _before(self, *_: object) -> None:
        self.seen += 1
        if self.seen == self.at:
            self.fired = True
            raise OperationalError("injected", {}, Exception("database went away"))


def test_a_fault_between_any_two_statements_leaves_the_old_state(
    reg: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = state(reg)
    at = 0
    while True:
        at += 1
        with monkeypatch.context() as patch:
            fault = Fault(patch, at)
            try:
                reg.stages.transition("digits", 3, "production", rationale="go", actor="ann")
            except RegistryError as exc:
                assert fault.fired
                assert exc.code is ErrorCode.BACKEND
                assert state(reg) == before, f"fault before statement {at} left a mix"
                entry = reg.audit_log(model="digits", limit=1).items[0]
                assert entry.decision in (Decision.FAILED, Decision.REFUSED), at
                assert reg.get_model("digits").model.unapproved_change is None
                continue
        assert not fault.fired
        break
    # Every statement of the transaction had a fault injected before it, then it succeeded.
    assert at > 10
    model = reg.get_model("digits").model
    assert model.aliases == model.approved
    assert (model.production_version, model.previous_production_version) == (3, 1)
    assert model.staging_version is None


_CRASH = textwrap.dedent(
    """
    import json, os, sys
    import sqlalchemy as sa
    from registry_mcp.core.registry import Registry
    from registry_mcp.store import stage_writes
    from registry_mcp.store.settings import Settings

    args = json.loads(sys.argv[1])
    registry = Registry.open(Settings(**args["settings"]), initialise=False)
    seen = 0
    real_init = stage_writes.StageTransaction.__init__

    def die(*_):
        global seen
        seen += 1
        if seen == args["at"]:
            os._exit(9)  # the process dies mid-transaction: no rollback, no cleanup

    def init(tx, conn, workspace):
        real_init(tx, conn, workspace)
        sa.event.listen(conn, "before_cursor_execute", die)

    stage_writes.StageTransaction.__init__ = init
    registry.stages.transition("digits", 3, "production", rationale="go", actor="ann")
    print("mlflow imported:", "mlflow" in sys.modules)
    """
)


def run_change(backend: Backend, at: int) -> subprocess.CompletedProcess[str]:
    """A stage change in a fresh process that dies before statement ``at``."""
    settings = {
        "home": str(backend.settings.home),
        "actor": "ann",
        "tracking_uri": backend.settings.resolved_tracking_uri,
        "registry_uri": backend.settings.resolved_registry_uri,
    }
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, "-c", _CRASH, json.dumps({"settings": settings, "at": at})],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("at", [9, 19])
def test_a_process_killed_mid_transaction_leaves_the_old_state(
    reg: Registry, backend: Backend, at: int
) -> None:
    """Killed after the first alias writes (9) or just before the last of 19 statements."""
    before = state(reg)
    done = run_change(backend, at)
    assert done.returncode == 9, done.stderr[-2000:]
    assert state(reg) == before
    summary = reg.get_model("digits").model
    assert summary.unapproved_change is None
    assert summary.production_version == 1
    # The lock died with the process: the same change goes through now.
    reg.stages.transition("digits", 3, "production", rationale="again", actor="ann")
    assert reg.get_model("digits").model.production_version == 3


def test_a_stage_change_does_not_import_mlflow(reg: Registry, backend: Backend) -> None:
    """Aliases, tags and the legacy stage are plain SQL: a CLI rollback skips MLflow's
    import (most of its start-up)."""
    done = run_change(backend, 10**6)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "mlflow imported: False" in done.stdout
    assert reg.get_model("digits").model.production_version == 3


def test_a_plain_mlflow_client_reads_the_change(reg: Registry) -> None:
    from mlflow import MlflowClient

    settings = reg.settings
    client = MlflowClient(
        tracking_uri=settings.resolved_tracking_uri, registry_uri=settings.resolved_registry_uri
    )
    updated = client.get_registered_model("digits").last_updated_timestamp
    time.sleep(0.01)
    reg.stages.transition("digits", 3, "production", rationale="release", actor="ann")

    def tags(version: int) -> dict[str, str]:
        return dict(client.get_model_version("digits", str(version)).tags)

    def by_alias(alias: str) -> int:
        return int(client.get_model_version_by_alias("digits", alias).version)

    assert (by_alias("production"), by_alias("previous_production")) == (3, 1)
    model = client.get_registered_model("digits")
    assert {k: int(v) for k, v in model.aliases.items()} == {
        "production": 3,
        "previous_production": 1,
    }
    assert model.last_updated_timestamp > updated
    new, old = client.get_model_version("digits", "3"), client.get_model_version("digits", "1")
    assert (new.current_stage, old.current_stage) == ("Production", "Archived")
    assert tags(3)["modelreg.stage"] == "Production"
    assert "modelreg.served_production_at" in tags(3)
    assert tags(1)["modelreg.stage"] == "Archived"
    assert new.last_updated_timestamp is not None
    assert new.last_updated_timestamp > updated

    reg.stages.rollback("digits", rationale="bad release", actor="ann")
    assert by_alias("production") == 1
    assert client.get_model_version("digits", "3").current_stage == "Archived"
    # And MLflow's own writes land on rows we wrote (the upserts kept its keys).
    client.set_registered_model_alias("digits", "production", "3")
    assert reg.get_model("digits").model.unapproved_change is not None


def test_a_failure_is_audited_once_and_nothing_moves(
    reg: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        Fault(patch, 8)
        with pytest.raises(RegistryError) as info:
            reg.stages.transition("digits", 3, "production", rationale="release", actor="ann")
    assert info.value.code is ErrorCode.BACKEND
    entry = reg.audit_log(model="digits", limit=1).items[0]
    assert (entry.decision, entry.to_version) == (Decision.FAILED, 3)
    assert entry.reason is not None
    assert "nothing moved" in entry.reason
    summary = reg.get_model("digits").model
    assert (summary.production_version, summary.staging_version) == (1, 3)
    assert summary.unapproved_change is None
    reg.stages.transition("digits", 3, "production", rationale="release", actor="ann")
    assert reg.get_model("digits").model.production_version == 3


def test_a_change_left_mid_write_by_an_earlier_release_is_reported_after_the_grace(
    reg: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows an earlier release marked as moving (it wrote alias by alias) are not reported
    while the mark is fresh, and are reported once it goes stale."""
    with reg.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE modelreg_approved_state SET moving_ms = :now WHERE model = 'digits'"),
            {"now": int(time.time() * 1000)},
        )
        conn.exec_driver_sql(
            "UPDATE registered_model_aliases SET version = 3 "
            "WHERE name = 'digits' AND alias = 'production'"
        )
    assert reg.get_model("digits").model.unapproved_change is None
    monkeypatch.setattr(approved_state, "MOVING_GRACE_S", 0.0)
    summary = reg.get_model("digits").model
    assert summary.unapproved_change is not None
    assert "Production v1 -> v3" in summary.unapproved_change
    assert summary.approved.production == 1

"""Racing promotions from many processes: one Production version, every attempt audited."""

from __future__ import annotations

import itertools
import multiprocessing as mp
from typing import Any

import pytest
import sqlalchemy as sa

from registry_mcp.core.registry import Registry
from registry_mcp.domain.errors import RegistryError
from registry_mcp.domain.schemas import AuditAction, Decision, Stage
from registry_mcp.store.settings import Settings
from tests.conftest import Backend
from tests.helpers import add_versions

# The race window runs from the barrier's release to each process's compare-and-set under
# the model lock: every process has opened its registry before the barrier, so all of them
# read the current version and queue on the lock together. Eight contenders are all in that
# window at once, as twenty were, at two fifths of the processes' start-up cost.
WORKERS = 8
MODEL = "race"


def _worker(settings_json: str, version: int, barrier: Any, results: Any) -> None:
    registry = Registry.open(Settings.model_validate_json(settings_json), initialise=False)
    outcome: list[tuple[str, str]] = []
    try:
        barrier.wait(timeout=120)
        current = registry.get_model(MODEL).model.production_version
        for stage, expected in (("staging", None), ("production", current or "none")):
            try:
                registry.stages.transition(
                    MODEL,
                    version,
                    stage,
                    rationale=f"worker {version}",
                    actor=f"worker-{version}",
                    expected_current_version=expected,
                )
                outcome.append((stage, "done"))
            except RegistryError as exc:
                outcome.append((stage, exc.code.value))
    finally:
        registry.close()
        results.put((version, outcome))


# Many processes at once: with -n, --dist loadfile runs both backends on one worker.
@pytest.mark.slow
def test_racing_promotions_leave_one_production_version(
    registry: Registry, backend: Backend
) -> None:
    add_versions(registry, backend.model_uris[0], MODEL, WORKERS)
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["registry_mcp.core.registry"])
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    # The processes queue on one model lock; on a loaded 2-core machine the last one can
    # wait longer than the default 30 s. This test is about outcomes, not lock timeouts.
    settings_json = backend.settings.model_copy(update={"lock_timeout_s": 240.0}).model_dump_json()
    procs = [
        ctx.Process(target=_worker, args=(settings_json, v, barrier, results))
        for v in range(1, WORKERS + 1)
    ]
    for proc in procs:
        proc.start()
    outcomes = dict(results.get(timeout=300) for _ in procs)
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0

    attempts = sum(len(o) for o in outcomes.values())
    assert attempts == 2 * WORKERS
    assert {code for o in outcomes.values() for _, code in o} <= {
        "done",
        "STALE_VERSION",
        "STALE_PLAN",
        "INVALID_TRANSITION",
    }

    # Exactly one Production version, by alias, by our stage tag and by the legacy mirror.
    versions = registry.list_versions(MODEL, limit=1000).items
    production = [v.version for v in versions if v.stage is Stage.PRODUCTION]
    assert len(production) == 1
    assert registry.get_model(MODEL).model.production_version == production[0]
    tagged = [v.version for v in versions if v.system_tags.get("modelreg.stage") == "Production"]
    assert tagged == production
    engine = sa.create_engine(
        backend.settings.resolved_registry_uri.replace("postgresql://", "postgresql+psycopg://")
    )
    with engine.connect() as conn:
        legacy = conn.execute(
            sa.text(
                "SELECT version FROM model_versions "
                "WHERE name = :n AND current_stage = 'Production'"
            ),
            {"n": MODEL},
        ).all()
    engine.dispose()
    assert [row[0] for row in legacy] == production

    # Our own half-written changes are never reported as changes made around modelreg.
    everything = registry.audit_log(model=MODEL, limit=500).items
    assert not [e for e in everything if e.action is AuditAction.UNAPPROVED_CHANGE]
    # Every attempt is in the audit trail, as done or refused; nothing lost or half-done.
    entries = [
        e
        for e in registry.audit_log(model=MODEL, limit=500).items
        if e.action is AuditAction.TRANSITION
    ]
    assert len(entries) == attempts
    assert {e.decision for e in entries} <= {Decision.DONE, Decision.REFUSED}
    done_by_worker = {(e.to_version, e.to_stage) for e in entries if e.decision is Decision.DONE}
    expected_done = {
        (v, "Staging" if stage == "staging" else "Production")
        for v, o in outcomes.items()
        for stage, code in o
        if code == "done"
    }
    assert done_by_worker == expected_done

    # Compare-and-set: each Production change replaced the one before it.
    chain = [
        e for e in reversed(entries) if e.decision is Decision.DONE and e.to_stage == "Production"
    ]
    assert chain, "at least one promotion must win"
    assert chain[0].from_version is None
    for before, after in itertools.pairwise(chain):
        assert after.from_version == before.to_version
    assert chain[-1].to_version == production[0]

"""A change that dies between its writes never serves a mix: the half-written aliases are
reported as an unapproved change, serving keeps the approved versions, a human restores."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from registry_mcp.core.registry import Registry
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.schemas import AuditAction, Decision
from registry_mcp.store import approved_state
from tests.conftest import Backend
from tests.test_mcp import seed


@pytest.fixture
def reg(backend: Backend) -> Iterator[Registry]:
    registry = Registry.open(backend.settings)
    seed(registry, backend.model_uris[0])  # digits: v1 Production, v3 Staging
    try:
        yield registry
    finally:
        registry.close()


def _fail_on_alias(reg: Registry, monkeypatch: pytest.MonkeyPatch, alias: str) -> None:
    store: Any = (
        reg.stages.machine._store
    )  # the one MLflow adapter the stage machine writes through
    real = store.set_alias

    def set_alias(name: str, which: str, version: int) -> None:
        if which == alias:
            raise RegistryError(ErrorCode.BACKEND, "database went away")
        real(name, which, version)

    monkeypatch.setattr(store, "set_alias", set_alias)


def test_a_failure_midway_is_audited_reported_and_not_followed(
    reg: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Production moves first; the rollback-target write then fails.
    _fail_on_alias(reg, monkeypatch, "previous_production")
    with pytest.raises(RegistryError) as info:
        reg.stages.transition("digits", 3, "production", rationale="release", actor="ann")
    assert info.value.code is ErrorCode.BACKEND
    monkeypatch.undo()
    entry = reg.audit_log(model="digits", limit=1).items[0]
    assert (entry.decision, entry.to_version) == (Decision.FAILED, 3)

    summary = reg.get_model("digits").model
    assert summary.production_version == 3  # MLflow holds the half-written state ...
    assert summary.approved.production == 1  # ... serving keeps what was approved ...
    assert summary.unapproved_change is not None  # ... and it is reported at once.
    with pytest.raises(RegistryError) as refused:
        reg.stages.transition("digits", 3, "archived", rationale="cleanup", actor="ann")
    assert refused.value.code is ErrorCode.UNAPPROVED_CHANGE

    reg.stages.resolve_unapproved(
        "digits", accept=False, actor="ann", rationale="restore", seen=summary.aliases
    )
    after = reg.get_model("digits").model
    assert (after.production_version, after.unapproved_change) == (1, None)
    assert reg.audit_log(model="digits", limit=1).items[0].action is (
        AuditAction.RESOLVE_UNAPPROVED
    )


def test_a_process_killed_midway_is_reported_once_the_grace_period_ends(
    reg: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change holding the lock marks itself as moving; readers in between see no alarm.
    If the process dies there, the mark goes stale and the mix is reported."""
    before = reg.get_model("digits").model.aliases
    states = reg.stages.machine._states
    states.moving("digits", before)
    store: Any = reg.stages.machine._store
    store.set_alias("digits", "production", 3)  # the first write, then the process dies
    assert reg.get_model("digits").model.unapproved_change is None  # within the grace period
    monkeypatch.setattr(approved_state, "MOVING_GRACE_S", 0.0)
    summary = reg.get_model("digits").model
    assert summary.unapproved_change is not None
    assert "Production v1 -> v3" in summary.unapproved_change
    assert summary.approved.production == 1

"""The registry exporter: versions, change history and SLOs as Prometheus reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from registry_mcp.core.registry import Registry
from registry_mcp.metrics.registry_exporter import registry_metrics
from tests.conftest import Backend
from tests.helpers import add_versions
from tests.test_cli import cli_env, invoke

__all__ = ["cli_env"]  # the fixture, shared with the CLI tests


def samples(registry: Registry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry_metrics(registry)).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_versions_changes_and_slos_follow_the_registry(
    registry: Registry, backend: Backend
) -> None:
    add_versions(registry, backend.model_uris[0], "mnist-classifier", 2)
    stages = registry.stages
    stages.transition("mnist-classifier", 1, "staging", rationale="r", actor="a")
    stages.transition("mnist-classifier", 1, "production", rationale="r", actor="a")
    stages.transition("mnist-classifier", 2, "staging", rationale="r", actor="a")
    stages.transition("mnist-classifier", 2, "production", rationale="r", actor="a")
    stages.rollback("mnist-classifier", rationale="bad", actor="a")
    got = samples(registry)
    model = ("model", "mnist-classifier")
    assert got[("modelreg_registry_up", ())] == 1.0
    assert got[("modelreg_registry_version", (model, ("stage", "production")))] == 1.0
    assert got[("modelreg_registry_version", (model, ("stage", "previous")))] == 2.0
    assert got[("modelreg_registry_stage_changes_total", (("kind", "promote"), model))] == 2.0
    assert got[("modelreg_registry_stage_changes_total", (("kind", "rollback"), model))] == 1.0
    assert got[("modelreg_registry_last_change_timestamp_seconds", (model,))] > 1.7e9
    config = registry.policies.file.config.get("mnist-classifier")
    assert got[("modelreg_model_latency_sla_seconds", (model,))] == config.latency_sla_ms / 1000
    assert got[("modelreg_model_error_budget_ratio", (model,))] == config.error_budget


def test_the_cli_refuses_a_public_bind_and_an_unwritable_dashboard(
    cli_env: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = invoke(capsys, "metrics", "--host", "0.0.0.0")
    assert code == 2
    assert "--public" in err
    code, _, err = invoke(capsys, "dashboards", "render", "--out", str(tmp_path / "no" / "x.json"))
    assert code == 2
    assert "cannot write" in err
    code, out, _ = invoke(capsys, "dashboards", "render")
    assert code == 0
    assert json.loads(out)["uid"] == "modelreg-serving"


def test_repairs_guard_outcomes_and_the_controller_heartbeat_are_exported(
    registry: Registry, backend: Backend
) -> None:
    import time

    from registry_mcp.deploy.controller_process import ControllerProcess
    from registry_mcp.domain.releases import GuardSpec
    from registry_mcp.store.releases import GuardStatus, end_guards_in, start_guard_in

    spec = GuardSpec(
        window_s=60, min_requests=5, max_error_ratio=0.01, max_p99_ms=50, min_feedback_rows=5
    )
    got = samples(registry)
    assert not any(name == "modelreg_controller_last_tick_timestamp_seconds" for name, _ in got)
    registry.record_repair(actor="modelreg-controller", model="m", ok=True, reason="r")
    registry.record_repair(actor="modelreg-controller", model="m", ok=True, reason="r")
    registry.record_repair(actor="modelreg-controller", model="*", ok=False, reason="r")
    with registry.engine.begin() as conn:
        for _ in range(2):
            start_guard_in(
                conn, model="m", version=2, rollback_to=1, approval_audit_id=1, spec=spec
            )
        end_guards_in(conn, "m", GuardStatus.UNJUDGED)
        start_guard_in(conn, model="m", version=3, rollback_to=2, approval_audit_id=2, spec=spec)
    ControllerProcess(registry.settings.home).beat()
    got = samples(registry)
    assert got[("modelreg_serving_repairs_total", (("model", "m"), ("outcome", "done")))] == 2.0
    assert got[("modelreg_serving_repairs_total", (("model", "*"), ("outcome", "failed")))] == 1.0
    assert got[("modelreg_guard_outcomes_total", (("model", "m"), ("status", "unjudged")))] == 2.0
    assert not any(
        name == "modelreg_guard_outcomes_total" and ("status", "watching") in labels
        for name, labels in got
    )
    beat = got[("modelreg_controller_last_tick_timestamp_seconds", ())]
    assert abs(beat - time.time()) < 120


def test_a_change_made_outside_modelreg_is_a_separate_series(
    registry: Registry, backend: Backend
) -> None:
    """Dashboards and alerts follow stage="production": it stays the approved version while
    MLflow's UI shows another one; the pending one is its own series until a human decides."""
    from mlflow import MlflowClient

    add_versions(registry, backend.model_uris[0], "mnist-classifier", 2)
    stages = registry.stages
    stages.transition("mnist-classifier", 1, "staging", rationale="r", actor="a")
    stages.transition("mnist-classifier", 1, "production", rationale="r", actor="a")
    stages.transition("mnist-classifier", 2, "staging", rationale="r", actor="a")
    settings = registry.settings
    MlflowClient(
        settings.resolved_tracking_uri, settings.resolved_registry_uri
    ).set_registered_model_alias("mnist-classifier", "production", "2")
    got = samples(registry)
    model = ("model", "mnist-classifier")
    assert got[("modelreg_registry_version", (model, ("stage", "production")))] == 1.0
    assert got[("modelreg_registry_version", (model, ("stage", "staging")))] == 2.0
    pending = "modelreg_registry_unapproved_version"
    assert got[(pending, (model, ("stage", "production")))] == 2.0
    assert got[(pending, (model, ("stage", "staging")))] == 2.0
    assert got[(pending, (model, ("stage", "previous")))] == -1.0
    # Reverted: the pending series is gone.
    found = registry.get_model("mnist-classifier", limit=1).model.aliases
    stages.revert_unapproved("mnist-classifier", actor="erin", rationale="no", seen=found)
    assert not [key for key in samples(registry) if key[0] == pending]

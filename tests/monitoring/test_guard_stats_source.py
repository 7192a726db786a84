"""Choosing where guards read a version's window: the router's own (default) or Prometheus,
by settings or the controller's options; a choice that cannot work is refused before the
controller starts, with what to give instead. And a guard on accuracy, judged from
Prometheus (rows, no per-request accuracy), ends unjudged rather than passed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from registry_mcp.core.approvals import Approvals
from registry_mcp.core.change_requests import Approval
from registry_mcp.core.registry import Registry
from registry_mcp.deploy.guard_watch import GuardWatcher
from registry_mcp.deploy.stats_source import parse_stats_from, prometheus_url_of
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.plans import ChangeKind
from registry_mcp.store.settings import Settings
from serving.router.window import StatsReply, VersionStats
from tests.conftest import make_backend
from tests.helpers import add_versions
from tests.test_cli import invoke


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(home=tmp_path, **values)  # type: ignore[arg-type]


def test_the_router_is_the_default_source(tmp_path: Path) -> None:
    assert prometheus_url_of(_settings(tmp_path), None, None) is None
    # A URL alone does not switch the source; --stats-from router wins over the setting.
    configured = _settings(
        tmp_path, guard_stats_from="prometheus", prometheus_url="http://prom:9090"
    )
    assert prometheus_url_of(configured, "router", None) is None


def test_prometheus_from_settings_or_options(tmp_path: Path) -> None:
    configured = _settings(
        tmp_path, guard_stats_from="prometheus", prometheus_url="http://prom:9090/"
    )
    assert prometheus_url_of(configured, None, None) == "http://prom:9090"
    assert prometheus_url_of(configured, None, "https://other:9090") == "https://other:9090"
    assert prometheus_url_of(_settings(tmp_path), "prometheus", "http://p:1") == "http://p:1"


@pytest.mark.parametrize(
    ("stats_from", "url", "names"),
    [
        ("prometheus", None, "--prometheus-url"),
        ("prometheus", "prom:9090", "--prometheus-url 'prom:9090'"),
        ("prometheus", "file:///etc/passwd", "is not an http(s) URL"),
    ],
)
def test_a_source_that_cannot_work_is_refused(
    tmp_path: Path, stats_from: str, url: str | None, names: str
) -> None:
    with pytest.raises(RegistryError) as caught:
        prometheus_url_of(_settings(tmp_path), parse_stats_from(stats_from), url)
    assert caught.value.code == ErrorCode.INVALID_INPUT
    assert names in caught.value.message


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(RegistryError) as caught:
        parse_stats_from("grafana")
    assert caught.value.code == ErrorCode.INVALID_INPUT
    assert "give router" in caught.value.message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--stats-from", "prometheus"], "MODELREG_PROMETHEUS_URL"),
        (["--stats-from", "grafana"], "--stats-from 'grafana'"),
        (["--stats-from", "prometheus", "--prometheus-url", "ftp://x"], "not an http(s) URL"),
    ],
)
def test_the_controller_refuses_before_it_starts(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    expected: str,
) -> None:
    monkeypatch.setenv("MODELREG_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MODELREG_PROMETHEUS_URL", raising=False)
    monkeypatch.delenv("MODELREG_GUARD_STATS_FROM", raising=False)
    for command in (["controller", "run", "--once"], ["guard", "watch", "--once"]):
        code, _, err = invoke(capsys, *command, *args)
        assert code == 2, err
        assert expected in err
        assert "Traceback" not in err
    assert not (tmp_path / "home").exists()  # refused before the registry was opened


# ----------------------------------------------------------------- accuracy from Prometheus

ACCURACY_MODEL = "acc-guarded"
ACCURACY_CONFIG = f"""
models:
  {ACCURACY_MODEL}:
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 1000
    error_budget: 0.1
    input_schema: {{n_features: 64}}
    guard: {{window_s: 5, min_requests: 5, min_accuracy: 0.9, min_feedback_rows: 3}}
"""


def _window(since: float, *, per_request: bool, requests: int = 30) -> StatsReply:
    """``requests`` good requests with 40 labelled rows, 38 right: per request (the router's
    own window) or per row only (Prometheus' shape)."""
    stats = VersionStats(
        requests=requests,
        errors=0,
        error_ratio=0.0,
        p50_ms=2.0,
        p99_ms=5.0,
        rejected=0,
        feedback_requests=10 if per_request else 0,
        request_accuracy=0.95 if per_request else None,
        feedback_rows=40,
        correct=38,
        accuracy=0.95,
        first_error_at=None,
        truncated=False,
        complete_since=since,
    )
    return StatsReply(
        now=since + 120,
        since=since,
        until=since + 60,
        started_at=since,
        models={ACCURACY_MODEL: {"2": stats}},
    )


@pytest.mark.parametrize(
    ("per_request", "requests", "action"),
    [(True, 30, "passed"), (False, 30, "unjudged"), (True, 4, "unjudged")],
    ids=["judged", "rows-alone", "too-few-requests"],
)
def test_an_accuracy_guard_is_never_passed_on_rows_alone_or_too_few_requests(
    request: pytest.FixtureRequest, tmp_path: Path, per_request: bool, requests: int, action: str
) -> None:
    """A window that ends with fewer requests than the guard's ``min_requests`` (5) ends
    unjudged: a version slow enough to starve its own window must not pass by the clock."""
    backend = make_backend(request, "sqlite", tmp_path)
    (tmp_path / "models.yaml").write_text(ACCURACY_CONFIG)
    registry = Registry.open(
        backend.settings.model_copy(update={"models_config": tmp_path / "models.yaml"})
    )
    try:
        add_versions(registry, backend.model_uris[0], ACCURACY_MODEL, 2)
        for version, stage in ((1, "staging"), (1, "production"), (2, "staging")):
            registry.stages.transition(ACCURACY_MODEL, version, stage, rationale="s", actor="t")
        approvals = Approvals.for_registry(registry)
        change = approvals.request(
            ChangeKind.PROMOTE,
            ACCURACY_MODEL,
            version=2,
            stage="Production",
            rationale="guarded",
            requested_by="erin",
            client="test",
            guard=True,
        )
        approvals.apply(change, approvals.plan(change), Approval(approver="erin", via="t"))
        (guard,) = registry.releases.watching()
        while time.time() <= guard.ends_at.timestamp() + 0.5:  # the window is over
            time.sleep(0.2)
        watcher = GuardWatcher(
            registry,
            approvals,
            lambda since, _until: _window(since, per_request=per_request, requests=requests),
        )
        (verdict,) = watcher.tick()
        assert verdict.action == action, verdict
        if not per_request:
            assert "no per-request accuracy" in verdict.evidence
        if requests < 5:
            assert "only 4 of the 5 requests the guard needs" in verdict.evidence
        (ended,) = registry.releases.guards(model=ACCURACY_MODEL, limit=1)
        assert ended.status == action
        assert registry.get_model(ACCURACY_MODEL, limit=1).model.approved.production == 2
    finally:
        registry.close()

"""Every PromQL expression of the dashboard and the rules, evaluated by a real Prometheus
(loopback, temporary storage, 1 s scrape) that scrapes the real router in front of the real
TorchServe and the registry exporter, through traffic, feedback, a promotion and a rollback."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
import yaml  # type: ignore[import-untyped]
from prometheus_client import make_wsgi_app

from registry_mcp.core.registry import Registry
from registry_mcp.metrics.dashboard import ANNOTATION, PANELS
from registry_mcp.metrics.registry_exporter import registry_metrics
from tests.conftest import Backend
from tests.helpers import add_versions
from tests.serving.conftest import ROUTER_MODEL, Digits, RouterModels, RunningRouter
from tests.serving.test_router_app import http, install, put, table

pytestmark = pytest.mark.slow
RULES = Path(__file__).resolve().parents[2] / "monitoring" / "prometheus" / "rules"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def exporter(sqlite_backend: Backend) -> Iterator[tuple[str, Registry]]:
    registry = Registry.open(sqlite_backend.settings)
    server: WSGIServer = make_server(
        "127.0.0.1", 0, make_wsgi_app(registry_metrics(registry)), handler_class=_Quiet
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}", registry
    finally:
        server.shutdown()
        server.server_close()
        registry.close()


@pytest.fixture
def prometheus(
    router: RunningRouter, exporter: tuple[str, Registry], tmp_path: Path
) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (Debian package `prometheus`; `make tools`)")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in sorted(RULES.glob("*.yml"))],
        "scrape_configs": [
            {
                "job_name": "modelreg-router",
                "static_configs": [{"targets": [router.url.removeprefix("http://")]}],
            },
            {"job_name": "modelreg-registry", "static_configs": [{"targets": [exporter[0]]}]},
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: httpx.get(url + "/-/ready", trust_env=False).status_code == 200, "ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"Prometheus: {what} not seen within {timeout:.0f} s")


def query(url: str, expr: str) -> list[dict[str, Any]]:
    reply = httpx.get(url + "/api/v1/query", params={"query": expr}, trust_env=False).json()
    assert reply["status"] == "success", (expr, reply)
    result: list[dict[str, Any]] = reply["data"]["result"]
    return result


def _production(url: str) -> dict[str, str]:
    found = query(url, PANELS["Production version"][0].replace("$model", ".*"))
    return {s["metric"]["model"]: s["value"][1] for s in found}


def test_every_dashboard_and_rule_expression_answers_from_real_series(
    prometheus: str,
    router: RunningRouter,
    router_models: RouterModels,
    exporter: tuple[str, Registry],
    sqlite_backend: Backend,
    digits: Digits,
) -> None:
    _, registry = exporter
    from mlflow import MlflowClient

    # A name from before the name rules (it has a space): such models keep working.
    settings = registry.settings
    MlflowClient(
        settings.resolved_tracking_uri, settings.resolved_registry_uri
    ).create_registered_model(ROUTER_MODEL)
    add_versions(registry, sqlite_backend.model_uris[0], ROUTER_MODEL, 2)
    stages = registry.stages
    stages.transition(ROUTER_MODEL, 1, "staging", rationale="r", actor="t")
    stages.transition(ROUTER_MODEL, 1, "production", rationale="r", actor="t")
    stages.transition(ROUTER_MODEL, 2, "staging", rationale="r", actor="t")
    install(router, router_models, production=1)
    sent: dict[str, list[int]] = {"1": [0, 0], "2": [0, 0]}  # version -> [rows, correct]

    def traffic(version: str) -> None:
        with http(router) as c:
            for i in range(30):
                body = {"inputs": digits.x[i : i + 2].tolist()}
                reply = c.post(f"/predictions/{ROUTER_MODEL}", json=body)
                assert reply.headers["X-Model-Version"] == version
                if i % 3 == 0:  # labels for a third of the traffic
                    truth = digits.y[i : i + 2].tolist()
                    predicted = [p["class"] for p in reply.json()["predictions"]]
                    settled = c.post(
                        "/feedback",
                        json={
                            "request_id": reply.headers["X-Request-Id"],
                            "token": reply.headers["X-Feedback-Token"],
                            "labels": truth,
                        },
                    ).json()
                    assert settled["rows"] == 2
                    sent[version][0] += 2
                    sent[version][1] += sum(p == t for p, t in zip(predicted, truth, strict=True))

    traffic("1")
    _until(lambda: _production(prometheus).get(ROUTER_MODEL) == "1", "v1 in Production")
    # Promotion: the registry moves, the router's table follows; the panel shows v2.
    stages.transition(ROUTER_MODEL, 2, "production", rationale="r", actor="t")
    install(router, router_models, production=2)
    traffic("2")
    _until(lambda: _production(prometheus).get(ROUTER_MODEL) == "2", "v2 after the promotion")
    # Rollback: back to v1 on both sides; the panel shows v1 again.
    stages.rollback(ROUTER_MODEL, rationale="bad", actor="t")
    install(router, router_models, production=1)
    traffic("1")
    _until(lambda: _production(prometheus).get(ROUTER_MODEL) == "1", "v1 after the rollback")
    # A 10 % canary of v2: the share panel shows it.
    with_canary = table(router_models, production=1)
    with_canary["models"][ROUTER_MODEL]["canary"] = {"version": 2, "percent": 10}
    generation = router.app.table.generation
    assert put(router, {"expected_generation": generation, "table": with_canary}).is_success
    share = f'modelreg_router_canary_percent{{model="{ROUTER_MODEL}",version="2"}}'
    _until(lambda: query(prometheus, share) != [], "the canary share")
    assert float(query(prometheus, share)[0]["value"][1]) == 10.0

    # Callers at once: the router merges requests that arrive while v1 is busy.
    def burst() -> bool:
        async def at_once() -> None:
            async with httpx.AsyncClient(base_url=router.url, trust_env=False, timeout=60) as c:
                body = {"inputs": digits.x[:1].tolist()}
                replies = await asyncio.gather(
                    *(c.post(f"/predictions/{ROUTER_MODEL}", json=body) for _ in range(24))
                )
                assert all(r.status_code == 200 for r in replies)

        asyncio.run(at_once())
        return bool(query(prometheus, "modelreg_router_merged_upstream_requests_total"))

    _until(burst, "a merged request")

    recorded = [r for group in _rules("recording.yml") for r in group["rules"]]
    _until(lambda: all(query(prometheus, r["record"]) for r in recorded), "every recording rule")
    exprs = [e.replace("$model", ".*") for targets in PANELS.values() for e in targets]
    for expr in exprs:
        # a rate() needs two scrapes of its counter after the burst: wait for them
        _until(
            lambda e=expr: bool(query(prometheus, e)), f"a series for the dashboard query {expr}"
        )
    assert query(prometheus, ANNOTATION.replace("$model", ".*").replace("[2m:15s]", "[10m:1s]"))
    # Alert expressions parse and evaluate; with serving in step, the drift alert is quiet.
    for group in _rules("alerts.yml"):
        for rule in group["rules"]:
            result = query(prometheus, rule["expr"])
            if rule["alert"] == "ServingDiffersFromRegistry":
                assert result == []
    # Production accuracy per version is what the feedback said.
    ratio = (
        "sum by (version) (modelreg_router_feedback_correct_total)"
        " / sum by (version) (modelreg_router_feedback_rows_total)"
    )
    accuracy = {s["metric"]["version"]: float(s["value"][1]) for s in query(prometheus, ratio)}
    for version, (rows, correct) in sent.items():
        assert accuracy[version] == pytest.approx(correct / rows)
    changes = query(prometheus, "modelreg_registry_stage_changes_total")
    kinds = {s["metric"]["kind"]: s["value"][1] for s in changes}
    assert kinds == {"promote": "2", "rollback": "1"}


def _rules(name: str) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load((RULES / name).read_text())["groups"]
    return groups


def test_the_monitoring_json_documents_are_valid() -> None:
    assert json.loads((RULES.parents[1] / "grafana" / "dashboards" / "modelreg.json").read_text())

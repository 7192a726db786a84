"""A guard judged from Prometheus, as in a cluster: two real router processes (replicas of
one Deployment) each take a share of the guarded version's traffic, a real Prometheus
scrapes both, and the guard watcher reads the summed window (``stats_source.guard_stats``).

Router A answers from the session's TorchServe (20 good answers); router B's TorchServe is
gone (4 failures). Either router's own window passes the guard (A: no errors; B: below the
guard's minimum of requests); the sum is 4 failures in 24 requests, above the 10 % budget,
and the guard rolls the version back.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]

from registry_mcp.core.approvals import Approvals
from registry_mcp.core.change_requests import Approval
from registry_mcp.core.registry import Registry
from registry_mcp.deploy.guard_watch import GuardWatcher
from registry_mcp.deploy.stats_source import guard_stats, prometheus_url_of
from registry_mcp.domain.plans import ChangeKind
from registry_mcp.store.releases import GuardStatus
from serving.local import LocalTorchServe
from serving.router.server import LocalRouter, RouterSettings, free_port
from serving.router.window import StatsReply
from tests.conftest import make_backend
from tests.helpers import add_versions
from tests.serving.conftest import ROUTER_MODEL, RouterModels

pytestmark = pytest.mark.slow

MODEL = "prom-guarded"
CONFIG = f"""
models:
  {MODEL}:
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 10000
    error_budget: 0.1
    input_schema: {{n_features: 64}}
    guard: {{window_s: 600, min_requests: 20}}
"""
ROW = [0.5] * 64


def _until(check: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


class Replica:
    def __init__(self, settings: RouterSettings, log: Path) -> None:
        self.token = secrets.token_urlsafe(16)
        self.router = LocalRouter(settings, self.token, log_file=log)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def set_table(self, served: str, production: int) -> None:
        table = {
            "models": {
                MODEL: {
                    "served_name": served,
                    "production": production,
                    "input_schema": {"n_features": 64, "dtype": "float32"},
                }
            }
        }
        reply = httpx.put(
            self.router.url + "/admin/table",
            json={"expected_generation": 0, "table": table},
            headers=self.auth,
            trust_env=False,
            timeout=60,
        )
        assert reply.status_code == 200, reply.text

    def predict(self, count: int) -> list[int]:
        with httpx.Client(trust_env=False, timeout=30) as http:
            return [
                http.post(
                    f"{self.router.url}/predictions/{MODEL}", json={"inputs": [ROW]}
                ).status_code
                for _ in range(count)
            ]

    def own_window(self, since: float) -> StatsReply:
        reply = httpx.get(
            self.router.url + "/admin/stats",
            params={"since": since},
            headers=self.auth,
            trust_env=False,
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        return StatsReply.model_validate(reply.json())


@pytest.fixture
def replicas(
    torchserve: LocalTorchServe, router_models: RouterModels, tmp_path: Path
) -> Iterator[list[Replica]]:
    gone = f"http://127.0.0.1:{free_port()}"  # a TorchServe that is not there
    a = Replica(
        RouterSettings(
            port=free_port(),
            inference_url=torchserve.endpoints.inference,
            management_url=torchserve.endpoints.management,
            key_file=torchserve.key_file,
            state_file=tmp_path / "a.json",
        ),
        tmp_path / "a.log",
    )
    b = Replica(
        RouterSettings(
            port=free_port(),
            inference_url=gone,
            management_url=gone,
            key_file=None,
            state_file=tmp_path / "b.json",
            verify_loaded=False,
            upstream_timeout_s=5,
        ),
        tmp_path / "b.log",
    )
    started: list[Replica] = []
    try:
        for replica in (a, b):
            replica.router.start()
            started.append(replica)
            replica.set_table(router_models.served[ROUTER_MODEL], 2)
        yield [a, b]
    finally:
        for replica in started:
            replica.router.stop()


@pytest.fixture
def prometheus(replicas: list[Replica], tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (Debian package `prometheus`; `make tools`)")
    targets = [r.router.url.removeprefix("http://") for r in replicas]
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            {"job_name": "modelreg-router", "static_configs": [{"targets": targets}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with (tmp_path / "prometheus.log").open("w") as log:
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

    def ready() -> bool:
        try:
            return httpx.get(url + "/-/ready", trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _until(ready, "Prometheus ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _series_count(url: str) -> int:
    query = f'count(modelreg_router_requests_total{{model="{MODEL}"}})'
    body: dict[str, Any] = httpx.get(
        url + "/api/v1/query", params={"query": query}, trust_env=False
    ).json()
    result = body["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def test_a_guard_in_the_cluster_judges_every_router_replica(
    request: pytest.FixtureRequest,
    replicas: list[Replica],
    prometheus: str,
    tmp_path: Path,
) -> None:
    a, b = replicas
    home = tmp_path / "registry"
    home.mkdir()
    backend = make_backend(request, "sqlite", home)
    (home / "models.yaml").write_text(CONFIG)
    settings = backend.settings.model_copy(
        update={
            "models_config": home / "models.yaml",
            "guard_stats_from": "prometheus",
            "prometheus_url": prometheus,
            "prometheus_scrape_interval_s": 1.0,
        }
    )
    registry = Registry.open(settings)
    http = httpx.Client(trust_env=False, timeout=10)
    try:
        add_versions(registry, backend.model_uris[0], MODEL, 2)
        for version, stage in ((1, "staging"), (1, "production"), (2, "staging")):
            registry.stages.transition(MODEL, version, stage, rationale="setup", actor="t")
        # Every counter exists in Prometheus before the window starts (a series first seen
        # inside a window has no increase from its first sample).
        assert a.predict(1) == [200]
        assert b.predict(1)[0] >= 500
        _until(lambda: _series_count(prometheus) >= 2, "both replicas' series scraped")
        time.sleep(3)

        approvals = Approvals.for_registry(registry)
        change = approvals.request(
            ChangeKind.PROMOTE,
            MODEL,
            version=2,
            stage="Production",
            rationale="guarded",
            requested_by="erin",
            client="test",
            guard=True,
        )
        approvals.apply(change, approvals.plan(change), Approval(approver="erin", via="t"))
        (guard,) = registry.releases.watching()
        assert guard.version == 2

        assert a.predict(20) == [200] * 20
        assert all(status >= 500 for status in b.predict(4))

        # Each replica's own window passes the guard.
        for replica in (a, b):
            own = GuardWatcher(
                registry, approvals, lambda since, _u, r=replica: r.own_window(since)
            )
            (verdict,) = own.tick()
            assert verdict.action == "watching", verdict

        source = guard_stats(
            prometheus_url_of(settings, None, None),
            http,
            scrape_interval_s=settings.prometheus_scrape_interval_s,
            deployment=None,  # the cluster's controller has no local serving to ask
        )

        def summed() -> bool:
            seen = source(guard.started_s, None).models.get(MODEL, {}).get("2")
            return seen is not None and seen.requests >= 24 and seen.errors >= 4

        _until(summed, "Prometheus to hold both replicas' requests")
        (verdict,) = GuardWatcher(registry, approvals, source).tick()
        assert verdict.action == "rolled_back", verdict
        assert any("error ratio" in found for found in verdict.breaches), verdict
        detail = registry.get_model(MODEL, limit=1).model
        assert detail.approved.production == 1
        (ended,) = registry.releases.guards(model=MODEL, limit=1)
        # No serving follows here (no local TorchServe to verify): the registry moved back.
        assert ended.status in (GuardStatus.ROLLING_BACK, GuardStatus.ROLLED_BACK), ended
    finally:
        http.close()
        registry.close()

"""A guard's window read from a real Prometheus (Debian's binary on loopback) scraping two
router "pods": metrics endpoints serving the router's exposition format with counters the
test sets. The window sums both pods, as a guard in the cluster must."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml  # type: ignore[import-untyped]

from registry_mcp.deploy.prometheus_stats import PrometheusStats
from registry_mcp.domain.errors import ErrorCode, RegistryError


class Pod:
    """One router replica's /metrics: requests per outcome, all answered in under 50 ms."""

    def __init__(self) -> None:
        self.counts = {"ok": 0, "timeout": 0, "invalid_input": 0}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        pod = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pod.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler

    def exposition(self) -> str:
        lines = ["# TYPE modelreg_router_requests_total counter"]
        base = 'model="m",version="2",route=""'
        for outcome, n in self.counts.items():
            lines.append(f'modelreg_router_requests_total{{{base},outcome="{outcome}"}} {n}')
        lines.append("# TYPE modelreg_router_request_duration_seconds histogram")
        for outcome, n in self.counts.items():
            fast = n if outcome != "timeout" else 0
            for le, v in (("0.05", fast), ("2.5", fast), ("+Inf", n)):
                lines.append(
                    "modelreg_router_request_duration_seconds_bucket"
                    f'{{{base},outcome="{outcome}",le="{le}"}} {v}'
                )
        return "\n".join(lines) + "\n"


def _until(check: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.fixture
def pods() -> Iterator[list[Pod]]:
    found = [Pod(), Pod()]
    yield found
    for pod in found:
        pod.server.shutdown()
        pod.server.server_close()


@pytest.fixture
def prometheus(pods: list[Pod], tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (Debian package `prometheus`; `make tools`)")
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "modelreg-router",
                "static_configs": [{"targets": [pod.target for pod in pods]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
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
        log.close()


def _scraped(url: str, expected: int) -> Callable[[], bool]:
    """Both pods' ok counters are in Prometheus and sum to ``expected``."""

    def check() -> bool:
        query = 'sum(modelreg_router_requests_total{outcome="ok"}) and '
        query += 'count(modelreg_router_requests_total{outcome="ok"}) == 2'
        reply = httpx.get(url + "/api/v1/query", params={"query": query}, trust_env=False).json()
        result = reply["data"]["result"]
        return bool(result) and float(result[0]["value"][1]) == expected

    return check


def test_the_window_sums_every_router_pod(pods: list[Pod], prometheus: str) -> None:
    _until(_scraped(prometheus, 0), "both pods scraped at 0")
    time.sleep(3)  # more than the lookback: the window starts from zeros
    since = time.time()
    # Pod a: 90 ok + 10 timeouts; pod b: 100 ok; a client's bad input is not a request.
    pods[0].counts.update(ok=90, timeout=10, invalid_input=40)
    pods[1].counts.update(ok=100)
    _until(_scraped(prometheus, 190), "both pods scraped with traffic")
    time.sleep(10)  # a longer window: less of it is extrapolated
    with httpx.Client(trust_env=False, timeout=10) as http:
        reply = PrometheusStats(prometheus, http, scrape_interval_s=1)(since)
    stats = reply.models["m"]["2"]
    # increase() extrapolates to the window's edges: counts are estimates above 200 and 10
    # (one pod alone would be 100); the ratio of counters that moved together holds.
    assert 200 <= stats.requests <= 250, stats
    assert 10 <= stats.errors <= 13, stats
    assert stats.error_ratio == pytest.approx(10 / 200, rel=0.1)
    assert stats.p50_ms is not None
    assert stats.p50_ms <= 50
    # 5 % of the requests timed out: the p99 is in the +Inf bucket, reported at its floor.
    assert stats.p99_ms == pytest.approx(2500)
    assert stats.request_accuracy is None
    assert stats.feedback_requests == 0
    assert reply.since == since
    assert reply.until >= since


def test_an_unreachable_prometheus_is_a_backend_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with httpx.Client(trust_env=False, timeout=5) as http, pytest.raises(RegistryError) as caught:
        PrometheusStats(f"http://127.0.0.1:{port}", http)(time.time() - 60)
    assert caught.value.code == ErrorCode.BACKEND
    assert f"127.0.0.1:{port}" in str(caught.value)

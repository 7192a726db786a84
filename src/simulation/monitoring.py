"""Monitoring during `modelreg demo`: the registry exporter, and Prometheus when installed.

The exporter serves the registry's state on a free loopback port for the run. If the
`prometheus` binary is on PATH and the checkout's ``monitoring/prometheus/rules`` are present,
a Prometheus scrapes the router, TorchServe's metrics port and the exporter every second with
those rules, on a free loopback port, its data under ``$MODELREG_HOME/prometheus``. Both stop
when the demo ends.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
from prometheus_client import make_wsgi_app

from registry_mcp.core.registry import Registry
from registry_mcp.metrics.prometheus_config import RULES, prometheus_config
from registry_mcp.metrics.registry_exporter import registry_metrics


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DemoMonitoring:
    def __init__(self, registry: Registry, router_url: str, torchserve_metrics_port: int) -> None:
        self._registry = registry
        self._router = router_url.removeprefix("http://")
        self._torchserve = f"127.0.0.1:{torchserve_metrics_port}"
        self._server: WSGIServer | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.exporter_url = ""
        self.prometheus_url: str | None = None
        self.skipped: str | None = None

    def __enter__(self) -> DemoMonitoring:
        self._server = make_server(
            "127.0.0.1", 0, make_wsgi_app(registry_metrics(self._registry)), handler_class=_Quiet
        )
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.exporter_url = f"http://127.0.0.1:{self._server.server_port}/metrics"
        binary = shutil.which("prometheus")
        if binary is None:
            self.skipped = "prometheus is not installed (Debian package `prometheus`)"
        elif not RULES.is_dir():
            self.skipped = f"no rules at {RULES} (run the demo from a checkout)"
        else:
            self._start(binary)
        return self

    def _start(self, binary: str) -> None:
        home = self._registry.settings.home / "prometheus"
        home.mkdir(parents=True, exist_ok=True)
        targets = {
            "modelreg-router": self._router,
            "modelreg-registry": f"127.0.0.1:{self._server.server_port if self._server else 0}",
            "torchserve": self._torchserve,
        }
        config = prometheus_config(
            router=targets["modelreg-router"],
            exporter=targets["modelreg-registry"],
            torchserve_metrics=targets["torchserve"],
            rules=RULES,
            interval="1s",
        )
        (home / "prometheus.yml").write_text(config)
        port = _free_port()
        log = (home / "prometheus.log").open("wb")
        self._process = subprocess.Popen(
            [
                binary,
                f"--config.file={home / 'prometheus.yml'}",
                f"--storage.tsdb.path={home / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/-/ready", trust_env=False).status_code == 200:
                    self.prometheus_url = url
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.skipped = f"Prometheus did not start; see {home / 'prometheus.log'}"

    def query(self, expr: str) -> list[dict[str, Any]]:
        if self.prometheus_url is None:
            return []
        reply = httpx.get(
            self.prometheus_url + "/api/v1/query", params={"query": expr}, trust_env=False
        ).json()
        result: list[dict[str, Any]] = reply.get("data", {}).get("result", [])
        return result

    def wait_for(self, expr: str, expected: dict[str, str], timeout_s: float = 30.0) -> bool:
        """Until ``expr`` gives ``expected`` (model label -> value), or the timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = {s["metric"].get("model", ""): s["value"][1] for s in self.query(expr)}
            if all(found.get(k) == v for k, v in expected.items()):
                return True
            time.sleep(0.5)
        return False

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=30)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

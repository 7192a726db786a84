"""`modelreg serve up|status|down` with the router, against the session's real TorchServe.

`serve up` finds that TorchServe runs already (the session's), starts the router, reconciles
and pushes the table. `serve down` is run with a serving directory where no TorchServe runs
(so the session's stays up for the other tests) and the same router directory: it stops the
router, which is the part under test here.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from registry_mcp.core.registry import Registry
from registry_mcp.deploy.controller_process import ControllerProcess
from registry_mcp.deploy.router_process import RouterProcess
from registry_mcp.deploy.router_settings import RouterPlace
from serving.errors import ServingError
from serving.local import LocalPorts, LocalTorchServe
from serving.naming import served_name
from serving.router.server import free_port
from serving.torchserve import TorchServeClient
from tests.conftest import Backend
from tests.helpers import add_versions
from tests.test_cli import invoke

pytestmark = pytest.mark.slow
MODEL = "rd-cli"


def _use(
    monkeypatch: pytest.MonkeyPatch,
    backend: Backend,
    serving_dir: Path,
    ports: LocalPorts,
    router_dir: Path,
    router_port: int,
    models_yaml: str,
) -> None:
    monkeypatch.setenv("MODELREG_HOME", str(backend.settings.home))
    monkeypatch.setenv("MODELREG_ARTIFACT_ROOT", backend.settings.resolved_artifact_root)
    monkeypatch.setenv("MODELREG_SERVING_DIR", str(serving_dir))
    for name, port in ports.as_dict().items():
        monkeypatch.setenv(f"MODELREG_SERVING_{name.upper()}_PORT", str(port))
    monkeypatch.setenv("MODELREG_ROUTER_DIR", str(router_dir))
    monkeypatch.setenv("MODELREG_ROUTER_PORT", str(router_port))
    config = backend.settings.home / "models-test.yaml"
    config.write_text(models_yaml)
    monkeypatch.setenv("MODELREG_MODELS_CONFIG", str(config))


GOOD = f"""
models:
  {MODEL}: {{task: classification, primary_metric: accuracy, latency_sla_ms: 100}}
routes:
  cli: {{default: {MODEL}}}
  best: {{default: {{best_of_task: regression}}}}
"""


def test_serve_up_starts_the_router_status_shows_both_and_down_stops_it(
    sqlite_backend: Backend,
    torchserve: LocalTorchServe,
    client: TorchServeClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry = Registry.open(sqlite_backend.settings)
    add_versions(registry, sqlite_backend.model_uris[0], MODEL, 1)
    for stage in ("staging", "production"):
        registry.stages.transition(MODEL, 1, stage, rationale="setup", actor="t")
    registry.close()
    router_dir, port = tmp_path / "router", free_port()
    place = RouterPlace(port=port, host="127.0.0.1", directory=router_dir)
    _use(
        monkeypatch,
        sqlite_backend,
        torchserve.serving_dir,
        torchserve.ports,
        router_dir,
        port,
        GOOD,
    )
    try:
        code, out, err = invoke(capsys, "serve", "up", "--json")
        assert code == 0, err
        shown = json.loads(out)
        assert shown["status"]["running"] is True
        assert shown["router"]["running"] is True
        assert shown["router"]["url"] == f"http://127.0.0.1:{port}"
        table = shown["router_table"]
        assert (table["updated"], table["verified"]) == (True, True), table
        assert table["routes"] == {"cli": MODEL}
        # No Production model of task regression: that route is left out, and said so.
        assert any("best" in why and "regression" in why for why in table["omitted"])
        token = (router_dir / "admin_token").read_text().strip()
        assert token not in out
        assert token not in err

        code, out, err = invoke(capsys, "serve", "status", "--json")
        assert code == 0, err
        status = json.loads(out)
        assert status["server"]["running"] is True
        router = status["router"]
        assert router["process"]["running"] is True
        assert router["process"]["url"] == f"http://127.0.0.1:{port}"
        assert router["table"]["generation"] == table["generation"] >= 1
        assert router["table"]["in_sync"] is True
        assert router["table"]["production"] == {MODEL: 1}
        assert token not in out

        code, out, err = invoke(capsys, "serve", "status")
        assert code == 0, err
        assert "Router: running" in out
        assert f"http://127.0.0.1:{port}" in out
        assert "cli -> rd-cli" in out
        assert token not in out

        with httpx.Client(trust_env=False, timeout=30) as http:
            reply = http.post(
                f"http://127.0.0.1:{port}/routes/cli", json={"inputs": [[0.5] * 64] * 2}
            )
        assert reply.status_code == 200, reply.text
        assert (reply.headers["x-model-name"], reply.headers["x-model-version"]) == (MODEL, "1")

        code, out, err = invoke(capsys, "serve", "up")  # again: both run, nothing restarts
        assert code == 0, err
        assert f"Router up (pid {shown['router']['pid']})" in out
        assert "already up to date" in out
        monkeypatch.setenv("MODELREG_ROUTER_PORT", str(free_port()))
        code, out, err = invoke(capsys, "serve", "up")
        assert code == 2
        assert "runs with other settings" in err
        monkeypatch.setenv("MODELREG_ROUTER_PORT", str(port))

        rows = tmp_path / "rows.json"
        rows.write_text(json.dumps({"inputs": [[0.5] * 64] * 2}))
        code, out, err = invoke(capsys, "predict", "--route", "cli", "-i", str(rows))
        assert code == 0, err
        routed = json.loads(out)
        assert (routed["model"], routed["version"], routed["route"]) == (MODEL, "1", "cli")
        assert len(routed["response"]["predictions"]) == 2
        code, out, err = invoke(
            capsys, "predict", MODEL, "--via-router", "--version", "1", "-i", str(rows)
        )
        assert code == 0, err
        assert (json.loads(out)["model"], json.loads(out)["route"]) == (MODEL, None)
        # One field name straight from TorchServe and through the router: `class`.
        via_router = json.loads(out)["response"]["predictions"][0]
        code, out, err = invoke(capsys, "predict", MODEL, "--version", "1", "-i", str(rows))
        assert code == 0, err
        straight = json.loads(out)["predictions"][0]
        assert set(straight) >= {"class", "probabilities"}
        assert "label" not in straight
        assert straight["class"] == via_router["class"]
        code, out, err = invoke(capsys, "predict", "--route", "nope", "-i", str(rows))
        assert code == 2
        assert "Router: NOT_FOUND: no route 'nope'" in err

        idle = LocalPorts.free()
        _use(monkeypatch, sqlite_backend, tmp_path / "no-ts", idle, router_dir, port, GOOD)
        code, out, err = invoke(capsys, "serve", "down")
        assert code == 0, err
        assert "Controller stopped." in out
        assert not ControllerProcess(sqlite_backend.settings.home).status().running
        assert "Router stopped." in out
        assert not RouterProcess(place, torchserve).status().running
        assert torchserve.status().running  # the session's TorchServe was not touched
    finally:
        ControllerProcess(sqlite_backend.settings.home).down()
        RouterProcess(place, torchserve).down()
        served = served_name(MODEL)
        try:
            for version in sorted(client.describe(served).versions, key=lambda v: v.is_default):
                client.unregister(served, version.version)
        except ServingError:
            pass


BAD_ROUTE = """
models:
  known: {task: classification, primary_metric: accuracy, latency_sla_ms: 100}
routes:
  digits: {default: known, rules: [{kind: header, header: X-Tier, equals: gold, model: ghost}]}
"""

NEGATIVE_REPLICAS = """
models:
  known: {task: classification, primary_metric: accuracy, latency_sla_ms: 100,
          kubernetes: {replicas: -1}}
"""
GPU_WITHOUT_GPU_NODES = """
cluster: {gpu_nodes: false}
models:
  known: {task: classification, primary_metric: accuracy, latency_sla_ms: 100,
          kubernetes: {gpu: 1}}
"""


@pytest.mark.parametrize(
    ("models_yaml", "router_port", "expected"),
    [
        (BAD_ROUTE, None, ["route 'digits'", "'rules.0.model'", "'ghost'", "not declared"]),
        (GOOD, "inference", ["MODELREG_ROUTER_PORT", "inference API"]),
        (NEGATIVE_REPLICAS, None, ["'known'", "kubernetes.replicas", "greater than or equal"]),
        (GPU_WITHOUT_GPU_NODES, None, ["'known'", "kubernetes.gpu", "gpu_nodes` is false"]),
    ],
    ids=[
        "route-to-a-missing-model",
        "router-port-taken-by-torchserve",
        "negative-replicas",
        "gpu-without-gpu-nodes",
    ],
)
def test_bad_configuration_is_a_clear_error_and_starts_nothing(
    sqlite_backend: Backend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    models_yaml: str,
    router_port: str | None,
    expected: list[str],
) -> None:
    serving_dir, router_dir, ports = tmp_path / "serving", tmp_path / "router", LocalPorts.free()
    port = free_port() if router_port is None else ports.as_dict()[router_port]
    _use(monkeypatch, sqlite_backend, serving_dir, ports, router_dir, port, models_yaml)
    server = LocalTorchServe(serving_dir, ports=ports)
    try:
        code, _, err = invoke(capsys, "serve", "up")
        assert code == 2, err
        assert "Traceback" not in err
        for text in expected:
            assert text in err
        assert not server.status().running
        assert not serving_dir.exists()  # not even TorchServe's config was written
        assert not router_dir.exists()  # no token, no router
    finally:
        server.down()  # only if the test failed: nothing may outlive it

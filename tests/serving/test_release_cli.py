"""`modelreg canary ...`, `modelreg promote --guard` and `modelreg guard ...` at the command
line, against the session's real TorchServe and a router started by `modelreg serve up`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import httpx
import pytest

from registry_mcp.core.registry import Registry
from registry_mcp.deploy.controller_process import ControllerProcess
from registry_mcp.deploy.router_process import RouterProcess
from registry_mcp.deploy.router_settings import RouterPlace
from serving.errors import ServingError
from serving.local import LocalTorchServe
from serving.naming import served_name
from serving.router.server import free_port
from serving.torchserve import TorchServeClient
from tests.conftest import Backend
from tests.helpers import add_versions
from tests.serving.test_router_deploy_cli import _use
from tests.test_cli import invoke

pytestmark = pytest.mark.slow
MODEL, PLAIN = "rel-cli", "rel-cli-plain"
CONFIG = f"""
models:
  {MODEL}:
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 1000
    input_schema: {{n_features: 64}}
    guard: {{window_s: 30, min_requests: 5}}
  {PLAIN}: {{task: classification, primary_metric: accuracy, latency_sla_ms: 100}}
"""


def test_canary_and_guard_commands(
    sqlite_backend: Backend,
    torchserve: LocalTorchServe,
    client: TorchServeClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry = Registry.open(sqlite_backend.settings)
    uri = sqlite_backend.model_uris[0]
    add_versions(registry, uri, MODEL, 2)
    add_versions(registry, uri, PLAIN, 2)
    for name in (MODEL, PLAIN):
        for version, stage in ((1, "staging"), (1, "production"), (2, "staging")):
            registry.stages.transition(name, version, stage, rationale="setup", actor="t")
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
        CONFIG,
    )
    try:
        code, out, err = invoke(capsys, "serve", "up", "--json")
        assert code == 0, err
        started = json.loads(out)["controller"]
        assert started["running"] is True

        code, out, err = invoke(capsys, "canary", "status", MODEL)
        assert code == 0, err
        pasted = out.split("`")[1]  # the command it prints works when pasted
        assert pasted == f"modelreg canary start {MODEL} 2 --percent 10 -r 'why'"

        code, out, err = invoke(
            capsys, "canary", "start", MODEL, "2", "--percent", "150", "-r", "x", "--yes"
        )
        assert code == 2
        assert "from 0.01 to 100" in err
        code, out, err = invoke(
            capsys, "canary", "start", MODEL, "1", "--percent", "10", "-r", "x", "--yes"
        )
        assert code == 2
        assert "is the Production version" in err

        code, out, err = invoke(capsys, *shlex.split(pasted)[1:], "--yes")
        assert code == 0, err
        said = " ".join(out.split())  # rich wraps long lines
        assert "canary of rel-cli running: v2 gets 10 % of Production traffic" in said
        assert "(audit #" in said

        with httpx.Client(trust_env=False, timeout=30) as http:
            for _ in range(60):
                reply = http.post(
                    f"http://127.0.0.1:{port}/predictions/{MODEL}", json={"inputs": [[0.5] * 64]}
                )
                assert reply.status_code == 200, reply.text
        code, out, err = invoke(capsys, "canary", "status", MODEL, "--json")
        assert code == 0, err
        report = json.loads(out)
        sides = {arm["role"]: arm for arm in report["arms"]}
        assert sides["canary"]["version"] == 2
        assert sides["production"]["requests"] + sides["canary"]["requests"] == 60
        code, out, err = invoke(capsys, "canary", "status", MODEL)
        assert code == 0, err
        assert "Canary of rel-cli" in out
        assert "production" in out

        code, out, err = invoke(capsys, "canary", "stop", MODEL, "-r", "enough", "--yes")
        assert code == 0, err
        assert "canary of rel-cli stopped" in out

        code, out, err = invoke(
            capsys, "promote", PLAIN, "2", "--stage", "Production", "-r", "x", "--guard", "--yes"
        )
        assert code == 2
        assert "declares no guard" in err

        code, out, err = invoke(
            capsys, "promote", MODEL, "2", "--stage", "Production", "-r", "ship", "--guard", "--yes"
        )
        assert code == 0, err
        said = " ".join(out.split())
        assert "Guarded for 30 s" in said
        assert "the controller rolls it back to v1 on breach" in said
        assert "No controller is checking" not in said  # `serve up` started one
        code, out, err = invoke(capsys, "guard", "status", "--json")
        assert code == 0, err
        (guard,) = json.loads(out)["items"]
        assert (guard["model"], guard["version"], guard["rollback_to"], guard["status"]) == (
            MODEL,
            2,
            1,
            "watching",
        )
        code, out, err = invoke(capsys, "guard", "watch", "--once")
        assert code == 0, err
        assert f"guard #{guard['id']} rel-cli v2: watching" in out
        code, out, err = invoke(capsys, "guard", "status", MODEL)
        assert code == 0, err
        assert "watching" in out
        assert f"Controller running (pid {started['pid']}" in " ".join(out.split())
        code, out, err = invoke(capsys, "serve", "status", "--json")
        assert code == 0, err
        seen = json.loads(out)["controller"]
        assert (seen["running"], seen["pid"]) == (True, started["pid"])
        assert seen["last_check_s_ago"] is not None  # the background controller checks too
    finally:
        ControllerProcess(sqlite_backend.settings.home).down()
        RouterProcess(place, torchserve).down()
        for name in (MODEL, PLAIN):
            served = served_name(name)
            try:
                loaded = client.describe(served).versions
                for version in sorted(loaded, key=lambda v: v.is_default):
                    client.unregister(served, version.version)
            except ServingError:
                pass

"""Router control plane without TorchServe: settings, the admin token file, the admin
client's errors, the not-running guard, and `serve plan`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from registry_mcp.deploy.capacity_plan import capacity_plan
from registry_mcp.deploy.router_client import RouterAdmin, RouterCallCode, RouterCallError
from registry_mcp.deploy.router_process import (
    RouterProcess,
    ensure_admin_token,
    read_admin_token,
)
from registry_mcp.deploy.router_settings import DEFAULT_PORT, RouterPlace
from registry_mcp.deploy.router_sync import RouterSync
from registry_mcp.deploy.routing_table import BuiltTable
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.store.settings import Settings
from serving.config import parse_models_config
from serving.local import LocalTorchServe
from serving.router.server import free_port
from serving.router.table import RoutingTable
from tests.test_cli import invoke

PLAN_YAML = """
models:
  small:
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 50
    torchserve: {workers: {min: 1, max: 3}, batch_size: 8, max_batch_delay_ms: 10}
    kubernetes:
      replicas: 2
      requests: {cpu: 500m, memory: 1Gi}
      limits: {cpu: "1", memory: 2Gi}
  big:
    task: feature-extraction
    primary_metric: knn_accuracy
    metric_direction: higher
    latency_sla_ms: 80
    kubernetes: {replicas: 3, cpu: "2", memory: 4Gi, gpu: 1}
"""


def _place(tmp_path: Path, **kw: object) -> RouterPlace:
    values: dict[str, object] = {"port": free_port(), "host": "127.0.0.1"}
    values.update(kw)
    return RouterPlace.model_validate({"directory": tmp_path / "router", **values})


# ------------------------------------------------------------------ settings


def test_router_settings_default_next_to_torchserve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PORT", "HOST", "DIR", "CLIENT_KEYS"):
        monkeypatch.delenv(f"MODELREG_ROUTER_{name}", raising=False)
    settings = Settings(home=tmp_path)
    place = RouterPlace.resolve(settings)
    assert place.port == DEFAULT_PORT
    assert DEFAULT_PORT not in {8080, 8081, 8082, 7070, 7071}  # TorchServe's defaults
    assert place.url == f"http://127.0.0.1:{DEFAULT_PORT}"
    assert place.directory == settings.resolved_serving_dir / "router"
    monkeypatch.setenv("MODELREG_ROUTER_PORT", "9999")
    monkeypatch.setenv("MODELREG_ROUTER_DIR", str(tmp_path / "elsewhere"))
    place = RouterPlace.resolve(settings)
    assert (place.port, place.directory) == (9999, tmp_path / "elsewhere")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MODELREG_ROUTER_PORT": "8081"}, "TorchServe uses for its management API"),
        ({"MODELREG_ROUTER_PORT": "eighty"}, "MODELREG_ROUTER_PORT"),
        ({"MODELREG_ROUTER_PORT": "70000"}, "MODELREG_ROUTER_PORT"),
        ({"MODELREG_ROUTER_HOST": "a b"}, "MODELREG_ROUTER_HOST"),
    ],
)
def test_bad_router_settings_are_user_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(RegistryError) as raised:
        RouterPlace.resolve(Settings(home=tmp_path))
    assert raised.value.code is ErrorCode.INVALID_INPUT
    assert message in raised.value.message


def test_off_loopback_without_client_keys_is_refused_before_starting(tmp_path: Path) -> None:
    server = LocalTorchServe(tmp_path / "serving")
    with pytest.raises(RegistryError) as raised:
        RouterProcess(_place(tmp_path, host="0.0.0.0"), server).preflight()
    assert "MODELREG_ROUTER_CLIENT_KEYS" in raised.value.message
    keys = tmp_path / "keys.json"
    keys.write_text('{"keys": {"short": "x"}}')
    with pytest.raises(RegistryError) as raised:
        RouterProcess(_place(tmp_path, host="0.0.0.0", client_keys=keys), server).preflight()
    assert raised.value.code is ErrorCode.INVALID_INPUT
    assert not (tmp_path / "router").exists()


# ------------------------------------------------------------------ admin token


def test_admin_token_is_created_once_and_private_whatever_the_umask(tmp_path: Path) -> None:
    place = _place(tmp_path)
    assert read_admin_token(place) is None
    old = os.umask(0)
    try:
        token = ensure_admin_token(place)
    finally:
        os.umask(old)
    assert len(token) >= 32
    assert place.token_file.stat().st_mode & 0o777 == 0o600
    assert place.directory.stat().st_mode & 0o777 == 0o700
    assert ensure_admin_token(place) == token == read_admin_token(place)
    place.token_file.chmod(0o644)  # loosened by hand: tightened on the next read
    assert read_admin_token(place) == token
    assert place.token_file.stat().st_mode & 0o777 == 0o600


def test_a_bad_admin_token_file_is_refused(tmp_path: Path) -> None:
    place = _place(tmp_path)
    place.directory.mkdir()
    place.token_file.write_text("short\n")
    with pytest.raises(RegistryError) as raised:
        read_admin_token(place)
    assert "no valid token" in raised.value.message
    assert "short" not in raised.value.message.replace("no valid token", "")
    place.token_file.unlink()
    (tmp_path / "elsewhere").write_text("x" * 40)
    place.token_file.symlink_to(tmp_path / "elsewhere")  # never followed
    with pytest.raises(RegistryError):
        read_admin_token(place)


# ------------------------------------------------------------------ admin client


def test_admin_client_reports_a_router_that_is_not_running(tmp_path: Path) -> None:
    place = _place(tmp_path)
    with httpx.Client(trust_env=False, timeout=5) as http:
        without_token = RouterAdmin(place.url, lambda: None, http)
        with pytest.raises(RouterCallError) as raised:
            without_token.get_table()
        assert raised.value.code is RouterCallCode.NOT_RUNNING
        nobody = RouterAdmin(place.url, lambda: "t" * 32, http)  # nothing listens there
        with pytest.raises(RouterCallError) as raised:
            nobody.put_table(0, RoutingTable())
        assert raised.value.code is RouterCallCode.NOT_RUNNING
        assert "t" * 32 not in str(raised.value)


def test_nothing_is_sent_while_our_router_process_is_down(tmp_path: Path) -> None:
    """A port we do not hold may be anyone's: the admin token is not sent there."""
    asked: list[str] = []

    def token() -> str:
        asked.append("token")
        return "t" * 32

    def build() -> BuiltTable:
        asked.append("build")
        return BuiltTable(table=RoutingTable())

    with httpx.Client(trust_env=False, timeout=5) as http:
        sync = RouterSync(
            RouterAdmin(_place(tmp_path).url, token, http), build, alive=lambda: False
        )
        update = sync.push()
        status = sync.status()
    assert (update.updated, update.verified) == (False, False)
    assert update.detail.startswith("Router not updated: ")
    assert not status.reachable
    assert asked == []


# ------------------------------------------------------------------ serve plan


def test_capacity_plan_per_model_and_totals() -> None:
    plan = capacity_plan(parse_models_config(PLAN_YAML))
    small, big = sorted(plan.models, key=lambda p: p.model, reverse=True)
    assert (small.local.min_workers, small.local.max_workers, small.local.batch_size) == (1, 3, 8)
    assert (small.kubernetes.cpu_request, small.kubernetes.cpu_limit) == ("500m", "1")
    assert (small.kubernetes.memory_request, small.kubernetes.memory_limit) == ("1Gi", "2Gi")
    assert (big.kubernetes.replicas, big.kubernetes.gpu, big.kubernetes.cpu_limit) == (3, 1, None)
    assert plan.totals.replicas == 5
    assert plan.totals.cpu_request_millicores == 2 * 500 + 3 * 2000
    assert plan.totals.memory_request_bytes == (2 * 1 + 3 * 4) * 2**30
    assert plan.totals.gpu == 3
    assert plan.totals.max_local_workers == 3 + 1
    assert plan.defaults.model == "(defaults)"


def test_serve_plan_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "models.yaml"
    config.write_text(PLAN_YAML)
    monkeypatch.setenv("MODELREG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MODELREG_MODELS_CONFIG", str(config))
    code, out, err = invoke(capsys, "serve", "plan", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert [m["model"] for m in shown["plan"]["models"]] == ["big", "small"]
    assert shown["plan"]["totals"]["gpu"] == 3
    assert shown["models_file"]["path"] == str(config)
    code, out, err = invoke(capsys, "serve", "plan")
    assert code == 0, err
    assert "small" in out
    assert "500m/1" in out
    assert "5 pod(s)" in out
    config.write_text("models:\n  small: {task: nope}\n")
    code, out, err = invoke(capsys, "serve", "plan")
    assert code == 2
    assert "model 'small'" in err
    assert "task" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Give a MODEL, or --route NAME"),
        (["m", "--route", "r"], "Give a MODEL, or --route NAME"),
        (["--route", "r", "--version", "1"], "--version applies to a MODEL"),
        (["--route", "a/b"], "Route name 'a/b' is not valid"),
        (["m", "--header", "X-Tier=gold"], "--header goes with --route or --via-router"),
        (["--route", "r", "--header", "no-equals"], "is not NAME=VALUE"),
        (["--route", "r", "--header", "X-Tier=a\nb"], "printable ASCII"),
        (["--route", "r", "--header", "Authorization=Bearer x"], "cannot be set here"),
    ],
)
def test_predict_arguments_are_checked_before_anything_is_contacted(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("MODELREG_HOME", str(tmp_path / "home"))
    code, _, err = invoke(capsys, "predict", *args, "-i", "-")
    assert code == 2
    assert message in err
    assert not (tmp_path / "home").exists()  # not even the registry was opened


def test_a_router_that_cannot_start_leaves_nothing_behind(tmp_path: Path) -> None:
    """(`serve up` refuses this in its preflight; here the child process itself refuses.)"""
    process = RouterProcess(_place(tmp_path, host="0.0.0.0"), LocalTorchServe(tmp_path / "ts"))
    with pytest.raises(RegistryError) as raised:
        process.up(timeout_s=60)
    assert raised.value.code is ErrorCode.BACKEND
    assert "exited during start-up" in raised.value.message
    assert "API keys" in raised.value.message  # the router's own reason, from its log
    assert not process.place.pid_file.exists()
    assert not process.status().running
    token = read_admin_token(process.place)
    assert token is not None
    assert token not in process.place.log_file.read_text()

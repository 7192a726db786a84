"""A model with ``backend: kserve`` under the same control plane as TorchServe: `modelreg serve
up` starts a real KServe model server beside TorchServe, the CLI's promotion and rollback move
what it serves, and the controller repairs a kill -9 and a hand-made set-default.

Real MLflow (SQLite), a real KServe server process (on the interpreter with kserve, see
``test_kserve``), a real TorchServe (``serve up`` always runs one), all started by the CLI.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from bench.slow_model import SlowClassifier

from registry_mcp.core.approvals import CONTROLLER_ACTOR, GUARD_ACTOR
from registry_mcp.core.registry import Registry
from registry_mcp.deploy.controller_process import ControllerProcess
from registry_mcp.deploy.deployment import Deployment
from registry_mcp.domain.schemas import AuditAction, Decision
from registry_mcp.store.releases import GuardStatus
from registry_mcp.training.trainer import TrainResult
from serving.errors import ServingError
from serving.kserve.backend import KServeBackend
from serving.kserve.local import LocalKServe, free_port
from serving.local import LocalPorts, LocalTorchServe
from serving.naming import served_name
from serving.router.table import ModelUpstream
from tests.conftest import make_backend
from tests.helpers import add_versions
from tests.serving.test_kserve import _kserve_python

pytestmark = pytest.mark.slow

MODEL = "ks-digits"
#: v1 good, v2 made slow on purpose (bench.slow_model): it breaks the 60 ms SLA of its guard.
GUARDED = "ks-guarded"
CONFIG = f"""
models:
  {MODEL}:
    backend: kserve
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 1000
    input_schema: {{n_features: 64}}
  {GUARDED}:
    backend: kserve
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 60
    error_budget: 0.05
    input_schema: {{n_features: 64}}
    guard: {{window_s: 60, min_requests: 20}}
"""
ROW = [0.25] * 64
DEADLINE_S = 180.0  # generous: a loaded machine may take long to start a Python server


@dataclass
class Stack:
    registry: Registry
    home: Path
    env: dict[str, str]
    kserve: LocalKServe
    torchserve: LocalTorchServe

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "registry_mcp.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def served(self) -> tuple[str | None, list[str]]:
        """(the KServe server's default, its loaded versions); (None, []) when it is down."""
        try:
            with httpx.Client(timeout=10.0, trust_env=False) as http:
                backend = KServeBackend(self.kserve.url, self.kserve.token, http=http)
                found = backend.describe(served_name(MODEL))
        except (ServingError, OSError):
            return None, []
        return found.default_version, sorted(v.version for v in found.versions)

    def production(self) -> int:
        found = self.registry.get_model(MODEL, limit=1).model.approved.production
        assert found is not None
        return found

    def wait_serving(self, default: int, loaded: list[int]) -> None:
        want = (str(default), [str(v) for v in loaded])
        deadline = time.monotonic() + DEADLINE_S
        while (seen := self.served()) != want:
            assert time.monotonic() < deadline, (
                f"KServe serves {seen}, not {want}; controller: "
                f"{ControllerProcess(self.home).status().describe()}"
            )
            time.sleep(0.1)

    def router_version(self, *, oip: bool = False) -> str | None:
        """The version the router's answer for MODEL came from (None: it did not answer)."""
        url = f"http://127.0.0.1:{self.env['MODELREG_ROUTER_PORT']}"
        if oip:
            path = f"/v2/models/{MODEL}/infer"
            body: dict[str, object] = {
                "inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": ROW}]
            }
        else:
            path, body = f"/predictions/{MODEL}", {"inputs": [ROW]}
        try:
            with httpx.Client(timeout=30.0, trust_env=False) as http:
                answer = http.post(url + path, json=body)
        except httpx.HTTPError:
            return None
        if answer.status_code != 200:
            return None
        assert answer.headers["x-model-version"] == str(answer.json()["model_version"])
        return str(answer.json()["model_version"])

    def wait_router(self, version: str) -> None:
        """Until the router answers from ``version`` five times in a row."""
        deadline = time.monotonic() + DEADLINE_S
        streak = 0
        while streak < 5:
            streak = streak + 1 if self.router_version() == version else 0
            assert time.monotonic() < deadline, f"the router never answered v{version}"
            if streak == 0:
                time.sleep(0.2)

    def last_audit_id(self) -> int:
        rows = self.registry.audit_log(limit=1).items
        return rows[0].id if rows else 0

    def repairs_since(self, audit_id: int) -> list[str]:
        return [
            row.reason or ""
            for row in self.registry.audit_log(limit=200).items
            if row.id > audit_id
            and row.actor == CONTROLLER_ACTOR
            and row.action is AuditAction.REPAIR
            and row.decision is Decision.DONE
        ]


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    java: str,
    trained: TrainResult,
) -> Iterator[Stack]:
    python = _kserve_python()
    if python is None:
        pytest.skip(
            "kserve is not installed here: run `make kserve-venv` and set "
            "MODELREG_TEST_KSERVE_PYTHON to .venv-kserve/bin/python"
        )
    home = tmp_path_factory.mktemp("kserve-stack")
    backend = make_backend(request, "sqlite", home)
    models_file = home / "models-test.yaml"
    models_file.write_text(CONFIG)
    ports = LocalPorts.free()
    serving_dir = home / "serving"
    kserve_port = free_port()
    settings = backend.settings.model_copy(
        update={
            "models_config": models_file,
            "serving_dir": serving_dir,
            "serving_kserve_port": kserve_port,
            "kserve_python": Path(python),
            **{f"serving_{k}_port": v for k, v in ports.as_dict().items()},
        }
    )
    registry = Registry.open(settings)
    add_versions(registry, backend.model_uris[0], MODEL, 1)
    add_versions(registry, backend.model_uris[1], MODEL, 1)
    for version in (1, 2):
        for stage in ("staging", "production"):
            registry.stages.transition(MODEL, version, stage, rationale="setup", actor="t")
    _, slow = registry.log_pytorch_run(
        model=SlowClassifier(trained.model).eval(),
        input_example=trained.input_example,
        params={"slow": 1},
        metrics={"test_accuracy": trained.accuracy},
        pip_requirements=["torch", "mlflow"],
        run_name="slow",
    )
    add_versions(registry, backend.model_uris[0], GUARDED, 1)
    add_versions(registry, slow, GUARDED, 1)
    for version, stage in ((1, "staging"), (1, "production"), (2, "staging")):
        registry.stages.transition(GUARDED, version, stage, rationale="setup", actor="t")
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MODELREG_HOME": str(settings.home),
        "MODELREG_ARTIFACT_ROOT": settings.resolved_artifact_root,
        "MODELREG_SERVING_DIR": str(serving_dir),
        "MODELREG_ROUTER_DIR": str(home / "router"),
        "MODELREG_ROUTER_PORT": str(free_port()),
        "MODELREG_MODELS_CONFIG": str(models_file),
        "MODELREG_SERVING_KSERVE_PORT": str(kserve_port),
        "MODELREG_KSERVE_PYTHON": python,
        **{f"MODELREG_SERVING_{k.upper()}_PORT": str(v) for k, v in ports.as_dict().items()},
    }
    kserve = LocalKServe(serving_dir / "kserve", port=kserve_port, python=python)
    built = Stack(registry, settings.home, env, kserve, LocalTorchServe(serving_dir, ports=ports))
    try:
        up = built.cli("serve", "up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"KServe model server up (pid {kserve.pid}): {kserve.url}" in up.stdout, up.stdout
        yield built
    finally:
        down = built.cli("serve", "down")
        registry.close()
        assert down.returncode == 0, down.stdout + down.stderr
        assert "KServe model server stopped." in down.stdout, down.stdout
        assert kserve.pid is None
        assert not ControllerProcess(settings.home).status().running


def test_serve_up_loads_the_approved_versions_into_kserve(stack: Stack) -> None:
    stack.wait_serving(2, [1, 2])  # Production v2, previous v1 warm
    # TorchServe runs beside it and holds nothing of this model.
    with stack.torchserve.client() as client:
        assert all(m.name != served_name(MODEL) for m in client.list_models())
    status = stack.cli("serve", "status", "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["kserve"]["running"] is True
    assert shown["kserve"]["pid"] == stack.kserve.pid
    (row,) = [m for m in shown["models"] if m["model"] == MODEL]
    assert (row["serving_default"], row["loaded_versions"], row["in_sync"]) == (2, [1, 2], True)
    request = stack.home / "request.json"
    request.write_text(json.dumps({"inputs": [[0.5] * 64, [0.0] * 64]}))
    for version, want in ((None, "2"), ("1", "1")):
        args = ["predict", MODEL, "--input", str(request)]
        answer = stack.cli(*args, *([] if version is None else ["--version", version]))
        assert answer.returncode == 0, answer.stdout + answer.stderr
        body = json.loads(answer.stdout)
        assert body["model_version"] == want
        assert len(body["predictions"]) == 2
        assert len(body["predictions"][0]["probabilities"]) == 10


def test_cli_rollback_and_promotion_move_what_kserve_serves(stack: Stack) -> None:
    stack.wait_serving(2, [1, 2])
    rolled = stack.cli("rollback", MODEL, "-r", "regression", "--yes")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert "Serving default is v1 (verified)" in rolled.stdout, rolled.stdout
    assert stack.served()[0] == "1"  # switched before the CLI returned
    stack.wait_serving(1, [1, 2])
    staged = stack.cli("promote", MODEL, "2", "--stage", "Staging", "-r", "fixed", "--yes")
    assert staged.returncode == 0, staged.stdout + staged.stderr
    stack.wait_serving(1, [1, 2])
    promoted = stack.cli("promote", MODEL, "2", "--stage", "Production", "-r", "fixed", "--yes")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "Serving default is v2 (verified)" in promoted.stdout, promoted.stdout
    assert stack.served()[0] == "2"
    stack.wait_serving(2, [1, 2])


def test_a_hand_made_set_default_on_kserve_is_reverted_and_audited(stack: Stack) -> None:
    stack.wait_serving(2, [1, 2])
    mark = stack.last_audit_id()
    with httpx.Client(timeout=30.0, trust_env=False) as http:
        KServeBackend(stack.kserve.url, stack.kserve.token, http=http).set_default(
            served_name(MODEL), "1"
        )
    assert stack.served()[0] == "1"
    stack.wait_serving(2, [1, 2])
    deadline = time.monotonic() + DEADLINE_S
    while not (repairs := stack.repairs_since(mark)):
        assert time.monotonic() < deadline, "the repair was never audited"
        time.sleep(0.2)
    assert any(
        text.startswith("kserve: ") and "default is 1, desired v2" in text for text in repairs
    ), repairs


def test_kill_9_of_the_kserve_server_is_restarted_and_serves_the_approved_state(
    stack: Stack,
) -> None:
    stack.wait_serving(2, [1, 2])
    pid = stack.kserve.pid
    assert pid is not None
    mark = stack.last_audit_id()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while stack.kserve.pid == pid:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        assert time.monotonic() < deadline, f"pid {pid} survived SIGKILL"
        time.sleep(0.05)
    stack.wait_serving(2, [1, 2])
    assert stack.kserve.pid not in (None, pid)
    deadline = time.monotonic() + DEADLINE_S  # its audit row follows the restart
    while True:
        repairs = stack.repairs_since(mark)
        if any("restarted the KServe server" in text for text in repairs):
            break
        assert time.monotonic() < deadline, repairs
        time.sleep(0.2)


def test_the_routing_table_sends_the_model_to_the_kserve_server(stack: Stack) -> None:
    stack.wait_serving(2, [1, 2])
    deployment = Deployment.open(stack.registry)
    try:
        built = deployment.routing_table()
    finally:
        deployment.close()
    entry = built.table.models[MODEL]
    url = stack.kserve.url
    assert entry.upstream == ModelUpstream(inference_url=url, management_url=url, backend="kserve")
    assert (entry.production, entry.previous) == (2, 1)
    assert built.omitted == []


def test_the_router_answers_from_kserve_and_follows_a_rollback_at_once(stack: Stack) -> None:
    stack.wait_serving(2, [1, 2])
    stack.wait_router("2")
    assert stack.router_version(oip=True) == "2"  # the Open Inference Protocol route too
    rolled = stack.cli("rollback", MODEL, "-r", "router check", "--yes")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    # The CLI returns after the router's table is confirmed: no stale answer after it.
    assert [stack.router_version() for _ in range(10)] == ["1"] * 10
    assert stack.router_version(oip=True) == "1"
    for stage in ("Staging", "Production"):
        moved = stack.cli("promote", MODEL, "2", "--stage", stage, "-r", "back", "--yes")
        assert moved.returncode == 0, moved.stdout + moved.stderr
    assert [stack.router_version() for _ in range(10)] == ["2"] * 10


def test_after_a_kill_9_of_kserve_the_router_answers_again(stack: Stack) -> None:
    stack.wait_serving(2, [1, 2])
    stack.wait_router("2")
    pid = stack.kserve.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    stack.wait_serving(2, [1, 2])
    stack.wait_router("2")


def test_a_guard_rolls_back_a_kserve_version_that_breaks_its_sla(stack: Stack) -> None:
    """The controller started by `serve up` judges the guard from the router's statistics of
    a KServe-backed model and rolls back under the human's approval, as for TorchServe."""
    url = f"http://127.0.0.1:{stack.env['MODELREG_ROUTER_PORT']}/predictions/{GUARDED}"
    promoted = stack.cli(
        "promote", GUARDED, "2", "--stage", "Production", "--guard", "-r", "ship", "--yes"
    )
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    seen: Counter[str] = Counter()
    failures: list[str] = []
    deadline = time.monotonic() + 60 + DEADLINE_S  # the guard's window, then judging
    with httpx.Client(timeout=30.0, trust_env=False) as http:
        while time.monotonic() < deadline:
            reply = http.post(url, json={"inputs": [ROW]})
            if reply.status_code == 200:
                seen[reply.headers["x-model-version"]] += 1
            else:
                failures.append(f"{reply.status_code} {reply.text[:200]}")
            if seen["1"] >= 5 and stack.registry.get_model(GUARDED).model.production_version == 1:
                break
    assert failures == []
    assert seen["2"] >= 20, seen  # judged only after min_requests
    assert seen["1"] >= 5, seen  # and the router follows the rollback
    rollback = next(
        row
        for row in stack.registry.audit_log(model=GUARDED, limit=50).items
        if row.action is AuditAction.ROLLBACK
    )
    assert (rollback.actor, rollback.decision, rollback.to_version) == (
        GUARD_ACTOR,
        Decision.DONE,
        1,
    )
    assert rollback.rationale is not None
    assert "> SLA 60 ms" in rollback.rationale
    deadline = time.monotonic() + DEADLINE_S
    while True:  # the controller verifies serving and closes the guard
        (ended,) = stack.registry.releases.guards(model=GUARDED, limit=1)
        if ended.status is GuardStatus.ROLLED_BACK:
            break
        assert time.monotonic() < deadline, ended
        time.sleep(0.2)

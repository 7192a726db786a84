"""Serving converges on its own: a stack started by `modelreg serve up` (its own TorchServe, the
router, the controller and its watchdog, all real processes) with clients sending requests
through the router while things break: the registry moves and the process that moved it dies
before serving follows; a hand-made `set-default`; kill -9 of the router, of TorchServe's
java, of the controller itself. After each, with no command typed, serving converges to the
registry's approved state, and no request sent after convergence is answered by another
version.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from registry_mcp.core.approvals import CONTROLLER_ACTOR, Approvals
from registry_mcp.core.change_requests import Approval
from registry_mcp.core.registry import Registry
from registry_mcp.deploy.controller_process import ControllerProcess
from registry_mcp.deploy.router_client import RouterAdmin, RouterCallError
from registry_mcp.deploy.router_process import read_admin_token
from registry_mcp.deploy.router_settings import RouterPlace
from registry_mcp.domain.plans import ChangeKind
from registry_mcp.domain.schemas import AuditAction, Decision
from serving.errors import ServingError
from serving.local import LocalPorts, LocalTorchServe
from serving.naming import served_name
from serving.router.server import free_port
from tests.conftest import make_backend
from tests.helpers import add_versions

pytestmark = pytest.mark.slow

MODEL = "ctl-digits"
ROW = [0.5] * 64
CONFIG = f"""
models:
  {MODEL}:
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 1000
    input_schema: {{n_features: 64}}
"""
DEADLINE_S = 120.0  # generous: a loaded machine may take long to restart java


@dataclass
class Answer:
    sent: float
    status: int
    version: str | None


@dataclass
class Load:
    """Clients posting to the router until stopped; every answer kept with its send time."""

    url: str
    clients: int = 3
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(self.clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        with httpx.Client(timeout=30.0, trust_env=False) as http:
            while not self.stop.is_set():
                sent = time.time()
                try:
                    reply = http.post(self.url, json={"inputs": [ROW]})
                except httpx.HTTPError:
                    answer = Answer(sent, 0, None)
                    time.sleep(0.05)  # the router is down: do not spin
                else:
                    answer = Answer(sent, reply.status_code, reply.headers.get("x-model-version"))
                with self._lock:
                    self.answers.append(answer)

    def after(self, moment: float) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.sent >= moment]


@dataclass
class Stack:
    registry: Registry
    home: Path
    env: dict[str, str]
    server: LocalTorchServe
    place: RouterPlace
    http: httpx.Client

    @property
    def url(self) -> str:
        return f"{self.place.url}/predictions/{MODEL}"

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "registry_mcp.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def move_without_serving(self, kind: ChangeKind, **kw: object) -> None:
        """The registry moves, and serving is never told: as if the process that made the
        change died right after its commit."""
        approvals = Approvals.for_registry(self.registry)  # no after_change: no push
        req = approvals.request(
            kind, MODEL, requested_by="erin", client="test", rationale="test", **kw
        )  # type: ignore[arg-type]
        outcome = approvals.apply(req, approvals.plan(req), Approval(approver="erin", via="t"))
        assert outcome.status == "applied", outcome

    def production(self) -> int:
        found = self.registry.get_model(MODEL, limit=1).model.approved.production
        assert found is not None
        return found

    def serving(self) -> tuple[str | None, int | None, bool | None]:
        """(TorchServe's default, the router table's Production, the table confirmed)."""
        default = None
        with contextlib.suppress(ServingError), self.server.client() as client:
            default = client.default_version(served_name(MODEL))
        admin = RouterAdmin(self.place.url, lambda: read_admin_token(self.place), self.http)
        try:
            state = admin.get_table()
        except RouterCallError:
            return default, None, None
        entry = state.table.models.get(MODEL)
        return default, None if entry is None else entry.production, state.confirmed

    def wait_converged(self, *, deadline_s: float = DEADLINE_S) -> float:
        """Until TorchServe's default and the router's table serve the registry's Production
        (and the router's table is confirmed); the time it was first seen."""
        want = self.production()
        deadline = time.monotonic() + deadline_s
        while True:
            default, routed, confirmed = self.serving()
            if default == str(want) and routed == want and confirmed is not False:
                return time.time()
            assert time.monotonic() < deadline, (
                f"serving did not converge on v{want} in {deadline_s:.0f} s: TorchServe default "
                f"{default}, router {routed} (confirmed {confirmed}); "
                f"controller: {ControllerProcess(self.home).status().describe()}"
            )
            time.sleep(0.05)

    def wait_repair(self, audit_id: int, fragment: str) -> list[str]:
        """The controller's repairs since ``audit_id``, once one of them says ``fragment`` (a
        repair's audit row is written right after the switch it records)."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            repairs = self.repairs_since(audit_id)
            if any(fragment in text for text in repairs):
                return repairs
            assert time.monotonic() < deadline, f"no repair saying {fragment!r}: {repairs}"
            time.sleep(0.1)

    def repairs_since(self, audit_id: int) -> list[str]:
        rows = self.registry.audit_log(limit=200).items
        return [
            row.reason or ""
            for row in rows
            if row.id > audit_id
            and row.actor == CONTROLLER_ACTOR
            and row.action is AuditAction.REPAIR
            and row.decision is Decision.DONE
        ]

    def last_audit_id(self) -> int:
        rows = self.registry.audit_log(limit=1).items
        return rows[0].id if rows else 0


def _proof(load: Load, since: float, version: int, *, settle_s: float = 2.0) -> None:
    """Requests sent after ``since`` (convergence) are all answered, and by ``version``:
    at least ``settle_s`` of traffic and 5 answered requests, however slow the machine."""
    time.sleep(settle_s)
    deadline = time.monotonic() + DEADLINE_S
    while len([a for a in load.after(since) if a.status != 0]) < 5:
        assert time.monotonic() < deadline, "too few requests answered after convergence"
        time.sleep(0.1)
    after = load.after(since)
    wrong = [a for a in after if a.status == 200 and a.version != str(version)]
    failed = [a for a in after if a.status != 200]
    assert not wrong, f"{len(wrong)} of {len(after)} answers after convergence by another version"
    assert not failed, f"{len(failed)} of {len(after)} requests after convergence failed"


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, java: str
) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("controller")
    backend = make_backend(request, "sqlite", home)
    models_file = home / "models-test.yaml"
    models_file.write_text(CONFIG)
    settings = backend.settings.model_copy(update={"models_config": models_file})
    registry = Registry.open(settings)
    add_versions(registry, backend.model_uris[0], MODEL, 2)
    for version in (1, 2):
        for stage in ("staging", "production"):
            registry.stages.transition(MODEL, version, stage, rationale="setup", actor="t")
    ports = LocalPorts.free()
    router_port = free_port()
    serving_dir = home / "serving"
    router_dir = home / "router"
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MODELREG_HOME": str(settings.home),
        "MODELREG_ARTIFACT_ROOT": settings.resolved_artifact_root,
        "MODELREG_SERVING_DIR": str(serving_dir),
        "MODELREG_ROUTER_DIR": str(router_dir),
        "MODELREG_ROUTER_PORT": str(router_port),
        "MODELREG_MODELS_CONFIG": str(models_file),
        **{f"MODELREG_SERVING_{k.upper()}_PORT": str(v) for k, v in ports.as_dict().items()},
    }
    server = LocalTorchServe(serving_dir, ports=ports)
    place = RouterPlace(port=router_port, host="127.0.0.1", directory=router_dir)
    http = httpx.Client(timeout=10.0, trust_env=False)
    built = Stack(registry, settings.home, env, server, place, http)
    try:
        up = built.cli("serve", "up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "Controller up (pid" in up.stdout
        built.wait_converged()
        yield built
    finally:
        down = built.cli("serve", "down")
        http.close()
        registry.close()
        assert down.returncode == 0, down.stdout + down.stderr
        assert not ControllerProcess(settings.home).status().running
        assert not server.status().running


def test_a_registry_change_whose_process_died_before_serving_followed_is_converged(
    stack: Stack,
) -> None:
    assert stack.production() == 2
    mark = stack.last_audit_id()
    with Load(stack.url) as load:
        time.sleep(0.5)
        stack.move_without_serving(ChangeKind.ROLLBACK)  # registry: v1; serving: still v2
        moved = time.time()
        converged = stack.wait_converged()
        _proof(load, converged, 1)
    assert converged - moved < 30, f"took {converged - moved:.1f} s"
    stack.wait_repair(mark, "set_default")


def test_cli_killed_at_random_points_of_a_promotion_leaves_serving_on_the_registry(
    stack: Stack,
) -> None:
    chooser = random.Random(20)
    with Load(stack.url) as load:
        for _ in range(3):
            # Each rollback returns to the version the last one left.
            child = subprocess.Popen(
                [sys.executable, "-m", "registry_mcp.cli", "rollback", MODEL, "-r", "x", "--yes"],
                env=stack.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(chooser.uniform(1.0, 5.0))
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
            converged = stack.wait_converged()
            _proof(load, converged, stack.production(), settle_s=1.0)


def test_a_hand_made_set_default_is_reverted_and_audited(stack: Stack) -> None:
    want = stack.production()
    other = 1 if want == 2 else 2
    mark = stack.last_audit_id()
    with stack.server.client() as client:
        client.set_default(served_name(MODEL), str(other))
    deadline = time.monotonic() + DEADLINE_S
    while stack.serving()[0] != str(want):
        assert time.monotonic() < deadline, "the hand-made set-default was never reverted"
        time.sleep(0.05)
    stack.wait_repair(mark, f"default is {other}, desired v{want}")


def _pid_of(path: Path) -> int:
    return int(path.read_text().strip())


def _killed(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists():
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        status = Path(f"/proc/{pid}/status")
        with contextlib.suppress(OSError):
            if "zombie" in status.read_text():
                return
        assert time.monotonic() < deadline, f"pid {pid} survived SIGKILL"
        time.sleep(0.02)


def _kill_then_move(
    stack: Stack, kill: Callable[[], None], *, respawned: Callable[[], bool]
) -> None:
    """Kill a process, move the registry while it is down, and prove that from the move on
    no request is answered by the version the registry left."""
    with Load(stack.url) as load:
        time.sleep(0.5)
        kill()
        target = 1 if stack.production() == 2 else 2
        stack.move_without_serving(ChangeKind.ROLLBACK, version=target)
        moved = time.time()
        converged = stack.wait_converged()
        assert respawned()
        # From the registry move on: failures are allowed while a process is down, but a
        # version the registry no longer approves never answers.
        stale = [a for a in load.after(moved) if a.status == 200 and a.version != str(target)]
        assert not stale, f"{len(stale)} answers by v{3 - target} after the registry moved"
        _proof(load, converged, target)


def test_a_killed_router_is_restarted_and_never_answers_from_its_old_table(stack: Stack) -> None:
    before = _pid_of(stack.place.pid_file)
    _kill_then_move(
        stack,
        lambda: _killed(before),
        respawned=lambda: _pid_of(stack.place.pid_file) != before,
    )


def test_a_killed_torchserve_is_restarted_loaded_and_the_table_follows(stack: Stack) -> None:
    before = stack.server.status().pid
    assert before is not None
    _kill_then_move(
        stack,
        lambda: _killed(before),
        respawned=lambda: stack.server.status().pid not in (None, before),
    )


def test_a_killed_controller_is_restarted_by_its_watchdog(stack: Stack) -> None:
    process = ControllerProcess(stack.home)
    before = process.pid("run")
    assert before is not None
    # The controller starts its watchdog once it runs: wait for it (run alone, this test
    # can start before the watchdog has claimed its pid).
    deadline = time.monotonic() + DEADLINE_S
    while process.pid("watchdog") is None:
        assert time.monotonic() < deadline, "the controller did not start its watchdog"
        time.sleep(0.1)
    _killed(before)
    deadline = time.monotonic() + DEADLINE_S
    while process.pid("run") in (None, before):
        assert time.monotonic() < deadline, "the watchdog did not restart the controller"
        time.sleep(0.1)
    # The new controller repairs as the old one did.
    test_a_hand_made_set_default_is_reverted_and_audited(stack)
    watchdog = process.pid("watchdog")
    assert watchdog is not None
    _killed(watchdog)
    deadline = time.monotonic() + DEADLINE_S
    while process.pid("watchdog") in (None, watchdog):
        assert time.monotonic() < deadline, "the controller did not restart its watchdog"
        time.sleep(0.1)

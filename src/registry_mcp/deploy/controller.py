"""The serving controller: keeps serving equal to the approved registry state, whoever broke it.

Level-triggered, like a Kubernetes controller. Every tick it reads the desired state (the
registry's approved Production, previous and Staging versions, canary, guards) and the actual
state (the default and loaded versions of each model's backend, TorchServe or KServe's
model server per ``backend:`` in models.yaml; the router's table), and makes one round of
repairs in the safe order: load, then switch, then unload, then the router's table. It never
trusts that an earlier push happened: a CLI killed between the registry commit and the
switch, a restarted router, a hand-made ``set-default`` are all the same difference to it.

- **Supervision.** A dead TorchServe, KServe server (when a managed model uses it) or router
  is restarted (with back-off); after a restart
  the router's table is pushed at once, before anything else, so no request is answered by a
  version the registry no longer approves.
- **Grace.** Drift is repaired once it has lasted ``grace_s``: the process that made a change
  pushes serving itself within milliseconds (the fast path); the controller is the safety net.
- **Guards** are judged here (``GuardWatcher``); a guard's rollback counts as done only once
  serving is verified on the approved state.
- **Audit.** Each repair is audited once (actor ``modelreg-controller``): what differed, what
  was done. A repair that keeps failing the same way is audited once, then retried quietly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.core.approvals import CONTROLLER_ACTOR
from registry_mcp.core.ports import RouterUpdate
from registry_mcp.core.registry import Registry
from registry_mcp.deploy.deployment import Deployment, serving_error
from registry_mcp.deploy.guard_watch import GuardVerdict, GuardWatcher
from registry_mcp.domain.errors import RegistryError
from registry_mcp.store.releases import Guard
from serving.errors import ServingError
from serving.rollout import LOAD_STEPS, ReconcileReport, reconcile

log = logging.getLogger(__name__)

ALL_MODELS = "*"
"""Audit model of a repair of the whole stack (a restarted TorchServe or router)."""

ProcessState = Literal["running", "unresponsive", "restarted", "restarting", "down", "not_managed"]


class ControllerConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    interval_s: float = Field(default=0.5, gt=0, le=60, description="Pause between ticks.")
    grace_s: float = Field(
        default=0.5,
        ge=0,
        le=60,
        description="How long drift must last before a repair (the changing process's own "
        "push comes first).",
    )
    restart_backoff_s: tuple[float, ...] = Field(
        default=(1.0, 2.0, 4.0, 8.0, 15.0, 30.0),
        description="Pauses after failed restarts, the last one repeated.",
    )
    retry_failed_s: float = Field(
        default=5.0, gt=0, description="Pause before retrying a repair that failed."
    )


class Repair(BaseModel):
    """One repair the controller made (or tried)."""

    model_config = ConfigDict(frozen=True)

    target: Literal["torchserve", "kserve", "router", "process"]
    model: str | None = None
    differed: str = Field(description="What differed from the approved state.")
    did: str = Field(description="What the controller did about it.")
    ok: bool


class ModelObservation(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    registry_production: int | None
    serving_default: int | None
    loaded_versions: list[int]
    in_sync: bool
    drift: list[str] = Field(default_factory=list)


class TickReport(BaseModel):
    """What one tick observed and did (written to the controller's status file)."""

    model_config = ConfigDict(frozen=True)

    at: float = Field(description="Unix time the tick started.")
    elapsed_ms: float
    torchserve: ProcessState
    router: ProcessState
    kserve: ProcessState = "not_managed"
    router_generation: int | None = None
    router_in_sync: bool | None = None
    models: list[ModelObservation] = Field(default_factory=list)
    repairs: list[Repair] = Field(default_factory=list)
    guards: list[GuardVerdict] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return (
            self.torchserve == "running"
            and self.kserve in ("running", "not_managed")
            and self.router in ("running", "not_managed")
            and self.router_in_sync is not False
            and all(m.in_sync for m in self.models)
        )


class _Backoff:
    """When a failing thing may be tried again."""

    def __init__(self, pauses: tuple[float, ...]) -> None:
        self._pauses = pauses
        self._failures = 0
        self._next = 0.0

    def ready(self, now: float) -> bool:
        return now >= self._next

    def failed(self, now: float) -> float:
        pause = self._pauses[min(self._failures, len(self._pauses) - 1)]
        self._failures += 1
        self._next = now + pause
        return pause

    def succeeded(self) -> None:
        self._failures = 0
        self._next = 0.0


class Controller:
    """One reconcile loop over a local deployment (TorchServe + router) and its guards."""

    def __init__(
        self,
        registry: Registry,
        deployment: Deployment,
        watcher: GuardWatcher,
        *,
        config: ControllerConfig | None = None,
        clock: Callable[[], float] = time.time,
        supervise: bool = True,
    ) -> None:
        self._registry = registry
        self._deployment = deployment
        self._watcher = watcher
        self.config = config or ControllerConfig()
        self._clock = clock
        self._supervise = supervise
        self._drift_since: dict[str, float] = {}  # key -> when the drift was first seen
        self._audited: dict[str, str] = {}  # key -> the last failure audited (once)
        self._retry_at: dict[str, float] = {}  # key -> when a failed repair retries
        self._ts_backoff = _Backoff(self.config.restart_backoff_s)
        self._router_backoff = _Backoff(self.config.restart_backoff_s)
        self._kserve_backoff = _Backoff(self.config.restart_backoff_s)

    # ------------------------------------------------------------------ the tick

    def tick(self) -> TickReport:
        started = self._clock()
        perf = time.perf_counter()
        repairs: list[Repair] = []
        problems: list[str] = []
        try:
            names = self._deployment.managed_models()
        except RegistryError as exc:
            names = []
            problems.append(f"registry: {exc.message}")
        torchserve = self._supervise_torchserve(started, repairs, problems)
        kserve = self._supervise_kserve(started, names, repairs, problems)
        router = self._supervise_router(started, repairs, problems)
        urgent = "restarted" in (torchserve, kserve, router)
        if urgent:
            # Before anything else: the table of a restarted router (or one in front of a
            # restarted backend, which lost every version) must name only what is ready.
            self._push_router(repairs, problems, reason="a serving process restarted")
        models: list[ModelObservation] = []
        up = {"torchserve": torchserve, "kserve": kserve}
        for name in names:
            if up[self._deployment.backend_kind(name)] not in ("running", "restarted"):
                continue  # its server is down: reported above
            seen = self._converge_model(name, started, repairs, problems)
            if seen is not None:
                models.append(seen)
        generation, router_in_sync = (None, None)
        if router not in ("down", "restarting"):  # a dead router is already reported
            generation, router_in_sync = self._converge_router(started, repairs, problems, urgent)
        guards = self._judge_guards(problems)
        self._confirm_rollbacks(problems)
        return TickReport(
            at=started,
            elapsed_ms=round((time.perf_counter() - perf) * 1000, 1),
            torchserve=torchserve,
            router=router,
            kserve=kserve,
            router_generation=generation,
            router_in_sync=router_in_sync,
            models=models,
            repairs=repairs,
            guards=guards,
            problems=problems,
        )

    # ----------------------------------------------------------- supervision

    def _supervise_torchserve(
        self, now: float, repairs: list[Repair], problems: list[str]
    ) -> ProcessState:
        server = self._deployment.server
        if self._deployment.running():
            self._ts_backoff.succeeded()
            return "running"
        if server.status().running:
            # Alive but not answering /ping (busy, or still starting): never restart a live
            # server for being slow; report it and look again next tick.
            problems.append("TorchServe runs but does not answer /ping")
            return "unresponsive"
        if not self._supervise:
            problems.append("TorchServe is not running")
            return "down"

        def start() -> None:
            server.down()  # a crashed server leaves its pid file and workers: clear them
            server.up()

        return self._restart("TorchServe", "torchserve", self._ts_backoff, now, start, repairs)

    def _supervise_kserve(
        self, now: float, names: list[str], repairs: list[Repair], problems: list[str]
    ) -> ProcessState:
        side = self._deployment.kserve
        if side is None or not any(self._deployment.backend_kind(n) == "kserve" for n in names):
            return "not_managed"
        if side.running():
            self._kserve_backoff.succeeded()
            return "running"
        if side.server.pid is not None:
            problems.append("the KServe server runs but does not answer /v2/health/live")
            return "unresponsive"
        if not self._supervise:
            problems.append("the KServe server is not running")
            return "down"

        def start() -> None:
            side.server.down()  # clear what a crashed server left (pid file, token)
            side.up()

        return self._restart(
            "the KServe server", "kserve", self._kserve_backoff, now, start, repairs
        )

    def _supervise_router(
        self, now: float, repairs: list[Repair], problems: list[str]
    ) -> ProcessState:
        process = self._deployment.router_process
        if process is None:
            return "not_managed"
        if process.running():
            self._router_backoff.succeeded()
            return "running"
        if not self._supervise:
            problems.append("the router is not running")
            return "down"
        return self._restart("the router", "router", self._router_backoff, now, process.up, repairs)

    def _restart(
        self,
        name: str,
        key: str,
        backoff: _Backoff,
        now: float,
        start: Callable[[], object],
        repairs: list[Repair],
    ) -> ProcessState:
        """Start a dead process (after its back-off); the attempt is a repair, audited."""
        if not backoff.ready(now):
            return "restarting"
        differed = f"{name} was not running"
        try:
            start()
        except (ServingError, RegistryError) as exc:
            pause = backoff.failed(now)
            message = exc.message if isinstance(exc, RegistryError) else str(exc)
            did = f"restart failed: {message}; next attempt in {pause:g} s"
            self._record(
                Repair(target="process", differed=differed, did=did, ok=False),
                repairs,
                key=f"process:{key}",
            )
            return "down"
        backoff.succeeded()
        self._record(
            Repair(target="process", differed=differed, did=f"restarted {name}", ok=True),
            repairs,
            key=f"process:{key}",
        )
        return "restarted"

    # ----------------------------------------------------------- TorchServe

    def _converge_model(
        self, model: str, now: float, repairs: list[Repair], problems: list[str]
    ) -> ModelObservation | None:
        target = self._deployment.backend_kind(model)
        key = f"{target}:{model}"
        try:
            status = self._deployment.status(model)
        except RegistryError as exc:
            problems.append(f"{model}: {exc.message}")
            return None
        seen = ModelObservation(
            model=model,
            registry_production=status.registry_production,
            serving_default=status.serving_default,
            loaded_versions=status.loaded_versions,
            in_sync=status.in_sync,
            drift=status.drift_reasons,
        )
        if status.in_sync:
            self._settled(key)
            return seen
        if not self._due(key, now):
            return seen
        differed = "; ".join(status.drift_reasons)
        try:
            report = self._reconcile(model)
        except (RegistryError, ServingError) as exc:
            message = exc.message if isinstance(exc, RegistryError) else str(exc)
            self._failed(key, now)
            self._record(
                Repair(
                    target=target,
                    model=model,
                    differed=differed,
                    did=f"repair failed: {message}",
                    ok=False,
                ),
                repairs,
                key=key,
            )
            return seen
        did = ", ".join(
            f"{a.kind} v{a.ts_version}" + ("" if a.ok else " (failed)") for a in report.actions
        )
        if not report.actions:
            did = "nothing left to do (another process repaired it)"
        if report.in_sync:
            self._settled(key)
        else:
            self._failed(key, now)
            did += "; still drifting: " + "; ".join(report.remaining)
        if report.actions:
            self._record(
                Repair(target=target, model=model, differed=differed, did=did, ok=report.in_sync),
                repairs,
                key=key,
            )
        return seen.model_copy(update={"in_sync": report.in_sync, "drift": report.remaining})

    def _reconcile(self, model: str) -> ReconcileReport:
        """Load first (no lock), then switch and unload under the serving lock, each on a
        fresh reading of the registry: never a switch decided on a stale state."""
        backend = self._deployment.backend_for(model)
        try:
            loaded = reconcile(
                backend, self._deployment.desired(model, build=True), only=LOAD_STEPS
            )
            with self._deployment.serving_lock:
                switched = reconcile(backend, self._deployment.desired(model, build=False))
        except ServingError as exc:
            raise serving_error(exc) from None
        return switched.model_copy(update={"actions": [*loaded.actions, *switched.actions]})

    # ----------------------------------------------------------- router

    def _converge_router(
        self, now: float, repairs: list[Repair], problems: list[str], urgent: bool
    ) -> tuple[int | None, bool | None]:
        sync = self._deployment.router
        if sync is None:
            return None, None
        status = sync.status(compare=self._deployment.running())
        if not status.reachable:
            problems.append(f"router: {status.detail}")
            return None, None
        key = "router:table"
        if status.confirmed is False:
            urgent = True  # a restarted router holds its requests until we confirm
        if status.in_sync is not False:
            self._settled(key)
            return status.generation, status.in_sync
        if not urgent and not self._due(key, now):
            return status.generation, False
        update = self._push_router(
            repairs, problems, reason="the router's table differed from the registry's"
        )
        # The push read its table back: no third computation of the wanted table.
        in_sync = update is not None and update.updated and bool(update.verified)
        if in_sync:
            self._settled(key)
        else:
            self._failed(key, now)
        generation = status.generation if update is None else update.generation
        return generation, in_sync

    def _push_router(
        self, repairs: list[Repair], problems: list[str], *, reason: str
    ) -> RouterUpdate | None:
        if self._deployment.router is None:
            return None
        with self._deployment.serving_lock:
            update = self._deployment.router.push()
        if not update.updated:
            problems.append(update.detail)
            return update
        if update.changed:
            self._record(
                Repair(
                    target="router",
                    differed=reason,
                    did=update.detail,
                    ok=bool(update.verified),
                ),
                repairs,
                key="router:table",
            )
        return update

    # ----------------------------------------------------------- guards

    def _judge_guards(self, problems: list[str]) -> list[GuardVerdict]:
        try:
            return self._watcher.tick()
        except RegistryError as exc:
            problems.append(f"guards: {exc.message}")
            return []

    def _confirm_rollbacks(self, problems: list[str]) -> None:
        """A guard's rollback is done once serving answers the approved state."""
        try:
            pending = self._registry.releases.rolling_back()
        except RegistryError as exc:
            problems.append(f"guards: {exc.message}")
            return
        for guard in pending:
            verified = self._verified(guard)
            if verified is not None:
                self._registry.releases.confirm_rollback(guard, verified, actor=CONTROLLER_ACTOR)

    def _verified(self, guard: Guard) -> str | None:
        """What proves serving follows the registry after ``guard``'s rollback; None if not yet."""
        try:
            status = self._deployment.status(guard.model)
        except RegistryError:
            return None
        if not status.in_sync or status.serving_default != status.registry_production:
            return None
        router = self._deployment.router
        if router is not None:
            table = router.status(compare=True)
            if not table.in_sync:
                return None
            if table.production.get(guard.model) != status.registry_production:
                return None
        delay = ""
        if guard.decided_at is not None:
            delay = (
                f", {self._clock() - guard.decided_at.timestamp():.1f} s after the registry moved"
            )
        server = (
            "TorchServe" if self._deployment.backend_kind(guard.model) == "torchserve" else "KServe"
        )
        return (
            f"{server}'s default and the router's table serve v{status.registry_production}{delay}"
        )

    # ----------------------------------------------------------- bookkeeping

    def _due(self, key: str, now: float) -> bool:
        """Drift has lasted the grace period, and no failed repair of it waits to retry."""
        first = self._drift_since.setdefault(key, now)
        if now - first < self.config.grace_s:
            return False
        return now >= self._retry_at.get(key, 0.0)

    def _settled(self, key: str) -> None:
        self._drift_since.pop(key, None)
        self._retry_at.pop(key, None)
        self._audited.pop(key, None)

    def _failed(self, key: str, now: float) -> None:
        self._retry_at[key] = now + self.config.retry_failed_s

    def _record(self, repair: Repair, repairs: list[Repair], *, key: str) -> None:
        """Report and audit a repair; a failure repeating the last one is not audited again."""
        repairs.append(repair)
        if not repair.ok:
            if self._audited.get(key) == repair.did:
                return
            self._audited[key] = repair.did
        else:
            self._audited.pop(key, None)
        try:
            self._registry.record_repair(
                actor=CONTROLLER_ACTOR,
                model=repair.model or ALL_MODELS,
                ok=repair.ok,
                reason=f"{repair.target}: {repair.differed} -> {repair.did}",
            )
        except RegistryError as exc:
            log.warning("could not audit a repair: %s", exc)

"""The promotion guard watcher: judge guarded Production versions, roll back on breach.

Each tick reads the guards still watching from the database (so a restarted watcher picks
up where the last one stopped), asks the router for the guarded version's requests since
its promotion, and compares them with the thresholds the human approved. On a breach it
rolls back through :meth:`Approvals.apply_guard_rollback` — the one apply path: registry,
router and TorchServe follow, verified, one audit row naming the approval and the evidence.
That path refuses (and audits) a rollback whose guard is no longer watching the version, or
whose window is over, whatever this process believed a moment before.

A guard whose window ended without a breach is marked passed (audited). Nothing here
decides on a version that is not the guarded one: its Production version is read from the
registry on every tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from registry_mcp.core.approvals import GUARD_ACTOR, Approvals
from registry_mcp.core.registry import Registry
from registry_mcp.domain.errors import RegistryError
from registry_mcp.domain.releases import GuardEvidence, breaches
from registry_mcp.store.releases import Guard
from serving.router.window import StatsReply, VersionStats

log = logging.getLogger(__name__)

RETRY_AFTER_S = 10.0
"""Pause before retrying a rollback the registry refused (each attempt is audited)."""

Action = Literal["watching", "rolled_back", "passed", "refused", "no_data"]


class GuardVerdict(BaseModel):
    """What one tick decided about one guard."""

    model_config = ConfigDict(frozen=True)

    guard_id: int
    model: str
    version: int
    action: Action
    evidence: str
    breaches: list[str] = []


StatsSource = Callable[[float], StatsReply]
"""The router's per-version window since a Unix time; raises RegistryError when unavailable."""


class GuardWatcher:
    def __init__(
        self,
        registry: Registry,
        approvals: Approvals,
        stats: StatsSource,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._registry = registry
        self._approvals = approvals
        self._stats = stats
        self._clock = clock
        self._retry_at: dict[int, float] = {}  # guard id -> when a refused rollback retries

    def tick(self) -> list[GuardVerdict]:
        return [self._judge(guard) for guard in self._registry.releases.watching()]

    def run(
        self,
        stop: threading.Event,
        interval_s: float = 0.5,
        report: Callable[[GuardVerdict], None] | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        """Tick until ``stop`` is set; every decision other than "watching" is reported
        (logged by default); ``on_tick`` runs after each completed check (the heartbeat);
        a failing tick is logged and retried."""
        while not stop.is_set():
            try:
                for verdict in self.tick():
                    if verdict.action not in ("watching", "no_data"):
                        (report or _log)(verdict)
            except RegistryError as exc:
                log.warning("guard tick failed: %s", exc)
            else:
                if on_tick is not None:
                    on_tick()
            stop.wait(interval_s)

    def _judge(self, guard: Guard) -> GuardVerdict:
        now = self._clock()
        if now > guard.ends_at.timestamp():
            seen = self._closing_evidence(guard)
            text = "window over without a breach" + ("" if seen is None else f"; {seen}")
            self._registry.releases.pass_guard(guard, text, actor=GUARD_ACTOR)
            return self._verdict(guard, "passed", text)
        try:
            reply = self._stats(guard.started_s)
        except RegistryError as exc:  # the router is down or refused: keep watching
            return self._verdict(guard, "no_data", f"router statistics unavailable: {exc}")
        stats = reply.models.get(guard.model, {}).get(str(guard.version))
        evidence = _evidence(stats)
        found = breaches(guard.spec, evidence)
        text = describe(guard, evidence, now)
        if not found:
            return self._verdict(guard, "watching", text)
        detail = f"{'; '.join(found)} ({text})"
        if now < self._retry_at.get(guard.id, 0.0):
            return self._verdict(guard, "refused", "waiting to retry a refused rollback", found)
        try:
            self._approvals.apply_guard_rollback(guard, detail)
        except RegistryError as exc:
            # Every attempt is audited; a refusal (e.g. an unapproved change, a lock held)
            # is retried after a pause rather than on every tick.
            self._retry_at[guard.id] = now + RETRY_AFTER_S
            return self._verdict(guard, "refused", f"{exc.code.value}: {exc.message}", found)
        return self._verdict(guard, "rolled_back", detail, found)

    def _closing_evidence(self, guard: Guard) -> str | None:
        try:
            reply = self._stats(guard.started_s)
        except RegistryError:  # the window is over either way
            return None
        stats = reply.models.get(guard.model, {}).get(str(guard.version))
        return describe(guard, _evidence(stats), min(self._clock(), guard.ends_at.timestamp()))

    @staticmethod
    def _verdict(
        guard: Guard, action: Action, evidence: str, found: list[str] | None = None
    ) -> GuardVerdict:
        return GuardVerdict(
            guard_id=guard.id,
            model=guard.model,
            version=guard.version,
            action=action,
            evidence=evidence,
            breaches=found or [],
        )


def _log(verdict: GuardVerdict) -> None:
    log.warning(
        "guard #%s %s v%s: %s %s",
        verdict.guard_id,
        verdict.model,
        verdict.version,
        verdict.action,
        verdict.evidence,
    )


def _evidence(stats: VersionStats | None) -> GuardEvidence:
    if stats is None:
        return GuardEvidence(
            requests=0, errors=0, error_ratio=None, p99_ms=None, feedback_rows=0, accuracy=None
        )
    return GuardEvidence(
        requests=stats.requests,
        errors=stats.errors,
        error_ratio=stats.error_ratio,
        p99_ms=stats.p99_ms,
        feedback_rows=stats.feedback_rows,
        accuracy=stats.accuracy,
    )


def describe(guard: Guard, seen: GuardEvidence, now: float) -> str:
    elapsed = max(0.0, now - guard.started_s)
    text = f"v{guard.version} over {elapsed:.1f} s: {seen.requests} requests, {seen.errors} errors"
    if seen.p99_ms is not None:
        text += f", p99 {seen.p99_ms:.1f} ms"
    if seen.accuracy is not None:
        text += f", accuracy {seen.accuracy:.1%} of {seen.feedback_rows} labelled rows"
    return text

"""The promotion guard watcher: judge guarded Production versions, roll back on breach.

Each tick reads the guards still watching from the database (so a restarted watcher picks
up where the last one stopped), asks the router for the guarded version's requests since
its promotion, and compares them with the thresholds the human approved. On a breach it
rolls back through :meth:`Approvals.apply_guard_rollback` — the one apply path: registry,
router and TorchServe follow, verified, one audit row naming the approval and the evidence.
That path refuses (and audits) a rollback whose guard is no longer watching the version, or
whose window is over, whatever this process believed a moment before.

A guard is judged on its evidence, never passed by the clock alone. A guard whose window
ended while nobody judged it (the watcher was down) is judged on the window's own requests
when the watcher comes back: a breach rolls back (audited as late, with how late); no breach
passes it only when the window holds at least the guard's ``min_requests`` and the router
holds the *whole* window of the version (it did not restart, nothing was dropped); otherwise
the guard ends ``unjudged`` — never ``passed``. Nothing here
decides on a version that is not the guarded one: its Production version is read from the
registry on every tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
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
UNAVAILABLE_GRACE_S = 30.0
"""After its window, how long a guard waits for the router's statistics before it ends
unjudged (a router being restarted answers again within seconds; its evidence is gone)."""

Action = Literal["watching", "rolled_back", "passed", "unjudged", "refused", "no_data"]


class GuardVerdict(BaseModel):
    """What one tick decided about one guard."""

    model_config = ConfigDict(frozen=True)

    guard_id: int
    model: str
    version: int
    action: Action
    evidence: str
    breaches: list[str] = []


StatsSource = Callable[[float, float | None], StatsReply]
"""The router's per-version window from a Unix time until another (None: now); raises
RegistryError when unavailable. ``stats_source.guard_stats`` picks one: the router's own
``/admin/stats``, or Prometheus summing every router replica (a cluster)."""


class GuardWatcher:
    def __init__(
        self,
        registry: Registry,
        approvals: Approvals,
        stats: StatsSource,
        *,
        clock: Callable[[], float] = time.time,
        interval_hint_s: float = 0.5,
    ) -> None:
        self._interval_hint = interval_hint_s
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
        ends = guard.ends_at.timestamp()
        over = now > ends
        try:
            reply = self._stats(guard.started_s, ends if over else None)
        except RegistryError as exc:  # the router is down or refused
            if over and now - ends > UNAVAILABLE_GRACE_S:
                text = f"the router's statistics of the window are unavailable: {exc.message}"
                return self._end_unjudged(guard, text)
            return self._verdict(guard, "no_data", f"router statistics unavailable: {exc}")
        stats = reply.models.get(guard.model, {}).get(str(guard.version))
        evidence = evidence_of(stats)
        found = breaches(guard.spec, evidence)
        text = describe(guard, evidence, min(now, ends))
        if found:
            return self._roll_back(guard, found, text, now, late_by_s=now - ends if over else None)
        if not over:
            return self._verdict(guard, "watching", text)
        if evidence.requests < guard.spec.min_requests:
            # Too few requests to judge (a version slow enough to starve its own window must
            # not pass by the clock): the window is over, the version stays, nobody vouched.
            return self._end_unjudged(
                guard,
                f"{text}; only {evidence.requests} of the {guard.spec.min_requests} requests "
                "the guard needs came in its window: too few to judge",
            )
        if (
            guard.spec.min_accuracy is not None
            and stats is not None
            and stats.feedback_rows > 0
            and stats.feedback_requests == 0
        ):
            # Labels came back, but the source counts rows only (Prometheus: the router
            # exports no per-request accuracy): the accuracy threshold was never judged.
            return self._end_unjudged(
                guard,
                f"{text}; {stats.feedback_rows} labelled rows came back, but these statistics "
                "have no per-request accuracy (Prometheus): the accuracy threshold could not "
                "be judged",
            )
        held_since = reply.started_at if stats is None else stats.complete_since
        if held_since > guard.started_s:
            return self._end_unjudged(
                guard,
                f"{text}; the router holds this version's requests only since "
                f"{_clock_time(held_since)} and the window began {_clock_time(guard.started_s)} "
                "(restarted or dropped): no breach in what is left, but not the whole window",
            )
        verb = "window over without a breach"
        if now - ends > 2 * self._interval_hint:
            verb += f" (judged {now - ends:.0f} s after it ended)"
        self._registry.releases.pass_guard(guard, f"{verb}; {text}", actor=GUARD_ACTOR)
        return self._verdict(guard, "passed", f"{verb}; {text}")

    def _roll_back(
        self, guard: Guard, found: list[str], text: str, now: float, *, late_by_s: float | None
    ) -> GuardVerdict:
        detail = f"{'; '.join(found)} ({text})"
        if now < self._retry_at.get(guard.id, 0.0):
            return self._verdict(guard, "refused", "waiting to retry a refused rollback", found)
        try:
            self._approvals.apply_guard_rollback(guard, detail, late_by_s=late_by_s)
        except RegistryError as exc:
            # Every attempt is audited; a refusal (e.g. an unapproved change, a lock held)
            # is retried after a pause rather than on every tick.
            self._retry_at[guard.id] = now + RETRY_AFTER_S
            return self._verdict(guard, "refused", f"{exc.code.value}: {exc.message}", found)
        if late_by_s is not None:
            detail += f"; judged late, {late_by_s:.0f} s after the window ended"
        return self._verdict(guard, "rolled_back", detail, found)

    def _end_unjudged(self, guard: Guard, text: str) -> GuardVerdict:
        self._registry.releases.unjudge_guard(guard, text, actor=GUARD_ACTOR)
        log.error(
            "guard #%s of %s v%s ended unjudged: %s", guard.id, guard.model, guard.version, text
        )
        return self._verdict(guard, "unjudged", text)

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


def _clock_time(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%H:%M:%S UTC")


def _log(verdict: GuardVerdict) -> None:
    log.warning(
        "guard #%s %s v%s: %s %s",
        verdict.guard_id,
        verdict.model,
        verdict.version,
        verdict.action,
        verdict.evidence,
    )


def evidence_of(stats: VersionStats | None) -> GuardEvidence:
    """What a guard judges, from the router's statistics of the version (None: no requests)."""
    if stats is None:
        return GuardEvidence(
            requests=0,
            errors=0,
            error_ratio=None,
            p99_ms=None,
            feedback_rows=0,
            accuracy=None,
            feedback_requests=0,
            request_accuracy=None,
        )
    return GuardEvidence(
        requests=stats.requests,
        errors=stats.errors,
        error_ratio=stats.error_ratio,
        p99_ms=stats.p99_ms,
        feedback_rows=stats.feedback_rows,
        accuracy=stats.accuracy,
        feedback_requests=stats.feedback_requests,
        request_accuracy=stats.request_accuracy,
    )


def describe(guard: Guard, seen: GuardEvidence, now: float) -> str:
    elapsed = max(0.0, now - guard.started_s)
    text = f"v{guard.version} over {elapsed:.1f} s: {seen.requests} requests, {seen.errors} errors"
    if seen.p99_ms is not None:
        text += f", p99 {seen.p99_ms:.1f} ms"
    if seen.request_accuracy is not None:
        text += (
            f", accuracy {seen.request_accuracy:.1%} over {seen.feedback_requests} "
            "labelled requests"
        )
    return text

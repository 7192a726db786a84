"""Recent requests and feedback per (model, version), for judging a version over a window.

Prometheus counters answer "how much since the router started"; a canary comparison and a
promotion guard need "since this moment, for this version", within a second of it
happening. The router keeps the last ``capacity`` requests and feedback rows per version
with their time, and answers ``GET /admin/stats?since=T`` from them.

An *error* is a failure of the version (TorchServe failed, timed out, had no worker or
refused an input the router had already checked); a caller's mistake (bad input, unknown
model, missing key) is not a request of any version and is not counted.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from serving.router.metrics import Outcome

ERROR_OUTCOMES: frozenset[Outcome] = frozenset(
    {"backend_error", "upstream_rejected", "unavailable", "timeout"}
)
_COUNTED: frozenset[Outcome] = ERROR_OUTCOMES | {"ok"}
DEFAULT_CAPACITY = 50_000


class VersionStats(BaseModel):
    """One version's requests since a moment: counts, latency quantiles, feedback."""

    model_config = ConfigDict(frozen=True)

    requests: int = Field(description="Requests answered or failed by this version.")
    errors: int
    error_ratio: float | None = Field(description="errors / requests; None without requests.")
    p50_ms: float | None
    p99_ms: float | None
    feedback_rows: int = Field(description="Rows whose true label came back (/feedback).")
    correct: int
    accuracy: float | None = Field(description="correct / feedback_rows; None without feedback.")
    first_error_at: float | None = Field(description="Unix time of the first error counted.")
    truncated: bool = Field(
        description="Older samples of the window were dropped (more than the capacity)."
    )


class StatsReply(BaseModel):
    """Body of ``GET /admin/stats``: model -> version -> stats since ``since``."""

    model_config = ConfigDict(frozen=True)

    now: float
    since: float
    models: dict[str, dict[str, VersionStats]]


class _Samples:
    __slots__ = ("dropped_before", "feedback", "requests")

    def __init__(self, capacity: int) -> None:
        self.requests: deque[tuple[float, float, bool]] = deque(maxlen=capacity)
        self.feedback: deque[tuple[float, int, int]] = deque(maxlen=capacity)
        self.dropped_before = 0.0  # samples older than this may have been dropped


class Windows:
    """Thread-safe: requests are recorded on the event loop, read from admin calls."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._samples: dict[tuple[str, str], _Samples] = {}
        self._lock = threading.Lock()

    def _of(self, model: str, version: str) -> _Samples:
        found = self._samples.get((model, version))
        if found is None:
            found = self._samples[(model, version)] = _Samples(self._capacity)
        return found

    def record(self, model: str, version: str, outcome: Outcome, seconds: float) -> None:
        if not model or outcome not in _COUNTED:
            return
        now = time.time()
        with self._lock:
            samples = self._of(model, version)
            if len(samples.requests) == self._capacity:
                samples.dropped_before = samples.requests[0][0]
            samples.requests.append((now, seconds * 1000.0, outcome in ERROR_OUTCOMES))

    def record_feedback(self, model: str, version: str, rows: int, correct: int) -> None:
        with self._lock:
            self._of(model, version).feedback.append((time.time(), rows, correct))

    def stats(self, since: float) -> StatsReply:
        now = time.time()
        with self._lock:
            taken = {
                key: (
                    [r for r in s.requests if r[0] >= since],
                    [f for f in s.feedback if f[0] >= since],
                    s.dropped_before > since,
                )
                for key, s in self._samples.items()
            }
        models: dict[str, dict[str, VersionStats]] = {}
        for (model, version), (requests, feedback, truncated) in taken.items():
            if not requests and not feedback:
                continue
            models.setdefault(model, {})[version] = _summarise(requests, feedback, truncated)
        return StatsReply(now=now, since=since, models=models)


def _summarise(
    requests: list[tuple[float, float, bool]],
    feedback: list[tuple[float, int, int]],
    truncated: bool,
) -> VersionStats:
    latencies = sorted(r[1] for r in requests)
    errors = [r[0] for r in requests if r[2]]
    rows = sum(f[1] for f in feedback)
    correct = sum(f[2] for f in feedback)
    return VersionStats(
        requests=len(requests),
        errors=len(errors),
        error_ratio=len(errors) / len(requests) if requests else None,
        p50_ms=_quantile(latencies, 0.50),
        p99_ms=_quantile(latencies, 0.99),
        feedback_rows=rows,
        correct=correct,
        accuracy=correct / rows if rows else None,
        first_error_at=min(errors) if errors else None,
        truncated=truncated,
    )


def _quantile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank quantile of sorted values (None when empty)."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * q // 1))  # ceil(n * q), at least 1
    return round(ordered[int(rank) - 1], 3)


def versions_of(reply: StatsReply, model: str) -> Mapping[str, VersionStats]:
    return reply.models.get(model, {})

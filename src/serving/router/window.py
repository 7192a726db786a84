"""Recent requests and feedback per (model, version), for judging a version over a window.

Prometheus counters answer "how much since the router started"; a canary comparison and a
promotion guard need "between these moments, for this version", within a second of it
happening. The router keeps the last ``capacity`` requests and labelled requests per version
with their time, and answers ``GET /admin/stats?since=T&until=U`` from them.

What counts, so that no client can forge a version's record:

- an *error* is a server-side failure of the version: TorchServe answered 5xx, timed out,
  had no worker, could not be reached or broke off (its worker died);
- a *rejection* is an input TorchServe refused as the caller's fault (its 4xx after the
  router forwarded the request): counted in ``rejected``, apart from ``requests``, never
  an error and never in the latency quantiles;
- a caller's mistake the router itself catches (bad input, unknown model, missing key) is
  not a request of any version and is not counted here;
- feedback counts per labelled *request* (``feedback_requests``, ``request_accuracy``: the
  mean of each request's share of correct rows), so one request of many rows weighs as
  much as one of one row; ``feedback_rows`` / ``accuracy`` are the per-row figures.

``complete_since`` tells whether a window's evidence is whole: samples before it may be
missing (the router started then, or dropped older samples beyond its capacity).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from serving.router.metrics import Outcome

ERROR_OUTCOMES: frozenset[Outcome] = frozenset({"backend_error", "unavailable", "timeout"})
REJECTED_OUTCOMES: frozenset[Outcome] = frozenset({"upstream_rejected"})
_COUNTED: frozenset[Outcome] = ERROR_OUTCOMES | {"ok"}
DEFAULT_CAPACITY = 50_000
_T = TypeVar("_T")


class VersionStats(BaseModel):
    """One version's requests in a window: counts, latency quantiles, feedback."""

    model_config = ConfigDict(frozen=True)

    requests: int = Field(description="Requests answered or failed (server-side) by this version.")
    errors: int = Field(description="Server-side failures: 5xx, timeouts, no worker, worker died.")
    error_ratio: float | None = Field(description="errors / requests; None without requests.")
    p50_ms: float | None
    p99_ms: float | None
    rejected: int = Field(
        description="Requests TorchServe refused as the caller's fault (4xx); not in requests.",
    )
    feedback_requests: int = Field(description="Labelled requests (/feedback), each once.")
    request_accuracy: float | None = Field(
        description="Mean over labelled requests of each one's share of correct rows; what "
        "guards judge. None without feedback.",
    )
    feedback_rows: int = Field(description="Rows whose true label came back (/feedback).")
    correct: int
    accuracy: float | None = Field(description="correct / feedback_rows; None without feedback.")
    first_error_at: float | None = Field(description="Unix time of the first error counted.")
    truncated: bool = Field(
        description="Older samples of the window were dropped (more than the capacity)."
    )
    complete_since: float = Field(
        description="Unix time from which this router holds every sample of the version "
        "(its start, or when it last dropped samples beyond its capacity).",
    )


class StatsReply(BaseModel):
    """Body of ``GET /admin/stats``: model -> version -> stats in [since, until]."""

    model_config = ConfigDict(frozen=True)

    now: float
    since: float
    until: float = Field(description="End of the window (the request's until, else now).")
    started_at: float = Field(description="Unix time this router process started.")
    models: dict[str, dict[str, VersionStats]]


_Request = tuple[float, float, bool]  # time, milliseconds, error
_Feedback = tuple[float, int, int]  # time, rows, correct


class _Samples:
    __slots__ = ("dropped_before", "feedback", "rejected", "requests")

    def __init__(self, capacity: int) -> None:
        self.requests: deque[_Request] = deque(maxlen=capacity)
        self.rejected: deque[float] = deque(maxlen=capacity)
        self.feedback: deque[_Feedback] = deque(maxlen=capacity)
        self.dropped_before = 0.0  # samples older than this may have been dropped


class Windows:
    """Thread-safe: requests are recorded on the event loop, read from admin calls."""

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, *, started_at: float | None = None
    ) -> None:
        self._capacity = capacity
        self._samples: dict[tuple[str, str], _Samples] = {}
        self._lock = threading.Lock()
        self.started_at = time.time() if started_at is None else started_at

    def _of(self, model: str, version: str) -> _Samples:
        found = self._samples.get((model, version))
        if found is None:
            found = self._samples[(model, version)] = _Samples(self._capacity)
        return found

    def record(self, model: str, version: str, outcome: Outcome, seconds: float) -> None:
        if not model:
            return
        now = time.time()
        with self._lock:
            if outcome in REJECTED_OUTCOMES:
                samples = self._of(model, version)
                _drop_oldest(samples, samples.rejected, self._capacity, lambda t: t)
                samples.rejected.append(now)
                return
            if outcome not in _COUNTED:
                return
            samples = self._of(model, version)
            _drop_oldest(samples, samples.requests, self._capacity, lambda r: r[0])
            samples.requests.append((now, seconds * 1000.0, outcome in ERROR_OUTCOMES))

    def record_feedback(self, model: str, version: str, rows: int, correct: int) -> None:
        """One labelled request: its rows and how many of them the version got right."""
        with self._lock:
            samples = self._of(model, version)
            _drop_oldest(samples, samples.feedback, self._capacity, lambda f: f[0])
            samples.feedback.append((time.time(), rows, correct))

    def stats(self, since: float, until: float | None = None) -> StatsReply:
        now = time.time()
        end = now if until is None else until
        with self._lock:
            taken = {
                key: (
                    [r for r in s.requests if since <= r[0] <= end],
                    sum(1 for t in s.rejected if since <= t <= end),
                    [f for f in s.feedback if since <= f[0] <= end],
                    s.dropped_before,
                )
                for key, s in self._samples.items()
            }
        models: dict[str, dict[str, VersionStats]] = {}
        for (model, version), (requests, rejected, feedback, dropped) in taken.items():
            if not requests and not feedback and not rejected:
                continue
            models.setdefault(model, {})[version] = _summarise(
                requests, rejected, feedback, dropped > since, max(self.started_at, dropped)
            )
        return StatsReply(
            now=now, since=since, until=end, started_at=self.started_at, models=models
        )


def _drop_oldest(
    samples: _Samples, queue: deque[_T], capacity: int, when: Callable[[_T], float]
) -> None:
    """Note the time of the sample a full ``queue`` is about to drop."""
    if len(queue) == capacity:
        samples.dropped_before = max(samples.dropped_before, when(queue[0]))


def _summarise(
    requests: list[_Request],
    rejected: int,
    feedback: list[_Feedback],
    truncated: bool,
    complete_since: float,
) -> VersionStats:
    latencies = sorted(r[1] for r in requests)
    errors = [r[0] for r in requests if r[2]]
    rows = sum(f[1] for f in feedback)
    correct = sum(f[2] for f in feedback)
    per_request = [f[2] / f[1] for f in feedback if f[1]]
    return VersionStats(
        requests=len(requests),
        errors=len(errors),
        error_ratio=len(errors) / len(requests) if requests else None,
        p50_ms=_quantile(latencies, 0.50),
        p99_ms=_quantile(latencies, 0.99),
        rejected=rejected,
        feedback_requests=len(feedback),
        request_accuracy=sum(per_request) / len(per_request) if per_request else None,
        feedback_rows=rows,
        correct=correct,
        accuracy=correct / rows if rows else None,
        first_error_at=min(errors) if errors else None,
        truncated=truncated,
        complete_since=complete_since,
    )


def _quantile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank quantile of sorted values (None when empty)."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * q // 1))  # ceil(n * q), at least 1
    return round(ordered[int(rank) - 1], 3)


def versions_of(reply: StatsReply, model: str) -> Mapping[str, VersionStats]:
    return reply.models.get(model, {})

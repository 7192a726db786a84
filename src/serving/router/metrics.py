"""Prometheus metrics of one router, in its own ``CollectorRegistry`` (several apps per process).

    modelreg_router_requests_total{model,version,route,outcome}          counter
    modelreg_router_errors_total{model,version,route,outcome}            counter (outcome != ok)
    modelreg_router_request_duration_seconds{model,version,route,outcome} histogram
    modelreg_router_active_version{model,stage}                          gauge (from the table)
    modelreg_router_version_changes_total{model,stage}                   counter
    modelreg_router_table_generation                                     gauge
    modelreg_router_feedback_rows_total{model,version}                   counter
    modelreg_router_feedback_correct_total{model,version}                counter
    modelreg_router_feedback_unmatched_total                             counter
    modelreg_router_canary_percent{model,version}                        gauge (from the table)
    modelreg_router_shadow_skipped_total{model}                          counter
    modelreg_router_unconfirmed_requests_total{result}                   counter (waited|refused)
    modelreg_router_unconfirmed_waiting                                  gauge
    modelreg_router_merged_upstream_requests_total{model}                counter
    modelreg_router_merged_requests_total{model}                         counter
    modelreg_router_merged_resent_total{model}                           counter

While a restarted router's table is unconfirmed (``Tables.confirmed``), a prediction waits
for the control plane: counted ``result="waited"`` when it then went ahead, ``"refused"``
when it got 503 UNCONFIRMED (also counted in requests/errors with ``outcome="unconfirmed"``);
``unconfirmed_waiting`` is how many wait now.

Mirrored (shadow) requests are counted with ``route="shadow"``; one skipped because too
many mirrored requests were in flight is counted in ``shadow_skipped`` only.

Merged requests (``serving.router.coalesce``): requests to TorchServe that carried the rows
of several callers' requests, how many callers' requests they carried, and how many merged
requests TorchServe did not answer row by row (their callers' requests then sent again alone).

Feedback (``serving.router.feedback``): rows whose true label arrived, and how many of them
the version that answered got right; their ratio is production accuracy.

``version`` is the version that answered (the router always names it to TorchServe);
``route`` is empty for ``/predictions/...``. Label values only ever come from the table:
a request for an unknown model or route is counted with empty ``model`` / ``route``, so a
client cannot create series.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

Outcome = Literal[
    "ok",
    "invalid_input",
    "unauthorized",
    "forbidden",
    "not_found",
    "not_served",
    "unconfirmed",
    "upstream_rejected",
    "unavailable",
    "timeout",
    "backend_error",
]

#: Milliseconds-scale inference: 0.5 ms .. 2.5 s.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
CONTENT_TYPE = CONTENT_TYPE_LATEST
_LABELS = ("model", "version", "route", "outcome")


class RouterMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "modelreg_router_requests",
            "Prediction requests answered by the router.",
            _LABELS,
            registry=self.registry,
        )
        self._errors = Counter(
            "modelreg_router_errors",
            "Prediction requests that did not end with a prediction.",
            _LABELS,
            registry=self.registry,
        )
        self._latency = Histogram(
            "modelreg_router_request_duration_seconds",
            "Time from the router receiving a prediction request to its answer.",
            _LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._active = Gauge(
            "modelreg_router_active_version",
            "Registry version serving each model and stage in the router's table.",
            ("model", "stage"),
            registry=self.registry,
        )
        self._changes = Counter(
            "modelreg_router_version_changes",
            "Times a table update changed the version of a model's stage.",
            ("model", "stage"),
            registry=self.registry,
        )
        self._generation = Gauge(
            "modelreg_router_table_generation",
            "Generation of the routing table in use (0 before the first table).",
            registry=self.registry,
        )
        self._feedback_rows = Counter(
            "modelreg_router_feedback_rows",
            "Answered rows whose true label arrived (POST /feedback).",
            ("model", "version"),
            registry=self.registry,
        )
        self._feedback_correct = Counter(
            "modelreg_router_feedback_correct",
            "Answered rows whose predicted class equals the true label sent as feedback.",
            ("model", "version"),
            registry=self.registry,
        )
        self._feedback_unmatched = Counter(
            "modelreg_router_feedback_unmatched",
            "Feedback for request ids the router does not hold (unknown, settled or too old).",
            registry=self.registry,
        )
        self._canary = Gauge(
            "modelreg_router_canary_percent",
            "Share of a model's Production traffic sent (or mirrored) to a canary version, in %.",
            ("model", "version"),
            registry=self.registry,
        )
        self._shadow_skipped = Counter(
            "modelreg_router_shadow_skipped",
            "Mirrored requests skipped because too many were in flight.",
            ("model",),
            registry=self.registry,
        )
        self._unconfirmed = Counter(
            "modelreg_router_unconfirmed_requests",
            "Prediction requests that met an unconfirmed table: waited (then went ahead) or "
            "refused (503).",
            ("result",),
            registry=self.registry,
        )
        self.unconfirmed_waiting = Gauge(
            "modelreg_router_unconfirmed_waiting",
            "Prediction requests waiting now for an unconfirmed table to be confirmed.",
            registry=self.registry,
        )
        self._merged_upstream = Counter(
            "modelreg_router_merged_upstream_requests",
            "Requests to TorchServe that carried the rows of several callers' requests.",
            ("model",),
            registry=self.registry,
        )
        self._merged = Counter(
            "modelreg_router_merged_requests",
            "Callers' requests answered through a merged request to TorchServe.",
            ("model",),
            registry=self.registry,
        )
        self._merged_resent = Counter(
            "modelreg_router_merged_resent",
            "Merged requests TorchServe refused or did not answer row by row; each caller's "
            "request was then sent again alone.",
            ("model",),
            registry=self.registry,
        )
        self._canary_labels: set[tuple[str, str]] = set()
        # Label lookups take a lock and hash the tuple; cache the children per label set.
        self._children: dict[tuple[str, str, str, str], tuple[Counter, Histogram]] = {}

    def observe(
        self, model: str, version: str, route: str, outcome: Outcome, seconds: float
    ) -> None:
        key = (model, version, route, outcome)
        children = self._children.get(key)
        if children is None:
            children = (self._requests.labels(*key), self._latency.labels(*key))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if outcome != "ok":
            self._errors.labels(*key).inc()

    def table_changed(
        self,
        generation: int,
        active: Mapping[tuple[str, str], int],
        changed: Iterable[tuple[str, str]],
    ) -> None:
        """Publish the new table: set every (model, stage) first, then drop the stale ones."""
        for (model, stage), version in active.items():
            self._active.labels(model, stage).set(version)
        for model, stage in changed:
            if (model, stage) in active:
                self._changes.labels(model, stage).inc()
            else:
                with contextlib.suppress(KeyError):  # never published (e.g. before a restart)
                    self._active.remove(model, stage)
        self._generation.set(generation)

    def canaries_changed(self, canaries: Mapping[str, tuple[str, float]]) -> None:
        """Publish model -> (version, percent); drop canaries that ended."""
        now = {(model, version) for model, (version, _) in canaries.items()}
        for model, (version, percent) in canaries.items():
            self._canary.labels(model, version).set(percent)
        for labels in self._canary_labels - now:
            with contextlib.suppress(KeyError):
                self._canary.remove(*labels)
        self._canary_labels = now

    def shadow_skipped(self, model: str) -> None:
        self._shadow_skipped.labels(model).inc()

    def unconfirmed(self, result: Literal["waited", "refused"]) -> None:
        self._unconfirmed.labels(result).inc()

    def merged(self, model: str, requests: int, resent: bool) -> None:
        """One request to TorchServe for ``model`` carried ``requests`` callers' requests
        (``resent``: they were then sent again one by one)."""
        self._merged_upstream.labels(model).inc()
        self._merged.labels(model).inc(requests)
        if resent:
            self._merged_resent.labels(model).inc()

    def feedback(self, model: str, version: str, rows: int, correct: int) -> None:
        self._feedback_rows.labels(model, version).inc(rows)
        self._feedback_correct.labels(model, version).inc(correct)

    def feedback_unmatched(self, count: int) -> None:
        if count:
            self._feedback_unmatched.inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""Model selection: rank candidates for a use case by the registry's per-model policy.

Which way a metric is better comes with each candidate from the registry's per-model policy
(``MetricValue.lower_is_better``); nothing here guesses it from the metric's name. Latency is
the model card's ``p50_latency_ms``: an in-process forward pass, not what clients see through
serving (no tool reports served latency yet)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agent.intents import Goal


class Candidate(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    version: int
    metric: str
    value: float | None
    lower_is_better: bool = Field(description="The registry's direction of ``metric``.")
    latency_ms: float | None = Field(default=None, description="Card's p50_latency_ms.")
    task: str | None = None
    sla_ms: float | None = Field(
        default=None, description="The model's own latency SLA (models.yaml policy)."
    )


class Ranking(BaseModel):
    model_config = ConfigDict(frozen=True)

    task: str
    goal: Goal = "accuracy"
    sla_ms: float | None
    ranked: list[Candidate]
    """Eligible candidates, best first."""
    too_slow: list[Candidate] = Field(default_factory=list)
    unmeasured: list[Candidate] = Field(default_factory=list)
    """No primary-metric value on the card: cannot be ranked."""
    no_latency: list[Candidate] = Field(default_factory=list)
    """No latency on the card, where the use case needs one (fast, critical): not ranked."""

    @property
    def best(self) -> Candidate | None:
        return self.ranked[0] if self.ranked else None

    @property
    def tied(self) -> list[Candidate]:
        """Candidates whose primary metric equals the best one's (same metric)."""
        best = self.best
        if best is None:
            return []
        return [
            c
            for c in self.ranked[1:]
            if c.metric == best.metric
            and c.value is not None
            and best.value is not None
            and abs(c.value - best.value) < 1e-12
        ]


def _score(c: Candidate) -> float:
    assert c.value is not None
    return c.value if c.lower_is_better else -c.value


def _latency(c: Candidate) -> float:
    return c.latency_ms if c.latency_ms is not None else float("inf")


def rank(
    task: str, candidates: list[Candidate], sla_ms: float | None, goal: Goal = "accuracy"
) -> Ranking:
    """Best first for ``goal``: accuracy (and batch) by the primary metric, ties to the faster
    model; latency by card latency, ties to the better metric; critical by the primary
    metric among versions with a measured latency. ``sla_ms`` excludes slower versions; for
    critical requests with no ``sla_ms``, each model's own SLA does."""
    measured = [c for c in candidates if c.value is not None]
    unmeasured = [c for c in candidates if c.value is None]
    no_latency: list[Candidate] = []
    if goal in ("latency", "critical"):
        no_latency = [c for c in measured if c.latency_ms is None]
        measured = [c for c in measured if c.latency_ms is not None]

    def limit(c: Candidate) -> float | None:
        return sla_ms if sla_ms is not None or goal != "critical" else c.sla_ms

    too_slow = [
        c
        for c in measured
        if (cap := limit(c)) is not None and c.latency_ms is not None and c.latency_ms > cap
    ]
    eligible = [c for c in measured if c not in too_slow]
    if goal == "latency":
        ranked = sorted(eligible, key=lambda c: (_latency(c), _score(c), c.model))
    else:
        ranked = sorted(eligible, key=lambda c: (_score(c), _latency(c), c.model))
    return Ranking(
        task=task,
        goal=goal,
        sla_ms=sla_ms,
        ranked=ranked,
        too_slow=too_slow,
        unmeasured=unmeasured,
        no_latency=no_latency,
    )

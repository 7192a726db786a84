"""Model selection: rank candidates for a task by the primary metric within a latency SLA.

Which way a metric is better comes with each candidate from the registry's per-model policy
(``MetricValue.lower_is_better``); nothing here guesses it from the metric's name."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Candidate(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    version: int
    metric: str
    value: float | None
    lower_is_better: bool = Field(description="The registry's direction of ``metric``.")
    latency_ms: float | None = Field(default=None, description="Card's p50_latency_ms.")


class Ranking(BaseModel):
    model_config = ConfigDict(frozen=True)

    task: str
    sla_ms: float | None
    ranked: list[Candidate]
    """Eligible candidates, best first."""
    too_slow: list[Candidate] = Field(default_factory=list)
    unmeasured: list[Candidate] = Field(default_factory=list)
    """No primary-metric value on the card: cannot be ranked."""

    @property
    def best(self) -> Candidate | None:
        return self.ranked[0] if self.ranked else None


def rank(task: str, candidates: list[Candidate], sla_ms: float | None) -> Ranking:
    """Best primary metric first; ties go to the faster model, then the name."""
    measured = [c for c in candidates if c.value is not None]
    unmeasured = [c for c in candidates if c.value is None]
    too_slow = [
        c
        for c in measured
        if sla_ms is not None and c.latency_ms is not None and c.latency_ms > sla_ms
    ]
    eligible = [c for c in measured if c not in too_slow]

    def key(c: Candidate) -> tuple[float, float, str]:
        assert c.value is not None
        score = c.value if c.lower_is_better else -c.value
        latency = c.latency_ms if c.latency_ms is not None else float("inf")
        return (score, latency, c.model)

    return Ranking(
        task=task,
        sla_ms=sla_ms,
        ranked=sorted(eligible, key=key),
        too_slow=too_slow,
        unmeasured=unmeasured,
    )


def format_metric(name: str, value: float | None) -> str:
    if value is None:
        return f"{name} unknown"
    if name == "accuracy" and 0.0 <= value <= 1.0:
        return f"{value * 100:.1f} % {name}"
    return f"{name} {value:g}"

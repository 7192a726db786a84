"""Compare two versions of a model on their card metrics (the promotion node's evidence).

The primary metric and which way it is better come from the model's policy
(``Registry.policy``), never from the metric's name."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from registry_mcp.core.registry import Registry
from registry_mcp.domain.compact_schema import CompactModel
from registry_mcp.domain.schemas import Stage

ComparisonVerdict = Literal["better", "worse", "same", "no_baseline", "unknown"]
LOWER_IS_BETTER = (
    "True when a smaller value of the primary metric is better (rmse, loss, ...); from the "
    "model's policy in models.yaml, never guessed from the name."
)


class _Result(CompactModel):
    model_config = ConfigDict(frozen=True)


class VersionSide(_Result):
    version: int
    stage: Stage
    card_complete: bool
    metrics: dict[str, float]


class Comparison(_Result):
    model: str
    primary_metric: str = Field(description="The model's primary metric (models.yaml policy).")
    lower_is_better: bool = Field(description=LOWER_IS_BETTER)
    candidate: VersionSide
    baseline: VersionSide | None = Field(
        description="What the candidate is compared with (default: current Production)."
    )
    deltas: dict[str, float] = Field(description="candidate - baseline, for shared metrics.")
    primary_delta: float | None
    verdict: ComparisonVerdict = Field(
        description="The candidate's primary metric against the baseline's, in the metric's "
        "direction (lower_is_better)."
    )


def _side(registry: Registry, name: str, version: int) -> VersionSide:
    info = registry.get_version(name, version)
    card = registry.get_card(name, version)
    return VersionSide(
        version=info.version,
        stage=info.stage,
        card_complete=card.complete,
        metrics=dict(card.card.baseline_metrics),
    )


def compare(
    registry: Registry,
    name: str,
    version: int | str,
    against: int | str | None = None,
) -> Comparison:
    candidate = _side(registry, name, registry.get_version(name, version).version)
    if against is None:
        production = registry.get_model(name, limit=1).model.production_version
        baseline = None if production is None else _side(registry, name, production)
    else:
        baseline = _side(registry, name, registry.get_version(name, against).version)
    policy = registry.policy(name)
    deltas: dict[str, float] = {}
    if baseline is not None:
        shared = candidate.metrics.keys() & baseline.metrics.keys()
        deltas = {k: candidate.metrics[k] - baseline.metrics[k] for k in sorted(shared)}
    primary_delta = deltas.get(policy.primary_metric)
    verdict: ComparisonVerdict
    if baseline is None:
        verdict = "no_baseline"
    elif primary_delta is None:
        verdict = "unknown"
    else:
        verdict = policy.verdict(primary_delta)
    return Comparison(
        model=name,
        primary_metric=policy.primary_metric,
        lower_is_better=policy.lower_is_better,
        candidate=candidate,
        baseline=baseline,
        deltas=deltas,
        primary_delta=primary_delta,
        verdict=verdict,
    )

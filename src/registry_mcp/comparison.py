"""Compare two versions of a model on their card metrics (the promotion node's evidence)."""

from __future__ import annotations

from registry_mcp.registry import Registry
from registry_mcp.tool_models import Comparison, VersionSide

# Metrics where smaller is better; everything else is treated as higher-is-better.
LOWER_IS_BETTER = ("latency", "loss", "error", "_ms")


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
    primary_metric: str = "accuracy",
) -> Comparison:
    candidate = _side(registry, name, registry.get_version(name, version).version)
    if against is None:
        production = registry.get_model(name, limit=1).model.production_version
        baseline = None if production is None else _side(registry, name, production)
    else:
        baseline = _side(registry, name, registry.get_version(name, against).version)
    deltas: dict[str, float] = {}
    if baseline is not None:
        shared = candidate.metrics.keys() & baseline.metrics.keys()
        deltas = {k: candidate.metrics[k] - baseline.metrics[k] for k in sorted(shared)}
    primary_delta = deltas.get(primary_metric)
    if baseline is None:
        verdict = "no_baseline"
    elif primary_delta is None:
        verdict = "unknown"
    elif primary_delta == 0:
        verdict = "same"
    else:
        lower_better = any(part in primary_metric for part in LOWER_IS_BETTER)
        verdict = "better" if (primary_delta < 0) == lower_better else "worse"
    return Comparison(
        model=name,
        primary_metric=primary_metric,
        candidate=candidate,
        baseline=baseline,
        deltas=deltas,
        primary_delta=primary_delta,
        verdict=verdict,
    )

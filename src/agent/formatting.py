"""Numbers for people: percentages with one decimal, latencies with two significant digits."""

from __future__ import annotations

import math

#: Metrics that are fractions in [0, 1] and read best as percentages.
_FRACTIONS = frozenset({"accuracy", "precision", "recall", "f1", "auc", "roc_auc", "top5_accuracy"})

LATENCY_SOURCE = "model card p50, an in-process forward pass; not latency served through TorchServe"


def significant(value: float, digits: int = 2) -> str:
    """``value`` rounded to ``digits`` significant digits: 0.0299045 -> "0.030", 12.0 -> "12"."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    rounded = round(value, decimals)
    # Rounding can add a digit (9.96 -> 10.0): recompute from the rounded value.
    decimals = digits - 1 - math.floor(math.log10(abs(rounded))) if rounded else decimals
    return f"{rounded:.{max(decimals, 0)}f}"


def ms(value: float | None) -> str:
    return "unknown" if value is None else f"{significant(value)} ms"


def is_fraction(metric: str, value: float | None) -> bool:
    name = metric.lower()
    fraction = name in _FRACTIONS or name.endswith("_accuracy")  # knn_accuracy, top_1_accuracy
    return fraction and value is not None and 0.0 <= value <= 1.0


def metric_value(name: str, value: float | None) -> str:
    """The value alone: "99.2%" for a fraction metric, else 4 significant digits."""
    if value is None:
        return "unknown"
    if is_fraction(name, value):
        return f"{value * 100:.1f}%"
    return f"{value:.4g}"


def metric(name: str, value: float | None) -> str:
    """ "99.2% accuracy", "rmse 0.3", "accuracy unknown"."""
    if value is None:
        return f"{name} unknown"
    if is_fraction(name, value):
        return f"{metric_value(name, value)} {name}"
    return f"{name} {metric_value(name, value)}"


def delta(name: str, change: float | None, reference: float | None = None) -> str:
    """A change of a metric: "+4.0 points" for fraction metrics, else "+0.0123"."""
    if change is None:
        return "unknown"
    if is_fraction(name, reference if reference is not None else abs(change)):
        return f"{change * 100:+.1f} points"
    return f"{change:+.4g}"

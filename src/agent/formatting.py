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


#: Latencies are shown to 0.01 ms; anything smaller reads as such, never as 1e-05.
MS_PRECISION = 0.01


def ms(value: float | None) -> str:
    if value is None:
        return "unknown"
    if 0 < abs(value) < MS_PRECISION:
        return f"< {MS_PRECISION} ms"
    return f"{significant(value)} ms"


def ms_change(change: float) -> str:
    """A latency difference: "+1.2 ms", "-0.05 ms", "< 0.01 ms lower", "no change"."""
    if change == 0:
        return "no change"
    if abs(change) < MS_PRECISION:
        return f"< {MS_PRECISION} ms {'higher' if change > 0 else 'lower'}"
    return f"{'+' if change > 0 else '-'}{significant(abs(change))} ms"


def plain(value: float, digits: int = 4) -> str:
    """A number without exponent notation: 4 significant digits, "< 0.0001" below that."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if abs(value) < 1e-4:
        return f"< 0.0001 {'above zero' if value > 0 else 'below zero'}"
    if abs(value) >= 1e6:
        return f"{value:,.0f}"
    text = significant(value, digits)
    return text.rstrip("0").rstrip(".") if "." in text else text


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
    return plain(value)


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
    if change == 0:
        return "no change"
    if abs(change) < 1e-4:
        return f"< 0.0001 {'higher' if change > 0 else 'lower'}"
    return f"{'+' if change > 0 else '-'}{plain(abs(change))}"

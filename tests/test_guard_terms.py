"""The guard's judgement (``domain.releases.breaches``) and the canary inputs, as pure
functions: every threshold, and the sample sizes below which nothing is judged."""

from __future__ import annotations

import math

import pytest

from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.releases import (
    GuardEvidence,
    GuardSpec,
    breaches,
    canary_mode,
    canary_percent,
)

SPEC = GuardSpec(
    window_s=60,
    min_requests=20,
    max_error_ratio=0.05,
    max_p99_ms=50,
    min_accuracy=0.9,
    min_feedback_rows=100,
)


def seen(**kw: object) -> GuardEvidence:
    base: dict[str, object] = {
        "requests": 100,
        "errors": 0,
        "error_ratio": 0.0,
        "p99_ms": 10.0,
        "feedback_rows": 200,
        "accuracy": 0.95,
        "feedback_requests": 200,
        "request_accuracy": 0.95,
    }
    return GuardEvidence.model_validate(base | kw)


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        (seen(), []),
        (seen(errors=10, error_ratio=0.10), ["error ratio 10 % (10/100) > budget 5 %"]),
        (seen(errors=5, error_ratio=0.05), []),  # at the budget is within it
        (seen(p99_ms=51.0), ["p99 51.0 ms > SLA 50 ms (over 100 requests)"]),
        (seen(request_accuracy=0.85), ["accuracy 85 % over 200 labelled requests < 90 %"]),
        # Per-row figures are reported, never judged: one 120-row request labelled wrong
        # next to 100 right one-row requests is 1 bad request in 101.
        (
            seen(
                feedback_rows=220,
                accuracy=100 / 220,
                feedback_requests=101,
                request_accuracy=100 / 101,
            ),
            [],
        ),
        # A source that did not count labelled requests gets no accuracy judgement.
        (seen(feedback_requests=None, request_accuracy=None, accuracy=0.1), []),
        # Below the sample sizes nothing is judged, however bad it looks.
        (seen(requests=19, errors=19, error_ratio=1.0, p99_ms=9999.0), []),
        (seen(feedback_requests=99, request_accuracy=0.0), []),
        (seen(feedback_rows=10_000, feedback_requests=1, request_accuracy=0.0), []),
        (
            seen(errors=50, error_ratio=0.5, p99_ms=80.0, request_accuracy=0.5),
            [
                "error ratio 50 % (50/100) > budget 5 %",
                "p99 80.0 ms > SLA 50 ms (over 100 requests)",
                "accuracy 50 % over 200 labelled requests < 90 %",
            ],
        ),
    ],
)
def test_breaches_name_each_threshold_broken(evidence: GuardEvidence, expected: list[str]) -> None:
    assert breaches(SPEC, evidence) == expected


def test_no_accuracy_floor_means_accuracy_is_not_judged() -> None:
    spec = SPEC.model_copy(update={"min_accuracy": None})
    assert breaches(spec, seen(request_accuracy=0.1)) == []
    assert "accuracy" not in spec.describe()
    assert "accuracy falls below 90 % after 100 labelled requests" in SPEC.describe()


@pytest.mark.parametrize("value", [10, 10.5, "10", "0.01", 100])
def test_canary_percent_accepts_shares_above_0_up_to_100(value: object) -> None:
    assert 0 < canary_percent(value) <= 100


@pytest.mark.parametrize("value", [0, -1, 100.01, "ten", "", None, True, math.nan, math.inf])
def test_canary_percent_refuses_everything_else(value: object) -> None:
    with pytest.raises(RegistryError) as refused:
        canary_percent(value)
    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert "is not a number from 0.01 to 100" in refused.value.message


def test_canary_mode_is_split_or_shadow() -> None:
    assert (canary_mode("split"), canary_mode("shadow")) == ("split", "shadow")
    with pytest.raises(RegistryError) as refused:
        canary_mode("Shadow")
    assert "split, shadow" in refused.value.message

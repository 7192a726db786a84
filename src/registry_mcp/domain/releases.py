"""Canaries and promotion guards as values: what a human approves besides a stage move.

A canary sends a share of a model's Production traffic to a warm non-Production version
(its Staging version, or the previous Production version kept warm for rollback). A guard
is the part of a promotion's approval that says when the new Production version is rolled
back automatically: the thresholds, the window and the rollback target are all on the form
the human approves, so the automatic rollback is carried out under that approval.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.domain.errors import ErrorCode, RegistryError

CanaryMode = Literal["split", "shadow"]
CANARY_MODES: tuple[CanaryMode, ...] = ("split", "shadow")


class CanaryState(BaseModel):
    """A running canary (or the one a plan would start)."""

    model_config = ConfigDict(frozen=True)

    version: int = Field(ge=1)
    percent: float = Field(gt=0, le=100)
    mode: CanaryMode = "split"

    def describe(self) -> str:
        verb = "mirrors" if self.mode == "shadow" else "gets"
        return f"v{self.version} {verb} {_pct(self.percent)} of Production traffic"


class GuardSpec(BaseModel):
    """The thresholds a guarded promotion is judged by, as the human saw them."""

    model_config = ConfigDict(frozen=True)

    window_s: float
    min_requests: int
    max_error_ratio: float = Field(description="The model's error_budget.")
    max_p99_ms: float = Field(description="The model's latency_sla_ms.")
    min_accuracy: float | None = None
    # Labelled *requests* (not rows) before accuracy is judged; the name is kept for the
    # guards already approved and for models.yaml.
    min_feedback_rows: int

    def describe(self) -> str:
        text = (
            f"guard for {self.window_s:g} s: roll back automatically if, after "
            f"{self.min_requests} requests, the error ratio exceeds "
            f"{_pct(self.max_error_ratio * 100)} or p99 exceeds {self.max_p99_ms:g} ms"
        )
        if self.min_accuracy is not None:
            text += (
                f", or if accuracy falls below {_pct(self.min_accuracy * 100)} after "
                f"{self.min_feedback_rows} labelled requests"
            )
        return text


class GuardEvidence(BaseModel):
    """What a guard measured about one version when it judged it."""

    model_config = ConfigDict(frozen=True)

    requests: int = Field(description="Requests answered or failed server-side by the version.")
    errors: int = Field(description="Server-side failures only (5xx, timeouts, no worker).")
    error_ratio: float | None
    p99_ms: float | None
    feedback_rows: int = Field(description="Labelled rows (reported, never judged).")
    accuracy: float | None = Field(description="Per-row accuracy (reported, never judged).")
    feedback_requests: int | None = Field(
        default=None,
        description="Labelled requests, each counted once however many rows it held; None: "
        "the source did not count them, and accuracy is not judged.",
    )
    request_accuracy: float | None = Field(
        default=None, description="Mean of each labelled request's accuracy; what is judged."
    )


def breaches(spec: GuardSpec, seen: GuardEvidence) -> list[str]:
    """The thresholds ``seen`` breaks, in words (empty: none, or not enough data yet)."""
    found: list[str] = []
    if seen.requests >= spec.min_requests:
        if seen.error_ratio is not None and seen.error_ratio > spec.max_error_ratio:
            found.append(
                f"error ratio {_pct(seen.error_ratio * 100)} ({seen.errors}/{seen.requests}) "
                f"> budget {_pct(spec.max_error_ratio * 100)}"
            )
        if seen.p99_ms is not None and seen.p99_ms > spec.max_p99_ms:
            found.append(
                f"p99 {seen.p99_ms:.1f} ms > SLA {spec.max_p99_ms:g} ms "
                f"(over {seen.requests} requests)"
            )
    # Accuracy is judged per labelled request: one request of many rows (and wrong labels)
    # weighs as much as one of one row, so a single caller cannot outvote the others.
    if (
        spec.min_accuracy is not None
        and seen.feedback_requests is not None
        and seen.feedback_requests >= spec.min_feedback_rows
        and seen.request_accuracy is not None
        and seen.request_accuracy < spec.min_accuracy
    ):
        found.append(
            f"accuracy {_pct(seen.request_accuracy * 100)} over {seen.feedback_requests} "
            f"labelled requests < {_pct(spec.min_accuracy * 100)}"
        )
    return found


def canary_percent(value: object) -> float:
    """A canary share in (0, 100]; a clear error otherwise (0 means: stop the canary)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _bad_percent(value)
    try:
        number = round(float(value), 2)  # shares are kept to 0.01 %
    except (ValueError, OverflowError):
        raise _bad_percent(value) from None
    if not (0 < number <= 100):  # also refuses NaN, infinities and what rounds to 0
        raise _bad_percent(value)
    return number


def canary_mode(value: object) -> CanaryMode:
    if value == "split":
        return "split"
    if value == "shadow":
        return "shadow"
    raise RegistryError(
        ErrorCode.INVALID_INPUT,
        f"canary mode {value!r} is not one of {', '.join(CANARY_MODES)} (split: the candidate "
        "answers its share; shadow: it gets a copy and its answers are discarded)",
    )


def _shown(value: object) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "(huge)"
    return text if len(text) <= 40 else text[:37] + "..."


def _bad_percent(value: object) -> RegistryError:
    return RegistryError(
        ErrorCode.INVALID_INPUT,
        f"canary percent {_shown(value)} is not a number from 0.01 to 100 (e.g. 10 for "
        "10 %); to end a canary use `modelreg canary stop`",
    )


def _pct(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") + " %"

"""Model cards: schema, completeness, and their MLflow form (markdown description + JSON tag)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from pydantic import ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from registry_mcp.domain.compact_schema import CompactModel
from registry_mcp.domain.errors import ErrorCode, RegistryError

CARD_TAG = "modelreg.card"
"""Version tag holding the card as JSON: the machine-readable truth."""

LATENCY_METRIC = "p50_latency_ms"


def required_metrics(primary_metric: str = "accuracy") -> tuple[str, ...]:
    """Baseline metrics a complete card states: the model's primary metric (from its
    policy in models.yaml) and the p50 latency."""
    return (
        (primary_metric,) if primary_metric == LATENCY_METRIC else (primary_metric, LATENCY_METRIC)
    )


class ModelCard(CompactModel):
    """What a reviewer needs to know about one model version.

    Every field may be left empty while a card is drafted; ``missing_fields`` reports what a
    complete card still lacks, and Production requires a complete card by default.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    description: str | None = Field(default=None, max_length=4000)
    owner: str | None = Field(default=None, max_length=200)
    baseline_metrics: dict[str, float] = Field(
        default_factory=dict,
        description="At least accuracy (0..1) and p50_latency_ms (>= 0).",
    )
    training_dataset: str | None = Field(default=None, max_length=500)
    preprocessing: list[str] = Field(default_factory=list, max_length=50)
    intended_use: str | None = Field(default=None, max_length=2000)
    limitations: str | None = Field(default=None, max_length=2000)

    @field_validator("baseline_metrics")
    @classmethod
    def _finite_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        for key, metric in value.items():
            if not key or len(key) > 100:
                raise ValueError("metric names must be 1-100 characters")
            if not math.isfinite(metric):
                raise ValueError(f"metric {key!r} must be a finite number, got {metric}")
        accuracy = value.get("accuracy")
        if accuracy is not None and not 0.0 <= accuracy <= 1.0:
            raise ValueError(f"accuracy must be between 0 and 1, got {accuracy}")
        latency = value.get("p50_latency_ms")
        if latency is not None and latency < 0:
            raise ValueError(f"p50_latency_ms must be >= 0, got {latency}")
        return value

    def missing_fields(self, primary_metric: str = "accuracy") -> list[str]:
        missing = [
            field
            for field in (
                "description",
                "owner",
                "training_dataset",
                "intended_use",
                "limitations",
            )
            if not getattr(self, field)
        ]
        if not self.preprocessing:
            missing.append("preprocessing")
        missing.extend(
            f"baseline_metrics.{metric}"
            for metric in required_metrics(primary_metric)
            if metric not in self.baseline_metrics
        )
        return missing

    def to_tag_value(self) -> str:
        return self.model_dump_json(exclude_defaults=False)

    def summary(self, name: str, version: int, primary_metric: str = "accuracy") -> str:
        """One line: what the version is, its primary metric and latency, completeness.

        The MLflow UI's version list shows only the first line of a description."""
        parts = [f"{name} v{version}"]
        if self.description:
            parts.append(self.description.split("\n")[0].split(". ")[0].rstrip("."))
        shown = [m for m in (primary_metric, LATENCY_METRIC) if m in self.baseline_metrics]
        if shown:
            parts.append(
                ", ".join(format_metric(m, self.baseline_metrics[m]) for m in dict.fromkeys(shown))
            )
        missing = self.missing_fields(primary_metric)
        parts.append(
            "card complete" if not missing else f"card incomplete ({len(missing)} missing)"
        )
        return " · ".join(parts)

    def to_markdown(self, name: str, version: int, primary_metric: str = "accuracy") -> str:
        """The card as the MLflow UI shows it in the version's description: a one-line
        summary first (all the version list shows), then the card."""
        lines = [f"**{self.summary(name, version, primary_metric)}**", ""]
        if self.description:
            lines += [self.description, ""]
        lines += [
            f"**Owner:** {self.owner or '_missing_'}",
            f"**Training dataset:** {self.training_dataset or '_missing_'}",
            "",
            "## Baseline metrics",
        ]
        lines += [
            f"- {format_metric(key, value)}" for key, value in sorted(self.baseline_metrics.items())
        ]
        lines += ["", "## Preprocessing"]
        lines += [f"{i}. {step}" for i, step in enumerate(self.preprocessing, 1)] or ["_missing_"]
        lines += ["", "## Intended use", self.intended_use or "_missing_"]
        lines += ["", "## Limitations", self.limitations or "_missing_"]
        missing = self.missing_fields(primary_metric)
        if missing:
            lines += ["", f"> Card incomplete: missing {', '.join(missing)}."]
        return "\n".join(lines)


_SHARE_METRICS = ("accuracy", "precision", "recall", "f1", "auc")


def format_metric(name: str, value: float) -> str:
    """``accuracy 82.67%``, ``p50_latency_ms 0.031 ms``, ``rmse 0.1234``: a share (0..1)
    as a percentage, a duration with its unit, anything else with 4 significant digits."""
    if any(word in name for word in _SHARE_METRICS) and 0.0 <= value <= 1.0:
        return f"{name} {value:.2%}"
    if name.endswith("_ms"):
        return f"{name} {value:.3g} ms"
    return f"{name} {value:.4g}"


class CardView(CompactModel):
    """A stored card with its completeness, as reported to users."""

    model_config = ConfigDict(frozen=True)

    card: ModelCard
    complete: bool
    missing_fields: list[str]

    @classmethod
    def of(cls, card: ModelCard, primary_metric: str = "accuracy") -> CardView:
        missing = card.missing_fields(primary_metric)
        return cls(card=card, complete=not missing, missing_fields=missing)


_CARD_FIELDS = ", ".join(ModelCard.model_fields)


def _problem(err: ErrorDetails) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "card"
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown field (the fields are {_CARD_FIELDS})"
    return f"{where}: {err['msg']}"


def card_from_document(value: object, *, what: str = "The model card") -> ModelCard:
    """Validate an already parsed JSON value into a card; it must be an object.

    The object is the card itself, or what ``models card --json`` prints (the card with its
    ``complete`` and ``missing_fields``, which are recomputed, never taken from the input),
    so that a shown card can be edited and stored again. ``what`` names the input at the
    start of errors, e.g. "The card file card.json".
    """
    if (
        isinstance(value, dict)
        and isinstance(value.get("card"), dict)
        and set(value) <= set(CardView.model_fields)
    ):
        value = value["card"]
    if not isinstance(value, dict | ModelCard):
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"{what} must hold a JSON object with some of the fields {_CARD_FIELDS}; "
            f'got {_json_kind(value)}. Write it like {{"owner": "team", ...}}.',
        )
    return _validated(lambda: ModelCard.model_validate(value), what)


def _validated(build: Callable[[], ModelCard], what: str) -> ModelCard:
    try:
        return build()
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"{what} is not a valid model card: {problems}. Fix these fields and try again.",
        ) from None


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    return f"a {type(value).__name__}"


def card_from_tag(value: str | None) -> ModelCard:
    """Read a stored card; a missing or unreadable tag is an empty (incomplete) card."""
    if not value:
        return ModelCard()
    try:
        return ModelCard.model_validate(json.loads(value))
    except (ValueError, ValidationError):
        return ModelCard()

"""Per-model policy: task, primary metric and its direction, latency SLA, input schema.

The registry owns it; it comes from the models file in effect (``registry_mcp.store.models_file``)
and is the one answer to "which metric ranks this model's versions, and which way is better".
Comparisons, approval evidence, ``list_models`` and the agent's selection all read it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.domain.releases import GuardSpec
from registry_mcp.store.models_file import ModelsFile, load_models_file
from registry_mcp.store.settings import Settings
from serving.config import InputSchema, MetricDirection, ModelConfig, Task

Verdict = Literal["better", "worse", "same"]


class ModelPolicy(BaseModel):
    """How one model's versions are judged."""

    model_config = ConfigDict(frozen=True)

    model: str
    task: Task
    primary_metric: str
    metric_direction: MetricDirection
    latency_sla_ms: float
    input_schema: InputSchema | None = None
    declared: bool = Field(description="Listed under `models:`; False means from `defaults:`.")
    guard: GuardSpec | None = Field(
        default=None, description="How a guarded promotion is judged; None: no guard declared."
    )

    @property
    def lower_is_better(self) -> bool:
        return self.metric_direction == "lower"

    def verdict(self, delta: float) -> Verdict:
        """``delta`` = candidate - baseline on the primary metric."""
        if delta == 0:
            return "same"
        return "better" if (delta < 0) == self.lower_is_better else "worse"

    @classmethod
    def of(cls, config: ModelConfig, *, declared: bool) -> ModelPolicy:
        assert config.metric_direction is not None  # resolved by the schema's validator
        return cls(
            model=config.name,
            task=config.task,
            primary_metric=config.primary_metric,
            metric_direction=config.metric_direction,
            latency_sla_ms=config.latency_sla_ms,
            input_schema=config.input_schema,
            declared=declared,
            guard=None
            if config.guard is None
            else GuardSpec(
                window_s=config.guard.window_s,
                min_requests=config.guard.min_requests,
                max_error_ratio=config.error_budget,
                max_p99_ms=config.latency_sla_ms,
                min_accuracy=config.guard.min_accuracy,
                min_feedback_rows=config.guard.min_feedback_rows,
            ),
        )


class Policies:
    """Policies per model name (models not listed get the file's ``defaults``).

    The file is read on first use, so opening a registry stays cheap; a bad file raises
    INVALID_INPUT naming the file, the model and the field."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._file: ModelsFile | None = None
        # Built once per name: the file is read once, and a model missing from it gets a
        # config built (and validated) from ``defaults`` on every lookup otherwise.
        self._policies: dict[str, ModelPolicy] = {}

    @property
    def file(self) -> ModelsFile:
        if self._file is None:
            self._file = load_models_file(self._settings)
        return self._file

    def get(self, name: str) -> ModelPolicy:
        found = self._policies.get(name)
        if found is None:
            config = self.file.config
            found = ModelPolicy.of(config.get(name), declared=name in config.models)
            if len(self._policies) < 10_000:  # names come from callers: keep the cache bounded
                self._policies[name] = found
        return found

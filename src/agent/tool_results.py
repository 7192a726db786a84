"""Typed views of the registry tools' structured results (our own models, not the server's).

Only the fields the agent uses are declared; unknown fields are ignored so a server that
adds fields keeps working. Free text (descriptions, tags, card text) is untrusted data.

They repeat the shape of the server's result types on purpose: the agent reaches the registry
over MCP only and imports none of it; tests/agent/test_tool_contract.py checks these views
against the output schemas the server publishes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

StageName = Literal["None", "Staging", "Production", "Archived"]


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ToolErrorData(_Result):
    """A registry tool error's structured content."""

    code: str
    message: str


class MetricValue(_Result):
    name: str
    value: float | None = None
    version: int | None = None
    lower_is_better: bool
    """From the model's policy on the server: the agent never guesses a metric's direction."""


class ModelEntry(_Result):
    name: str
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    production_version: int | None = None
    staging_version: int | None = None
    previous_production_version: int | None = None
    latest_version: int | None = None
    primary_metric: MetricValue
    task: str | None = None
    latency_sla_ms: float | None = None
    unapproved_change: str | None = None


class RouteRule(_Result):
    route: str
    when: str
    model: str


class ModelList(_Result):
    items: list[ModelEntry]
    next_cursor: str | None = None
    routes: dict[str, str] = Field(default_factory=dict)
    route_rules: list[RouteRule] = Field(default_factory=list)


class VersionInfo(_Result):
    name: str
    version: int
    stage: StageName
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    card_complete: bool = False
    created_at: datetime | None = None


class ModelSummary(_Result):
    name: str
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    production_version: int | None = None
    staging_version: int | None = None
    previous_production_version: int | None = None
    latest_version: int | None = None
    unapproved_change: str | None = None


class ModelCard(_Result):
    description: str | None = None
    owner: str | None = None
    baseline_metrics: dict[str, float] = Field(default_factory=dict)
    training_dataset: str | None = None
    preprocessing: list[str] = Field(default_factory=list)
    intended_use: str | None = None
    limitations: str | None = None


class CardView(_Result):
    card: ModelCard
    complete: bool
    missing_fields: list[str] = Field(default_factory=list)


class AuditEntry(_Result):
    id: int
    at: datetime
    actor: str
    client: str | None = None
    model: str
    action: str
    from_version: int | None = None
    to_version: int | None = None
    from_stage: str | None = None
    to_stage: str | None = None
    rationale: str | None = None
    decision: str
    reason: str | None = None


class ModelInfo(_Result):
    model: ModelSummary
    version: VersionInfo
    card: CardView
    run_id: str | None = None
    versions: list[VersionInfo] = Field(default_factory=list)
    recent_audit: list[AuditEntry] = Field(default_factory=list)


class VersionSide(_Result):
    version: int
    stage: StageName
    card_complete: bool
    metrics: dict[str, float] = Field(default_factory=dict)


class Comparison(_Result):
    model: str
    primary_metric: str
    lower_is_better: bool
    candidate: VersionSide
    baseline: VersionSide | None = None
    deltas: dict[str, float] = Field(default_factory=dict)
    primary_delta: float | None = None
    verdict: Literal["better", "worse", "same", "no_baseline", "unknown"]


class ServingState(_Result):
    configured: bool
    default_version: int | None = None
    loaded_versions: list[int] = Field(default_factory=list)
    in_sync: bool | None = None
    detail: str


class CanaryView(_Result):
    version: int
    percent: float
    mode: str
    started_at: str


class GuardView(_Result):
    id: int
    version: int
    rollback_to: int
    approval_audit_id: int
    status: str
    ends_at: str
    terms: str
    evidence: str | None = None


class ServingVersion(_Result):
    model: str
    registry_production_version: int | None = None
    registry_staging_version: int | None = None
    rollback_target: int | None = None
    serving: ServingState
    unapproved_change: str | None = None
    canary: CanaryView | None = None
    guard: GuardView | None = None


class CanaryTerms(_Result):
    version: int
    percent: float
    mode: str = "split"


class GuardTerms(_Result):
    """A guarded promotion's thresholds, as the approval form shows them."""

    window_s: float
    min_requests: int
    max_error_ratio: float
    max_p99_ms: float
    min_accuracy: float | None = None
    min_feedback_rows: int


class ChangePlan(_Result):
    """Exactly what a stage change would move; an approval binds to ``digest``."""

    kind: Literal["promote", "rollback", "canary"]
    model: str
    version: int
    from_stage: StageName
    to_stage: StageName
    replaced_version: int | None = None
    replaced_to_stage: StageName | None = None
    rollback_target_after: int | None = None
    card_complete: bool
    missing_card_fields: list[str] = Field(default_factory=list)
    canary_before: CanaryTerms | None = None
    canary_after: CanaryTerms | None = None
    ends_canary: bool = False
    guard: GuardTerms | None = None
    digest: str

    @property
    def short_digest(self) -> str:
        return self.digest[:12]


class AuditPage(_Result):
    items: list[AuditEntry]
    next_cursor: str | None = None


class PendingProposal(_Result):
    id: int
    kind: Literal["promote", "rollback", "canary"]
    model: str
    version: int | None = None
    stage: StageName
    rationale: str
    requested_by: str
    summary: str
    status: str
    expires_at: datetime


class ProposalList(_Result):
    items: list[PendingProposal]


class TransitionResult(_Result):
    name: str
    version: int
    from_stage: StageName
    to_stage: StageName
    replaced_version: int | None = None
    replaced_to_stage: StageName | None = None
    audit_id: int
    plan_digest: str | None = None


class Outcome(_Result):
    """What the registry did with a requested stage change."""

    status: Literal["applied", "denied", "cancelled", "pending"]
    message: str
    transition: TransitionResult | None = None
    proposal_id: int | None = None
    approve_command: str | None = None
    deny_command: str | None = None

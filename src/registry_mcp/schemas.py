"""Typed results and inputs of the registry core (pydantic)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Generic, Literal, TypeVar

from pydantic import ConfigDict, Field

from registry_mcp.compact_schema import CompactModel

T = TypeVar("T")


class Stage(StrEnum):
    """A version's stage. Backed by aliases (Staging, Production) and version tags (Archived)."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"


class Decision(StrEnum):
    DONE = "done"  # the change was applied
    REFUSED = "refused"  # the registry refused it (invalid, stale, incomplete card)
    FAILED = "failed"  # the backend failed midway; see reason
    PROPOSED = "proposed"  # waiting for a human (pending proposal)
    DENIED = "denied"  # a human said no, or cancelled
    EXPIRED = "expired"  # a proposal nobody decided in time


class AuditAction(StrEnum):
    REGISTER = "register"
    TRANSITION = "transition"
    ROLLBACK = "rollback"
    CARD = "card"
    TAG = "tag"


class _Frozen(CompactModel):
    model_config = ConfigDict(frozen=True)


class VersionInfo(_Frozen):
    name: str
    version: int
    stage: Stage
    aliases: list[str] = Field(default_factory=list)
    created_at: datetime
    source: str | None = None
    run_id: str | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict, description="User tags.")
    card_complete: bool = False
    served_production_at: str | None = Field(
        default=None, description="When this version last became Production (ISO 8601)."
    )
    system_tags: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)


class ModelSummary(_Frozen):
    name: str
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    production_version: int | None = None
    staging_version: int | None = None
    previous_production_version: int | None = None
    latest_version: int | None = None
    updated_at: datetime | None = None


class Page(_Frozen, Generic[T]):
    """A bounded slice of a result; pass ``next_cursor`` back to get the following page."""

    items: list[T]
    next_cursor: str | None = None


class ModelDetail(_Frozen):
    model: ModelSummary
    versions: Page[VersionInfo]


class TransitionResult(_Frozen):
    name: str
    version: int
    from_stage: Stage
    to_stage: Stage
    replaced_version: int | None = Field(
        default=None, description="The version that left the target stage, if any."
    )
    replaced_to_stage: Stage | None = None
    audit_id: int


class TransitionPlan(_Frozen):
    """What a transition would change, computed without changing anything."""

    name: str
    version: int
    from_stage: Stage
    to_stage: Stage
    replaced_version: int | None = None
    replaced_to_stage: Stage | None = None
    card_complete: bool
    missing_card_fields: list[str] = Field(default_factory=list)


class AuditEntry(_Frozen):
    id: int
    at: datetime
    actor: str
    client: str | None = None
    model: str
    action: AuditAction
    from_version: int | None = None
    to_version: int | None = None
    from_stage: str | None = None
    to_stage: str | None = None
    rationale: str | None = None
    decision: Decision
    reason: str | None = None


ExpectedVersion = int | Literal["none"] | None
"""Compare-and-set guard: a version number, ``"none"`` (expect no current holder),
or ``None`` (do not check)."""

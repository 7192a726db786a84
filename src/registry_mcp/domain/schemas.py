"""Typed results and inputs of the registry core (pydantic)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Generic, Literal, TypeVar

from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from registry_mcp.domain.compact_schema import CompactModel

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
    DETECTED = "detected"  # a change made outside modelreg was noticed


class AuditAction(StrEnum):
    REGISTER = "register"
    TRANSITION = "transition"
    ROLLBACK = "rollback"
    UNAPPROVED_CHANGE = "unapproved_change"  # aliases moved outside modelreg
    RESOLVE_UNAPPROVED = "resolve_unapproved"  # a human reverted or accepted such a change
    TRUST = "trust"  # an operator allowed a version's model to run code on load
    CARD = "card"
    TAG = "tag"
    CANARY = "canary"  # a canary started, changed or stopped
    GUARD = "guard"  # a promotion guard ended (passed, unjudged) or its rollback was verified
    REPAIR = "repair"  # the controller made serving match the approved state again


class _Frozen(CompactModel):
    model_config = ConfigDict(frozen=True)


class AliasState(_Frozen):
    """Which version holds each of a model's stage aliases (None = unset)."""

    production: int | None = None
    staging: int | None = None
    previous: int | None = Field(default=None, description="The rollback target.")

    def holder(self, stage: Stage) -> int | None:
        if stage is Stage.PRODUCTION:
            return self.production
        if stage is Stage.STAGING:
            return self.staging
        return None

    def aliases_of(self, version: int) -> list[str]:
        return [
            alias
            for alias, holder in (("production", self.production), ("staging", self.staging))
            if holder == version
        ]


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
    """A model's stages as a human approved them; a change made around modelreg is flagged
    separately (``unapproved_change``, ``unapproved_aliases``) and never shown as a stage."""

    name: str
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    production_version: int | None = Field(
        default=None, description="The approved Production version."
    )
    staging_version: int | None = Field(default=None, description="The approved Staging version.")
    previous_production_version: int | None = Field(
        default=None, description="The approved rollback target."
    )
    latest_version: int | None = None
    updated_at: datetime | None = None
    unapproved_change: str | None = Field(
        default=None,
        description="Set when MLflow's stage aliases were moved outside modelreg (MLflow UI, "
        "REST): what changed and how to resolve it. Serving keeps the approved versions.",
    )
    unapproved_aliases: AliasState | None = Field(
        default=None,
        description="MLflow's stage aliases as moved outside modelreg, pending a human's "
        "decision (null when MLflow agrees with the approved stages). Not what serves.",
    )
    approved: SkipJsonSchema[AliasState] = Field(
        default_factory=AliasState,
        exclude=True,
        repr=False,
        description="The aliases as a human last approved them through modelreg.",
    )

    @property
    def aliases(self) -> AliasState:
        """MLflow's aliases as they are now (approved or not)."""
        if self.unapproved_aliases is not None:
            return self.unapproved_aliases
        return AliasState(
            production=self.production_version,
            staging=self.staging_version,
            previous=self.previous_production_version,
        )


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
    plan_digest: str | None = Field(default=None, description="The plan that was applied.")


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
    requested_by: str | None = Field(
        default=None, description="Who asked for the change, when not the actor who decided."
    )
    plan_digest: str | None = Field(
        default=None, description="Digest of the exact plan the approver was shown."
    )


ExpectedVersion = int | Literal["none"] | None
"""Compare-and-set guard: a version number, ``"none"`` (expect no current holder),
or ``None`` (do not check)."""

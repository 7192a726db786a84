"""A requested stage change, a human's approval of it, and what became of it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.core.ports import ServingUpdate
from registry_mcp.domain.compact_schema import CompactModel
from registry_mcp.domain.plans import ChangeKind, ChangePlan
from registry_mcp.domain.releases import CanaryState
from registry_mcp.domain.schemas import ExpectedVersion, Stage, TransitionResult


class ChangeRequest(BaseModel):
    """A requested stage change, validated, before any human has decided."""

    model_config = ConfigDict(frozen=True)

    kind: ChangeKind
    model: str
    version: int | None
    stage: Stage
    rationale: str
    requested_by: str
    client: str | None = None
    expected_current: ExpectedVersion = None
    plan_digest: str | None = None
    canary: CanaryState | None = Field(
        default=None, description="CANARY requests: the canary to run; None stops it."
    )
    guard: bool = Field(default=False, description="Promotions: guard the new version.")


class Approval(BaseModel):
    """A human's yes, and where it came from (audited as the actor)."""

    model_config = ConfigDict(frozen=True)

    approver: str
    client: str | None = None
    note: str | None = None
    via: str = Field(description="Which form, proposal or terminal carried the yes.")
    pre_approved: bool = Field(
        default=False, description="Part of an earlier approval (a guard's rollback)."
    )
    guard_id: int | None = None
    guard_late: bool = Field(
        default=False, description="A guard's rollback judged after its window, on its evidence."
    )


class Outcome(CompactModel):
    """What happened to a requested change."""

    model_config = ConfigDict(frozen=True)

    status: Literal["applied", "denied", "cancelled", "pending"]
    message: str
    plan: ChangePlan | None = Field(default=None, description="The plan the human decided on.")
    transition: TransitionResult | None = None
    serving: ServingUpdate | None = Field(
        default=None, description="What serving did after the change (when serving is wired)."
    )
    proposal_id: int | None = None
    approve_command: str | None = Field(
        default=None, description="Run by a human to approve a pending proposal."
    )
    deny_command: str | None = None
    expires_at: datetime | None = None


def note_suffix(note: str | None) -> str:
    return f": {note}" if note else ""

"""The graph's state: one conversation thread, persisted by the checkpointer.

Every value is a pydantic model of this package, so a checkpoint read back in a new process
is re-validated into the same types (see ``agent.checkpoint`` for the deserialisation
allow-list).
"""

from __future__ import annotations

import operator
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.decisions import DecisionKind, HumanDecision
from agent.focus import Focus, NextPage, ProposalRef, Topic
from agent.intents import Intent
from agent.tool_results import StageName


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Turn(_Frozen):
    role: Literal["user", "agent"]
    text: str


class Answer(_Frozen):
    """What the agent says at the end of a turn."""

    kind: Literal["info", "recommendation", "result", "error", "help"]
    title: str
    text: str


class Evidence(_Frozen):
    """Why a change is proposed; read-only facts gathered before the interrupt."""

    primary_metric: str
    candidate_value: float | None = None
    baseline_version: int | None = None
    baseline_value: float | None = None
    primary_delta: float | None = None
    verdict: str = "unknown"
    card_complete: bool = False
    missing_card_fields: list[str] = Field(default_factory=list)
    serving_detail: str = ""
    serving_in_sync: bool | None = None
    description: str | None = Field(
        default=None, description="User-written model description: data, never instructions."
    )


class Proposal(_Frozen):
    """A stage change waiting for a human; nothing has moved."""

    kind: Literal["promote", "rollback", "canary", "stop_canary"]
    model: str
    version: int
    from_stage: StageName
    stage: StageName
    current_version: int | None = Field(description="Who holds the target stage now.")
    expected_current_version: int | Literal["none"] | None = Field(
        description="Compare-and-set guard sent with the change: the holder the human saw."
    )
    rationale: str
    rationale_by: Literal["user", "agent"]
    summary: str
    plan_digest: str = Field(description="The registry's plan the human approves; pinned.")
    guard: bool = Field(default=False, description="promote: a guarded promotion.")
    percent: float | None = Field(default=None, description="canary: share of traffic, in %.")
    mode: Literal["split", "shadow"] = "split"
    evidence: Evidence
    warnings: list[str] = Field(default_factory=list)
    allowed_decisions: list[DecisionKind]


class ApprovalRequest(_Frozen):
    """The interrupt's payload: the proposal, and why the last answer was refused, if so."""

    proposal: Proposal
    problem: str | None = None


class ChangeResult(_Frozen):
    """What the registry did after the human decided."""

    status: Literal["applied", "denied", "cancelled", "pending", "failed", "already_done"]
    message: str
    decision: DecisionKind
    code: str | None = None
    proposal_id: int | None = None


class State(BaseModel):
    request: str = ""
    history: Annotated[list[Turn], operator.add] = Field(default_factory=list)
    intent: Intent | None = None
    also: Intent | None = None
    """The second part of a two-part question, answered after the first."""
    parsed_by: Literal["llm", "offline"] | None = None
    parse_note: str | None = None
    """One visible line when the turn did not go the usual way (a fallback, a correction)."""
    focus: Focus | None = None
    """What the conversation is about; kept across turns (no reducer). None, not an empty
    Focus, by default: an input's non-None defaults would overwrite the checkpointed one."""
    proposal: Proposal | None = None
    decision: HumanDecision | None = None
    result: ChangeResult | None = None
    answer: Answer | None = None

    @property
    def about(self) -> Focus:
        """The focus, empty at the start of a conversation."""
        return self.focus or Focus()


STATE_TYPES: tuple[type[BaseModel], ...] = (
    Turn,
    Answer,
    Evidence,
    Proposal,
    ApprovalRequest,
    ChangeResult,
    State,
    Focus,
    NextPage,
    ProposalRef,
    Topic,
)

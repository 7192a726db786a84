"""What the user asked for: a closed, typed union of intents discriminated by ``kind``.

Both parsers (the LLM and the offline one) produce exactly these; anything else is rejected.
A stage-change intent only ever leads to a *proposal*; a human decides at the interrupt.
"""

from __future__ import annotations

from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from agent.focus import ParseContext, PartialChange
from agent.tool_results import StageName

ModelName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][\w.\-]*$")]
Version = Annotated[int, Field(ge=1, le=2**31 - 1)]
Rationale = Annotated[str, Field(min_length=1, max_length=2000)]


class _Intent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class ListModels(_Intent):
    """ "What models are in production?" """

    kind: Literal["list_models"] = "list_models"
    stage: StageName | None = None
    task: str | None = Field(default=None, max_length=200)
    cursor: str | None = Field(default=None, max_length=500, description="Next page ('more').")


class ModelDetails(_Intent):
    """ "show me digits v3" """

    kind: Literal["model_info"] = "model_info"
    model: ModelName
    version: Version | None = None


class ServingStatus(_Intent):
    """ "Which version of digits is serving?"; without a model ("is serving in sync with the
    registry?") every model with a Production version."""

    kind: Literal["serving"] = "serving"
    model: ModelName | None = None


class AuditLog(_Intent):
    """ "Who changed digits?" """

    kind: Literal["audit"] = "audit"
    model: ModelName | None = None
    since_minutes: int | None = Field(
        default=None, ge=1, le=60 * 24 * 366, description="Only the last N minutes."
    )
    limit: int = Field(default=10, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=500, description="Next page ('more').")


class PendingApprovals(_Intent):
    kind: Literal["pending"] = "pending"
    model: ModelName | None = None


class CompareVersions(_Intent):
    """ "compare digits v3 with v1" (default baseline: Production)."""

    kind: Literal["compare"] = "compare"
    model: ModelName
    version: Version
    against: Version | None = None


Goal = Literal["accuracy", "latency", "critical", "batch"]
"""What a recommendation optimises: "most accurate", "fast", "for critical requests",
"for a batch job"."""


class SelectModel(_Intent):
    """ "Which model should I use for classification?", "the fastest model under 10 ms" """

    kind: Literal["select_model"] = "select_model"
    task: str | None = Field(default=None, min_length=1, max_length=200)
    max_latency_ms: float | None = Field(default=None, gt=0)
    goal: Goal = "accuracy"


class Promote(_Intent):
    """ "promote digits v3 to production" -> a proposal, never a direct change."""

    kind: Literal["promote"] = "promote"
    model: ModelName
    version: Version
    stage: StageName = "Production"
    rationale: Rationale | None = None
    guard: bool = Field(
        default=False,
        description="Production only: roll back automatically if the version breaks its guard.",
    )


class StartCanary(_Intent):
    """ "send 10% of digits traffic to v3" -> a proposal to start (or change) a canary;
    without a version ("dial the digits canary down to 5%") the running canary's share."""

    kind: Literal["canary"] = "canary"
    model: ModelName
    version: Version | None = None
    percent: float = Field(gt=0, le=100)
    mode: Literal["split", "shadow"] = "split"
    rationale: Rationale | None = None


class StopCanary(_Intent):
    """ "stop the canary of digits" -> a proposal to send all traffic back to Production."""

    kind: Literal["stop_canary"] = "stop_canary"
    model: ModelName
    rationale: Rationale | None = None


class Rollback(_Intent):
    """ "roll back digits" -> a proposal to return Production to the previous version."""

    kind: Literal["rollback"] = "rollback"
    model: ModelName
    to_version: Version | None = None
    rationale: Rationale | None = None


class Help(_Intent):
    kind: Literal["help"] = "help"


class Unsupported(_Intent):
    """A registry request the chat cannot carry out ("archive digits v2", "retrain it"): said
    so, with the command that does it when one exists; nothing is read or changed."""

    kind: Literal["unsupported"] = "unsupported"
    action: str = Field(min_length=1, max_length=40)
    model: ModelName | None = None
    version: Version | None = None


class OutOfScope(_Intent):
    """Not about the registry at all ("what's the weather?"): the agent says what it can do."""

    kind: Literal["out_of_scope"] = "out_of_scope"


class Question(_Intent):
    """A question about the registry outside the fixed intents ("why was v2 rolled back?"):
    answered by the LLM's read-only tool loop; never a change."""

    kind: Literal["question"] = "question"
    text: str = Field(min_length=1, max_length=2000)


class Unclear(_Intent):
    """Nothing we can act on; the agent asks the user to rephrase."""

    kind: Literal["unclear"] = "unclear"
    reason: str = Field(default="", max_length=500)
    needs: Literal["model"] | None = Field(
        default=None, description="What is missing; 'model' lets the agent look the names up."
    )
    unknown: str | None = Field(
        default=None, max_length=200, description="A name the user gave that matches nothing."
    )
    partial: PartialChange | None = Field(
        default=None, description="The change asked for, which this question back completes."
    )


Intent = Annotated[
    ListModels
    | ModelDetails
    | ServingStatus
    | AuditLog
    | PendingApprovals
    | CompareVersions
    | SelectModel
    | Promote
    | Rollback
    | StartCanary
    | StopCanary
    | Help
    | Unsupported
    | OutOfScope
    | Question
    | Unclear,
    Field(discriminator="kind"),
]
#: What a request asks for; the chat's readings add "question" and "unclear" (ask back).
RequestKind = Literal[
    "list_models",
    "model_info",
    "serving",
    "audit",
    "pending",
    "compare",
    "select_model",
    "promote",
    "rollback",
    "canary",
    "stop_canary",
    "help",
    "unsupported",
    "out_of_scope",
]
IntentKind = Literal[RequestKind, "question", "unclear"]
INTENT_ADAPTER: TypeAdapter[Intent] = TypeAdapter(Intent)
CHANGE_KINDS: frozenset[str] = frozenset({"promote", "rollback", "canary", "stop_canary"})
ChangeIntent = Promote | Rollback | StartCanary | StopCanary


class Parsed(BaseModel):
    """A parser's answer: the intent, who produced it, and why a fallback happened."""

    model_config = ConfigDict(frozen=True)

    intent: Intent
    also: Intent | None = Field(default=None, description="A two-part question's second part.")
    source: Literal["llm", "offline"]
    note: str | None = None


class IntentParser(Protocol):
    async def parse(
        self, text: str, history: list[str], context: ParseContext | None = None
    ) -> Parsed: ...

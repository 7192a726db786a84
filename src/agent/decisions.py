"""The human's answer at the approval interrupt: a tagged union, checked in one place.

``approve`` and ``deny`` carry the approver's note; ``edit`` replaces the request's rationale
and asks the human again: only ``approve`` approves. The MCP approval form is answered with
exactly the final decision: see :func:`form_answer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from agent.errors import DecisionRejected

DecisionKind = Literal["approve", "deny", "edit"]
ALL_DECISIONS: tuple[DecisionKind, ...] = ("approve", "deny", "edit")


class _Decision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Approve(_Decision):
    kind: Literal["approve"] = "approve"
    rationale: str = Field(default="", max_length=2000, description="Why you approve.")


class Deny(_Decision):
    kind: Literal["deny"] = "deny"
    rationale: str = Field(default="", max_length=2000, description="Why you deny.")


class EditRationale(_Decision):
    kind: Literal["edit"] = "edit"
    rationale: str = Field(
        min_length=1,
        max_length=2000,
        description="The corrected rationale; the change is shown again for approve or deny.",
    )


HumanDecision = Annotated[Approve | Deny | EditRationale, Field(discriminator="kind")]
_ADAPTER: TypeAdapter[Approve | Deny | EditRationale] = TypeAdapter(HumanDecision)


class FormAnswer(BaseModel):
    """What the server's approval form (approve: bool, rationale: str) receives."""

    model_config = ConfigDict(frozen=True)

    approve: bool
    rationale: str


def parse_decision(raw: object, allowed: Sequence[DecisionKind]) -> Approve | Deny | EditRationale:
    """Validate a resume value; raise DecisionRejected if malformed or not allowed."""
    try:
        decision = _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'decision'}: {err['msg']}"
            for err in exc.errors()
        )
        raise DecisionRejected(
            f"Not a decision ({problems}). Answer approve, deny or edit with a rationale."
        ) from None
    if decision.kind not in allowed:
        raise DecisionRejected(
            f"'{decision.kind}' is not allowed for this change; choose one of: "
            f"{', '.join(allowed)}."
        )
    return decision


def form_answer(decision: Approve | Deny | EditRationale) -> FormAnswer:
    """The approval form's answer for a final decision; an edit is never one."""
    match decision:
        case Approve(rationale=note):
            return FormAnswer(approve=True, rationale=note)
        case Deny(rationale=note):
            return FormAnswer(approve=False, rationale=note)
    raise ValueError(f"{decision.kind!r} is not a final decision; ask the human again")


def to_json(decision: Approve | Deny | EditRationale) -> dict[str, str]:
    return {"kind": decision.kind, "rationale": decision.rationale}

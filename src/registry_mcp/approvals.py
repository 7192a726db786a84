"""Human approval of stage changes: the one place that decides, applies and audits them.

Every path goes through here: an MCP client that elicits (the human answered a form), a
client that cannot (a pending proposal, approved later with `modelreg approvals`), and the
agent (which answers the form with the decision its human gave at the graph's interrupt).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from registry_mcp import validation
from registry_mcp.compact_schema import CompactModel
from registry_mcp.errors import ErrorCode, RegistryError
from registry_mcp.proposals import Proposal, ProposalKind, ProposalStatus, ProposalStore
from registry_mcp.registry import Registry
from registry_mcp.schemas import (
    AuditAction,
    Decision,
    ExpectedVersion,
    Stage,
    TransitionPlan,
    TransitionResult,
)
from registry_mcp.tool_models import ServingUpdate


class ChangeRequest(BaseModel):
    """A requested stage change, validated, before any human has decided."""

    model_config = ConfigDict(frozen=True)

    kind: ProposalKind
    model: str
    version: int | None
    stage: Stage
    rationale: str
    expected_current: ExpectedVersion = None


class Outcome(CompactModel):
    """What happened to a requested change."""

    model_config = ConfigDict(frozen=True)

    status: Literal["applied", "denied", "cancelled", "pending"]
    message: str
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


def describe(plan: TransitionPlan, kind: ProposalKind) -> str:
    verb = "Roll back" if kind is ProposalKind.ROLLBACK else "Move"
    text = f"{verb} {plan.name} v{plan.version}: {plan.from_stage.value} -> {plan.to_stage.value}"
    if plan.replaced_version is not None and plan.replaced_to_stage is not None:
        text += f"; v{plan.replaced_version} leaves {plan.to_stage.value} -> "
        text += plan.replaced_to_stage.value
    if not plan.card_complete:
        text += f" (card incomplete: {', '.join(plan.missing_card_fields)})"
    return text


class Approvals:
    def __init__(
        self,
        registry: Registry,
        store: ProposalStore,
        *,
        after_change: Callable[[str], ServingUpdate] | None = None,
    ) -> None:
        self._registry = registry
        self._store = store
        self._after_change = after_change

    @classmethod
    def for_registry(
        cls, registry: Registry, *, after_change: Callable[[str], ServingUpdate] | None = None
    ) -> Approvals:
        return cls(registry, ProposalStore(registry.engine), after_change=after_change)

    def _follow(self, model: str) -> ServingUpdate | None:
        return None if self._after_change is None else self._after_change(model)

    # ------------------------------------------------------------ requests

    def request(
        self,
        kind: ProposalKind,
        model: str,
        *,
        rationale: str,
        version: int | str | None = None,
        stage: Stage | str = Stage.PRODUCTION,
        expected_current: ExpectedVersion | str = None,
    ) -> ChangeRequest:
        """Validate a request (raises RegistryError); nothing is recorded yet."""
        name = validation.model_name(model)
        why = validation.rationale(rationale)
        if kind is ProposalKind.PROMOTE:
            if version is None:
                raise RegistryError(ErrorCode.INVALID_INPUT, "A version to promote is required.")
            number: int | None = validation.version(version)
            target = validation.stage(stage)
        else:
            number = None if version is None else validation.version(version)
            target = Stage.PRODUCTION
        expected = validation.expected_version(expected_current)
        return ChangeRequest(
            kind=kind,
            model=name,
            version=number,
            stage=target,
            rationale=why,
            expected_current=expected,
        )

    def plan(self, req: ChangeRequest) -> TransitionPlan:
        """What the request would change now; raises if the registry would refuse it,
        including a stale ``expected_current`` (so a human is never asked in vain)."""
        if req.kind is ProposalKind.ROLLBACK:
            plan = self._registry.plan_rollback(req.model, req.version)
        else:
            assert req.version is not None
            plan = self._registry.plan_transition(req.model, req.version, req.stage)
        if req.expected_current is not None and plan.to_stage in (Stage.STAGING, Stage.PRODUCTION):
            holder = plan.replaced_version if plan.replaced_version is not None else "none"
            if holder != req.expected_current:
                shown = "no version" if holder == "none" else f"v{holder}"
                wanted = (
                    "no version" if req.expected_current == "none" else f"v{req.expected_current}"
                )
                raise RegistryError(
                    ErrorCode.STALE_VERSION,
                    f"{plan.to_stage.value} of {req.model!r} is now {shown}, not {wanted} as "
                    "expected; review the current state and retry with the new expected version.",
                )
        return plan

    def _expected(self, req: ChangeRequest, plan: TransitionPlan) -> ExpectedVersion:
        """Compare-and-set guard: the caller's, else the holder the human was shown."""
        if req.expected_current is not None:
            return req.expected_current
        if plan.to_stage not in (Stage.PRODUCTION, Stage.STAGING):
            return None
        return plan.replaced_version if plan.replaced_version is not None else "none"

    # ----------------------------------------------------------- decisions

    def apply(
        self, req: ChangeRequest, *, approver: str, client: str | None, note: str | None
    ) -> TransitionResult:
        """Apply an approved request, re-checking the state the human approved."""
        plan = self.plan(req)
        expected = self._expected(req, plan)
        rationale = req.rationale if not note else f"{req.rationale} | approval: {note}"
        if req.kind is ProposalKind.ROLLBACK:
            return self._registry.rollback(
                req.model,
                rationale=rationale[: validation.MAX_RATIONALE_LENGTH],
                actor=approver,
                to_version=req.version,
                expected_current_version=expected,
                client=client,
            )
        assert req.version is not None
        return self._registry.transition(
            req.model,
            req.version,
            req.stage,
            rationale=rationale[: validation.MAX_RATIONALE_LENGTH],
            actor=approver,
            expected_current_version=expected,
            client=client,
        )

    def decide(
        self,
        req: ChangeRequest,
        *,
        approved: bool | None,
        approver: str,
        client: str | None,
        note: str | None,
    ) -> Outcome:
        """Carry out a human's answer: True applies, False denies, None (cancel) denies too."""
        if approved:
            result = self.apply(req, approver=approver, client=client, note=note)
            return Outcome(
                status="applied",
                message=f"Applied: {req.model} v{result.version} is now {result.to_stage.value}.",
                transition=result,
                serving=self._follow(req.model),
            )
        status: Literal["denied", "cancelled"] = "denied" if approved is False else "cancelled"
        try:
            plan: TransitionPlan | None = self.plan(req)
        except RegistryError:
            plan = None  # the state moved meanwhile; the denial is still recorded
        self._registry.record_decision(
            action=_action(req.kind),
            decision=Decision.DENIED,
            model=req.model,
            actor=approver,
            client=client,
            version=plan.version if plan else req.version,
            replaced_version=plan.replaced_version if plan else None,
            from_stage=plan.from_stage if plan else None,
            to_stage=plan.to_stage if plan else req.stage,
            rationale=req.rationale,
            reason=f"{status} by human" + (f": {note}" if note else ""),
        )
        return Outcome(status=status, message=f"Not applied: the human {status} it; nothing moved.")

    # ----------------------------------------------------------- proposals

    def propose(self, req: ChangeRequest, *, requested_by: str, client: str | None) -> Outcome:
        """File a pending proposal for a human to approve out of band; nothing moves."""
        plan = self.plan(req)
        expected = self._expected(req, plan)
        proposal = self._store.create(
            kind=req.kind,
            model=req.model,
            version=plan.version if req.kind is ProposalKind.PROMOTE else req.version,
            stage=req.stage,
            expected_current=None if expected is None else str(expected),
            rationale=req.rationale,
            requested_by=validation.actor(requested_by),
            client=client,
            summary=describe(plan, req.kind),
            ttl_s=self._registry.settings.proposal_ttl_s,
        )
        self._registry.record_decision(
            action=_action(req.kind),
            decision=Decision.PROPOSED,
            model=req.model,
            actor=requested_by,
            client=client,
            version=plan.version,
            replaced_version=plan.replaced_version,
            from_stage=plan.from_stage,
            to_stage=plan.to_stage,
            rationale=req.rationale,
            reason=f"proposal #{proposal.id}",
        )
        return Outcome(
            status="pending",
            message=(
                f"Proposal #{proposal.id} is waiting for a human: {proposal.summary}. Nothing "
                f"moves until someone runs `{proposal.approve_command}`."
            ),
            proposal_id=proposal.id,
            approve_command=proposal.approve_command,
            deny_command=f"modelreg approvals deny {proposal.id}",
            expires_at=proposal.expires_at,
        )

    def pending(self, model: str | None = None) -> list[Proposal]:
        self.expire_due()
        name = None if model is None else validation.model_name(model)
        return self._store.list(status=ProposalStatus.PENDING, model=name)

    def get(self, proposal_id: int) -> Proposal:
        return self._store.get(proposal_id)

    def expire_due(self) -> int:
        now = datetime.now(UTC)
        expired = 0
        for proposal in self._store.list(status=ProposalStatus.PENDING, limit=1000):
            if proposal.expires_at <= now and self._store.settle(
                proposal.id, ProposalStatus.EXPIRED, decided_by="modelreg", note="expired"
            ):
                expired += 1
                self._audit_proposal(proposal, Decision.EXPIRED, "modelreg", "expired")
        return expired

    def resolve(
        self, proposal_id: int, *, approve: bool, approver: str, note: str | None
    ) -> Outcome:
        """A human approves or denies a pending proposal (from the CLI)."""
        approver = validation.actor(approver)
        if note is not None:
            note = validation.rationale(note)
        proposal = self._store.get(proposal_id)
        if proposal.status is not ProposalStatus.PENDING:
            raise RegistryError(
                ErrorCode.INVALID_TRANSITION,
                f"Proposal #{proposal_id} is already {proposal.status.value}; nothing to do. "
                "Ask for a new proposal if the change is still wanted.",
            )
        if proposal.expires_at <= datetime.now(UTC):
            if self._store.settle(
                proposal_id, ProposalStatus.EXPIRED, decided_by="modelreg", note="expired"
            ):
                self._audit_proposal(proposal, Decision.EXPIRED, "modelreg", "expired")
            raise RegistryError(
                ErrorCode.INVALID_TRANSITION,
                f"Proposal #{proposal_id} expired at {proposal.expires_at:%Y-%m-%d %H:%M} UTC; "
                "nothing moved. Ask for a new proposal.",
            )
        status = ProposalStatus.APPROVED if approve else ProposalStatus.DENIED
        if not self._store.settle(proposal_id, status, decided_by=approver, note=note):
            raise RegistryError(
                ErrorCode.INVALID_TRANSITION,
                f"Proposal #{proposal_id} was decided by someone else just now; nothing to do.",
            )
        if not approve:
            self._audit_proposal(proposal, Decision.DENIED, approver, note or "denied")
            return Outcome(
                status="denied",
                message=f"Proposal #{proposal_id} denied; nothing moved.",
                proposal_id=proposal_id,
            )
        req = ChangeRequest(
            kind=proposal.kind,
            model=proposal.model,
            version=proposal.version,
            stage=proposal.stage,
            rationale=proposal.rationale,
            expected_current=validation.expected_version(proposal.expected_current),
        )
        try:
            result = self.apply(req, approver=approver, client=proposal.client, note=note)
        except RegistryError as exc:
            self._store.override_status(
                proposal_id, ProposalStatus.FAILED, f"{exc.code.value}: {exc.message}"
            )
            raise
        return Outcome(
            status="applied",
            message=f"Proposal #{proposal_id} approved and applied: {proposal.summary}.",
            transition=result,
            serving=self._follow(proposal.model),
            proposal_id=proposal_id,
        )

    def _audit_proposal(
        self, proposal: Proposal, decision: Decision, actor: str, note: str
    ) -> None:
        self._registry.record_decision(
            action=_action(proposal.kind),
            decision=decision,
            model=proposal.model,
            actor=actor,
            client=proposal.client,
            version=proposal.version,
            to_stage=proposal.stage,
            rationale=proposal.rationale,
            reason=f"proposal #{proposal.id}: {note}",
        )


def _action(kind: ProposalKind) -> AuditAction:
    return AuditAction.ROLLBACK if kind is ProposalKind.ROLLBACK else AuditAction.TRANSITION

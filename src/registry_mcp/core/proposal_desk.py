"""Pending proposals: changes filed for a human to approve out of band (`modelreg approvals`).

A proposal pins the whole plan it was filed with; it is decided once (compare-and-set), by a
human other than its requester when four-eyes is on, before it expires. Approving applies
exactly the pinned plan through :meth:`Approvals.apply_settled`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from registry_mcp.core.change_requests import Approval, ChangeRequest, Outcome
from registry_mcp.core.registry import Registry
from registry_mcp.core.transitions import Attempt
from registry_mcp.domain import validation
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.schemas import Decision, Stage
from registry_mcp.store.proposals import Channel, Proposal, ProposalStatus, ProposalStore

if TYPE_CHECKING:
    from registry_mcp.core.approvals import Approvals


class ProposalDesk:
    def __init__(self, registry: Registry, store: ProposalStore, approvals: Approvals) -> None:
        self._registry = registry
        self._store = store
        self._approvals = approvals

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
        """A human approves or denies a pending proposal (from the CLI): once, and only
        the plan it pinned."""
        approver = validation.actor(approver)
        if note is not None:
            note = validation.rationale(note)
        proposal = self._store.get(proposal_id)
        refusal = self._proposal_refusal(proposal, approve=approve, approver=approver)
        if refusal is not None:
            self._audit_proposal(
                proposal, Decision.REFUSED, approver, f"{refusal.code.value}: {refusal.message}"
            )
            raise refusal
        status = ProposalStatus.APPROVED if approve else ProposalStatus.DENIED
        if not self._store.settle(proposal_id, status, decided_by=approver, note=note):
            error = RegistryError(
                ErrorCode.NOT_APPROVED,
                f"Proposal #{proposal_id} was decided by someone else just now; nothing to do.",
            )
            self._audit_proposal(
                proposal, Decision.REFUSED, approver, f"{error.code.value}: {error.message}"
            )
            raise error
        if not approve:
            self._audit_proposal(proposal, Decision.DENIED, approver, note or "denied")
            return Outcome(
                status="denied",
                message=f"Proposal #{proposal_id} denied; nothing moved.",
                plan=proposal.plan,
                proposal_id=proposal_id,
            )
        req = ChangeRequest(
            kind=proposal.kind,
            model=proposal.model,
            version=proposal.version,
            stage=proposal.stage,
            rationale=proposal.rationale,
            requested_by=proposal.requested_by,
            client=proposal.client,
            canary=None if proposal.plan is None else proposal.plan.canary_after,
            guard=proposal.plan is not None and proposal.plan.guard is not None,
        )
        approval = Approval(
            approver=approver, client="modelreg-cli", note=note, via=f"proposal #{proposal_id}"
        )
        outcome = self._approvals.apply_settled(req, proposal, approval)
        return outcome.model_copy(
            update={
                "message": f"Proposal #{proposal_id} approved and applied: {proposal.summary}.",
                "proposal_id": proposal_id,
            }
        )

    def _proposal_refusal(
        self, proposal: Proposal, *, approve: bool, approver: str
    ) -> RegistryError | None:
        if proposal.channel is Channel.FORM:
            return RegistryError(
                ErrorCode.NOT_APPROVED,
                f"#{proposal.id} is an approval form shown to an MCP client's human, not a "
                "proposal; it is answered there. Nothing moved.",
            )
        if proposal.status is not ProposalStatus.PENDING:
            return RegistryError(
                ErrorCode.NOT_APPROVED,
                f"Proposal #{proposal.id} is already {proposal.status.value}; nothing to do. "
                "Ask for a new proposal if the change is still wanted.",
            )
        if proposal.expires_at <= datetime.now(UTC):
            if self._store.settle(
                proposal.id, ProposalStatus.EXPIRED, decided_by="modelreg", note="expired"
            ):
                self._audit_proposal(proposal, Decision.EXPIRED, "modelreg", "expired")
            return RegistryError(
                ErrorCode.NOT_APPROVED,
                f"Proposal #{proposal.id} expired at {proposal.expires_at:%Y-%m-%d %H:%M} UTC; "
                "nothing moved. Ask for a new proposal.",
            )
        if approve and proposal.plan is None:
            return RegistryError(
                ErrorCode.NOT_APPROVED,
                f"Proposal #{proposal.id} was filed by an earlier release and pins no plan; "
                "nothing moved. Ask for a new proposal.",
            )
        if (
            approve
            and self._registry.settings.four_eyes
            and (
                proposal.stage is Stage.PRODUCTION
                or (proposal.plan is not None and proposal.plan.moves_production_traffic)
            )
            and approver == proposal.requested_by
        ):
            return RegistryError(
                ErrorCode.NOT_APPROVED,
                f"Four-eyes is on: {approver} requested proposal #{proposal.id} and cannot "
                "also approve it; nothing moved. Another person approves it.",
            )
        return None

    def _audit_proposal(
        self, proposal: Proposal, decision: Decision, actor: str, note: str
    ) -> None:
        self._registry.stages.record_decision(
            kind=proposal.kind,
            decision=decision,
            attempt=Attempt(
                actor=actor,
                client=proposal.client,
                requested_by=proposal.requested_by,
                rationale=proposal.rationale,
            ),
            model=proposal.model,
            plan=proposal.plan,
            version=proposal.version,
            stage=proposal.stage,
            reason=f"proposal #{proposal.id}: {note}",
        )

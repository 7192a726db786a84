"""Human approval of stage changes: the one place that decides, applies and audits them.

Every path ends here: the CLI (the human confirms at the terminal), an MCP client that
elicits (the human answered a form), a client that cannot (a pending proposal, approved
later with `modelreg approvals`), and the agent (its MCP client answers the form with the
decision its human gave at the graph's interrupt).

The rules, whatever the path:

- An approval binds to a :class:`~registry_mcp.domain.plans.ChangePlan` (its digest), never to a
  request: applying re-checks the plan under the model lock, and refuses with STALE_PLAN if
  the registry changed since the human was asked.
- A form or proposal is single-use: it is settled (pending -> approved/denied) by one
  compare-and-set before anything moves, so a replayed answer finds it already decided.
- Only a real boolean ``true`` on an accepted form approves; anything else is refused.
- :meth:`Approvals.apply` is the one apply function: registry move -> serving follows ->
  verified, and every attempt leaves exactly one audit row (done, refused, failed, denied,
  proposed), including refused, stale, invalid and lock-timeout attempts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from registry_mcp.core.change_requests import Approval, ChangeRequest, Outcome, note_suffix
from registry_mcp.core.ports import ServingUpdate
from registry_mcp.core.proposal_desk import ProposalDesk
from registry_mcp.core.registry import Registry
from registry_mcp.core.transitions import Attempt
from registry_mcp.domain import validation
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.plans import ChangeKind, ChangePlan
from registry_mcp.domain.releases import CanaryState, canary_mode, canary_percent
from registry_mcp.domain.schemas import Decision, ExpectedVersion, Stage
from registry_mcp.store.proposals import Proposal, ProposalStatus, ProposalStore
from registry_mcp.store.releases import Guard

GUARD_ACTOR = "modelreg-guard"
"""Audit actor of an automatic rollback (its rationale names the human approval it is under)."""
CONTROLLER_ACTOR = "modelreg-controller"
"""Audit actor of a serving repair: serving made to match the approved registry state."""


class Approvals:
    def __init__(
        self,
        registry: Registry,
        store: ProposalStore,
        *,
        after_change: Callable[[str], ServingUpdate] | None = None,
        check_warm: Callable[[str, int], None] | None = None,
        check_loadable: Callable[[str, int], None] | None = None,
    ) -> None:
        self._registry = registry
        self._store = store
        self._after_change = after_change
        self._check_warm = check_warm
        self._check_loadable = check_loadable
        self.proposals = ProposalDesk(registry, store, self)

    @classmethod
    def for_registry(
        cls,
        registry: Registry,
        *,
        after_change: Callable[[str], ServingUpdate] | None = None,
        check_warm: Callable[[str, int], None] | None = None,
        check_loadable: Callable[[str, int], None] | None = None,
    ) -> Approvals:
        """``after_change`` makes serving follow a change; ``check_warm`` refuses a canary
        of a version serving has not loaded (without it, canaries cannot start here);
        ``check_loadable`` refuses a version serving cannot load (without it, a change made
        outside modelreg cannot be accepted into Production here)."""
        return cls(
            registry,
            ProposalStore(registry.engine),
            after_change=after_change,
            check_warm=check_warm,
            check_loadable=check_loadable,
        )

    @property
    def four_eyes(self) -> bool:
        return self._registry.settings.four_eyes

    # ------------------------------------------------------------ requests

    def request(
        self,
        kind: ChangeKind,
        model: str,
        *,
        rationale: str,
        requested_by: str,
        client: str | None,
        version: int | str | None = None,
        stage: Stage | str = Stage.PRODUCTION,
        expected_current: ExpectedVersion | str = None,
        plan_digest: str | None = None,
        audit: bool = True,
        percent: object = None,
        mode: object = "split",
        guard: object = False,
    ) -> ChangeRequest:
        """Validate a request; an invalid one is raised (and audited as refused, unless
        ``audit`` is off because the caller records the attempt itself).

        CANARY: ``version`` and ``percent`` (and ``mode``) start or change a canary; both
        None stop it. ``guard``: a promotion to Production is guarded (a real boolean)."""
        who = validation.actor(requested_by)
        canary: CanaryState | None = None
        number: int | None
        try:
            name = validation.model_name(model)
            why = validation.rationale(rationale)
            if not isinstance(guard, bool):
                raise RegistryError(
                    ErrorCode.INVALID_INPUT, f"guard {guard!r} is not the boolean true or false"
                )
            if kind is ChangeKind.CANARY:
                number = None
                target = Stage.PRODUCTION
                if version is not None or percent is not None:
                    if version is None or percent is None:
                        raise RegistryError(
                            ErrorCode.INVALID_INPUT,
                            "A canary needs both a version and a percent (e.g. version 4, "
                            "percent 10).",
                        )
                    number = validation.version(version)
                    canary = CanaryState(
                        version=number, percent=canary_percent(percent), mode=canary_mode(mode)
                    )
            elif kind is ChangeKind.PROMOTE:
                if version is None:
                    raise RegistryError(
                        ErrorCode.INVALID_INPUT, "A version to promote is required."
                    )
                number = validation.version(version)
                target = validation.stage(stage)
            else:
                number = None if version is None else validation.version(version)
                target = Stage.PRODUCTION
            expected = validation.expected_version(expected_current)
            digest = None if plan_digest is None else validation.plan_digest(plan_digest)
        except RegistryError as exc:
            if audit:
                self.record_invalid(kind, model, exc, requested_by=who, client=client)
            raise
        return ChangeRequest(
            kind=kind,
            model=name,
            version=number,
            stage=target,
            rationale=why,
            requested_by=who,
            client=client,
            expected_current=expected,
            plan_digest=digest,
            canary=canary,
            guard=guard,
        )

    def record_invalid(
        self,
        kind: ChangeKind,
        model: object,
        error: RegistryError,
        *,
        requested_by: str,
        client: str | None,
    ) -> None:
        """Audit a request too malformed to plan (the model name may itself be the problem)."""
        self._registry.stages.record_decision(
            kind=kind,
            decision=Decision.REFUSED,
            attempt=Attempt(actor=requested_by, client=client),
            model=str(model),
            reason=f"{error.code.value}: {error.message}",
        )

    def request_accept(
        self, model: str, *, rationale: str, requested_by: str, client: str | None
    ) -> tuple[ChangeRequest, ChangePlan]:
        """Approving aliases moved outside modelreg: the one stage change they amount to,
        planned from the approved aliases under the rules of any promotion or rollback
        (card, transitions, four-eyes, a version serving can load). Refusals are audited."""
        who = validation.actor(requested_by)
        try:
            name = validation.model_name(model)
            why = validation.rationale(rationale)
        except RegistryError as exc:
            self.record_invalid(ChangeKind.PROMOTE, model, exc, requested_by=who, client=client)
            raise
        try:
            plan = self._registry.stages.plan_accept(name)
        except RegistryError as exc:
            self._registry.stages.record_decision(
                kind=ChangeKind.PROMOTE,
                decision=Decision.REFUSED,
                attempt=Attempt(actor=who, client=client, rationale=why),
                model=name,
                reason=f"accepting the change made outside modelreg: {exc.code.value}: "
                f"{exc.message}",
            )
            raise
        req = ChangeRequest(
            kind=plan.kind,
            model=name,
            version=plan.version,
            stage=plan.to_stage,
            rationale=why,
            requested_by=who,
            client=client,
        )
        try:
            self.check_loadable(plan)
        except RegistryError as exc:
            raise self.refuse_plan(req, plan, exc) from None
        return req, plan

    def check_loadable(self, plan: ChangePlan) -> None:
        """Refuse accepting into Production a version serving cannot load (unsafe format,
        broken artifacts): serving would answer every prediction with an error."""
        if plan.accepts is None or plan.to_stage is not Stage.PRODUCTION:
            return
        if self._check_loadable is None:
            raise RegistryError(
                ErrorCode.INVALID_TRANSITION,
                "No serving is attached here, so the version cannot be checked for loading; "
                f"accept it where serving runs (`modelreg approvals accept-unapproved "
                f"{plan.model}`).",
            )
        self._check_loadable(plan.model, plan.version)

    def refuse_plan(
        self, req: ChangeRequest, plan: ChangePlan, error: RegistryError
    ) -> RegistryError:
        """Audit a planned change refused before it moves; return the error."""
        self._registry.stages.record_decision(
            kind=req.kind,
            decision=Decision.REFUSED,
            attempt=self._attempt(req, req.requested_by, req.client),
            model=req.model,
            plan=plan,
            reason=f"{error.code.value}: {error.message}",
        )
        return error

    def needs_other_approver(self, plan: ChangePlan) -> bool:
        """Four-eyes: a Production change is filed as a proposal for someone else."""
        return self.four_eyes and plan.moves_production_traffic

    def plan(self, req: ChangeRequest) -> ChangePlan:
        """What the request would move now; raises (without auditing) what the registry would
        refuse, including a stale expectation, so a human is never asked in vain."""
        guard = None
        if req.guard:
            guard = self._registry.policy(req.model).guard
            if guard is None:
                raise RegistryError(
                    ErrorCode.INVALID_INPUT,
                    f"{req.model!r} declares no guard in the models file, so a guarded "
                    "promotion has no thresholds: add `guard: {window_s: 120}` (and its "
                    "latency_sla_ms / error_budget) under the model, or promote without guard.",
                )
        plan = self._registry.stages.plan_change(
            req.kind,
            req.model,
            req.version,
            req.stage,
            canary_after=req.canary,
            guard=guard,
        )
        if plan.canary_after is not None:
            if self._check_warm is None:
                raise RegistryError(
                    ErrorCode.INVALID_TRANSITION,
                    "No serving is attached here, so a canary cannot be checked against what "
                    "is loaded; start it where serving runs (`modelreg canary start`).",
                )
            self._check_warm(plan.model, plan.canary_after.version)
        if req.plan_digest is not None and not plan.digest.startswith(req.plan_digest):
            raise RegistryError(
                ErrorCode.STALE_PLAN,
                f"The plan changed since it was previewed ({req.plan_digest} asked, now "
                f"{plan.describe()}); nothing moved. Preview it again.",
            )
        plan.check_expected(req.expected_current)
        return plan

    def refuse(self, req: ChangeRequest, error: RegistryError) -> RegistryError:
        """Audit a request the registry refuses before any human decides; return the error."""
        self._registry.stages.record_decision(
            kind=req.kind,
            decision=Decision.REFUSED,
            attempt=self._attempt(req, req.requested_by, req.client),
            model=req.model,
            version=req.version,
            stage=req.stage,
            reason=f"{error.code.value}: {error.message}",
        )
        return error

    @staticmethod
    def _attempt(req: ChangeRequest, actor: str, client: str | None) -> Attempt:
        return Attempt(
            actor=actor,
            client=client,
            requested_by=req.requested_by if req.requested_by != actor else None,
            rationale=req.rationale,
        )

    # -------------------------------------------------------- the one apply

    def apply(self, req: ChangeRequest, plan: ChangePlan, approval: Approval) -> Outcome:
        """Apply exactly ``plan``, which a human approved: registry, then serving follows."""
        attempt = self._attempt(req, approval.approver, approval.client)
        attempt = attempt.model_copy(
            update={"note": f"approved via {approval.via}" + note_suffix(approval.note)}
        )
        if (
            self.four_eyes
            and plan.moves_production_traffic
            and approval.approver == req.requested_by
            and not approval.pre_approved
        ):
            error = RegistryError(
                ErrorCode.NOT_APPROVED,
                f"Four-eyes is on: {approval.approver} requested this Production change and "
                "cannot also approve it; nothing moved. Another person approves the proposal.",
            )
            self._registry.stages.record_decision(
                kind=req.kind,
                decision=Decision.REFUSED,
                attempt=attempt,
                model=req.model,
                plan=plan,
                reason=f"{error.code.value}: {error.message}",
            )
            raise error
        if approval.guard_id is not None:
            attempt = attempt.model_copy(
                update={"guard_id": approval.guard_id, "guard_late": approval.guard_late}
            )
        if plan.accepts is not None:
            attempt = attempt.model_copy(
                update={"note": f"{attempt.note}; accepts the change made outside modelreg"}
            )
            try:
                self.check_loadable(plan)
            except RegistryError as exc:
                self._registry.stages.record_decision(
                    kind=req.kind,
                    decision=Decision.REFUSED,
                    attempt=attempt,
                    model=req.model,
                    plan=plan,
                    reason=f"{exc.code.value}: {exc.message}",
                )
                raise
        result = self._registry.stages.execute(plan, attempt)
        serving = None if self._after_change is None else self._after_change(req.model)
        if plan.kind is ChangeKind.CANARY:
            after = plan.canary_after
            message = f"Applied: canary of {req.model} " + (
                "stopped." if after is None else f"running: {after.describe()}."
            )
        else:
            message = f"Applied: {req.model} v{result.version} is now {result.to_stage.value}."
            if plan.guard is not None:
                message += (
                    f" Guarded for {plan.guard.window_s:g} s: a breach rolls it back to "
                    f"v{plan.rollback_target_after} automatically."
                )
        return Outcome(
            status="applied",
            message=message,
            plan=plan,
            transition=result,
            serving=serving,
        )

    def decline(
        self,
        req: ChangeRequest,
        plan: ChangePlan | None,
        *,
        status: Literal["denied", "cancelled"],
        approver: str,
        client: str | None,
        note: str | None,
    ) -> Outcome:
        """A human said no (or closed the form): audited, nothing moves."""
        self._registry.stages.record_decision(
            kind=req.kind,
            decision=Decision.DENIED,
            attempt=self._attempt(req, approver, client),
            model=req.model,
            plan=plan,
            version=req.version,
            stage=req.stage,
            reason=f"{status} by human" + note_suffix(note),
        )
        return Outcome(
            status=status, plan=plan, message=f"Not applied: the human {status} it; nothing moved."
        )

    def refuse_answer(
        self, req: ChangeRequest, plan: ChangePlan, *, approver: str, client: str | None, why: str
    ) -> RegistryError:
        """An answer that is not a valid approval (malformed, replayed): audited, refused."""
        error = RegistryError(ErrorCode.NOT_APPROVED, f"{why}; nothing moved.")
        self._registry.stages.record_decision(
            kind=req.kind,
            decision=Decision.REFUSED,
            attempt=self._attempt(req, approver, client),
            model=req.model,
            plan=plan,
            reason=f"{error.code.value}: {error.message}",
        )
        return error

    def apply_guard_rollback(
        self, guard: Guard, evidence: str, *, late_by_s: float | None = None
    ) -> Outcome:
        """Roll back a guarded version that breached its guard: the rollback its human
        approved with the promotion (audit #N), through the one apply path. Refused (and
        audited) unless the guard still watches that version within its window, or
        (``late_by_s``) the breach was found afterwards in the window's own evidence."""
        via = f"automatic rollback under approval #{guard.approval_audit_id}"
        if late_by_s is not None:
            via += f", judged {late_by_s:.0f} s after its window ended"
        req = self.request(
            ChangeKind.ROLLBACK,
            guard.model,
            rationale=f"{via} (guard #{guard.id}): {evidence}",
            requested_by=GUARD_ACTOR,
            client=GUARD_ACTOR,
            version=guard.rollback_to,
        )
        try:
            plan = self.plan(req)
        except RegistryError as exc:
            raise self.refuse(req, exc) from None
        approval = Approval(
            approver=GUARD_ACTOR,
            client=GUARD_ACTOR,
            note=evidence,
            via=via,
            pre_approved=True,
            guard_id=guard.id,
            guard_late=late_by_s is not None,
        )
        return self.apply(req, plan, approval)

    # ------------------------------------------------------ approval forms

    def open_form(self, req: ChangeRequest, plan: ChangePlan) -> Proposal:
        """The single-use ticket an approval form is about (reused while it is undecided,
        so the form reads the same on every round of the same request)."""
        return self._store.form_for(
            plan,
            rationale=req.rationale,
            requested_by=req.requested_by,
            client=req.client,
            ttl_s=self._registry.settings.proposal_ttl_s,
        )

    def answer_form(
        self,
        req: ChangeRequest,
        form: Proposal,
        *,
        approve: object,
        approver: str,
        note: object,
    ) -> Outcome:
        """Carry out an accepted form: only ``approve is True`` approves, once."""
        assert form.plan is not None
        plan = form.plan
        problem = None
        if not isinstance(approve, bool):
            problem = (
                f"The approval form's answer {_show(approve)} is not the boolean true or false"
            )
        elif not isinstance(note, str) or len(note) > validation.MAX_RATIONALE_LENGTH:
            problem = (
                f"The approval form's rationale {_show(note)} is not text up to 2000 characters"
            )
        if problem is not None:
            # Settle the form too: a corrected answer must come with a new question.
            self._store.settle(form.id, ProposalStatus.DENIED, decided_by=approver, note=problem)
            raise self.refuse_answer(req, plan, approver=approver, client=req.client, why=problem)
        assert isinstance(note, str)
        text = note or None
        status = ProposalStatus.APPROVED if approve else ProposalStatus.DENIED
        if not self._store.settle(form.id, status, decided_by=approver, note=text):
            raise self.refuse_answer(
                req,
                plan,
                approver=approver,
                client=req.client,
                why=f"Approval form #{form.id} was already answered (an answer counts once)",
            )
        if not approve:
            return self.decline(
                req, plan, status="denied", approver=approver, client=req.client, note=text
            )
        return self.apply_settled(
            req,
            form,
            Approval(approver=approver, client=req.client, note=text, via=f"form #{form.id}"),
        )

    def close_form(
        self,
        req: ChangeRequest,
        form: Proposal,
        *,
        status: Literal["denied", "cancelled"],
        approver: str,
        note: str | None,
    ) -> Outcome:
        """The human declined or dismissed the form: it is settled, so it cannot be
        answered later, and the refusal is audited."""
        assert form.plan is not None
        if not self._store.settle(form.id, ProposalStatus.DENIED, decided_by=approver, note=note):
            raise self.refuse_answer(
                req,
                form.plan,
                approver=approver,
                client=req.client,
                why=f"Approval form #{form.id} was already answered (an answer counts once)",
            )
        return self.decline(
            req, form.plan, status=status, approver=approver, client=req.client, note=note
        )

    def apply_settled(self, req: ChangeRequest, ticket: Proposal, approval: Approval) -> Outcome:
        """Apply the plan of a form or proposal already settled as approved; a failure marks
        it failed."""
        assert ticket.plan is not None
        try:
            outcome = self.apply(req, ticket.plan, approval)
        except RegistryError as exc:
            self._store.override_status(
                ticket.id, ProposalStatus.FAILED, f"{exc.code.value}: {exc.message}"
            )
            raise
        return outcome

    # ----------------------------------------------------------- proposals

    def propose(self, req: ChangeRequest, plan: ChangePlan) -> Outcome:
        """File a pending proposal of ``plan`` for a human to approve out of band."""
        proposal = self._store.create(
            plan,
            rationale=req.rationale,
            requested_by=req.requested_by,
            client=req.client,
            ttl_s=self._registry.settings.proposal_ttl_s,
        )
        self._registry.stages.record_decision(
            kind=req.kind,
            decision=Decision.PROPOSED,
            attempt=self._attempt(req, req.requested_by, req.client),
            model=req.model,
            plan=plan,
            reason=f"proposal #{proposal.id}",
        )
        return Outcome(
            status="pending",
            message=(
                f"Proposal #{proposal.id} is waiting for a human: {proposal.summary}. Nothing "
                f"moves until someone runs `{proposal.approve_command}`."
            ),
            plan=plan,
            proposal_id=proposal.id,
            approve_command=proposal.approve_command,
            deny_command=proposal.deny_command,
            expires_at=proposal.expires_at,
        )


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

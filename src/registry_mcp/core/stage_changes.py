"""Stage changes as callers ask for them: validate, plan once, execute on the stage machine.

``registry.stages`` is this object. ``transition`` and ``rollback`` are the registry's own API
for scripts and operators with database access (no human is asked); people and agents go
through :class:`~registry_mcp.core.approvals.Approvals`, which plans with ``plan_change``,
applies with ``execute`` and audits what moved nothing with ``record_decision``.
"""

from __future__ import annotations

from collections.abc import Callable

from registry_mcp.core.transitions import Attempt, StageMachine, action_of
from registry_mcp.domain import validation
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.plans import ChangeKind, ChangePlan, compute_plan
from registry_mcp.domain.releases import CanaryState, GuardSpec
from registry_mcp.domain.schemas import (
    AliasState,
    Decision,
    ExpectedVersion,
    ModelSummary,
    Stage,
    TransitionResult,
    VersionInfo,
)
from registry_mcp.store.audit import AuditLog


class StageChanges:
    def __init__(
        self,
        machine: StageMachine,
        *,
        audit: AuditLog,
        model_summary: Callable[[str], ModelSummary],
        version_info: Callable[[str, int], VersionInfo],
        primary_metric_of: Callable[[str], str],
    ) -> None:
        self.machine = machine
        self._audit = audit
        self._model = model_summary
        self._version = version_info
        self._primary_metric = primary_metric_of

    def plan_change(
        self,
        kind: ChangeKind,
        name: str,
        version: int | str | None,
        stage: Stage | str = Stage.PRODUCTION,
        *,
        canary_after: CanaryState | None = None,
        guard: GuardSpec | None = None,
    ) -> ChangePlan:
        """What the change would move now (a preview to show a human); raises the refusal.

        CANARY plans: ``canary_after`` is the canary to run (None: stop it). ``guard``: the
        thresholds of a guarded promotion to Production."""
        name = validation.model_name(name)
        number = None if version is None else validation.version(version)
        target = validation.stage(stage) if kind is ChangeKind.PROMOTE else Stage.PRODUCTION
        return self.machine.preview(
            self._model(name), kind, number, target, canary_after=canary_after, guard=guard
        )

    def plan_transition(self, name: str, version: int | str, stage: Stage | str) -> ChangePlan:
        """What ``transition`` would do now (card completeness reported, not refused)."""
        name = validation.model_name(name)
        number = validation.version(version)
        summary = self._model(name)
        return compute_plan(
            ChangeKind.PROMOTE,
            name,
            number,
            validation.stage(stage),
            summary.aliases,
            lambda v: self._version(name, v),
            self._primary_metric(name),
        )

    def plan_rollback(self, name: str, to_version: int | str | None = None) -> ChangePlan:
        return self.plan_change(ChangeKind.ROLLBACK, name, to_version)

    def execute(self, plan: ChangePlan, attempt: Attempt) -> TransitionResult:
        """Apply exactly ``plan`` (re-checked under the model lock); one audit row."""
        return self.machine.execute(plan, attempt)

    def transition(
        self,
        name: str,
        version: int | str,
        stage: Stage | str,
        *,
        rationale: str,
        actor: str,
        expected_current_version: ExpectedVersion | str = None,
        client: str | None = None,
    ) -> TransitionResult:
        """Move ``version`` to ``stage`` now (compare-and-set on the stage's holder).

        The registry's own API, for scripts and operators with database access: no human
        is asked. People and agents go through ``Approvals`` (CLI, MCP, proposals)."""
        name = validation.model_name(name)
        attempt = Attempt(
            actor=validation.actor(actor), client=client, rationale=validation.rationale(rationale)
        )
        number = validation.version(version)
        target = validation.stage(stage)
        expected = validation.expected_version(expected_current_version)
        if expected is not None and target not in (Stage.PRODUCTION, Stage.STAGING):
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                "expected_current_version applies only to Staging and Production, which hold "
                "one version each; leave it out for other stages.",
            )
        return self._direct(ChangeKind.PROMOTE, name, number, target, expected, attempt)

    def rollback(
        self,
        name: str,
        *,
        rationale: str,
        actor: str,
        to_version: int | str | None = None,
        expected_current_version: ExpectedVersion | str = None,
        client: str | None = None,
    ) -> TransitionResult:
        """Re-point Production to the previous (or a named former) Production version now."""
        name = validation.model_name(name)
        attempt = Attempt(
            actor=validation.actor(actor), client=client, rationale=validation.rationale(rationale)
        )
        wanted = None if to_version is None else validation.version(to_version)
        expected = validation.expected_version(expected_current_version)
        return self._direct(ChangeKind.ROLLBACK, name, wanted, Stage.PRODUCTION, expected, attempt)

    def _direct(
        self,
        kind: ChangeKind,
        name: str,
        version: int | None,
        stage: Stage,
        expected: ExpectedVersion,
        attempt: Attempt,
    ) -> TransitionResult:
        summary = self._model(name)
        try:
            plan = self.machine.preview(summary, kind, version, stage)
            plan.check_expected(expected)
        except RegistryError as exc:
            raise self.machine.refused(
                exc, attempt, kind=kind, model=name, version=version, stage=stage
            ) from None
        return self.machine.execute(plan, attempt)

    def revert_unapproved(
        self, name: str, *, actor: str, rationale: str, seen: AliasState
    ) -> AliasState:
        """Put MLflow's aliases back to the approved state (the one-step way back; accepting
        a change made outside modelreg is an approval, through ``Approvals``)."""
        name = validation.model_name(name)
        attempt = Attempt(
            actor=validation.actor(actor),
            client="modelreg-cli",
            rationale=validation.rationale(rationale),
        )
        return self.machine.revert_unapproved(name, attempt=attempt, seen=seen)

    def plan_accept(self, name: str) -> ChangePlan:
        """The plan that approves the aliases moved outside modelreg; raises the refusal."""
        return self.machine.preview_accept(self._model(validation.model_name(name)))

    def record_decision(
        self,
        *,
        kind: ChangeKind,
        decision: Decision,
        attempt: Attempt,
        model: str,
        plan: ChangePlan | None = None,
        version: int | None = None,
        stage: Stage | None = None,
        reason: str | None = None,
    ) -> int:
        """Audit a decision about a stage change that moved nothing (a proposal, a denial, a
        refused or invalid attempt). ``model`` may be the caller's unvalidated text."""
        return self._audit.record(
            actor=attempt.actor,
            client=attempt.client,
            model=str(model)[: validation.MAX_NAME_LENGTH] or "?",
            action=action_of(kind),
            decision=decision,
            from_version=plan.replaced_version if plan else None,
            to_version=plan.version if plan else version,
            from_stage=plan.from_stage.value if plan else None,
            to_stage=(plan.to_stage if plan else stage or Stage.PRODUCTION).value,
            rationale=attempt.rationale,
            reason=reason,
            requested_by=attempt.requested_by,
            plan_digest=plan.digest if plan else None,
        )

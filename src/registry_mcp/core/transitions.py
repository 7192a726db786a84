"""The stage machine: preview a change as a plan, apply exactly that plan, audit every attempt.

``preview`` computes a :class:`~registry_mcp.domain.plans.ChangePlan` from a catalog snapshot.
``execute`` takes the model lock, opens one database transaction, recomputes the plan from
the aliases read in it and applies it only if the digest is unchanged: MLflow's aliases,
version tags and legacy stage, the audit row and the new approved alias state are committed
together or not at all, so a crash at any point leaves the old state or the new one, never a
mix. Every attempt ends as exactly one audit row: a refusal or a failure (nothing moved) is
audited after the transaction is rolled back, refusals before the lock (invalid, stale, lock
timeout) included.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.plans import ChangeKind, ChangePlan, accept_plan, after_state, compute_plan
from registry_mcp.domain.releases import CanaryState, GuardSpec
from registry_mcp.domain.schemas import (
    AliasState,
    AuditAction,
    Decision,
    ModelSummary,
    Stage,
    TransitionResult,
    VersionInfo,
)
from registry_mcp.domain.stages import (
    PREVIOUS_ALIAS,
    PRODUCTION_ALIAS,
    SERVED_TAG,
    STAGE_TAG,
    STAGING_ALIAS,
)
from registry_mcp.store.approved_state import ApprovedStates
from registry_mcp.store.audit import AuditLog
from registry_mcp.store.catalog import Catalog
from registry_mcp.store.locks import ModelLocks
from registry_mcp.store.mlflow_store import MlflowStore
from registry_mcp.store.releases import (
    GuardStatus,
    Releases,
    canary_in,
    end_guards_in,
    guard_in,
    set_canary_in,
    start_guard_in,
)
from registry_mcp.store.stage_writes import StageTransaction, StageWrites

OUTSIDE_ACTOR = "outside-modelreg"
"""Audit actor of a change noticed in MLflow but not made through modelreg (MLflow records
no user for alias changes)."""


class Attempt(BaseModel):
    """Who attempts a change, through what, and why: the audit row's people and words."""

    model_config = ConfigDict(frozen=True)

    actor: str
    client: str | None = None
    requested_by: str | None = None
    rationale: str | None = None
    note: str | None = None
    guard_id: int | None = None
    """Set by a guard's automatic rollback: the guard must still be watching when it lands."""
    guard_late: bool = False
    """The rollback was judged after the window ended, on the window's own evidence."""


def action_of(kind: ChangeKind) -> AuditAction:
    if kind is ChangeKind.CANARY:
        return AuditAction.CANARY
    return AuditAction.ROLLBACK if kind is ChangeKind.ROLLBACK else AuditAction.TRANSITION


class StageMachine:
    def __init__(
        self,
        *,
        store: MlflowStore,
        catalog: Catalog,
        audit: AuditLog,
        locks: ModelLocks,
        states: ApprovedStates,
        version_info: Callable[[str, int], VersionInfo],
        require_complete_card: Callable[[], bool],
        primary_metric_of: Callable[[str], str],
        writes: StageWrites | None = None,
    ) -> None:
        # MLflow's own logic (create models and versions, log runs) stays with ``store``;
        # a stage change is plain SQL in one transaction (``writes``).
        self._store = store
        self._writes = writes or StageWrites(catalog.engine, catalog.workspace)
        self._catalog = catalog
        self._audit = audit
        self._locks = locks
        self._states = states
        self._version_info = version_info
        self._require_card = require_complete_card
        self._primary_metric_of = primary_metric_of
        self.releases = Releases(catalog.engine)

    # ------------------------------------------------------------- previews

    def preview(
        self,
        summary: ModelSummary,
        kind: ChangeKind,
        version: int | None,
        stage: Stage,
        *,
        canary_after: CanaryState | None = None,
        guard: GuardSpec | None = None,
    ) -> ChangePlan:
        """The plan from a catalog snapshot; raises what ``execute`` would refuse."""
        if summary.unapproved_change:
            raise RegistryError(ErrorCode.UNAPPROVED_CHANGE, summary.unapproved_change)
        running = self.releases.canary(summary.name)
        plan = compute_plan(
            kind,
            summary.name,
            version,
            stage,
            summary.aliases,
            lambda v: self._version_info(summary.name, v),
            self._primary_metric_of(summary.name),
            canary=None if running is None else running.canary,
            canary_after=canary_after,
            guard=guard,
        )
        refused = plan.refusal(require_complete_card=self._require_card())
        if refused is not None:
            raise refused
        return plan

    # ------------------------------------------------------------- applying

    def execute(self, plan: ChangePlan, attempt: Attempt) -> TransitionResult:
        """Apply exactly ``plan`` if the registry still yields it; one audit row either way."""
        writing = False
        try:
            with self._locks.hold(plan.model), self._writes.begin() as tx:
                live = tx.aliases(plan.model)
                approved = ApprovedStates.get_in(tx.conn, plan.model)
                self._check_aliases(plan, live, approved)
                # What moves (and what the audit row names) is the plan recomputed now.
                now = self._recheck(plan, live, approved, tx, canary_in(tx.conn, plan.model))
                if attempt.guard_id is not None:
                    self._check_guard(tx.conn, attempt.guard_id, now, live, late=attempt.guard_late)
                writing = True
                if now.kind is ChangeKind.CANARY:
                    audit_id = AuditLog.insert_in(
                        tx.conn, **self._row(now, attempt, Decision.DONE, attempt.note)
                    )
                    set_canary_in(tx.conn, now.model, now.canary_after, audit_id)
                else:
                    self._move(tx, now, live)
                    audit_id = AuditLog.insert_in(
                        tx.conn, **self._row(now, attempt, Decision.DONE, attempt.note)
                    )
                    # An accepted change is planned from the approved aliases, like any other.
                    ApprovedStates.put_in(tx.conn, plan.model, after_state(now, approved), audit_id)
                    self._releases_follow(tx.conn, now, attempt, audit_id)
        except RegistryError as exc:
            # Rolled back: nothing of the change is stored; audit the attempt on its own.
            decision = Decision.FAILED if writing else Decision.REFUSED
            reason = f"{exc.code.value}: {exc.message}"
            if writing:
                reason += " (rolled back; nothing moved)"
            self._audit.record(**self._row(plan, attempt, decision, reason))
            raise
        return TransitionResult(
            name=now.model,
            version=now.version,
            from_stage=now.from_stage,
            to_stage=now.to_stage,
            replaced_version=now.replaced_version,
            replaced_to_stage=now.replaced_to_stage,
            audit_id=audit_id,
            plan_digest=now.digest,
        )

    @staticmethod
    def _check_aliases(plan: ChangePlan, live: AliasState, approved: AliasState) -> None:
        """MLflow's aliases must be the approved ones, or (accepting a change made outside
        modelreg) exactly the ones the approver was shown."""
        if plan.accepts is None and live != approved:
            raise RegistryError(
                ErrorCode.UNAPPROVED_CHANGE,
                f"Stage aliases of {plan.model!r} were changed outside modelreg; "
                "nothing moved. See `modelreg models show "
                f"{plan.model}` and resolve it first.",
            )
        if plan.accepts is not None and live != plan.accepts:
            raise RegistryError(
                ErrorCode.STALE_PLAN,
                f"The aliases of {plan.model!r} changed again since the approver was shown "
                f"them; nothing moved. Look again with `modelreg models show {plan.model}`.",
            )

    def preview_accept(self, summary: ModelSummary) -> ChangePlan:
        """The plan that approves the aliases moved outside modelreg (the stage change they
        amount to, from the approved aliases); raises what ``execute`` would refuse."""
        if not summary.unapproved_change:
            raise RegistryError(
                ErrorCode.INVALID_TRANSITION,
                f"{summary.name!r} has no unapproved change; nothing to do.",
            )
        running = self.releases.canary(summary.name)
        plan = accept_plan(
            summary.name,
            summary.approved,
            summary.aliases,
            lambda v: self._version_info(summary.name, v),
            self._primary_metric_of(summary.name),
            canary=None if running is None else running.canary,
        )
        refused = plan.refusal(require_complete_card=self._require_card())
        if refused is not None:
            raise refused
        return plan

    @staticmethod
    def _check_guard(
        conn: Connection, guard_id: int, plan: ChangePlan, live: AliasState, *, late: bool
    ) -> None:
        """An automatic rollback lands only while its guard watches the version it guards
        (after its window only when judged ``late`` on the window's own evidence)."""
        guard = guard_in(conn, guard_id)
        problem = None
        if guard is None or guard.model != plan.model:
            problem = f"guard #{guard_id} does not exist for {plan.model!r}"
        elif guard.status is not GuardStatus.WATCHING:
            problem = f"guard #{guard_id} is {guard.status.value}, no longer watching"
        elif not late and not guard.open_at(time.time()):
            problem = f"the window of guard #{guard_id} ended at {guard.ends_at.isoformat()}"
        elif live.production != guard.version or plan.version != guard.rollback_to:
            problem = (
                f"guard #{guard_id} guards v{guard.version} -> v{guard.rollback_to}, but "
                f"Production is now {live.production}"
            )
        if problem is not None:
            raise RegistryError(ErrorCode.STALE_PLAN, f"No automatic rollback: {problem}.")

    @staticmethod
    def _releases_follow(
        conn: Connection, plan: ChangePlan, attempt: Attempt, audit_id: int
    ) -> None:
        """Canary and guards after a stage change, in its transaction."""
        if plan.ends_canary:
            set_canary_in(conn, plan.model, None, audit_id)
        if plan.to_stage is not Stage.PRODUCTION:
            return
        if attempt.guard_id is not None:
            # Done only once serving is verified on the target (the controller confirms it).
            end_guards_in(
                conn,
                plan.model,
                GuardStatus.ROLLING_BACK,
                guard_id=attempt.guard_id,
                evidence=attempt.note,
            )
        end_guards_in(
            conn,
            plan.model,
            GuardStatus.SUPERSEDED,
            evidence=f"Production changed (audit #{audit_id})",
        )
        if plan.guard is not None:
            assert plan.rollback_target_after is not None  # compute_plan refuses otherwise
            start_guard_in(
                conn,
                model=plan.model,
                version=plan.version,
                rollback_to=plan.rollback_target_after,
                approval_audit_id=audit_id,
                spec=plan.guard,
            )

    def _recheck(
        self,
        plan: ChangePlan,
        live: AliasState,
        approved: AliasState,
        tx: StageTransaction,
        canary: CanaryState | None,
    ) -> ChangePlan:
        """The plan from the live aliases, if it is still exactly the approved one."""

        def version_info(number: int) -> VersionInfo:
            found = self._catalog.get_version_in(tx.conn, plan.model, number)
            if found is None:
                raise RegistryError(
                    ErrorCode.NOT_FOUND, f"Model {plan.model!r} has no version {number}."
                )
            return found

        try:
            if plan.accepts is not None:
                now = accept_plan(
                    plan.model,
                    approved,
                    live,
                    version_info,
                    self._primary_metric_of(plan.model),
                    canary=canary,
                )
            else:
                now = compute_plan(
                    plan.kind,
                    plan.model,
                    plan.version,
                    plan.to_stage,
                    live,
                    version_info,
                    self._primary_metric_of(plan.model),
                    canary=canary,
                    canary_after=plan.canary_after,
                    guard=plan.guard,
                )
        except RegistryError as exc:
            raise _stale(plan, exc.message) from None
        return self._still_allowed(plan, now)

    def _still_allowed(self, plan: ChangePlan, now: ChangePlan) -> ChangePlan:
        if now.digest != plan.digest:
            raise _stale(plan, f"now it would be: {now.describe()}")
        refused = now.refusal(require_complete_card=self._require_card())
        if refused is not None:
            raise refused
        return now

    def _move(self, tx: StageTransaction, plan: ChangePlan, live: AliasState) -> None:
        name, number = plan.model, plan.version
        if plan.to_stage is Stage.PRODUCTION:
            tx.set_alias(name, PRODUCTION_ALIAS, number)
            if live.staging == number:
                tx.delete_alias(name, STAGING_ALIAS)
            _mark(tx, name, number, Stage.PRODUCTION)
            tx.set_version_tag(name, number, SERVED_TAG, _now())
            if plan.replaced_version is not None:
                tx.set_alias(name, PREVIOUS_ALIAS, plan.replaced_version)
                _mark(tx, name, plan.replaced_version, Stage.ARCHIVED)
        elif plan.to_stage is Stage.STAGING:
            tx.set_alias(name, STAGING_ALIAS, number)
            _mark(tx, name, number, Stage.STAGING)
            if plan.replaced_version is not None:
                _mark(tx, name, plan.replaced_version, Stage.NONE)
        else:
            if plan.from_stage is Stage.PRODUCTION:
                tx.delete_alias(name, PRODUCTION_ALIAS)
            elif plan.from_stage is Stage.STAGING:
                tx.delete_alias(name, STAGING_ALIAS)
            _mark(tx, name, number, plan.to_stage)

    @staticmethod
    def _row(
        plan: ChangePlan, attempt: Attempt, decision: Decision, reason: str | None
    ) -> dict[str, Any]:
        return {
            "actor": attempt.actor,
            "client": attempt.client,
            "model": plan.model,
            "action": action_of(plan.kind),
            "decision": decision,
            "from_version": (
                plan.canary_before.version
                if plan.kind is ChangeKind.CANARY and plan.canary_before is not None
                else plan.replaced_version
            ),
            "to_version": plan.version,
            "from_stage": plan.from_stage.value,
            "to_stage": plan.to_stage.value,
            "rationale": attempt.rationale,
            "reason": _with_release(plan, reason),
            "requested_by": attempt.requested_by,
            "plan_digest": plan.digest,
        }

    def refused(
        self,
        error: RegistryError,
        attempt: Attempt,
        *,
        kind: ChangeKind,
        model: str,
        version: int | None,
        stage: Stage | None,
    ) -> RegistryError:
        """Audit an attempt refused before a plan existed; return the error to raise."""
        self._audit.record(
            actor=attempt.actor,
            client=attempt.client,
            model=model,
            action=action_of(kind),
            decision=Decision.REFUSED,
            to_version=version,
            to_stage=None if stage is None else stage.value,
            rationale=attempt.rationale,
            reason=f"{error.code.value}: {error.message}",
            requested_by=attempt.requested_by,
        )
        return error

    # ------------------------------------------------- changes made around us

    def report_unapproved(self, summary: ModelSummary) -> None:
        """Audit an unapproved alias state once (the first read path that sees it)."""
        if not summary.unapproved_change:
            return
        found = summary.aliases
        if self._states.already_reported(summary.name, found):
            return

        def remember(conn: Connection, audit_id: int) -> None:
            ApprovedStates.mark_reported_in(conn, summary.name, found, audit_id)

        self._audit.record(
            actor=OUTSIDE_ACTOR,
            model=summary.name,
            action=AuditAction.UNAPPROVED_CHANGE,
            decision=Decision.DETECTED,
            to_version=found.production,
            to_stage=Stage.PRODUCTION.value,
            reason=summary.unapproved_change,
            then=remember,
        )

    def revert_unapproved(self, name: str, *, attempt: Attempt, seen: AliasState) -> AliasState:
        """Restore MLflow's aliases to the approved state (only if they are still ``seen``,
        the state the human was shown). Returns the approved state."""
        with self._locks.hold(name), self._writes.begin() as tx:
            live = tx.aliases(name)
            approved = ApprovedStates.get_in(tx.conn, name)
            if live == approved:
                raise RegistryError(
                    ErrorCode.INVALID_TRANSITION,
                    f"{name!r} has no unapproved change; nothing to do.",
                )
            if live != seen:
                raise RegistryError(
                    ErrorCode.STALE_PLAN,
                    f"The aliases of {name!r} changed again since you were shown them; "
                    "nothing moved. Look again with `modelreg models show "
                    f"{name}`.",
                )
            for alias, want, have in (
                (PRODUCTION_ALIAS, approved.production, live.production),
                (STAGING_ALIAS, approved.staging, live.staging),
                (PREVIOUS_ALIAS, approved.previous, live.previous),
            ):
                if want is None and have is not None:
                    tx.delete_alias(name, alias)
                elif want is not None and want != have:
                    tx.set_alias(name, alias, want)
            final = approved
            audit_id = AuditLog.insert_in(
                tx.conn,
                actor=attempt.actor,
                client=attempt.client,
                model=name,
                action=AuditAction.RESOLVE_UNAPPROVED,
                decision=Decision.DONE,
                to_version=final.production,
                to_stage=Stage.PRODUCTION.value,
                rationale=attempt.rationale,
                reason=f"reverted MLflow's aliases to the approved {approved.model_dump_json()}",
            )
            ApprovedStates.put_in(tx.conn, name, final, audit_id)
        return final


def _with_release(plan: ChangePlan, reason: str | None) -> str | None:
    """The audit reason, with the canary or guard the plan sets (they are not columns)."""
    parts = []
    if plan.kind is ChangeKind.CANARY:
        after = plan.canary_after
        parts.append("canary stopped" if after is None else f"canary: {after.describe()}")
    elif plan.ends_canary:
        parts.append("canary ended")
    if plan.guard is not None:
        parts.append(f"guarded: {plan.guard.describe()}, back to v{plan.rollback_target_after}")
    if reason:
        parts.append(reason)
    return "; ".join(parts) or None


def _mark(tx: StageTransaction, name: str, number: int, stage: Stage) -> None:
    """Our stage tag, and MLflow's legacy stage mirrored for the UI badge (never read)."""
    tx.set_version_tag(name, number, STAGE_TAG, stage.value)
    tx.mirror_stage(name, number, stage.value)


def _stale(plan: ChangePlan, detail: str) -> RegistryError:
    return RegistryError(
        ErrorCode.STALE_PLAN,
        f"The registry changed since the approver was shown plan {plan.short_digest} "
        f"({plan.describe()}); nothing moved. {detail} Ask again for the current state.",
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")

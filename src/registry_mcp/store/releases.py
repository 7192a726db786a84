"""Running canaries and promotion guards: ``modelreg_canaries`` and ``modelreg_guards``.

Both are written only inside the stage machine's transaction (``*_in`` functions take its
connection), together with the audit row of the approved change that sets them; reads are
plain queries. A guard moves from ``watching`` exactly once: to ``rolled_back`` in the
transaction of its automatic rollback, to ``superseded`` in the transaction of any other
Production change of its model, or to ``passed`` when its window ended without a breach.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from registry_mcp.domain.releases import CanaryState, GuardSpec
from registry_mcp.domain.schemas import AuditAction, Decision, Stage
from registry_mcp.store.audit import AuditLog
from registry_mcp.store.database import backend_error, canaries_table, guards_table


class GuardStatus(StrEnum):
    WATCHING = "watching"
    ROLLING_BACK = "rolling_back"
    """The registry rolled back; serving has not been verified on the target yet."""
    ROLLED_BACK = "rolled_back"
    """Rolled back, and serving verified on the rollback target."""
    SUPERSEDED = "superseded"
    PASSED = "passed"
    """The window's whole evidence was judged and held no breach."""
    UNJUDGED = "unjudged"
    """The window ended with its evidence incomplete (nobody could judge all of it)."""


class RunningCanary(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    canary: CanaryState
    started_at: datetime
    audit_id: int | None


class Guard(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    model: str
    version: int = Field(description="The guarded Production version.")
    rollback_to: int
    approval_audit_id: int = Field(description="Audit row of the approved promotion.")
    started_at: datetime
    ends_at: datetime
    spec: GuardSpec
    status: GuardStatus
    decided_at: datetime | None = None
    evidence: str | None = None

    @property
    def started_s(self) -> float:
        return self.started_at.timestamp()

    def open_at(self, now_s: float) -> bool:
        return self.status is GuardStatus.WATCHING and now_s <= self.ends_at.timestamp()


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _guard(row: sa.RowMapping) -> Guard:
    started, ends = _dt(row["started_ms"]), _dt(row["ends_ms"])
    assert started is not None
    assert ends is not None
    return Guard(
        id=row["id"],
        model=row["model"],
        version=row["version"],
        rollback_to=row["rollback_to"],
        approval_audit_id=row["approval_audit_id"],
        started_at=started,
        ends_at=ends,
        spec=GuardSpec.model_validate_json(row["spec_json"]),
        status=GuardStatus(row["status"]),
        decided_at=_dt(row["decided_ms"]),
        evidence=row["evidence"],
    )


# ------------------------------------------------------------------ in a transaction


_CANARY = sa.select(canaries_table).where(canaries_table.c.model == sa.bindparam("b_model"))
"""Built once with a bound model: every stage change reads it, before and under the lock."""


def canary_in(conn: Connection, model: str) -> CanaryState | None:
    row = conn.execute(_CANARY, {"b_model": model}).first()
    if row is None:
        return None
    return CanaryState(version=row.version, percent=row.percent, mode=row.mode)


def set_canary_in(
    conn: Connection, model: str, canary: CanaryState | None, audit_id: int | None
) -> None:
    conn.execute(sa.delete(canaries_table).where(canaries_table.c.model == model))
    if canary is not None:
        conn.execute(
            sa.insert(canaries_table).values(
                model=model,
                version=canary.version,
                percent=canary.percent,
                mode=canary.mode,
                started_ms=_now_ms(),
                audit_id=audit_id,
            )
        )


def guard_in(conn: Connection, guard_id: int) -> Guard | None:
    row = conn.execute(sa.select(guards_table).where(guards_table.c.id == guard_id)).mappings()
    found = row.first()
    return None if found is None else _guard(found)


def start_guard_in(
    conn: Connection,
    *,
    model: str,
    version: int,
    rollback_to: int,
    approval_audit_id: int,
    spec: GuardSpec,
) -> None:
    now = _now_ms()
    conn.execute(
        sa.insert(guards_table).values(
            model=model,
            version=version,
            rollback_to=rollback_to,
            approval_audit_id=approval_audit_id,
            started_ms=now,
            ends_ms=now + int(spec.window_s * 1000),
            spec_json=spec.model_dump_json(),
            status=GuardStatus.WATCHING.value,
        )
    )


def end_guards_in(
    conn: Connection,
    model: str,
    status: GuardStatus,
    *,
    guard_id: int | None = None,
    evidence: str | None = None,
    from_status: GuardStatus = GuardStatus.WATCHING,
) -> int:
    """Move the model's guards in ``from_status`` (or only ``guard_id``) to ``status``; the
    count (0 when another writer moved it first)."""
    params = {
        "b_model": model,
        "b_from": from_status.value,
        "b_status": status.value,
        "b_decided_ms": _now_ms(),
        "b_evidence": evidence,
    }
    if guard_id is not None:
        params["b_id"] = guard_id
    result = conn.execute(_END_GUARDS[guard_id is not None], params)
    return int(result.rowcount)


def _end_guards(*, one: bool) -> sa.Update:
    table = guards_table
    query = sa.update(table).where(
        table.c.model == sa.bindparam("b_model"), table.c.status == sa.bindparam("b_from")
    )
    if one:
        query = query.where(table.c.id == sa.bindparam("b_id"))
    return query.values(
        status=sa.bindparam("b_status"),
        decided_ms=sa.bindparam("b_decided_ms"),
        evidence=sa.bindparam("b_evidence"),
    )


_END_GUARDS = {one: _end_guards(one=one) for one in (False, True)}
"""Built once with bound values: every Production change ends the model's guards."""


# ------------------------------------------------------------------ reads


class Releases:
    """Reads of canaries and guards, and the one write outside a stage change: a guard
    whose window ended without a breach is marked passed."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def canary(self, model: str) -> RunningCanary | None:
        try:
            with self._engine.connect() as conn:
                row = conn.execute(_CANARY, {"b_model": model}).first()
        except SQLAlchemyError as exc:
            raise backend_error(exc, "reading a canary") from exc
        if row is None:
            return None
        started = _dt(row.started_ms)
        assert started is not None
        return RunningCanary(
            model=model,
            canary=CanaryState(version=row.version, percent=row.percent, mode=row.mode),
            started_at=started,
            audit_id=row.audit_id,
        )

    def guards(
        self, *, model: str | None = None, status: GuardStatus | None = None, limit: int = 50
    ) -> list[Guard]:
        table = guards_table
        query = sa.select(table).order_by(table.c.id.desc()).limit(limit)
        if model is not None:
            query = query.where(table.c.model == model)
        if status is not None:
            query = query.where(table.c.status == status.value)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise backend_error(exc, "reading promotion guards") from exc
        return [_guard(row) for row in rows]

    def watching(self) -> list[Guard]:
        return self.guards(status=GuardStatus.WATCHING, limit=1000)

    def rolling_back(self) -> list[Guard]:
        """Guards whose rollback the registry made but serving has not been verified on."""
        return self.guards(status=GuardStatus.ROLLING_BACK, limit=1000)

    def pass_guard(self, guard: Guard, evidence: str, *, actor: str) -> bool:
        """Mark a guard passed once its window is over, audited in the same transaction;
        False if it already ended (or its window is still open)."""
        if time.time() <= guard.ends_at.timestamp():
            return False
        return self.close_guard(guard, GuardStatus.PASSED, "passed", evidence, actor=actor)

    def unjudge_guard(self, guard: Guard, evidence: str, *, actor: str) -> bool:
        """End a guard whose window is over but whose evidence is incomplete: never passed."""
        if time.time() <= guard.ends_at.timestamp():
            return False
        return self.close_guard(
            guard, GuardStatus.UNJUDGED, "ended unjudged", evidence, actor=actor
        )

    def confirm_rollback(self, guard: Guard, evidence: str, *, actor: str) -> bool:
        """A guard's rollback is done once serving is verified on its target (audited)."""
        return self.close_guard(
            guard,
            GuardStatus.ROLLED_BACK,
            "rollback verified",
            evidence,
            actor=actor,
            from_status=GuardStatus.ROLLING_BACK,
            version=guard.rollback_to,
            stored=guard.evidence,  # the breach stays the guard's evidence
        )

    def close_guard(
        self,
        guard: Guard,
        status: GuardStatus,
        verb: str,
        evidence: str,
        *,
        actor: str,
        from_status: GuardStatus = GuardStatus.WATCHING,
        version: int | None = None,
        stored: str | None = None,
    ) -> bool:
        """Move one guard from ``from_status`` to ``status`` with one audit row, in one
        transaction; False when another writer moved it first (nothing is written)."""
        try:
            with self._engine.begin() as conn:
                ended = end_guards_in(
                    conn,
                    guard.model,
                    status,
                    guard_id=guard.id,
                    evidence=evidence if stored is None else stored,
                    from_status=from_status,
                )
                if ended == 1:
                    AuditLog.insert_in(
                        conn,
                        actor=actor,
                        client=actor,
                        model=guard.model,
                        action=AuditAction.GUARD,
                        decision=Decision.DONE,
                        to_version=guard.version if version is None else version,
                        to_stage=Stage.PRODUCTION.value,
                        reason=(
                            f"guard #{guard.id} of approval #{guard.approval_audit_id} {verb}: "
                            f"{evidence}"
                        ),
                    )
        except SQLAlchemyError as exc:
            raise backend_error(exc, "closing a promotion guard") from exc
        return ended == 1

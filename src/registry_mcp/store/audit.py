"""The append-only audit trail: who moved what, when and why, in the registry's database."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NotRequired, TypedDict, Unpack

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.paging import decode_cursor, encode_cursor
from registry_mcp.domain.schemas import AuditAction, AuditEntry, Decision, Page
from registry_mcp.store.database import audit_table, backend_error

MAX_AUDIT_PAGE = 500

_INSERT = sa.insert(audit_table)
"""Built once: the row's values are bound at execution, not inlined into a new statement."""


class AuditRow(TypedDict):
    """One audit row as written: who (actor, client, requested_by), what (model, action,
    versions and stages), the outcome (decision, reason), why (rationale), and the plan."""

    actor: str
    model: str
    action: AuditAction
    decision: Decision
    client: NotRequired[str | None]
    from_version: NotRequired[int | None]
    to_version: NotRequired[int | None]
    from_stage: NotRequired[str | None]
    to_stage: NotRequired[str | None]
    rationale: NotRequired[str | None]
    reason: NotRequired[str | None]
    requested_by: NotRequired[str | None]
    plan_digest: NotRequired[str | None]


def _to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class AuditLog:
    """Writes and reads ``modelreg_audit``. Rows are only ever inserted."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(
        self,
        *,
        then: Callable[[Connection, int], None] | None = None,
        **row: Unpack[AuditRow],
    ) -> int:
        """Insert one row in a transaction of its own; ``then`` runs in the same
        transaction with the new row's id."""
        try:
            with self._engine.begin() as conn:
                audit_id = self.insert_in(conn, **row)
                if then is not None:
                    then(conn, audit_id)
                return audit_id
        except SQLAlchemyError as exc:
            raise backend_error(exc, "writing the audit trail") from exc

    @staticmethod
    def insert_in(conn: Connection, **row: Unpack[AuditRow]) -> int:
        """Insert one row in the caller's transaction; return its id."""
        values: dict[str, object] = {"at_ms": int(time.time() * 1000), **row}
        values["action"] = row["action"].value
        values["decision"] = row["decision"].value
        result = conn.execute(_INSERT, values)
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def query(
        self,
        *,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[AuditEntry]:
        """Newest first; filter by model and by time range [since, until)."""
        if not 1 <= limit <= MAX_AUDIT_PAGE:
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                f"Audit limit must be between 1 and {MAX_AUDIT_PAGE}, got {limit}.",
            )
        if since is not None and until is not None and since >= until:
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                "Audit time range is empty: 'since' must be before 'until'.",
            )
        query = sa.select(audit_table).order_by(audit_table.c.id.desc()).limit(limit + 1)
        if model is not None:
            query = query.where(audit_table.c.model == model)
        if since is not None:
            query = query.where(audit_table.c.at_ms >= _to_ms(since))
        if until is not None:
            query = query.where(audit_table.c.at_ms < _to_ms(until))
        if cursor is not None:
            query = query.where(audit_table.c.id < decode_cursor(cursor, "before", int))
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise backend_error(exc, "reading the audit trail") from exc
        entries = [
            AuditEntry(
                id=row["id"],
                at=datetime.fromtimestamp(row["at_ms"] / 1000, tz=UTC),
                actor=row["actor"],
                client=row["client"],
                model=row["model"],
                action=AuditAction(row["action"]),
                from_version=row["from_version"],
                to_version=row["to_version"],
                from_stage=row["from_stage"],
                to_stage=row["to_stage"],
                rationale=row["rationale"],
                decision=Decision(row["decision"]),
                reason=row["reason"],
                requested_by=row["requested_by"],
                plan_digest=row["plan_digest"],
            )
            for row in rows[:limit]
        ]
        next_cursor = encode_cursor({"before": entries[-1].id}) if len(rows) > limit else None
        return Page[AuditEntry](items=entries, next_cursor=next_cursor)

"""The stage aliases modelreg last set, per model, and the alias changes made around it.

MLflow OSS has no protected aliases: its UI ("Promote model", the alias editor), its REST
API and any client can move ``production`` or ``staging``. We keep our own copy of what a
human approved (``modelreg_approved_state``, written in the same transaction as the audit
row of the change) and compare MLflow's aliases with it on every read path. A difference is
an *unapproved change*: it is audited once per distinct state, reported loudly, and serving
keeps following the approved state until a human reverts or accepts it.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from registry_mcp.domain.schemas import AliasState
from registry_mcp.store.database import approved_state_table, backend_error, out_of_band_table

MOVING_GRACE_S = 60.0
"""How long aliases may differ from the approved state while a row says a change is being
written (``moving_ms``). Stage changes are now written in one transaction and never set it;
it is honoured for rows an earlier release left mid-change."""

_STATE_COLUMNS = ("production", "staging", "previous", "audit_id", "updated_ms", "moving_ms")


# The statements of every stage change, built once with bound parameters (building and
# keying a statement with its values inlined costs more than SQLite takes to run it).
_GET = sa.select(approved_state_table).where(
    approved_state_table.c.model == sa.bindparam("b_model")
)
_UPDATE = (
    sa.update(approved_state_table)
    .where(approved_state_table.c.model == sa.bindparam("b_model"))
    .values({name: sa.bindparam(f"b_{name}") for name in _STATE_COLUMNS})
)
_INSERT = sa.insert(approved_state_table)
_CLEAR_OUT_OF_BAND = sa.delete(out_of_band_table).where(
    out_of_band_table.c.model == sa.bindparam("b_model")
)


def unapproved_change(
    model: str, approved: AliasState, found: AliasState, moving_ms: int | None = None
) -> str | None:
    """What moved around modelreg and how to resolve it; None when MLflow agrees with us
    (or a change of ours is being written right now)."""
    if approved == found:
        return None
    if moving_ms is not None and time.time() * 1000 - moving_ms < MOVING_GRACE_S * 1000:
        return None
    parts = []
    for field, label in (
        ("production", "Production"),
        ("staging", "Staging"),
        ("previous", "rollback target"),
    ):
        was, now = getattr(approved, field), getattr(found, field)
        if was != now:
            parts.append(f"{label} {_v(was)} -> {_v(now)}")
    return (
        f"UNAPPROVED CHANGE to {model}: {', '.join(parts)} in MLflow, made outside modelreg. "
        "Serving keeps the approved versions and stage changes are refused until a human "
        f"runs `modelreg approvals revert-unapproved {model}` (restore) or "
        f"`modelreg approvals accept-unapproved {model}` (approve it)."
    )


def _v(version: int | None) -> str:
    return "none" if version is None else f"v{version}"


class ApprovedStates:
    """Reads and writes ``modelreg_approved_state`` and ``modelreg_out_of_band``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, model: str) -> AliasState:
        try:
            with self._engine.connect() as conn:
                return self.get_in(conn, model)
        except SQLAlchemyError as exc:
            raise backend_error(exc, "reading the approved stage state") from exc

    def change_id(self, model: str) -> int | None:
        """The audit id of the last approved change of ``model`` (None: none recorded, e.g.
        a state adopted from MLflow's aliases): a number that only grows, so two copies of
        the desired versions stamped with it say which one is newer."""
        try:
            with self._engine.connect() as conn:
                found = conn.execute(
                    sa.select(approved_state_table.c.audit_id).where(
                        approved_state_table.c.model == model
                    )
                ).scalar()
        except SQLAlchemyError as exc:
            raise backend_error(exc, "reading the approved stage state") from exc
        return None if found is None else int(found)

    @staticmethod
    def get_in(conn: Connection, model: str) -> AliasState:
        row = conn.execute(_GET, {"b_model": model}).first()
        if row is None:
            return AliasState()
        return AliasState(production=row.production, staging=row.staging, previous=row.previous)

    @staticmethod
    def put_in(conn: Connection, model: str, state: AliasState, audit_id: int | None) -> None:
        """Record ``state`` as approved (in the caller's transaction); clears the alarm."""
        values = {
            "production": state.production,
            "staging": state.staging,
            "previous": state.previous,
            "audit_id": audit_id,
            "updated_ms": int(time.time() * 1000),
            "moving_ms": None,
        }
        updated = conn.execute(
            _UPDATE, {"b_model": model, **{f"b_{name}": value for name, value in values.items()}}
        )
        if updated.rowcount == 0:
            conn.execute(_INSERT, {"model": model, **values})
        conn.execute(_CLEAR_OUT_OF_BAND, {"b_model": model})

    def already_reported(self, model: str, found: AliasState) -> bool:
        """True if this exact unapproved state was audited before."""
        try:
            with self._engine.connect() as conn:
                seen = conn.execute(
                    sa.select(out_of_band_table.c.seen_json).where(
                        out_of_band_table.c.model == model
                    )
                ).scalar()
        except SQLAlchemyError as exc:
            raise backend_error(exc, "reading unapproved changes") from exc
        return seen == found.model_dump_json()

    @staticmethod
    def mark_reported_in(conn: Connection, model: str, found: AliasState, audit_id: int) -> None:
        table = out_of_band_table
        values = {
            "seen_json": found.model_dump_json(),
            "audit_id": audit_id,
            "seen_ms": int(time.time() * 1000),
        }
        updated = conn.execute(sa.update(table).where(table.c.model == model).values(**values))
        if updated.rowcount == 0:
            conn.execute(sa.insert(table).values(model=model, **values))

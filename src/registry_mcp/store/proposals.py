"""Pending proposals: stage changes waiting for a human, persisted in the registry database."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import ConfigDict, Field
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from registry_mcp.domain.compact_schema import CompactModel
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.plans import ChangeKind, ChangePlan
from registry_mcp.domain.schemas import Stage
from registry_mcp.store.database import backend_error, proposals_table


class Channel(StrEnum):
    """How the human is asked: a pending proposal (CLI) or an MCP approval form."""

    PROPOSAL = "cli"
    FORM = "form"


class ProposalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    FAILED = "failed"


class Proposal(CompactModel):
    model_config = ConfigDict(frozen=True)

    id: int
    kind: ChangeKind
    model: str
    version: int | None = Field(description="Target version; None = previous Production.")
    stage: Stage
    expected_current: str | None = Field(
        description="The stage's holder when proposed ('none' = empty); approval re-checks it."
    )
    rationale: str
    requested_by: str
    client: str | None
    summary: str = Field(description="What would change, in one line.")
    status: ProposalStatus
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    decision_note: str | None = None
    plan: ChangePlan | None = Field(
        default=None, description="Exactly what approving moves (checked again on approval)."
    )
    channel: Channel = Channel.PROPOSAL

    @property
    def approve_command(self) -> str:
        return f"modelreg approvals approve {self.id} --rationale 'why you approve'"

    @property
    def deny_command(self) -> str:
        return f"modelreg approvals deny {self.id} --rationale 'why you deny'"


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _row_to_proposal(row: sa.RowMapping) -> Proposal:
    created = _dt(row["created_ms"])
    expires = _dt(row["expires_ms"])
    assert created is not None
    assert expires is not None
    return Proposal(
        id=row["id"],
        kind=ChangeKind(row["kind"]),
        model=row["model"],
        version=row["version"],
        stage=Stage(row["stage"]),
        expected_current=row["expected_current"],
        rationale=row["rationale"],
        requested_by=row["requested_by"],
        client=row["client"],
        summary=row["summary"],
        status=ProposalStatus(row["status"]),
        created_at=created,
        expires_at=expires,
        decided_at=_dt(row["decided_ms"]),
        decided_by=row["decided_by"],
        decision_note=row["decision_note"],
        plan=ChangePlan.model_validate_json(row["plan_json"]) if row["plan_json"] else None,
        channel=Channel(row["channel"] or Channel.PROPOSAL.value),
    )


class ProposalStore:
    """CRUD over ``modelreg_proposals``; status moves only from pending, exactly once."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(
        self,
        plan: ChangePlan,
        *,
        rationale: str,
        requested_by: str,
        client: str | None,
        ttl_s: float,
        channel: Channel = Channel.PROPOSAL,
    ) -> Proposal:
        """Persist a plan waiting for a human; it can be decided once, before it expires."""
        values = _new_row(
            plan,
            rationale=rationale,
            requested_by=requested_by,
            client=client,
            ttl_s=ttl_s,
            channel=channel,
        )
        try:
            with self._engine.begin() as conn:
                return _insert(conn, values)
        except SQLAlchemyError as exc:
            raise backend_error(exc, "saving a proposal") from exc

    def get(self, proposal_id: int) -> Proposal:
        try:
            with self._engine.connect() as conn:
                row = (
                    conn.execute(
                        sa.select(proposals_table).where(proposals_table.c.id == proposal_id)
                    )
                    .mappings()
                    .first()
                )
        except SQLAlchemyError as exc:
            raise backend_error(exc, "reading a proposal") from exc
        if row is None:
            raise RegistryError(
                ErrorCode.NOT_FOUND,
                f"No proposal #{proposal_id}; run `modelreg approvals list` to see pending ones.",
            )
        return _row_to_proposal(row)

    def form_for(
        self,
        plan: ChangePlan,
        *,
        rationale: str,
        requested_by: str,
        client: str | None,
        ttl_s: float,
    ) -> Proposal:
        """The approval form for exactly this request: the undecided one already open, else
        a new one; looked up and created in one transaction."""
        digest = plan.digest
        query = _OPEN_FORM[client is None]
        params = {
            "b_digest": digest,
            "b_model": plan.model,
            "b_rationale": rationale,
            "b_requested_by": requested_by,
            "b_now": int(time.time() * 1000),
            "b_client": client,
        }
        try:
            with self._engine.begin() as conn:
                row = conn.execute(query, params).mappings().first()
                if row is not None:
                    return _row_to_proposal(row)
                values = _new_row(
                    plan,
                    rationale=rationale,
                    requested_by=requested_by,
                    client=client,
                    ttl_s=ttl_s,
                    channel=Channel.FORM,
                    digest=digest,
                )
                return _insert(conn, values)
        except SQLAlchemyError as exc:
            raise backend_error(exc, "opening an approval form") from exc

    def list(
        self,
        *,
        status: ProposalStatus | None = ProposalStatus.PENDING,
        model: str | None = None,
        limit: int = 50,
        channel: Channel | None = Channel.PROPOSAL,
    ) -> list[Proposal]:
        query = sa.select(proposals_table).order_by(proposals_table.c.id.desc()).limit(limit)
        if channel is not None:
            # Rows from before channels existed are proposals.
            column = sa.func.coalesce(proposals_table.c.channel, Channel.PROPOSAL.value)
            query = query.where(column == channel.value)
        if status is not None:
            query = query.where(proposals_table.c.status == status.value)
        if model is not None:
            query = query.where(proposals_table.c.model == model)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise backend_error(exc, "listing proposals") from exc
        return [_row_to_proposal(row) for row in rows]

    def settle(
        self, proposal_id: int, status: ProposalStatus, *, decided_by: str, note: str | None
    ) -> bool:
        """Move a pending proposal to ``status``; False if it was no longer pending."""
        params = {
            "b_id": proposal_id,
            "b_pending": ProposalStatus.PENDING.value,
            "b_status": status.value,
            "b_decided_ms": int(time.time() * 1000),
            "b_decided_by": decided_by,
            "b_note": note,
        }
        try:
            with self._engine.begin() as conn:
                return conn.execute(_SETTLE, params).rowcount == 1
        except SQLAlchemyError as exc:
            raise backend_error(exc, "deciding a proposal") from exc

    def override_status(self, proposal_id: int, status: ProposalStatus, note: str) -> None:
        """Record the outcome of an approval that could not be applied (approved -> failed)."""
        query = (
            sa.update(proposals_table)
            .where(proposals_table.c.id == proposal_id)
            .values(status=status.value, decision_note=note)
        )
        try:
            with self._engine.begin() as conn:
                conn.execute(query)
        except SQLAlchemyError as exc:
            raise backend_error(exc, "updating a proposal") from exc


def _open_form_query(*, client_is_none: bool) -> sa.Select[Any]:
    """The undecided form of one request (bound: ``b_digest``, ``b_model``, ``b_rationale``,
    ``b_requested_by``, ``b_now``, and ``b_client`` unless ``client_is_none``)."""
    table = proposals_table
    return (
        sa.select(table)
        .where(
            table.c.channel == Channel.FORM.value,
            table.c.status == ProposalStatus.PENDING.value,
            table.c.digest == sa.bindparam("b_digest"),
            table.c.model == sa.bindparam("b_model"),
            table.c.rationale == sa.bindparam("b_rationale"),
            table.c.requested_by == sa.bindparam("b_requested_by"),
            table.c.expires_ms > sa.bindparam("b_now"),
            table.c.client.is_(None)
            if client_is_none
            else table.c.client == sa.bindparam("b_client"),
        )
        .order_by(table.c.id.desc())
        .limit(1)
    )


# Built once with bound parameters: an approval round runs these on every call, and building
# (and keying) a statement with its values inlined costs more than SQLite takes to run it.
_OPEN_FORM = {is_none: _open_form_query(client_is_none=is_none) for is_none in (False, True)}
_SETTLE = (
    sa.update(proposals_table)
    .where(
        proposals_table.c.id == sa.bindparam("b_id"),
        proposals_table.c.status == sa.bindparam("b_pending"),
    )
    .values(
        status=sa.bindparam("b_status"),
        decided_ms=sa.bindparam("b_decided_ms"),
        decided_by=sa.bindparam("b_decided_by"),
        decision_note=sa.bindparam("b_note"),
    )
)
_INSERT = sa.insert(proposals_table).returning(*proposals_table.c)


def _new_row(
    plan: ChangePlan,
    *,
    rationale: str,
    requested_by: str,
    client: str | None,
    ttl_s: float,
    channel: Channel,
    digest: str | None = None,
) -> dict[str, Any]:
    now = int(time.time() * 1000)
    holder = plan.replaced_version
    digest = plan.digest if digest is None else digest
    return {
        "created_ms": now,
        "expires_ms": now + int(ttl_s * 1000),
        "kind": plan.kind.value,
        "model": plan.model,
        "version": plan.version,
        "stage": plan.to_stage.value,
        "expected_current": "none" if holder is None else str(holder),
        "rationale": rationale,
        "requested_by": requested_by,
        "client": client,
        "summary": plan.describe(),
        "status": ProposalStatus.PENDING.value,
        "plan_json": plan.model_dump_json(),
        "digest": digest,
        "channel": channel.value,
    }


def _insert(conn: Connection, values: dict[str, Any]) -> Proposal:
    """Insert one proposal row and read it back in the same statement (RETURNING)."""
    return _row_to_proposal(conn.execute(_INSERT, values).mappings().one())

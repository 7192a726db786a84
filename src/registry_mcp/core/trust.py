"""Versions an operator allowed to run code when loaded (pickled models); audited.

Serving refuses to load a model format that can execute code unless its version is here
(``modelreg approvals trust``)."""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from registry_mcp.domain import validation
from registry_mcp.domain.schemas import AuditAction, Decision, VersionInfo
from registry_mcp.store.audit import AuditLog
from registry_mcp.store.database import backend_error, trusted_versions_table

_IS_TRUSTED = sa.select(trusted_versions_table.c.version).where(
    trusted_versions_table.c.model == sa.bindparam("b_model"),
    trusted_versions_table.c.version == sa.bindparam("b_version"),
)
_TRUSTED_AMONG = sa.select(trusted_versions_table.c.version).where(
    trusted_versions_table.c.model == sa.bindparam("b_model"),
    trusted_versions_table.c.version.in_(sa.bindparam("b_versions", expanding=True)),
)
"""Built once with bound values: serving asks them for the versions it follows."""


class TrustedVersions:
    def __init__(
        self,
        engine: Engine,
        audit: AuditLog,
        *,
        version_info: Callable[[str, int | str], VersionInfo],
    ) -> None:
        self._engine = engine
        self._audit = audit
        self._version = version_info

    def is_trusted(self, name: str, version: int) -> bool:
        """Whether an operator allowed this version's model to run code when loaded."""
        try:
            with self._engine.connect() as conn:
                found = conn.execute(_IS_TRUSTED, {"b_model": name, "b_version": version})
                return found.first() is not None
        except SQLAlchemyError as exc:
            raise backend_error(exc, "reading trusted versions") from exc

    def trusted_among(self, name: str, versions: list[int]) -> set[int]:
        """Which of ``versions`` an operator allowed to run code when loaded (one read)."""
        if not versions:
            return set()
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(_TRUSTED_AMONG, {"b_model": name, "b_versions": versions})
                return {int(version) for (version,) in rows}
        except SQLAlchemyError as exc:
            raise backend_error(exc, "reading trusted versions") from exc

    def set_trusted(
        self, name: str, version: int | str, *, trusted: bool, actor: str, rationale: str
    ) -> bool:
        """Allow (or stop allowing) a version's model to run code when loaded; audited.
        Returns whether anything changed."""
        info = self._version(name, version)
        actor = validation.actor(actor)
        why = validation.rationale(rationale)
        table = trusted_versions_table
        where = (table.c.model == info.name, table.c.version == info.version)

        def change(conn: Connection, audit_id: int) -> None:
            if trusted:
                conn.execute(
                    sa.insert(table).values(
                        model=info.name,
                        version=info.version,
                        audit_id=audit_id,
                        at_ms=int(time.time() * 1000),
                    )
                )
            else:
                conn.execute(sa.delete(table).where(*where))

        if self.is_trusted(info.name, info.version) == trusted:
            return False
        self._audit.record(
            actor=actor,
            model=info.name,
            action=AuditAction.TRUST,
            decision=Decision.DONE,
            to_version=info.version,
            rationale=why,
            reason="may run code when loaded" if trusted else "trust withdrawn",
            then=change,
        )
        return True

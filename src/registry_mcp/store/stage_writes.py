"""A stage change's writes to MLflow's registry tables, in one database transaction of ours.

``MlflowClient`` commits every alias, version tag and legacy stage in a transaction of its
own, so a change of several writes could stop half-way. Here the few MLflow tables a stage
change touches are declared with ``sa.table()`` under MLflow's own names and columns
(``mlflow.store.model_registry.dbmodels.models``: ``registered_models``,
``registered_model_aliases``, ``model_versions``, ``model_version_tags``) and written with
plain SQL on one connection, together with our audit row and approved state: the database
commits all of it or none of it. MLflow is not imported; a plain ``MlflowClient`` reads the
result as if it had written it (``last_updated_time`` is bumped as MLflow's stage transition
does; alias and tag writes leave it alone, as MLflow does).

SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock before the first read, so what
is read and checked cannot change before the writes. PostgreSQL: the model's row is locked
(``FOR UPDATE``) first, which also blocks an MLflow write that touches it until we commit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.schemas import AliasState
from registry_mcp.domain.stages import PREVIOUS_ALIAS, PRODUCTION_ALIAS, STAGING_ALIAS
from registry_mcp.store.database import backend_error, is_postgres

models_table = sa.table(
    "registered_models",
    sa.column("workspace"),
    sa.column("name"),
    sa.column("last_updated_time"),
)
aliases_table = sa.table(
    "registered_model_aliases",
    sa.column("workspace"),
    sa.column("name"),
    sa.column("alias"),
    sa.column("version"),
)
versions_table = sa.table(
    "model_versions",
    sa.column("workspace"),
    sa.column("name"),
    sa.column("version"),
    sa.column("current_stage"),
    sa.column("last_updated_time"),
)
version_tags_table = sa.table(
    "model_version_tags",
    sa.column("workspace"),
    sa.column("name"),
    sa.column("version"),
    sa.column("key"),
    sa.column("value"),
)
_ALIAS_FIELDS = {
    PRODUCTION_ALIAS: "production",
    STAGING_ALIAS: "staging",
    PREVIOUS_ALIAS: "previous",
}


def _upsert(insert: Any, table: sa.TableClause, keys: tuple[str, ...]) -> Any:
    """Insert or overwrite one row by its primary key, in one statement (values bound)."""
    statement = insert(table)
    changed = {c.name: statement.excluded[c.name] for c in table.c if c.name not in keys}
    return statement.on_conflict_do_update(index_elements=keys, set_=changed)


class _Statements:
    """A stage change's statements, built once per dialect with bound parameters (building
    a statement costs more than running it; a stage change runs about ten)."""

    def __init__(self, postgres: bool) -> None:
        insert = postgresql.insert if postgres else sqlite.insert
        ws: sa.BindParameter[str] = sa.bindparam("b_ws")
        name: sa.BindParameter[str] = sa.bindparam("b_name")
        self.lock_model = (
            sa.select(models_table.c.name)
            .where(models_table.c.workspace == ws, models_table.c.name == name)
            .with_for_update()
        )
        self.aliases = sa.select(aliases_table.c.alias, aliases_table.c.version).where(
            aliases_table.c.workspace == ws,
            aliases_table.c.name == name,
            aliases_table.c.alias.in_(list(_ALIAS_FIELDS)),
        )
        self.put_alias = _upsert(insert, aliases_table, ("workspace", "name", "alias"))
        self.put_version_tag = _upsert(
            insert, version_tags_table, ("workspace", "key", "name", "version")
        )
        self.delete_alias = sa.delete(aliases_table).where(
            aliases_table.c.workspace == ws,
            aliases_table.c.name == name,
            aliases_table.c.alias == sa.bindparam("b_alias"),
        )
        self.stage_version = (
            sa.update(versions_table)
            .where(
                versions_table.c.workspace == ws,
                versions_table.c.name == name,
                versions_table.c.version == sa.bindparam("b_version"),
            )
            .values(current_stage=sa.bindparam("b_stage"), last_updated_time=sa.bindparam("b_now"))
        )
        self.touch_model = (
            sa.update(models_table)
            .where(models_table.c.workspace == ws, models_table.c.name == name)
            .values(last_updated_time=sa.bindparam("b_now"))
        )


_STATEMENTS = {postgres: _Statements(postgres) for postgres in (False, True)}


class StageTransaction:
    """The writes of one stage change; nothing is visible to others until it commits."""

    def __init__(self, conn: Connection, workspace: str) -> None:
        self.conn = conn
        self._ws = workspace
        self._sql = _STATEMENTS[is_postgres_conn(conn)]

    def aliases(self, name: str) -> AliasState:
        """Lock the model for this transaction and read its three stage aliases (the rows
        MLflow's ``get_model_version_by_alias`` reads). NOT_FOUND if there is no model."""
        model = {"b_ws": self._ws, "b_name": name}
        found = self.conn.execute(self._sql.lock_model, model).first()
        if found is None:
            raise RegistryError(
                ErrorCode.NOT_FOUND,
                f"No registered model named {name!r}; run `modelreg models list` to see names.",
            )
        rows = self.conn.execute(self._sql.aliases, model)
        return AliasState(**{_ALIAS_FIELDS[alias]: int(version) for alias, version in rows})

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self.conn.execute(
            self._sql.put_alias,
            {"workspace": self._ws, "name": name, "alias": alias, "version": version},
        )

    def delete_alias(self, name: str, alias: str) -> None:
        self.conn.execute(
            self._sql.delete_alias, {"b_ws": self._ws, "b_name": name, "b_alias": alias}
        )

    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        self.conn.execute(
            self._sql.put_version_tag,
            {"workspace": self._ws, "name": name, "version": version, "key": key, "value": value},
        )

    def mirror_stage(self, name: str, version: int, stage: str) -> None:
        """MLflow's deprecated ``current_stage`` (the UI badge), with the timestamps MLflow's
        own transition bumps on the version and its model."""
        model = {"b_ws": self._ws, "b_name": name, "b_now": int(time.time() * 1000)}
        self.conn.execute(
            self._sql.stage_version, {**model, "b_version": version, "b_stage": stage}
        )
        self.conn.execute(self._sql.touch_model, model)


def is_postgres_conn(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


class StageWrites:
    """Opens the one transaction a stage change (and its audit row) is written in."""

    def __init__(self, engine: Engine, workspace: str = "default") -> None:
        self._engine = engine
        self._workspace = workspace

    @contextmanager
    def begin(self) -> Iterator[StageTransaction]:
        """Commit everything done in the block, or roll all of it back if it raises."""
        try:
            with self._engine.connect() as conn:
                if is_postgres(self._engine):
                    conn.begin()
                else:
                    # pysqlite would begin lazily at the first write, after our reads; take
                    # the write lock now instead (busy_timeout waits for another writer).
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield StageTransaction(conn, self._workspace)
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
        except SQLAlchemyError as exc:
            raise backend_error(exc, "writing a stage change") from exc

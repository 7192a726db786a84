"""Fast, read-only queries over MLflow's registry tables.

``MlflowClient.search_registered_models`` loads every version of every model it returns; a
list of 2,000 production models then costs most of a second. These queries read the same
tables MLflow writes (``registered_models``, ``registered_model_tags``,
``registered_model_aliases``, ``model_versions``, ``model_version_tags``) with bound
parameters, in one transaction, with no cache: what another MLflow client wrote a moment ago
is what the next query returns. Nothing here writes.

One module, longer than most: every query mirrors the same five MLflow tables, declared once
at the top; split, the mirror of MLflow's schema would be spread over several files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from registry_mcp.domain.cards import CARD_TAG, card_from_tag
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.paging import check_limit, decode_cursor, encode_cursor
from registry_mcp.domain.schemas import ModelSummary, Page, Stage, VersionInfo
from registry_mcp.domain.stages import (
    DELETED_STAGE,
    PREVIOUS_ALIAS,
    PRODUCTION_ALIAS,
    RESERVED_PREFIX,
    SERVED_TAG,
    STAGE_TAG,
    STAGING_ALIAS,
    version_stage,
)
from registry_mcp.store.database import approved_state_table, backend_error, is_postgres
from registry_mcp.store.summaries import paused_collector, summaries

_models = sa.table(
    "registered_models",
    sa.column("workspace"),
    sa.column("name"),
    sa.column("description"),
    sa.column("last_updated_time"),
)
_model_tags = sa.table(
    "registered_model_tags",
    sa.column("workspace"),
    sa.column("name"),
    sa.column("key"),
    sa.column("value"),
)
_aliases = sa.table(
    "registered_model_aliases",
    sa.column("workspace"),
    sa.column("name"),
    sa.column("alias"),
    sa.column("version"),
)
_versions = sa.table(
    "model_versions",
    sa.column("workspace"),
    sa.column("name"),
    sa.column("version"),
    sa.column("creation_time"),
    sa.column("description"),
    sa.column("current_stage"),
    sa.column("source"),
    sa.column("run_id"),
)
_version_tags = sa.table(
    "model_version_tags",
    sa.column("workspace"),
    sa.column("name"),
    sa.column("version"),
    sa.column("key"),
    sa.column("value"),
)
_CACHED_TAG_FILTERS = 4
"""List statements with up to this many tag filters are kept (a handful of shapes)."""
_REQUIRED_TABLES = {
    "registered_models",
    "registered_model_tags",
    "registered_model_aliases",
    "model_versions",
    "model_version_tags",
}


def _ms_to_dt(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)


class Catalog:
    """Read-only registry queries in one consistent snapshot per call."""

    def __init__(
        self,
        engine: Engine,
        workspace: str = "default",
        *,
        primary_metric_of: Callable[[str], str] = lambda _name: "accuracy",
    ) -> None:
        # The metric a complete card must state depends on the model's policy.
        self.primary_metric_of = primary_metric_of
        self._engine = engine
        self._workspace = workspace
        self._checked = False
        self._list_queries: dict[tuple[Stage | None, int, bool], sa.Select[Any]] = {}

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def workspace(self) -> str:
        """MLflow's workspace the registry lives in (``default`` unless configured)."""
        return self._workspace

    def _connect(self) -> Connection:
        conn = self._engine.connect()
        if is_postgres(self._engine):
            # Several statements per answer must see one snapshot.
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        if not self._checked:
            missing = _REQUIRED_TABLES - set(sa.inspect(conn).get_table_names())
            if missing:
                conn.close()
                raise RegistryError(
                    ErrorCode.BACKEND,
                    f"The registry database lacks MLflow tables {sorted(missing)}; run "
                    "`modelreg init` (or `mlflow db upgrade URI`) first.",
                )
            conn.rollback()  # end the inspection's implicit transaction
            self._checked = True
        return conn

    def _ws(self, table: sa.TableClause) -> sa.ColumnElement[bool]:
        return table.c.workspace == self._workspace

    # Statements of the per-model reads, built once per catalog with bound parameters: a
    # stage change reads one model and a few versions several times, and building a select
    # costs more than running it on SQLite.

    @cached_property
    def _one_model(self) -> sa.Select[Any]:
        return self._summary_query().where(_models.c.name == sa.bindparam("name"))

    @cached_property
    def _one_version(self) -> sa.Select[Any]:
        return self._versions_where(_versions.c.version == sa.bindparam("version"))

    @cached_property
    def _some_versions(self) -> sa.Select[Any]:
        return self._versions_where(
            _versions.c.version.in_(sa.bindparam("versions", expanding=True))
        )

    def _versions_where(self, which: sa.ColumnElement[bool]) -> sa.Select[Any]:
        """A model's live (not deleted) versions that ``which`` picks (bound: ``name``)."""
        return sa.select(
            _versions.c.version,
            _versions.c.creation_time,
            _versions.c.description,
            _versions.c.source,
            _versions.c.run_id,
        ).where(
            self._ws(_versions),
            _versions.c.name == sa.bindparam("name"),
            which,
            _versions.c.current_stage != DELETED_STAGE,
        )

    @cached_property
    def _aliases_of_model(self) -> sa.Select[Any]:
        return (
            sa.select(_aliases.c.version, _aliases.c.alias)
            .where(self._ws(_aliases), _aliases.c.name == sa.bindparam("name"))
            .order_by(_aliases.c.alias)
        )

    @cached_property
    def _tags_of_versions(self) -> sa.Select[Any]:
        return sa.select(_version_tags.c.version, _version_tags.c.key, _version_tags.c.value).where(
            self._ws(_version_tags),
            _version_tags.c.name == sa.bindparam("name"),
            _version_tags.c.version.in_(sa.bindparam("versions", expanding=True)),
        )

    # ----------------------------------------------------------------- models

    def list_models(
        self,
        *,
        tags: Sequence[tuple[str, str]] = (),
        stage: Stage | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[ModelSummary]:
        check_limit(limit)
        params: dict[str, Any] = {"limit": limit + 1}
        for i, (key, value) in enumerate(tags):
            params[f"tag_key_{i}"], params[f"tag_value_{i}"] = key, value
        if cursor is not None:
            params["after"] = decode_cursor(cursor, "after", str)
        query = self._list_query(stage, len(tags), cursor is not None)
        # A page builds thousands of objects that outlive it; see ``paused_collector``.
        with paused_collector():
            try:
                with self._connect() as conn, conn.begin():
                    rows = conn.execute(query, params).all()
            except SQLAlchemyError as exc:
                raise backend_error(exc, "listing models") from exc
            items = summaries(rows[:limit])
        next_cursor = encode_cursor({"after": items[-1].name}) if len(rows) > limit else None
        return Page[ModelSummary].trusted({"items": items, "next_cursor": next_cursor})

    def _list_query(self, stage: Stage | None, tag_count: int, after: bool) -> sa.Select[Any]:
        """The page statement of one filter shape, with bound parameters (``limit``,
        ``tag_key_<i>``/``tag_value_<i>``, ``after``), built once: building and keying a
        select of a dozen subqueries costs more than SQLite takes to run it for a small page."""
        shape = (stage, tag_count, after)
        query = self._list_queries.get(shape)
        if query is not None:
            return query
        query = self._summary_query().order_by(_models.c.name).limit(sa.bindparam("limit"))
        for i in range(tag_count):
            query = query.where(
                sa.exists().where(
                    self._ws(_model_tags),
                    _model_tags.c.name == _models.c.name,
                    _model_tags.c.key == sa.bindparam(f"tag_key_{i}"),
                    _model_tags.c.value == sa.bindparam(f"tag_value_{i}"),
                )
            )
        if stage is not None:
            query = query.where(self._stage_filter(stage))
        if after:
            query = query.where(_models.c.name > sa.bindparam("after"))
        if tag_count <= _CACHED_TAG_FILTERS:
            self._list_queries[shape] = query
        return query

    def get_model(self, name: str) -> ModelSummary | None:
        try:
            with self._connect() as conn, conn.begin():
                row = conn.execute(self._one_model, {"name": name}).first()
        except SQLAlchemyError as exc:
            raise backend_error(exc, "reading a model") from exc
        return None if row is None else summaries([row])[0]

    def _summary_query(self) -> sa.Select[Any]:
        def alias_version(alias: str) -> sa.ScalarSelect[Any]:
            return (
                sa.select(_aliases.c.version)
                .where(
                    self._ws(_aliases),
                    _aliases.c.name == _models.c.name,
                    _aliases.c.alias == alias,
                )
                .scalar_subquery()
            )

        def approved(column: str) -> sa.ScalarSelect[Any]:
            table = approved_state_table
            return (
                sa.select(table.c[column]).where(table.c.model == _models.c.name).scalar_subquery()
            )

        # The model's tags as one JSON object per row: a page is one statement and one row
        # per model, instead of a second statement returning a row per tag.
        tags_object = (
            sa.func.json_object_agg if is_postgres(self._engine) else sa.func.json_group_object
        )
        tags = (
            sa.select(tags_object(_model_tags.c.key, _model_tags.c.value))
            .where(self._ws(_model_tags), _model_tags.c.name == _models.c.name)
            .scalar_subquery()
        )
        latest = (
            sa.select(sa.func.max(_versions.c.version))
            .where(
                self._ws(_versions),
                _versions.c.name == _models.c.name,
                _versions.c.current_stage != DELETED_STAGE,
            )
            .scalar_subquery()
        )
        return sa.select(
            _models.c.name,
            _models.c.description,
            _models.c.last_updated_time,
            alias_version(PRODUCTION_ALIAS).label("production"),
            alias_version(STAGING_ALIAS).label("staging"),
            alias_version(PREVIOUS_ALIAS).label("previous"),
            approved("production").label("approved_production"),
            approved("staging").label("approved_staging"),
            approved("previous").label("approved_previous"),
            approved("moving_ms").label("moving_ms"),
            latest.label("latest"),
            tags.label("tags"),
        ).where(self._ws(_models))

    def _stage_filter(self, stage: Stage) -> sa.ColumnElement[bool]:
        if stage in (Stage.PRODUCTION, Stage.STAGING):
            alias = PRODUCTION_ALIAS if stage is Stage.PRODUCTION else STAGING_ALIAS
            return sa.exists().where(
                self._ws(_aliases), _aliases.c.name == _models.c.name, _aliases.c.alias == alias
            )
        if stage is Stage.ARCHIVED:
            return sa.exists().where(
                self._ws(_version_tags),
                _version_tags.c.name == _models.c.name,
                _version_tags.c.key == STAGE_TAG,
                _version_tags.c.value == Stage.ARCHIVED.value,
            )
        # Stage.NONE: models with neither a Production nor a Staging version.
        return ~sa.exists().where(
            self._ws(_aliases),
            _aliases.c.name == _models.c.name,
            _aliases.c.alias.in_([PRODUCTION_ALIAS, STAGING_ALIAS]),
        )

    # --------------------------------------------------------------- versions

    def list_versions(
        self,
        name: str,
        *,
        stage: Stage | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[VersionInfo]:
        """Versions of one model, newest first; optionally only those in ``stage``."""
        check_limit(limit)
        query = (
            sa.select(
                _versions.c.version,
                _versions.c.creation_time,
                _versions.c.description,
                _versions.c.source,
                _versions.c.run_id,
            )
            .where(
                self._ws(_versions),
                _versions.c.name == name,
                _versions.c.current_stage != DELETED_STAGE,
            )
            .order_by(_versions.c.version.desc())
        )
        if cursor is not None:
            query = query.where(_versions.c.version < decode_cursor(cursor, "before", int))
        try:
            with self._connect() as conn, conn.begin():
                aliases = self._aliases_by_version(conn, name)
                if stage is None:
                    rows = conn.execute(query.limit(limit + 1)).all()
                    tags = self._version_tags(conn, name, [row.version for row in rows[:limit]])
                else:
                    # Stage is derived from aliases and tags, so filter after reading them.
                    rows, tags = self._versions_in_stage(conn, query, name, aliases, stage, limit)
        except SQLAlchemyError as exc:
            raise backend_error(exc, "listing versions") from exc
        items = [
            self._version(name, row, aliases.get(row.version, []), tags.get(row.version, {}))
            for row in rows[:limit]
        ]
        next_cursor = encode_cursor({"before": items[-1].version}) if len(rows) > limit else None
        return Page[VersionInfo](items=items, next_cursor=next_cursor)

    def _versions_in_stage(
        self,
        conn: Connection,
        query: sa.Select[Any],
        name: str,
        aliases: dict[int, list[str]],
        stage: Stage,
        limit: int,
    ) -> tuple[list[Any], dict[int, dict[str, str]]]:
        if stage in (Stage.PRODUCTION, Stage.STAGING):
            alias = PRODUCTION_ALIAS if stage is Stage.PRODUCTION else STAGING_ALIAS
            wanted = [v for v, names in aliases.items() if alias in names]
            query = query.where(_versions.c.version.in_(wanted))
        elif stage is Stage.ARCHIVED:
            query = query.where(
                sa.exists().where(
                    self._ws(_version_tags),
                    _version_tags.c.name == _versions.c.name,
                    _version_tags.c.version == _versions.c.version,
                    _version_tags.c.key == STAGE_TAG,
                    _version_tags.c.value == Stage.ARCHIVED.value,
                )
            )
        rows = []
        tags: dict[int, dict[str, str]] = {}
        for chunk_start in range(0, 1_000_000, 500):
            chunk = conn.execute(query.offset(chunk_start).limit(500)).all()
            chunk_tags = self._version_tags(conn, name, [row.version for row in chunk])
            for row in chunk:
                row_stage = version_stage(
                    aliases.get(row.version, []), chunk_tags.get(row.version, {}).get(STAGE_TAG)
                )
                if row_stage is stage:
                    rows.append(row)
                    tags[row.version] = chunk_tags.get(row.version, {})
            if len(rows) > limit or len(chunk) < 500:
                break
        return rows, tags

    def get_version(self, name: str, version: int) -> VersionInfo | None:
        try:
            with self._connect() as conn, conn.begin():
                return self.get_version_in(conn, name, version)
        except SQLAlchemyError as exc:
            raise backend_error(exc, "reading a version") from exc

    def get_version_in(self, conn: Connection, name: str, version: int) -> VersionInfo | None:
        """One version read on the caller's connection (inside its transaction)."""
        row = conn.execute(self._one_version, {"name": name, "version": version}).first()
        if row is None:
            return None
        aliases = self._aliases_by_version(conn, name)
        tags = self._version_tags(conn, name, [version])
        return self._version(name, row, aliases.get(version, []), tags.get(version, {}))

    def get_versions(self, name: str, versions: Sequence[int]) -> dict[int, VersionInfo]:
        """Several versions of one model in one snapshot (missing ones are left out)."""
        if not versions:
            return {}
        try:
            with self._connect() as conn, conn.begin():
                rows = conn.execute(
                    self._some_versions, {"name": name, "versions": list(versions)}
                ).all()
                if not rows:
                    return {}
                aliases = self._aliases_by_version(conn, name)
                tags = self._version_tags(conn, name, [int(row.version) for row in rows])
        except SQLAlchemyError as exc:
            raise backend_error(exc, "reading versions") from exc
        return {
            int(row.version): self._version(
                name, row, aliases.get(int(row.version), []), tags.get(int(row.version), {})
            )
            for row in rows
        }

    def version_tag_values(
        self, pairs: Sequence[tuple[str, int]], key: str
    ) -> dict[tuple[str, int], str]:
        """One tag's value for many (model, version) pairs, in one query."""
        if not pairs:
            return {}
        query = sa.select(
            _version_tags.c.name, _version_tags.c.version, _version_tags.c.value
        ).where(
            self._ws(_version_tags),
            _version_tags.c.key == key,
            sa.tuple_(_version_tags.c.name, _version_tags.c.version).in_(list(pairs)),
        )
        try:
            with self._connect() as conn, conn.begin():
                rows = conn.execute(query).all()
        except SQLAlchemyError as exc:
            raise backend_error(exc, "reading version tags") from exc
        return {(row.name, int(row.version)): row.value or "" for row in rows}

    def _aliases_by_version(self, conn: Connection, name: str) -> dict[int, list[str]]:
        result: dict[int, list[str]] = {}
        for version, alias in conn.execute(self._aliases_of_model, {"name": name}):
            result.setdefault(int(version), []).append(alias)
        return result

    def _version_tags(
        self, conn: Connection, name: str, versions: list[int]
    ) -> dict[int, dict[str, str]]:
        result: dict[int, dict[str, str]] = {}
        if not versions:
            return result
        query = self._tags_of_versions
        for version, key, value in conn.execute(query, {"name": name, "versions": versions}):
            result.setdefault(int(version), {})[key] = value if value is not None else ""
        return result

    def _version(
        self, name: str, row: Any, aliases: list[str], tags: dict[str, str]
    ) -> VersionInfo:
        created = _ms_to_dt(row.creation_time) or datetime.fromtimestamp(0, tz=UTC)
        user_tags = {k: v for k, v in tags.items() if not k.startswith(RESERVED_PREFIX)}
        system_tags = {k: v for k, v in tags.items() if k.startswith(RESERVED_PREFIX)}
        return VersionInfo(
            name=name,
            version=int(row.version),
            stage=version_stage(aliases, tags.get(STAGE_TAG)),
            aliases=sorted(aliases),
            created_at=created,
            source=row.source,
            run_id=row.run_id,
            description=row.description or None,
            tags=user_tags,
            card_complete=not card_from_tag(system_tags.get(CARD_TAG)).missing_fields(
                self.primary_metric_of(name)
            ),
            served_production_at=system_tags.get(SERVED_TAG),
            system_tags=system_tags,
        )

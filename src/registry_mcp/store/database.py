"""The registry's SQL database: one engine, and the schema of our own ``modelreg_`` tables.

Our tables live beside MLflow's in the same database and are migrated by our own ordered
migrations (``modelreg_schema_version``); MLflow's tables are never altered, so
``mlflow db upgrade`` and the MLflow UI keep working.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.store import files

metadata = sa.MetaData()


def _id_column() -> sa.Column[int]:
    # SQLite autoincrements only INTEGER PRIMARY KEY; elsewhere use 64-bit ids.
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


audit_table = sa.Table(
    "modelreg_audit",
    metadata,
    _id_column(),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("client", sa.String(200), nullable=True),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("from_version", sa.Integer, nullable=True),
    sa.Column("to_version", sa.Integer, nullable=True),
    sa.Column("from_stage", sa.String(20), nullable=True),
    sa.Column("to_stage", sa.String(20), nullable=True),
    sa.Column("rationale", sa.Text, nullable=True),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("requested_by", sa.String(200), nullable=True),
    sa.Column("plan_digest", sa.String(64), nullable=True),
    sa.Index("modelreg_audit_model_at", "model", "at_ms"),
    sa.Index("modelreg_audit_at", "at_ms"),
)

schema_version_table = sa.Table(
    "modelreg_schema_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)


proposals_table = sa.Table(
    "modelreg_proposals",
    metadata,
    _id_column(),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("stage", sa.String(20), nullable=False),
    sa.Column("expected_current", sa.String(20), nullable=True),
    sa.Column("rationale", sa.Text, nullable=False),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("client", sa.String(200), nullable=True),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("decided_ms", sa.BigInteger, nullable=True),
    sa.Column("decided_by", sa.String(200), nullable=True),
    sa.Column("decision_note", sa.Text, nullable=True),
    sa.Column("plan_json", sa.Text, nullable=True),
    sa.Column("digest", sa.String(64), nullable=True),
    sa.Column("channel", sa.String(16), nullable=True),
    sa.Index("modelreg_proposals_status", "status", "created_ms"),
)


approved_state_table = sa.Table(
    "modelreg_approved_state",
    metadata,
    sa.Column("model", sa.String(256), primary_key=True),
    sa.Column("production", sa.Integer, nullable=True),
    sa.Column("staging", sa.Integer, nullable=True),
    sa.Column("previous", sa.Integer, nullable=True),
    sa.Column("audit_id", sa.BigInteger, nullable=True),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    sa.Column("moving_ms", sa.BigInteger, nullable=True),
)
"""The stage aliases as modelreg last set them (or adopted them), per model. An alias that
differs from this row was moved around modelreg (MLflow UI, REST, another client), unless
``moving_ms`` says a change holding the model lock is between its writes right now."""

out_of_band_table = sa.Table(
    "modelreg_out_of_band",
    metadata,
    sa.Column("model", sa.String(256), primary_key=True),
    sa.Column("seen_json", sa.Text, nullable=False),
    sa.Column("audit_id", sa.BigInteger, nullable=True),
    sa.Column("seen_ms", sa.BigInteger, nullable=False),
)
"""The last unapproved alias state seen per model, so each distinct one is audited once."""


trusted_versions_table = sa.Table(
    "modelreg_trusted_versions",
    metadata,
    sa.Column("model", sa.String(256), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("audit_id", sa.BigInteger, nullable=True),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
)
"""Versions an operator allowed to run code when loaded (pickled or custom models). Kept in
our own table: MLflow's UI and REST API can edit any tag, but not this."""


canaries_table = sa.Table(
    "modelreg_canaries",
    metadata,
    sa.Column("model", sa.String(256), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("percent", sa.Float, nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("started_ms", sa.BigInteger, nullable=False),
    sa.Column("audit_id", sa.BigInteger, nullable=True),
)
"""The running canary per model, as approved (written with the audit row of the change)."""

guards_table = sa.Table(
    "modelreg_guards",
    metadata,
    _id_column(),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("rollback_to", sa.Integer, nullable=False),
    sa.Column("approval_audit_id", sa.BigInteger, nullable=False),
    sa.Column("started_ms", sa.BigInteger, nullable=False),
    sa.Column("ends_ms", sa.BigInteger, nullable=False),
    sa.Column("spec_json", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("decided_ms", sa.BigInteger, nullable=True),
    sa.Column("evidence", sa.Text, nullable=True),
    sa.Index("modelreg_guards_status", "status", "model"),
)
"""Guarded promotions: watched until their window ends, the version is replaced, or they
roll it back (the status changes in the transaction of that rollback)."""


def _migration_1(conn: Connection) -> None:
    audit_table.create(conn, checkfirst=True)


def _migration_2(conn: Connection) -> None:
    proposals_table.create(conn, checkfirst=True)


def _migration_3(conn: Connection) -> None:
    """Plans bound to approvals; approved alias state (adopting today's aliases as approved)."""
    # Databases created by migrations 1-2 of an earlier release lack these columns.
    for table, column, sql_type in (
        (audit_table, "requested_by", "VARCHAR(200)"),
        (audit_table, "plan_digest", "VARCHAR(64)"),
        (proposals_table, "plan_json", "TEXT"),
        (proposals_table, "digest", "VARCHAR(64)"),
        (proposals_table, "channel", "VARCHAR(16)"),
    ):
        present = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
        if column not in present:
            conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {column} {sql_type}"))
    approved_state_table.create(conn, checkfirst=True)
    out_of_band_table.create(conn, checkfirst=True)
    trusted_versions_table.create(conn, checkfirst=True)
    if sa.inspect(conn).has_table("registered_model_aliases"):
        conn.execute(
            sa.text(
                "INSERT INTO modelreg_approved_state "
                "(model, production, staging, previous, audit_id, updated_ms) "
                "SELECT name, "
                "MAX(CASE WHEN alias = 'production' THEN version END), "
                "MAX(CASE WHEN alias = 'staging' THEN version END), "
                "MAX(CASE WHEN alias = 'previous_production' THEN version END), "
                "NULL, :now FROM registered_model_aliases "
                "WHERE alias IN ('production', 'staging', 'previous_production') GROUP BY name"
            ),
            {"now": int(time.time() * 1000)},
        )


def _migration_4(conn: Connection) -> None:
    """Canaries and promotion guards."""
    canaries_table.create(conn, checkfirst=True)
    guards_table.create(conn, checkfirst=True)


MIGRATIONS: list[Callable[[Connection], None]] = [
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
]
"""Ordered; migration N brings the schema from version N-1 to N. Append, never edit."""

SCHEMA_VERSION = len(MIGRATIONS)


def sqlalchemy_url(store_uri: str) -> str:
    """The SQLAlchemy URL of an MLflow registry store URI, or INVALID_INPUT if not SQL."""
    if store_uri.startswith("postgresql://") or store_uri.startswith("postgres://"):
        # MLflow accepts these with psycopg2; we ship psycopg 3.
        return "postgresql+psycopg://" + store_uri.split("://", 1)[1]
    if store_uri.startswith(("sqlite:", "postgresql+")):
        try:
            make_url(store_uri)
        except (ArgumentError, ValueError):  # ValueError: a non-numeric port
            # Not echoed: a PostgreSQL URL may carry a password.
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                f"The registry store URI (scheme {store_uri.split(':', 1)[0]}) cannot be "
                "parsed; set MLFLOW_REGISTRY_URI to sqlite:///PATH or "
                "postgresql+psycopg://USER@HOST/DB.",
            ) from None
        return store_uri
    raise RegistryError(
        ErrorCode.INVALID_INPUT,
        f"Registry store {store_uri.split('://', 1)[0]}:// is not supported; set "
        "MLFLOW_REGISTRY_URI to sqlite:///PATH or postgresql+psycopg://USER@HOST/DB "
        "(the audit trail and fast queries need direct database access).",
    )


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for in-memory and ``file:`` URI databases."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


CONNECT_TIMEOUT_S = 3
"""How long one connection attempt to a PostgreSQL server may take (TCP, TLS, login), unless
the URL's ``connect_timeout`` or ``PGCONNECT_TIMEOUT`` says otherwise. Without it a server
that drops packets holds every command for minutes."""


def display_name(url: URL) -> str:
    """How messages name a database: the file of a SQLite one, else the URL, no password."""
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def _timed_out(error: BaseException) -> bool:
    from psycopg.errors import ConnectionTimeout  # the PostgreSQL driver we ship

    return isinstance(error, ConnectionTimeout)


def _unreachable(url: URL, setting: str, error: BaseException) -> RegistryError:
    detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
    if url.password and str(url.password) in detail:  # never echo a password
        detail = type(error).__name__
    name = display_name(url)
    if url.get_backend_name() == "sqlite":
        advice = (
            f"check that {Path(name).parent} is a directory you can write, or set {setting} "
            "to another database"
        )
        return RegistryError(
            ErrorCode.BACKEND, f"Cannot open the registry database {name}: {detail}; {advice}."
        )
    slow = ""
    if _timed_out(error) and "connect_timeout" not in url.query:
        waited = os.environ.get("PGCONNECT_TIMEOUT", str(CONNECT_TIMEOUT_S))
        slow = f" after {waited}s (set PGCONNECT_TIMEOUT to wait longer on a slow network)"
    return RegistryError(
        ErrorCode.BACKEND,
        f"Cannot reach the registry database {name}: {detail}{slow}. Start the database "
        f"server, or set {setting} to one that is running.",
    )


def limit_connect_time(engine: Engine) -> Engine:
    """Bound each PostgreSQL connection attempt of ``engine`` (also MLflow's engines, which
    it caches per URI: applied once per engine)."""
    url = engine.url
    if (
        url.get_backend_name() != "postgresql"
        or "connect_timeout" in url.query
        or getattr(engine, "_modelreg_connect_timeout", False)
    ):
        return engine

    @sa.event.listens_for(engine, "do_connect")
    def _connect_timeout(
        _dialect: object, _record: object, _cargs: object, cparams: dict[str, object]
    ) -> None:
        if "PGCONNECT_TIMEOUT" not in os.environ:
            cparams.setdefault("connect_timeout", CONNECT_TIMEOUT_S)

    engine._modelreg_connect_timeout = True  # type: ignore[attr-defined]
    return engine


def _name_connect_failures(engine: Engine, setting: str) -> None:
    """Turn a failure to connect (at first use, or reconnecting after a pre-ping) into one
    BACKEND error that names the database and ``setting``, the variable that chose it."""

    @sa.event.listens_for(engine, "handle_error")
    def _not_connected(context: ExceptionContext) -> None:
        # Without a connection, connecting itself failed (a query's errors have one). A
        # failed pre-ping is not: the pool then reconnects (a restarted server is fine).
        if context.connection is None and not context.is_pre_ping:
            raise _unreachable(engine.url, setting, context.original_exception)


def create_engine(store_uri: str, *, setting: str = "MLFLOW_TRACKING_URI") -> Engine:
    """Our engine for ``store_uri``; ``setting`` names the variable that chose it (errors
    say which one to change)."""
    url = sqlalchemy_url(store_uri)
    if url.startswith("sqlite"):
        database = _sqlite_file(url)
        if database is not None:
            # SQLite creates the file lazily with the umask's mode (often world-readable).
            files.private_sqlite(database)
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _busy_timeout(dbapi_conn: object, _record: object) -> None:
            cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA busy_timeout = 30000")
            cursor.close()

    else:
        engine = limit_connect_time(
            sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)
        )
    _name_connect_failures(engine, setting)
    return engine


def check_reachable(engine: Engine, setting: str = "MLFLOW_TRACKING_URI") -> None:
    """Fail fast with one BACKEND error if the database cannot be opened: before MLflow is
    built, which retries an unreachable database for minutes with a warning per try."""
    # SQLite opens its file lazily: reading the schema is what fails on an unusable one.
    probe = "SELECT count(*) FROM sqlite_master" if engine.dialect.name == "sqlite" else "SELECT 1"
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(probe)
    except SQLAlchemyError as exc:
        raise _unreachable(engine.url, setting, getattr(exc, "orig", None) or exc) from None


def probe_store(store_uri: str, setting: str) -> None:
    """``check_reachable`` for a store URI MLflow is about to open; non-SQL stores (an MLflow
    server over HTTP, a file store) are left to MLflow."""
    try:
        url = sqlalchemy_url(store_uri)
    except RegistryError:
        return
    engine = create_engine(url, setting=setting)
    try:
        check_reachable(engine, setting)
    finally:
        engine.dispose()


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def current_schema_version(conn: Connection) -> int:
    if not sa.inspect(conn).has_table(schema_version_table.name):
        return 0
    row = conn.execute(sa.select(schema_version_table.c.version)).first()
    return int(row[0]) if row else 0


def schema_is_current(engine: Engine) -> bool:
    """Whether MLflow's schema exists and ours is at this release's version: one query.

    MLflow stamps ``alembic_version`` once its tables are created; it never upgrades an
    existing database by itself (it asks for ``mlflow db upgrade`` on first use), so a
    stamped database needs none of its initialisation. False on any error (missing tables
    included): the caller then runs the full initialisation, which reports real problems.
    """
    query = sa.text(
        "SELECT (SELECT version FROM modelreg_schema_version WHERE id = 1), "
        "(SELECT COUNT(*) FROM alembic_version)"
    )
    try:
        with engine.connect() as conn:
            row = conn.execute(query).first()
    except SQLAlchemyError:
        return False
    return row is not None and row[0] == SCHEMA_VERSION and bool(row[1])


def migrate(conn: Connection) -> int:
    """Apply pending migrations in the caller's transaction; return the resulting version."""
    schema_version_table.create(conn, checkfirst=True)
    found = current_schema_version(conn)
    if found > SCHEMA_VERSION:
        raise RegistryError(
            ErrorCode.BACKEND,
            f"The database has modelreg schema version {found}, newer than this release "
            f"understands ({SCHEMA_VERSION}); upgrade modelreg.",
        )
    for number in range(found + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[number - 1](conn)
    if found == 0:
        conn.execute(sa.insert(schema_version_table).values(id=1, version=SCHEMA_VERSION))
    elif found < SCHEMA_VERSION:
        conn.execute(sa.update(schema_version_table).values(version=SCHEMA_VERSION))
    return SCHEMA_VERSION


def backend_error(exc: SQLAlchemyError, doing: str) -> RegistryError:
    detail = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
    return RegistryError(
        ErrorCode.BACKEND,
        f"Database error while {doing}: {detail}. Check that the registry database is "
        "reachable and migrated (modelreg init).",
    )

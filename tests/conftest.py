"""Shared fixtures: real MLflow registries on SQLite and on a PostgreSQL server we start.

Expensive things happen once per session: one training run, one migrated template database
per backend (with that model logged in it). Each test gets a fresh copy of the template.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

from registry_mcp.core.registry import Registry
from registry_mcp.store.settings import Settings
from registry_mcp.training.trainer import TrainConfig, TrainResult, train
from tests import pg

BACKENDS = ["sqlite", "postgres"]
_counter = itertools.count()


@dataclass(frozen=True)
class Template:
    """A migrated registry database holding one logged (unregistered) model."""

    settings: Settings
    model_uris: tuple[str, ...]


@pytest.fixture(scope="session")
def trained() -> TrainResult:
    return train(TrainConfig(epochs=8, hidden=32, seed=0))


def _log_models(registry: Registry, result: TrainResult, count: int) -> tuple[str, ...]:
    uris = []
    for i in range(count):
        _, uri = registry.log_pytorch_run(
            model=result.model,
            input_example=result.input_example,
            params={"seed": 0, "copy": i},
            metrics={"test_accuracy": result.accuracy},
            pip_requirements=["torch", "mlflow"],
            run_name=f"fixture-{i}",
        )
        uris.append(uri)
    return tuple(uris)


def _settings(home: Path, uri: str | None = None, **extra: object) -> Settings:
    values: dict[str, object] = {"home": home, "actor": "tester", **extra}
    if uri is not None:
        values["tracking_uri"] = uri
        values["registry_uri"] = uri
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory, trained: TrainResult) -> Template:
    home = tmp_path_factory.mktemp("sqlite-template")
    settings = _settings(home, artifact_root=(home / "artifacts").as_uri())
    registry = Registry.open(settings)
    uris = _log_models(registry, trained, 2)
    registry.close()
    return Template(settings=settings, model_uris=uris)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pg.PgServer]:
    bindir = pg.find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (no initdb/pg_ctl found)")
    server = pg.start_server(bindir)
    try:
        yield server
    finally:
        server.stop()


def _admin(server: pg.PgServer) -> sa.Engine:
    return sa.create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template(
    pg_server: pg.PgServer, tmp_path_factory: pytest.TempPathFactory, trained: TrainResult
) -> Template:
    admin = _admin(pg_server)
    with admin.connect() as conn:
        conn.execute(sa.text("CREATE DATABASE modelreg_template"))
    admin.dispose()
    home = tmp_path_factory.mktemp("pg-template")
    settings = _settings(
        home, pg_server.url("modelreg_template"), artifact_root=(home / "artifacts").as_uri()
    )
    registry = Registry.open(settings)
    uris = _log_models(registry, trained, 2)
    registry.close()
    # MLflow keeps its own connection pool open; a template must have no sessions.
    admin = _admin(pg_server)
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = 'modelreg_template' AND pid <> pg_backend_pid()"
            )
        )
    admin.dispose()
    return Template(settings=settings, model_uris=uris)


@dataclass(frozen=True)
class Backend:
    name: str
    settings: Settings
    model_uris: tuple[str, ...]


def copy_sqlite(source_home: Path, target_home: Path) -> None:
    """Copy a registry's SQLite database with the backup API: a consistent snapshot,
    including pages still in the write-ahead log."""
    source = sqlite3.connect(source_home / "mlflow.db")
    target = sqlite3.connect(target_home / "mlflow.db")
    with target:
        source.backup(target)
    source.close()
    target.close()


def make_backend(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> Backend:
    if kind == "sqlite":
        template: Template = request.getfixturevalue("sqlite_template")
        copy_sqlite(template.settings.home, tmp_path)
        settings = _settings(tmp_path, artifact_root=template.settings.resolved_artifact_root)
        return Backend("sqlite", settings, template.model_uris)
    template = request.getfixturevalue("pg_template")
    server: pg.PgServer = request.getfixturevalue("pg_server")
    database = f"t_{os.getpid()}_{next(_counter)}"
    admin = _admin(server)
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {database} TEMPLATE modelreg_template"))
    admin.dispose()
    settings = _settings(
        tmp_path, server.url(database), artifact_root=template.settings.resolved_artifact_root
    )
    return Backend("postgres", settings, template.model_uris)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request, request.param, tmp_path)


@pytest.fixture
def sqlite_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request, "sqlite", tmp_path)


@pytest.fixture
def registry(backend: Backend) -> Iterator[Registry]:
    reg = Registry.open(backend.settings)
    try:
        yield reg
    finally:
        reg.close()

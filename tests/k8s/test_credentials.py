"""Which pod gets which database credentials, read from the committed tree's rendered
objects: the registry's write DSN (``modelreg-db``) only in the writers' pods, the read-only
DSN in every other pod that reads the registry; and the read-only role itself, created by
the Job's SQL with the real psql on the PostgreSQL fixture: it runs what the TorchServe
init container and the exporter need, and cannot write."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import generate_latest
from sqlalchemy.exc import DBAPIError

from registry_mcp.core.registry import Registry
from registry_mcp.deploy.kubernetes import credentials
from registry_mcp.deploy.kubernetes.workloads import DB_READONLY_SECRET, DB_SECRET
from registry_mcp.metrics.registry_exporter import registry_metrics
from serving.local import LocalPorts
from tests import pg
from tests.conftest import make_backend
from tests.helpers import add_versions
from tests.k8s.conftest import by_kind
from tests.test_cli import invoke

POD_KINDS = ("Deployment", "StatefulSet", "Job")
READERS = {"modelreg-exporter", "ts-mnist-classifier", "ts-mnist-cnn", "ts-digits-encoder"}


def _secrets(pod: dict[str, Any]) -> dict[str, set[str]]:
    """Secret name -> the containers (init ones too) and volumes of ``pod`` that use it."""
    found: dict[str, set[str]] = {}
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                found.setdefault(ref["name"], set()).add(container["name"])
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                found.setdefault(source["secretRef"]["name"], set()).add(container["name"])
    for volume in pod.get("volumes", []):
        if "secret" in volume:
            found.setdefault(volume["secret"]["secretName"], set()).add(f"volume {volume['name']}")
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                found.setdefault(source["secret"]["name"], set()).add(f"volume {volume['name']}")
    return found


def _pods(docs: list[dict[str, Any]]) -> dict[str, dict[str, set[str]]]:
    pods: dict[str, dict[str, set[str]]] = {}
    for kind in POD_KINDS:
        for name, obj in by_kind(docs, kind).items():
            pods[name] = _secrets(obj["spec"]["template"]["spec"])
    return pods


@pytest.mark.parametrize("overlay", ["cpu", "gpu"])
def test_only_writers_hold_the_write_credentials(
    repo_overlays: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    pods = _pods(repo_overlays[overlay])
    with_write = {name for name, secrets in pods.items() if DB_SECRET in secrets}
    assert with_write == set(credentials.WRITERS), with_write
    with_read = {name for name, secrets in pods.items() if DB_READONLY_SECRET in secrets}
    # The readers, and the Job that sets the read-only role's password.
    assert with_read == READERS | {credentials.ROLE_JOB}, with_read
    for name in READERS:
        assert DB_SECRET not in pods[name], name
    # The TorchServe pods' init container reads the registry; TorchServe itself holds none.
    for model in ("mnist-classifier", "mnist-cnn", "digits-encoder"):
        assert pods[f"ts-{model}"] == {DB_READONLY_SECRET: {"fetch-archives"}}
    # The router never reads the registry's database.
    assert not ({DB_SECRET, DB_READONLY_SECRET} & set(pods["modelreg-router"]))


def test_the_role_job_runs_the_shipped_sql(repo_overlays: dict[str, list[dict[str, Any]]]) -> None:
    docs = repo_overlays["cpu"]
    job = by_kind(docs, "Job")[credentials.ROLE_JOB]
    pod = job["spec"]["template"]["spec"]
    mounted = next(v for v in pod["volumes"] if v["name"] == "sql")["configMap"]["name"]
    sql = by_kind(docs, "ConfigMap")[mounted]["data"][credentials.ROLE_SQL_FILE]
    assert sql == credentials.READONLY_ROLE_SQL
    (container,) = pod["containers"]
    assert container["args"][-1].endswith(credentials.ROLE_SQL_FILE)
    env = {e["name"]: e for e in container["env"]}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == DB_SECRET
    assert env["READONLY_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == DB_READONLY_SECRET


# ----------------------------------------------------------------- the role on PostgreSQL

MODEL = "mnist-classifier"
PASSWORD = "read-only-pw"


def _psql(
    server: pg.PgServer, database: str, password: str | None
) -> subprocess.CompletedProcess[str]:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed (Debian package postgresql-client)")
    env = {k: v for k, v in os.environ.items() if k != "READONLY_PASSWORD"}
    if password is not None:
        env["READONLY_PASSWORD"] = password
    return subprocess.run(
        [
            psql,
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            "-",
            f"postgresql://postgres@127.0.0.1:{server.port}/{database}",
        ],
        input=credentials.READONLY_ROLE_SQL,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def readonly_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(the owner's DSN, the read-only role's DSN) of a fresh registry database holding
    Production v2 and Staging v3 of MODEL."""
    backend = make_backend(request, "postgres", tmp_path / "owner")
    registry = Registry.open(backend.settings)
    add_versions(registry, backend.model_uris[0], MODEL, 3)
    for version, stage in ((1, "staging"), (1, "production"), (2, "staging")):
        registry.stages.transition(MODEL, version, stage, rationale="setup", actor="t")
    registry.stages.transition(MODEL, 2, "production", rationale="setup", actor="t")
    registry.stages.transition(MODEL, 3, "staging", rationale="setup", actor="t")
    registry.close()
    server: pg.PgServer = request.getfixturevalue("pg_server")
    owner = str(backend.settings.registry_uri)
    database = owner.rsplit("/", 1)[1]
    done = _psql(server, database, PASSWORD)
    assert done.returncode == 0, done.stderr
    ro = f"postgresql+psycopg://{credentials.READONLY_ROLE}:{PASSWORD}@127.0.0.1:{server.port}/{database}"
    return owner, ro


def test_the_sql_refuses_to_run_without_the_password(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    backend = make_backend(request, "postgres", tmp_path)
    server: pg.PgServer = request.getfixturevalue("pg_server")
    done = _psql(server, str(backend.settings.registry_uri).rsplit("/", 1)[1], None)
    assert done.returncode != 0
    assert "READONLY_PASSWORD is not set" in done.stderr


@pytest.mark.slow
def test_the_read_only_role_fetches_and_exports_but_cannot_write(
    readonly_dsn: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner, ro = readonly_dsn
    home = tmp_path / "pod-home"
    # The pod's environment: both stores by the read-only DSN (the cluster's tracking store
    # is the MLflow server; here the artifacts are the fixture's files, read the same way).
    monkeypatch.setenv("MODELREG_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", ro)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", ro)
    monkeypatch.delenv("MODELREG_MODELS_CONFIG", raising=False)
    for name, port in LocalPorts.free().model_dump().items():
        monkeypatch.setenv(f"MODELREG_SERVING_{name.upper()}_PORT", str(port))

    # What the TorchServe pod's init container runs (its args, with the registry's versions).
    store = tmp_path / "model-store"
    code, out, err = invoke(capsys, "k8s", "archives", "--model", MODEL, "--out", str(store))
    assert code == 0, err
    built = sorted(store.glob("*.mar"))
    assert len(built) == 3, out  # Production v2, previous v1, Staging v3

    # What the exporter serves on every scrape.
    from registry_mcp.store.settings import Settings

    reader = Registry.open(Settings())
    try:
        text = generate_latest(registry_metrics(reader)).decode()
    finally:
        reader.close()
    assert "modelreg_registry_up 1.0" in text
    for stage, version in (("production", 2), ("staging", 3), ("previous", 1)):
        assert f'modelreg_registry_version{{model="{MODEL}",stage="{stage}"}} {version}.0' in text

    # Nothing can be written through the role: not by default (read-only transactions), and
    # not when a session asks for a read-write transaction (no privilege).
    engine = sa.create_engine(ro)
    writes = [
        "INSERT INTO modelreg_audit (at_ms, actor, model, action, decision) "
        "VALUES (1, 'x', 'm', 'promote', 'approved')",
        "UPDATE registered_models SET description = 'changed'",
        "DELETE FROM modelreg_approved_state",
        "CREATE TABLE sneaky (id int)",
    ]
    try:
        for statement in writes:
            for read_write in (False, True):
                with engine.connect() as conn:
                    if read_write:
                        conn.exec_driver_sql("SET TRANSACTION READ WRITE")
                    with pytest.raises(DBAPIError) as refused:
                        conn.exec_driver_sql(statement)
                code = getattr(refused.value.orig, "sqlstate", None)
                # 25006 read_only_sql_transaction, 42501 insufficient_privilege
                assert code == ("42501" if read_write else "25006"), (statement, code)
    finally:
        engine.dispose()
    # The owner's registry is unchanged.
    owner_engine = sa.create_engine(owner)
    try:
        with owner_engine.connect() as conn:
            descriptions = conn.exec_driver_sql(
                "SELECT count(*) FROM registered_models WHERE description = 'changed'"
            ).scalar()
        assert descriptions == 0
    finally:
        owner_engine.dispose()

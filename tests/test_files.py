"""Private data home and database files; bounded, strict reading of user input; JSON output."""

from __future__ import annotations

import io
import json
import logging
import os
import sqlite3
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from registry_mcp.cli import render
from registry_mcp.core.registry import Registry
from registry_mcp.domain import validation
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.store import files
from registry_mcp.store.database import sqlalchemy_url
from registry_mcp.store.settings import Settings
from serving.local import LocalStatus
from serving.rollout import ModelServingStatus
from tests.conftest import Backend


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The loosest umask: nothing private may depend on the umask removing bits."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_fresh_data_home_is_private_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    home = tmp_path / "new" / "home"
    registry = Registry.open(Settings(home=home, actor="tester"))
    try:
        with registry.engine.connect() as conn:  # WAL mode: -wal and -shm exist while open
            conn.exec_driver_sql("SELECT 1")
            modes = {p.name: _mode(p) for p in home.iterdir()}
    finally:
        registry.close()
    assert _mode(home) == 0o700
    assert modes["mlflow.db"] == 0o600
    assert modes["mlflow.db-wal"] == 0o600
    assert modes["mlflow.db-shm"] == 0o600
    assert modes["mlflow.db.locks"] == 0o700


def test_existing_database_files_are_tightened_and_an_open_home_is_reported(
    sqlite_backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    home = sqlite_backend.settings.home
    database = home / "mlflow.db"
    lock_dir = home / "mlflow.db.locks"
    lock_dir.mkdir(exist_ok=True)
    os.chmod(home, 0o755)
    os.chmod(database, 0o644)
    os.chmod(lock_dir, 0o755)
    with caplog.at_level(logging.WARNING, logger="registry_mcp.store.files"):
        Registry.open(sqlite_backend.settings).close()
    assert _mode(database) == 0o600
    assert _mode(lock_dir) == 0o700
    # A directory the user chose may be shared on purpose: reported, not changed.
    assert _mode(home) == 0o755
    assert f"run `chmod 700 {home}`" in caplog.text


def test_a_data_home_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a directory")
    with pytest.raises(RegistryError) as caught:
        Registry.open(Settings(home=home, actor="tester"))
    assert caught.value.code is ErrorCode.INVALID_INPUT
    assert "exists but is not a directory; set MODELREG_HOME" in caught.value.message
    assert home.read_text() == "not a directory"


def test_a_data_home_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(RegistryError) as caught:
        Registry.open(Settings(home=tmp_path / "file" / "home", actor="tester"))
    assert caught.value.code is ErrorCode.INVALID_INPUT
    assert "Cannot create the data home" in caught.value.message


def test_an_unparsable_store_uri_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(RegistryError) as caught:
        sqlalchemy_url("postgresql+psycopg://user:s3cret@host:port/db")
    assert caught.value.code is ErrorCode.INVALID_INPUT
    assert "cannot be parsed" in caught.value.message
    assert "s3cret" not in caught.value.message


def test_private_sqlite_leaves_in_memory_and_missing_directories_alone(tmp_path: Path) -> None:
    files.private_sqlite(tmp_path / "missing" / "mlflow.db")
    assert not (tmp_path / "missing").exists()
    database = tmp_path / "reg.db"
    files.private_sqlite(database)
    sqlite3.connect(database).close()  # a pre-created empty file is a valid database
    assert _mode(database) == 0o600


# ------------------------------------------------------------------------- user input


def test_read_input_accepts_a_bom_and_refuses_what_is_too_large(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_bytes(b"\xef\xbb\xbf{}")
    assert files.read_input(path, what="input file") == "{}"
    path.write_bytes(b"x" * 11)
    with pytest.raises(RegistryError, match="larger than"):
        files.read_input(path, what="input file", max_bytes=10)


def test_read_input_from_a_text_only_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"a": 1}'))
    assert files.read_input(None, what="input file") == '{"a": 1}'
    monkeypatch.setattr(sys, "stdin", io.StringIO("\udcff"))  # an undecodable byte
    with pytest.raises(RegistryError, match="standard input is not valid UTF-8"):
        files.read_input(Path("-"), what="input file")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("NaN", "'NaN', which is not a finite number"),
        ('{"a": [Infinity]}', "'Infinity'"),
        ("[-Infinity]", "'-Infinity'"),
        ("[1e400]", "'1e400'"),
        ("[-1" + "0" * 400 + "]", "which is not a finite number"),
        ("[" * 100_000 + "]" * 100_000, "more than 64 levels deep"),
        ("[" * 65 + "]" * 65, "more than 64 levels deep"),
        ('{"a": ', "is not valid JSON: Expecting value at line 1 column 7"),
        (" ", "is empty"),
    ],
)
def test_json_document_refuses_what_a_model_cannot_take(text: str, fragment: str) -> None:
    with pytest.raises(RegistryError) as caught:
        validation.json_document(text, what="The input")
    assert caught.value.code is ErrorCode.INVALID_INPUT
    assert caught.value.message.startswith("The input ")
    assert fragment in caught.value.message


def test_json_document_keeps_what_is_valid() -> None:
    text = '{"inputs": [[0.5, -1e308, 3, 1e-300]], "deep": ' + "[" * 62 + "]" * 62 + "}"
    assert validation.json_document(text, what="The input") == json.loads(text)


# ------------------------------------------------------------------------ JSON output


def test_print_json_serialises_models_nested_in_lists_and_dicts(tmp_path: Path) -> None:
    """`serve status --json` with a running server prints exactly this shape."""
    server = LocalStatus(
        running=True,
        healthy=True,
        pid=1,
        inference_url="http://127.0.0.1:1",
        management_url="http://127.0.0.1:2",
        metrics_url="http://127.0.0.1:3",
        serving_dir=tmp_path,
        model_store=tmp_path / "store",
        key_file=tmp_path / "key_file.json",
        log_dir=tmp_path / "logs",
    )
    row = ModelServingStatus(
        model="digits",
        served_name="digits",
        registry_production=1,
        serving_default=1,
        serving_default_raw="1",
        loaded_versions=[1, 2],
        in_sync=True,
        drift_reasons=[],
    )
    out = io.StringIO()
    render.print_json(Console(file=out), {"server": server, "models": [row], "score": float("nan")})
    printed = json.loads(out.getvalue())
    assert printed["server"]["key_file"] == str(tmp_path / "key_file.json")
    assert printed["models"] == [row.model_dump(mode="json")]
    assert printed["score"] is None  # JSON has no NaN: scripts get valid JSON

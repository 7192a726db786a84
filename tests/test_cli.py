"""The `modelreg` CLI in-process (fast) and as a real process on a pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from registry_mcp.cli import app, run
from registry_mcp.registry import Registry
from tests.conftest import Backend
from tests.helpers import add_versions

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def cli_env(sqlite_backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Backend:
    monkeypatch.setenv("MODELREG_HOME", str(sqlite_backend.settings.home))
    monkeypatch.setenv("MODELREG_ARTIFACT_ROOT", sqlite_backend.settings.resolved_artifact_root)
    monkeypatch.setenv("MODELREG_ACTOR", "carol")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    return sqlite_backend


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        run(lambda: app(list(args), prog_name="modelreg"))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def seeded(cli_env: Backend) -> Backend:
    registry = Registry.open(cli_env.settings)
    add_versions(registry, cli_env.model_uris[0], "digits", 3, tags={"task": "classification"})
    registry.close()
    return cli_env


def test_list_show_and_json(seeded: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = invoke(capsys, "models", "list", "--tag", "task=classification", "--json")
    assert code == 0
    page = json.loads(out)
    assert [m["name"] for m in page["items"]] == ["digits"]
    assert page["items"][0]["latest_version"] == 3
    code, out, _ = invoke(capsys, "models", "show", "digits", "--version", "2", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["version"]["version"] == 2
    assert shown["card"]["complete"] is True
    code, out, _ = invoke(capsys, "models", "show", "digits")
    assert code == 0
    assert "Versions (newest first)" in out


def test_promote_rollback_and_audit_with_yes(
    seeded: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    for version, stage in [("1", "staging"), ("1", "PRODUCTION"), ("2", "Staging")]:
        code, _, err = invoke(
            capsys, "promote", "digits", version, "--stage", stage, "-r", "tests pass", "--yes"
        )
        assert code == 0, err
    code, out, _ = invoke(
        capsys, "promote", "digits", "2", "--stage", "production", "-r", "better", "--yes", "--json"
    )
    assert code == 0
    assert json.loads(out)["transition"]["replaced_version"] == 1
    code, out, _ = invoke(capsys, "rollback", "digits", "-r", "regression", "--yes")
    assert code == 0
    assert "v1: Archived -> Production" in out
    code, out, _ = invoke(capsys, "audit", "digits", "--json", "--limit", "2")
    entries = json.loads(out)["items"]
    assert [e["action"] for e in entries] == ["rollback", "transition"]
    assert entries[0]["actor"] == "carol"
    assert entries[0]["client"] == "modelreg-cli"
    assert entries[0]["rationale"] == "regression"
    code, out, _ = invoke(capsys, "models", "list", "--stage", "production", "--json")
    assert json.loads(out)["items"][0]["production_version"] == 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["promote", "digits", "1", "--stage", "prod", "-r", "x", "--yes"], "Unknown stage"),
        (["promote", "digits", "1", "--stage", "production", "-r", "x", "--yes"], "Staging first"),
        (["promote", "nope", "1", "--stage", "staging", "-r", "x", "--yes"], "No registered model"),
        (["promote", "digits", "0", "--stage", "staging", "-r", "x", "--yes"], "between 1 and"),
        (["promote", "digits", "v1.5", "--stage", "staging", "-r", "x", "--yes"], "whole number"),
        (["promote", "digits", "1", "--stage", "staging", "-r", " ", "--yes"], "rationale"),
        (["promote", "digits", "1", "--stage", "staging", "-r", "x"], "pass --yes"),
        (["rollback", "digits", "-r", "x", "--yes"], "no Production version"),
        (["models", "list", "--tag", "novalue"], "key=value"),
        (["models", "list", "--limit", "0"], "between 1 and 1000"),
        (["models", "show", "digits", "--version", "9"], "has no version 9"),
        (["models", "card", "digits", "1", "--file", "/nonexistent.json"], "Cannot read card"),
        (["audit", "--cursor", "garbage"], "cursor"),
        (["train", "--epochs", "0"], "epochs"),
    ],
)
def test_user_errors_are_one_line_with_exit_2(
    seeded: Backend, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    registry = Registry.open(seeded.settings)
    before = registry.get_model("digits")
    code, out, err = invoke(capsys, *args)
    assert code == 2
    assert fragment in err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err + out
    assert registry.get_model("digits") == before


def test_card_file_round_trip(
    seeded: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"owner": "vision", "baseline_metrics": {"accuracy": 0.9}}))
    code, out, _ = invoke(capsys, "models", "card", "digits", "1", "--file", str(card), "--json")
    assert code == 0
    view = json.loads(out)
    assert view["complete"] is False
    assert "intended_use" in view["missing_fields"]
    card.write_text(json.dumps({"owner": "x", "baseline_metrics": {"accuracy": 7}}))
    code, _, err = invoke(capsys, "models", "card", "digits", "1", "--file", str(card))
    assert code == 2
    assert "accuracy must be between 0 and 1" in err


def test_train_registers_a_deterministic_version(
    cli_env: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    results: list[dict[str, Any]] = []
    for hidden in ("16", "16", "4"):
        code, out, err = invoke(
            capsys,
            "train",
            "--name",
            "trained",
            "--epochs",
            "4",
            "--hidden",
            hidden,
            "--seed",
            "3",
            "--json",
        )
        assert code == 0, err
        results.append(json.loads(out))
    assert [r["version"]["version"] for r in results] == [1, 2, 3]
    assert results[0]["accuracy"] == results[1]["accuracy"]
    assert abs(results[0]["accuracy"] - results[2]["accuracy"]) > 0.01
    assert results[0]["version"]["card_complete"] is True
    registry = Registry.open(cli_env.settings)
    card = registry.get_card("trained", 1).card
    assert card.baseline_metrics["accuracy"] == results[0]["accuracy"]
    assert registry.get_model("trained").model.tags == {
        "framework": "pytorch",
        "task": "classification",
    }


def _read_until(fd: int, needle: bytes, timeout: float = 60.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, seen.decode(errors="replace")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


@pytest.mark.parametrize(("answer", "moved"), [(b"y\n", True), (b"n\n", False)])
def test_terminal_confirmation(seeded: Backend, answer: bytes, moved: bool) -> None:
    """The real `modelreg` process on a pseudo-terminal shows the plan and asks."""
    primary, secondary = pty.openpty()
    exe = Path(sys.executable).with_name("modelreg")
    proc = subprocess.Popen(
        [str(exe), "promote", "digits", "3", "--stage", "staging", "-r", "manual check"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "COLUMNS": "120"},
    )
    os.close(secondary)
    try:
        shown = ANSI.sub(b"", _read_until(primary, b"Apply this change?"))
        assert b"Promote digits v3: None -> Staging" in shown
        os.write(primary, answer)
        rest = _read_until(primary, b"\n(audit" if moved else b"nothing was changed")
        assert proc.wait(timeout=60) == (0 if moved else 1), rest
    finally:
        os.close(primary)
        proc.kill()
    registry = Registry.open(seeded.settings)
    assert (registry.get_model("digits").model.staging_version == 3) is moved

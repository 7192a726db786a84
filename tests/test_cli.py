"""The `modelreg` CLI in-process (fast) and as a real process on a pseudo-terminal."""

from __future__ import annotations

import http.server
import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest

from registry_mcp.cli.app import app, run
from registry_mcp.core.registry import Registry
from tests.conftest import Backend
from tests.helpers import add_versions, snapshot

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
        # poll, not select: a long test session can hold more than FD_SETSIZE (1024) files.
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if poller.poll(remaining * 1000):
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


@contextmanager
def on_pty(args: list[str], env: dict[str, str] | None = None) -> Iterator[tuple[Any, int]]:
    """Run ``args`` on a pseudo-terminal (a real terminal for the child); yield the process
    and the terminal's file descriptor; reap the process whatever happens."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        args,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
    )
    os.close(secondary)
    try:
        yield proc, primary
    finally:
        os.close(primary)
        proc.kill()
        proc.wait(timeout=30)


@pytest.mark.parametrize(("answer", "moved"), [(b"y\n", True), (b"n\n", False)])
def test_terminal_confirmation(seeded: Backend, answer: bytes, moved: bool) -> None:
    """The real `modelreg` process on a pseudo-terminal shows the plan and asks."""
    exe = Path(sys.executable).with_name("modelreg")
    args = [str(exe), "promote", "digits", "3", "--stage", "staging", "-r", "manual check"]
    with on_pty(args) as (proc, primary):
        shown = ANSI.sub(b"", _read_until(primary, b"Apply this change?"))
        assert b"Promote digits v3: None -> Staging" in shown
        os.write(primary, answer)
        rest = _read_until(primary, b"\n(audit" if moved else b"nothing was changed")
        assert proc.wait(timeout=60) == (0 if moved else 1), rest
    registry = Registry.open(seeded.settings)
    assert (registry.get_model("digits").model.staging_version == 3) is moved


# --------------------------------------------------------------- bad input, nothing changed


def _state(backend: Backend) -> tuple[dict[str, Any], list[int]]:
    """Everything a bad command must leave alone: models, versions, tags, cards, audit rows."""
    registry = Registry.open(backend.settings)
    try:
        return snapshot(registry), [e.id for e in registry.audit_log(limit=500).items]
    finally:
        registry.close()


def _assert_one_line_error(code: int, out: str, err: str, fragment: str) -> None:
    assert code == 2, err
    assert fragment in err, err
    assert err.count("\n") == 1, err
    assert "Traceback" not in out + err


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"owner": "\xff\xfe"}', "is not valid UTF-8 (byte 0xff at offset 11)"),
        (b'{"owner": ', "is not valid JSON: Expecting value at line 1 column 11"),
        (b"", "is empty"),
        (b"[1, 2]", "must hold a JSON object with some of the fields description"),
        (b'"owner"', "got a string"),
        (b'{"ownr": "vision"}', "ownr: unknown field (the fields are description, owner"),
        (b'{"baseline_metrics": {"accuracy": NaN}}', "contains 'NaN', which is not a finite"),
        (b'{"baseline_metrics": {"accuracy": 1e400}}', "contains '1e400'"),
        (b'{"preprocessing": ' + DEEP + b"}", "more than 64 levels deep"),
    ],
)
@pytest.mark.parametrize("via", ["file", "stdin"])
def test_bad_card_input_is_one_line_and_changes_nothing(
    seeded: Backend,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    content: bytes,
    fragment: str,
    via: str,
) -> None:
    before = _state(seeded)
    card = tmp_path / "card.json"
    card.write_bytes(content)
    if via == "stdin":
        _stdin(monkeypatch, content)
    source = "-" if via == "stdin" else str(card)
    code, out, err = invoke(capsys, "models", "card", "digits", "1", "--file", source)
    _assert_one_line_error(code, out, err, fragment)
    assert ("standard input" if via == "stdin" else f"card file {card}") in err
    assert _state(seeded) == before
    assert card.read_bytes() == content


@pytest.mark.parametrize(
    ("path", "fragment"),
    [("missing.json", "No such file or directory"), (".", "Is a directory")],
)
def test_unreadable_card_file_is_one_line_and_changes_nothing(
    seeded: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path, path: str, fragment: str
) -> None:
    before = _state(seeded)
    code, out, err = invoke(capsys, "models", "card", "digits", "1", "--file", str(tmp_path / path))
    _assert_one_line_error(code, out, err, f"Cannot read card file {tmp_path / path}: {fragment}")
    assert _state(seeded) == before


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["models", "tag", "digits", "a=1", "a=2"], "Tag 'a' is given more than once"),
        (["models", "tag", "digits", "a=1", "--remove", "a"], "Tag 'a' is both set and removed"),
        (["models", "tag", "digits", "=1"], "is not key=value"),
        (["models", "tag", "digits", "a=1", "--version", "abc"], "positive whole number"),
        (["models", "card", "digits", "abc"], "positive whole number"),
        (["models", "list", "--cursor", "garbage"], "Invalid cursor"),
        (["serve", "status", ""], "Model name is empty"),
        (["serve", "status", "nope", "--json"], "No registered model named 'nope'"),
        (["serve", "reconcile", ""], "Model name is empty"),
        (["serve", "reconcile", "nope"], "No registered model named 'nope'"),
    ],
)
def test_more_bad_arguments_are_one_line_and_change_nothing(
    seeded: Backend, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    before = _state(seeded)
    code, out, err = invoke(capsys, *args)
    _assert_one_line_error(code, out, err, fragment)
    assert _state(seeded) == before


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Stands where the CLI expects TorchServe and records every request it receives."""

    seen: ClassVar[list[str]] = []

    def _answer(self) -> None:
        self.seen.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"status": "Healthy"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def torchserve_requests(seeded: Backend, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths the CLI sent to "TorchServe" (a recorder on the inference port)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.seen = []
    monkeypatch.setenv("MODELREG_SERVING_INFERENCE_PORT", str(server.server_address[1]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield _Recorder.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


ROW = [0.5] * 64


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"inputs": [[NaN]]}', "contains 'NaN', which is not a finite number"),
        (b'{"inputs": [[Infinity]]}', "contains 'Infinity'"),
        (b'{"inputs": [[-Infinity]]}', "contains '-Infinity'"),
        (b'{"inputs": [[1e400]]}', "contains '1e400'"),
        (b'{"inputs": [[1' + b"0" * 400 + b"]]}", "which is not a finite number"),
        (DEEP, "more than 64 levels deep"),
        (b'{"inputs": [["\xff"]]}', "is not valid UTF-8"),
        (b'{"inputs": ', "is not valid JSON"),
        (b"  \n", "is empty"),
        (b'"hello"', 'must hold a JSON object like {"inputs"'),
    ],
)
@pytest.mark.parametrize("via", ["file", "stdin"])
def test_bad_predict_input_is_refused_before_torchserve_is_contacted(
    torchserve_requests: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    content: bytes,
    fragment: str,
    via: str,
) -> None:
    request = tmp_path / "request.json"
    request.write_bytes(content)
    if via == "stdin":
        _stdin(monkeypatch, content)
        args = ["predict", "digits"]
    else:
        args = ["predict", "digits", "--input", str(request)]
    code, out, err = invoke(capsys, *args)
    _assert_one_line_error(code, out, err, fragment)
    assert ("standard input" if via == "stdin" else f"input file {request}") in err
    assert torchserve_requests == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["predict", "nope"], "No registered model named 'nope'"),
        (["predict", ""], "Model name is empty"),
        (["predict", "a/b"], "cannot contain '/'"),
        (["predict", "digits", "--version", "abc"], "positive whole number like 3, got 'abc'"),
        (["predict", "digits", "--version", "0"], "between 1 and"),
        (["predict", "digits", "--input", "/nonexistent.json"], "Cannot read input file"),
    ],
)
def test_bad_predict_arguments_are_refused_before_torchserve_is_contacted(
    torchserve_requests: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    fragment: str,
) -> None:
    _stdin(monkeypatch, json.dumps({"inputs": [ROW, ROW]}).encode())
    code, out, err = invoke(capsys, *args)
    _assert_one_line_error(code, out, err, fragment)
    assert torchserve_requests == []


def test_a_valid_predict_request_does_reach_torchserve(
    torchserve_requests: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The recorder sees traffic, so the tests above prove that nothing was sent."""
    _stdin(monkeypatch, json.dumps({"inputs": [ROW, ROW]}).encode())
    invoke(capsys, "predict", "digits", "--version", "1")
    assert torchserve_requests[-1] == "/predictions/digits/1"


def test_serve_status_json_on_a_stopped_server(
    seeded: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = invoke(capsys, "serve", "status", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["server"]["running"] is False
    assert shown["server"]["key_file"].endswith("key_file.json")
    assert shown["models"] == []
    code, out, err = invoke(capsys, "serve", "status", "digits", "--json")
    assert code == 0, err
    assert json.loads(out)["models"] == []

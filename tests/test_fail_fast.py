"""An unreachable registry database or an unusable data home: one line, in seconds.

The CLI runs as a real process (its wall time measured); the MCP server through a real
in-memory client session whose database goes away under it (a relay in front of the test
PostgreSQL server that is cut). Nothing here waits on a clock except the bounds asserted.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from mcp import Client
from mcp.types import Implementation

from registry_mcp.core.registry import Registry
from registry_mcp.domain.errors import ErrorCode
from registry_mcp.mcp.server import build_server
from registry_mcp.mcp.tool_models import ToolErrorData
from tests.conftest import make_backend
from tests.helpers import add_versions, snapshot
from tests.mcp_support import Human

FAST_S = 30.0
"""The promise: a command facing an unreachable database answers within this wall time.

The wait on the database itself is the 3 s connect timeout (asserted in the messages); the
rest is the process starting, which takes seconds on a busy machine. Without the timeout a
dropped connection waits for the operating system's TCP timeout (over two minutes), which this
bound still catches."""

PASSWORD = "s3cret-pw"
EXE = str(Path(sys.executable).with_name("modelreg"))


CLEARED = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MODELREG_HOME", "PGCONNECT_TIMEOUT")


def _modelreg(
    *args: str, env: dict[str, str], wrap: list[str] | None = None
) -> tuple[int, str, float]:
    """Run `modelreg ARGS` (inside ``wrap`` if given) with ``env`` replacing this process's
    registry settings; its exit code, output and wall time."""
    base = {k: v for k, v in os.environ.items() if k not in CLEARED}
    started = time.monotonic()
    done = subprocess.run(
        [*(wrap or []), EXE, *args],
        env={**base, "COLUMNS": "100", "MLFLOW_DISABLE_TELEMETRY": "true", **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def _one_clean_line(output: str) -> str:
    """The output is exactly one error line: no traceback, no MLflow retry warnings."""
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output
    assert "retried" not in output
    assert "WARNING" not in output
    return lines[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _black_hole() -> Iterator[int]:
    """A loopback port whose accept queue is full: further SYNs are dropped, so a client's
    connect hangs as it does towards a host that drops packets."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        probe = socket.socket()
        probe.settimeout(1.0)
        try:
            probe.connect(("127.0.0.1", port))
            pytest.skip("this kernel completes connections beyond a full backlog")
        except TimeoutError:
            pass  # dropped, as wanted
        finally:
            probe.close()
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def _cli_env(home: Path, uri: str) -> dict[str, str]:
    return {"MODELREG_HOME": str(home), "MLFLOW_TRACKING_URI": uri}


# ------------------------------------------------------- PostgreSQL unreachable: CLI


@pytest.mark.parametrize(
    ("args", "how"),
    [
        (("models", "list"), "refused"),
        (("models", "list"), "drops-packets"),
        (("init",), "refused"),
        (("init",), "drops-packets"),
        (("audit", "--limit", "1"), "drops-packets"),
        # The MCP server's start-up imports its SDK first (seconds of the bound): refused
        # connections keep the bound about the database, not the machine's load.
        (("mcp",), "refused"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(a for a in v if a[0] != "-"),
)
def test_cli_with_postgres_unreachable_fails_fast_in_one_line(
    tmp_path: Path, how: str, args: tuple[str, ...]
) -> None:
    with _black_hole() if how == "drops-packets" else _refusing_port() as port:
        uri = f"postgresql+psycopg://modelreg:{PASSWORD}@127.0.0.1:{port}/registry"
        code, output, elapsed = _modelreg(*args, env=_cli_env(tmp_path / "home", uri))
    line = _one_clean_line(output)
    assert code == 1, output
    assert elapsed < FAST_S, f"took {elapsed:.1f}s: {line}"
    assert line.startswith("error (BACKEND): Cannot reach the registry database "), line
    assert f"postgresql+psycopg://modelreg:***@127.0.0.1:{port}/registry" in line
    assert PASSWORD not in output
    assert "Start the database server, or set MLFLOW_TRACKING_URI" in line
    if how == "drops-packets":
        assert "timeout expired after 3s (set PGCONNECT_TIMEOUT" in line, line


@contextmanager
def _refusing_port() -> Iterator[int]:
    yield _free_port()  # nothing listens there: connections are refused


def test_the_variable_that_chose_the_database_is_named(tmp_path: Path) -> None:
    port = _free_port()
    env = _cli_env(tmp_path / "home", "sqlite:///" + str(tmp_path / "tracking.db"))
    env["MLFLOW_REGISTRY_URI"] = f"postgresql+psycopg://u@127.0.0.1:{port}/reg"
    code, output, elapsed = _modelreg("models", "list", env=env)
    line = _one_clean_line(output)
    assert code == 1, output
    assert elapsed < FAST_S, output
    assert "set MLFLOW_REGISTRY_URI to one that is running" in line


# -------------------------------------------------------- unusable data home: CLI


def _read_only_wrap(directory: Path) -> list[str]:
    """A command prefix that runs its command with ``directory`` read-only: a read-only bind
    mount in a private mount namespace (it stops root too; nothing outside sees it)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare is not installed")
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    wrap = [unshare, "--mount", "--propagation", "private", "sh", "-c", script, str(directory)]
    check = subprocess.run([*wrap, "touch", str(directory / "probe")], capture_output=True)
    if b"Read-only file system" not in check.stderr:
        pytest.skip(f"cannot mount read-only here: {check.stderr.decode(errors='replace')}")
    return wrap


def _tree(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
    }


@pytest.mark.parametrize(
    ("args", "initialised"),
    [
        (("models", "list"), False),
        (("models", "list"), True),
        (("promote", "digits", "1", "--stage", "staging", "-r", "check", "--yes"), True),
        (("mcp",), True),
    ],
    ids=["list-empty", "list", "promote", "mcp-start"],
)
def test_cli_with_a_read_only_home_says_so_in_one_line(
    request: pytest.FixtureRequest, tmp_path: Path, initialised: bool, args: tuple[str, ...]
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    if initialised:  # a copy of a migrated registry holding a logged model
        make_backend(request, "sqlite", home)
    wrap = _read_only_wrap(home)
    before = _tree(home)
    code, output, elapsed = _modelreg(*args, env={"MODELREG_HOME": str(home)}, wrap=wrap)
    line = _one_clean_line(output)
    assert code == 2, output
    assert elapsed < FAST_S, f"took {elapsed:.1f}s: {line}"
    assert line == (
        f"error (INVALID_INPUT): The data home {home} is not writable (Read-only file "
        "system); make it writable, or set MODELREG_HOME (or --home) to a directory you "
        "can write."
    )
    assert _tree(home) == before


@pytest.mark.parametrize(
    "args", [("models", "list"), ("mcp",), ("tokens", "list")], ids=["list", "mcp", "tokens"]
)
def test_cli_with_a_file_as_home_says_so_in_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    home = tmp_path / "not-a-dir"
    home.write_text("x")
    code, output, _ = _modelreg(*args, env={"MODELREG_HOME": str(home)})
    line = _one_clean_line(output)
    assert code == 2, output
    assert line == (
        f"error (INVALID_INPUT): The data home {home} exists but is not a directory; set "
        "MODELREG_HOME (or --home) to a directory."
    )
    assert home.read_text() == "x"


# ------------------------------------------------------------------ MCP tool calls


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Relay:
    """A TCP relay to the test PostgreSQL server that can be cut, like a database that
    stops (connections refused) or hangs (connections accepted, never answered)."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream = upstream_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._mode = "relay"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                self._sockets.append(client)
                if self._mode != "relay":
                    continue  # accepted, never answered
            upstream = socket.create_connection(("127.0.0.1", self._upstream))
            with self._lock:
                self._sockets.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self, mode: str) -> None:
        """End every relayed connection; then refuse new ones ("stopped"), accept and
        ignore them ("hanging"), or relay them again ("relay": a restarted server)."""
        with self._lock:
            self._mode = mode
            for sock in self._sockets:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()
        if mode == "stopped":
            # shutdown() stops listening at once; close() alone would leave the socket
            # listening until the accepting thread's accept() returns.
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()

    def close(self) -> None:
        self.cut("stopped")
        self._thread.join(timeout=30)


def _client(server: object, human: Human | None = None) -> Client:
    return Client(
        server,  # type: ignore[arg-type]
        elicitation_callback=human,
        client_info=Implementation(name="test-client", version="1"),
    )


async def _tool_fails_fast(session: Client, tool: str, args: dict[str, object]) -> str:
    started = time.monotonic()
    result = await session.call_tool(tool, args)
    elapsed = time.monotonic() - started
    assert result.is_error, result.structured_content
    data = ToolErrorData.model_validate(result.structured_content)
    assert data.code is ErrorCode.BACKEND, data
    assert elapsed < FAST_S, f"{tool} took {elapsed:.1f}s: {data.message}"
    assert "\n" not in data.message
    assert "Traceback" not in data.message
    return data.message


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["stopped", "hanging"])
async def test_mcp_tools_fail_fast_when_postgres_goes_away(
    request: pytest.FixtureRequest, tmp_path: Path, mode: str
) -> None:
    backend = make_backend(request, "postgres", tmp_path)
    assert backend.settings.tracking_uri is not None
    server_port = int(backend.settings.tracking_uri.rsplit(":", 1)[1].split("/", 1)[0])
    database = backend.settings.tracking_uri.rsplit("/", 1)[1]
    relay = Relay(server_port)
    try:
        uri = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:{relay.port}/{database}"
        settings = backend.settings.model_copy(update={"tracking_uri": uri, "registry_uri": uri})
        registry = Registry.open(settings)
        try:
            add_versions(registry, backend.model_uris[0], "digits", 2)
            server = build_server(registry, approver="dana")
            async with _client(server, Human()) as session:
                listed = await session.call_tool("list_models", {})
                assert not listed.is_error, listed.content
                relay.cut(mode)
                for tool, args in (
                    ("list_models", {}),
                    ("get_model_info", {"model_name": "digits"}),
                    ("get_audit_log", {"model_name": "digits"}),
                    # a change: its refusal cannot be audited either, and says why
                    (
                        "promote_model",
                        {
                            "model_name": "digits",
                            "version": 2,
                            "stage": "Staging",
                            "rationale": "ok",
                        },
                    ),
                ):
                    message = await _tool_fails_fast(session, tool, args)
                    assert message.startswith("Cannot reach the registry database "), message
                    assert f"postgres:***@127.0.0.1:{relay.port}/{database}" in message
                    assert PASSWORD not in message
                    assert "MLFLOW_REGISTRY_URI" in message
        finally:
            registry.close()
    finally:
        relay.close()


@pytest.mark.anyio
async def test_mcp_promotion_with_a_read_only_home_changes_nothing(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The data home's lock directory made immutable under a running server (root cannot
    create files in it either): the promotion cannot take its lock and says so in one line."""
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("chattr is not installed")
    backend = make_backend(request, "sqlite", tmp_path)
    registry = Registry.open(backend.settings)
    lock_dir = backend.settings.home / "mlflow.db.locks"
    try:
        add_versions(registry, backend.model_uris[0], "digits", 2)
        for path in lock_dir.iterdir():
            path.unlink()  # a lock file per model is created on first use
        before = snapshot(registry)
        made = subprocess.run([chattr, "+i", str(lock_dir)], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"cannot make a directory immutable here: {made.stderr!r}")
        try:
            server = build_server(registry, approver="dana")
            async with _client(server, Human()) as session:
                message = await _tool_fails_fast(
                    session,
                    "promote_model",
                    {"model_name": "digits", "version": 2, "stage": "Staging", "rationale": "ok"},
                )
        finally:
            subprocess.run([chattr, "-i", str(lock_dir)], check=True)
        assert message.startswith(f"Cannot lock 'digits': cannot write in {lock_dir} ("), message
        assert "nothing was changed" in message
        assert "MODELREG_HOME" in message
        assert snapshot(registry) == before
    finally:
        registry.close()


def test_a_restarted_database_is_reconnected_without_an_error(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Connections the server dropped are replaced (pre-ping), not reported as unreachable."""
    backend = make_backend(request, "postgres", tmp_path)
    assert backend.settings.tracking_uri is not None
    server_port = int(backend.settings.tracking_uri.rsplit(":", 1)[1].split("/", 1)[0])
    database = backend.settings.tracking_uri.rsplit("/", 1)[1]
    relay = Relay(server_port)
    try:
        uri = f"postgresql+psycopg://postgres@127.0.0.1:{relay.port}/{database}"
        settings = backend.settings.model_copy(update={"tracking_uri": uri, "registry_uri": uri})
        registry = Registry.open(settings)
        try:
            add_versions(registry, backend.model_uris[0], "digits", 1)
            relay.cut("relay")
            assert [m.name for m in registry.list_models().items] == ["digits"]
            assert registry.get_model("digits").model.latest_version == 1
        finally:
            registry.close()
    finally:
        relay.close()

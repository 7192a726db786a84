"""`modelreg mcp` as a real subprocess: stdio (as Claude Desktop starts it) and HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from registry_mcp.registry import Registry
from tests.conftest import Backend
from tests.helpers import snapshot
from tests.mcp_support import Human, check_snapshot, structured, tool_table
from tests.test_mcp import seed

pytestmark = pytest.mark.anyio
MODELREG = str(Path(sys.executable).with_name("modelreg"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def seeded(sqlite_backend: Backend) -> Backend:
    registry = Registry.open(sqlite_backend.settings)
    seed(registry, sqlite_backend.model_uris[0])
    registry.close()
    return sqlite_backend


def _minimal_env(backend: Backend, **extra: str) -> dict[str, str]:
    # What an MCP client passes: no shell profile, just the snippet's env.
    return {
        "PATH": "/usr/bin:/bin",
        "MODELREG_ACTOR": "dana",
        "MODELREG_ARTIFACT_ROOT": backend.settings.resolved_artifact_root,
        **extra,
    }


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_server_serves_tools_and_asks_for_approval(seeded: Backend, mode: str) -> None:
    params = StdioServerParameters(
        command=MODELREG,
        args=["--home", str(seeded.settings.home), "mcp"],
        env=_minimal_env(seeded),
    )
    human = Human(note="ok from stdio")
    async with Client(params, mode=mode, elicitation_callback=human) as session:  # type: ignore[arg-type]
        check_snapshot(await tool_table(session))
        listed = await structured(session, "list_models", {"stage": "Staging"})
        assert [m["name"] for m in listed["items"]] == ["digits"]
        out = await structured(
            session,
            "promote_model",
            {"model_name": "digits", "version": 3, "stage": "Production", "rationale": "stdio"},
        )
        assert out["status"] == "applied"
        bad = await session.call_tool(
            "promote_model",
            {"model_name": "digits", "version": 3, "stage": "Production", "rationale": "again"},
        )
        assert bad.is_error
    registry = Registry.open(seeded.settings)
    assert registry.get_model("digits").model.production_version == 3
    assert registry.audit_log(model="digits", limit=1).items[0].actor == "dana"
    registry.close()


async def test_stdio_server_without_a_data_home_says_so(tmp_path: Path) -> None:
    proc = subprocess.run(
        [MODELREG, "mcp"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": "relative/dir"},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert "MODELREG_HOME" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "relative").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_http_server(backend: Backend, **env: str) -> Iterator[str]:
    """`modelreg mcp --transport http` on a free loopback port; yields the MCP URL."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            MODELREG,
            "--home",
            str(backend.settings.home),
            "mcp",
            "--transport",
            "http",
            "--port",
            str(port),
        ],
        env={**_minimal_env(backend), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, "the MCP server exited early"
                assert time.monotonic() < deadline, "the MCP server did not start"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def http_server(seeded: Backend) -> Iterator[tuple[str, Backend]]:
    with running_http_server(seeded, MODELREG_MCP_TOKEN="s3cret-token") as url:
        yield url, seeded


async def test_http_requires_the_bearer_token(http_server: tuple[str, Backend]) -> None:
    url, backend = http_server
    before = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert before.status_code == 401
    wrong = httpx.post(url, json={}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    headers = {"Authorization": "Bearer s3cret-token"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http:
        for mode in ("auto", "legacy"):
            human = Human()
            transport = streamable_http_client(url, http_client=http)
            async with Client(transport, mode=mode, elicitation_callback=human) as session:  # type: ignore[arg-type]
                listed = await structured(session, "list_models", {})
                assert [m["name"] for m in listed["items"]] == ["digits"]
    registry = Registry.open(backend.settings)
    assert snapshot(registry)["digits"]["model"]["production_version"] == 1
    registry.close()


def test_non_loopback_bind_without_token_is_refused(seeded: Backend) -> None:
    proc = subprocess.run(
        [
            MODELREG,
            "--home",
            str(seeded.settings.home),
            "mcp",
            "--transport",
            "http",
            "--host",
            "0.0.0.0",
            "--port",
            str(_free_port()),
        ],
        env=_minimal_env(seeded),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "without a token" in proc.stderr
    assert "MODELREG_MCP_TOKEN" in proc.stderr


async def test_loopback_http_without_token_serves_a_session(seeded: Backend) -> None:
    with running_http_server(seeded) as url:
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=120)) as http:
            transport = streamable_http_client(url, http_client=http)
            async with Client(transport) as session:
                listed = await structured(session, "list_models", {})
    assert [m["name"] for m in listed["items"]] == ["digits"]

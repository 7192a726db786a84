"""`modelreg mcp` as a real subprocess: stdio (as Claude Desktop starts it) and HTTP."""

from __future__ import annotations

import json
import os
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
from mcp.types import Implementation

from registry_mcp.core.registry import Registry
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
    # What an MCP client passes: no shell profile, just the snippet's env (and the source
    # tree under test when PYTHONPATH points at one).
    tree = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}
    return {
        **tree,
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
def running_http_server(backend: Backend, *args: str, **env: str) -> Iterator[str]:
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
            *args,
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
    with running_http_server(seeded, MODELREG_MCP_TOKEN="s3cret-token-Vq8nX2pL7wRb4kJ9mZ1c") as url:
        yield url, seeded


async def test_http_requires_the_bearer_token(http_server: tuple[str, Backend]) -> None:
    url, backend = http_server
    before = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert before.status_code == 401
    wrong = httpx.post(url, json={}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    headers = {"Authorization": "Bearer s3cret-token-Vq8nX2pL7wRb4kJ9mZ1c"}
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


def _http_refusal(backend: Backend, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            MODELREG,
            "--home",
            str(backend.settings.home),
            "mcp",
            "--transport",
            "http",
            "--port",
            str(_free_port()),
            *args,
        ],
        env=_minimal_env(backend),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_http_without_a_token_is_refused_loopback_included(seeded: Backend) -> None:
    loopback = _http_refusal(seeded)
    assert loopback.returncode == 2
    assert "without a token" in loopback.stderr
    assert "modelreg tokens add" in loopback.stderr
    assert "--insecure-no-token" in loopback.stderr
    # The explicit opt-out never applies off loopback.
    wide = _http_refusal(seeded, "--host", "0.0.0.0", "--insecure-no-token")
    assert wide.returncode == 2
    assert "without a token" in wide.stderr
    assert "Traceback" not in loopback.stderr + wide.stderr


async def test_a_token_names_the_approver_in_the_audit(seeded: Backend) -> None:
    """Two people hold tokens; the one whose token answered the form is the approver,
    whatever the client calls itself."""
    made = subprocess.run(
        [MODELREG, "--home", str(seeded.settings.home), "tokens", "add", "erin"],
        env=_minimal_env(seeded),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    erin = made.stdout.strip()
    assert len(erin) >= 40
    token_file = seeded.settings.home / "mcp-tokens.json"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert erin not in token_file.read_text()  # only a hash is stored
    with running_http_server(
        seeded, MODELREG_MCP_TOKEN="dana-token-Hc4tY8uQ2sLp6vN0bW3eKx7"
    ) as url:
        headers = {"Authorization": f"Bearer {erin}"}
        async with httpx2.AsyncClient(
            headers=headers, timeout=httpx2.Timeout(30, read=120)
        ) as http:
            transport = streamable_http_client(url, http_client=http)
            async with Client(
                transport,  # type: ignore[arg-type]
                elicitation_callback=Human(note="erin approves"),
                client_info=Implementation(name="dana", version="1"),
            ) as session:
                out = await structured(
                    session,
                    "promote_model",
                    {"model_name": "digits", "version": 3, "stage": "Production", "rationale": "r"},
                )
    assert out["status"] == "applied"
    registry = Registry.open(seeded.settings)
    entry = registry.audit_log(model="digits", limit=1).items[0]
    registry.close()
    assert (entry.actor, entry.client) == ("erin", "mcp:dana")


async def test_insecure_loopback_http_audits_an_unauthenticated_approver(
    seeded: Backend,
) -> None:
    with running_http_server(seeded, "--insecure-no-token") as url:
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=120)) as http:
            transport = streamable_http_client(url, http_client=http)
            async with Client(
                transport,  # type: ignore[arg-type]
                elicitation_callback=Human(),
                client_info=Implementation(name="dana", version="1"),
            ) as session:
                listed = await structured(session, "list_models", {})
                await structured(
                    session,
                    "promote_model",
                    {"model_name": "digits", "version": 3, "stage": "Production", "rationale": "r"},
                )
    assert [m["name"] for m in listed["items"]] == ["digits"]
    registry = Registry.open(seeded.settings)
    entry = registry.audit_log(model="digits", limit=1).items[0]
    registry.close()
    # Neither the server's OS user nor the client's self-declared name is the approver.
    assert entry.actor == "unauthenticated-http"


def _tokens(backend: Backend, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MODELREG, "--home", str(backend.settings.home), "tokens", *args],
        env=_minimal_env(backend),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_a_revoked_token_stops_working_on_the_running_server(seeded: Backend) -> None:
    """`modelreg tokens revoke` applies from the next request, without a restart; a token
    added meanwhile works at once too."""
    erin = _tokens(seeded, "add", "erin").stdout.strip()
    server_token = "dana-token-Hc4tY8uQ2sLp6vN0bW3eKx7"
    with running_http_server(seeded, MODELREG_MCP_TOKEN=server_token) as url:
        headers = {"Authorization": f"Bearer {erin}"}
        async with httpx2.AsyncClient(
            headers=headers, timeout=httpx2.Timeout(30, read=120)
        ) as http:
            transport = streamable_http_client(url, http_client=http)
            async with Client(transport, elicitation_callback=Human()) as session:  # type: ignore[arg-type]
                listed = await structured(session, "list_models", {})
        assert [m["name"] for m in listed["items"]] == ["digits"]

        revoked = _tokens(seeded, "revoke", "erin")
        assert revoked.returncode == 0, revoked.stderr
        assert "from their next request" in " ".join(revoked.stdout.split())
        after = httpx.post(
            url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers
        )
        assert after.status_code == 401
        # Nor can it move anything: a rollback request is refused at the door.
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "rollback_model", "arguments": {"model_name": "digits"}},
        }
        assert httpx.post(url, json=call, headers=headers).status_code == 401

        frank = _tokens(seeded, "add", "frank").stdout.strip()
        fresh = httpx.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={
                "Authorization": f"Bearer {frank}",
                "Accept": "application/json, text/event-stream",
            },
        )
        assert fresh.status_code != 401
        # The server's own token is unaffected.
        still = httpx.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Authorization": f"Bearer {server_token}"},
        )
        assert still.status_code != 401
    registry = Registry.open(seeded.settings)
    assert registry.get_model("digits").model.production_version == 1
    registry.close()


@pytest.mark.parametrize("token", ["x", "a" * 40, "abababababababababababababababababab"])
def test_a_weak_server_token_is_refused(seeded: Backend, token: str) -> None:
    refused = subprocess.run(
        [
            MODELREG,
            "--home",
            str(seeded.settings.home),
            "mcp",
            "--transport",
            "http",
            "--port",
            str(_free_port()),
        ],
        env={**_minimal_env(seeded), "MODELREG_MCP_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2
    assert "MODELREG_MCP_TOKEN is too weak" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) <= 3


@pytest.mark.parametrize("name", ["modelreg-guard", "outside-modelreg", "Modelreg-Controller"])
def test_reserved_actor_names_are_refused_everywhere(seeded: Backend, name: str) -> None:
    added = _tokens(seeded, "add", name)
    assert added.returncode == 2
    assert "reserved" in added.stderr
    assert "Traceback" not in added.stderr
    by_env = subprocess.run(
        [MODELREG, "--home", str(seeded.settings.home), "rollback", "digits", "-r", "x", "--yes"],
        env={**_minimal_env(seeded), "MODELREG_ACTOR": name},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert by_env.returncode == 2
    assert "reserved" in by_env.stderr
    by_flag = subprocess.run(
        [
            MODELREG,
            "--home",
            str(seeded.settings.home),
            "--actor",
            name,
            "rollback",
            "digits",
            "-r",
            "x",
            "--yes",
        ],
        env=_minimal_env(seeded),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert by_flag.returncode == 2
    assert "reserved" in by_flag.stderr
    # A token file edited by hand to name one is refused when the server starts.
    path = seeded.settings.home / "mcp-tokens.json"
    path.write_text(json.dumps({"tokens": {"0" * 64: name}}))
    server = subprocess.run(
        [
            MODELREG,
            "--home",
            str(seeded.settings.home),
            "mcp",
            "--transport",
            "http",
            "--port",
            str(_free_port()),
        ],
        env=_minimal_env(seeded),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert server.returncode == 2
    assert f"modelreg tokens revoke {name}" in server.stderr
    registry = Registry.open(seeded.settings)
    assert registry.audit_log(model="digits", limit=1).items[0].actor != name
    registry.close()

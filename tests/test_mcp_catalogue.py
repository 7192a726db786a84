"""The stdio server answers `initialize` and the lists before its registry is open
(``DeferredServer``), from the pinned catalogue; the first call opens the registry, once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import ListPromptsResult, ListResourceTemplatesResult, ListToolsResult

from registry_mcp.core.registry import Registry
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.mcp import catalogue
from registry_mcp.mcp.deferred import DeferredServer
from registry_mcp.mcp.server import build_server, declare_tools
from registry_mcp.mcp.tool_errors import RegistryServer
from tests.conftest import Backend
from tests.mcp_support import check_snapshot, structured, tool_table
from tests.test_mcp import seed

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def reg(sqlite_backend: Backend) -> Iterator[Registry]:
    registry = Registry.open(sqlite_backend.settings)
    seed(registry, sqlite_backend.model_uris[0])
    try:
        yield registry
    finally:
        registry.close()


class Declarer:
    """Declares the tools over ``registry``; counts its calls and can fail the first ones."""

    def __init__(self, registry: Registry, failures: int = 0) -> None:
        self.registry = registry
        self.failures = failures
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, server: RegistryServer) -> None:
        self.calls += 1
        self.gate.wait(timeout=60)
        if self.calls <= self.failures:
            raise RegistryError(
                ErrorCode.BACKEND, "Cannot reach the registry database; start it and retry."
            )
        declare_tools(server, self.registry, approver="dana")


def _wire(result: Any) -> str:
    """A result as the SDK serialises it for the wire."""
    return json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True))


async def test_the_catalogue_is_what_the_full_server_lists(reg: Registry) -> None:
    captured = await catalogue.capture(build_server(reg, approver="dana"))
    assert catalogue.render(captured) == catalogue.CATALOGUE.read_text(), (
        "src/registry_mcp/mcp/catalogue.json is stale: rewrite it with "
        "`python -m registry_mcp.mcp.catalogue` and review the diff."
    )


async def test_lists_before_the_registry_opens_are_byte_identical(reg: Registry) -> None:
    declarer = Declarer(reg)
    deferred = DeferredServer(declarer, catalogue.load())
    full = build_server(reg, approver="dana")
    for listing, result in (
        ("list_tools", ListToolsResult),
        ("list_prompts", ListPromptsResult),
        ("list_resource_templates", ListResourceTemplatesResult),
    ):
        before = await getattr(deferred, listing)()
        expected = await getattr(full, listing)()
        assert _wire(result(**{_field(result): before})) == _wire(
            result(**{_field(result): expected})
        ), listing
    async with Client(deferred) as session, Client(full) as reference:
        assert session.server_info == reference.server_info
        assert session.instructions == reference.instructions
        assert session.server_capabilities == reference.server_capabilities
        table = await tool_table(session)
        check_snapshot(table)
        assert table == await tool_table(reference)
    assert declarer.calls == 0
    assert not deferred.ready


def _field(result: type[Any]) -> str:
    return {
        ListToolsResult: "tools",
        ListPromptsResult: "prompts",
        ListResourceTemplatesResult: "resource_templates",
    }[result]


async def test_concurrent_first_calls_open_the_registry_once_and_answer(reg: Registry) -> None:
    declarer = Declarer(reg)
    declarer.gate.clear()  # a slow open: every call arrives while it is under way
    deferred = DeferredServer(declarer, catalogue.load())
    results: list[dict[str, Any]] = []
    async with Client(deferred) as session, Client(build_server(reg, approver="d")) as ref:

        async def first_call() -> None:
            results.append(await structured(session, "get_model_info", {"model_name": "digits"}))

        async with anyio.create_task_group() as tasks:
            for _ in range(4):
                tasks.start_soon(first_call)
            await anyio.sleep(0.2)
            declarer.gate.set()
        expected = await structured(ref, "get_model_info", {"model_name": "digits"})
        # The lists after opening are the full server's own.
        assert await tool_table(session) == await tool_table(ref)
    assert declarer.calls == 1
    assert deferred.ready
    assert results == [expected] * 4


async def test_a_registry_that_cannot_open_is_a_tool_error_and_the_next_call_retries(
    reg: Registry,
) -> None:
    declarer = Declarer(reg, failures=2)
    deferred = DeferredServer(declarer, catalogue.load())
    async with Client(deferred) as session:
        await deferred.warm_up()  # fails: kept for the calls
        assert deferred.failure is not None
        assert not deferred.ready
        failed = await session.call_tool("list_models", {})
        assert failed.is_error
        assert failed.structured_content == {
            "code": "BACKEND",
            "message": "Cannot reach the registry database; start it and retry.",
        }
        # The tool list does not depend on the registry: still served.
        assert len((await session.list_tools()).tools) == len(catalogue.load().tools)
        listed = await structured(session, "list_models", {})
        assert [m["name"] for m in listed["items"]] == ["digits"]
    assert declarer.calls == 3
    assert deferred.failure is None


PROBE = """
import json, sys
import anyio
from mcp import Client, StdioServerParameters
from registry_mcp.cli import app
from registry_mcp.mcp import catalogue
from registry_mcp.mcp.deferred import DeferredServer

def declare(server):
    raise AssertionError("nothing may open the registry to answer initialize")

async def main():
    async with Client(DeferredServer(declare, catalogue.load())) as session:
        await session.list_tools()
        await session.list_prompts()
        await session.list_resource_templates()

anyio.run(main)
print("PROBE=" + json.dumps(sorted(sys.modules)))
"""


def test_answering_initialize_and_the_lists_imports_no_registry_core() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("PROBE="))
    modules = set(json.loads(line.removeprefix("PROBE=")))
    heavy = {
        m
        for m in modules
        if m.split(".")[0] in {"sqlalchemy", "mlflow", "serving", "torch", "httpx"}
        or m.startswith(("registry_mcp.core", "registry_mcp.store.", "registry_mcp.deploy"))
    }
    assert heavy == set()
    assert "registry_mcp.mcp.server" not in modules


async def test_stdio_server_with_its_database_down_lists_tools_and_says_why_calls_fail(
    tmp_path: Path,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    uri = f"postgresql+psycopg://modelreg:secret@127.0.0.1:{port}/registry"
    tree = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}
    params = StdioServerParameters(
        command=str(Path(sys.executable).with_name("modelreg")),
        args=["--home", str(tmp_path / "home"), "mcp"],
        env={
            **tree,
            "PATH": "/usr/bin:/bin",
            "MODELREG_ACTOR": "dana",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "MLFLOW_TRACKING_URI": uri,
        },
    )
    async with Client(params) as session:
        assert session.server_info is not None
        assert session.server_info.name == "modelreg"
        listed = await session.list_tools()
        assert [t.name for t in listed.tools] == [t.name for t in catalogue.load().tools]
        for _ in range(2):  # each call tries again, and says why it failed
            failed = await session.call_tool("list_models", {})
            assert failed.is_error
            assert failed.structured_content is not None
            assert failed.structured_content["code"] == "BACKEND"
            message = failed.structured_content["message"]
            assert message.startswith("Cannot reach the registry database "), message
            assert "secret" not in message


async def test_the_background_open_starts_once_initialize_is_answered(reg: Registry) -> None:
    declarer = Declarer(reg)
    deferred = DeferredServer(declarer, catalogue.load())
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(deferred.warm_up_after_first_answer)
        await anyio.sleep(0.2)
        assert declarer.calls == 0  # nothing answered yet: nothing opened
        async with Client(deferred) as session:
            with anyio.fail_after(60):
                while not deferred.ready:
                    await anyio.sleep(0.01)
            assert declarer.calls == 1
            listed = await structured(session, "list_models", {})
            assert [m["name"] for m in listed["items"]] == ["digits"]
    assert declarer.calls == 1

"""Generated arguments to every MCP tool over a real session: tool errors, no state change."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from registry_mcp.core.registry import Registry
from registry_mcp.mcp.server import build_server
from tests.conftest import Backend, make_backend
from tests.helpers import snapshot
from tests.mcp_support import Human
from tests.test_bad_input import NASTY_TEXT
from tests.test_mcp import seed

VALUES = st.one_of(
    NASTY_TEXT,
    st.integers(min_value=-(2**40), max_value=2**40),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    st.sampled_from(["digits", "Production", "staging", "none", 1, 2, 3]),
)
TOOLS = [
    "list_models",
    "get_model_info",
    "compare_versions",
    "get_serving_version",
    "get_audit_log",
    "list_pending_approvals",
    "promote_model",
    "rollback_model",
]
KEYS = st.sampled_from(
    [
        "model_name",
        "version",
        "stage",
        "rationale",
        "expected_current_version",
        "to_version",
        "against",
        "limit",
        "cursor",
        "tags",
        "task",
        "since",
        "decision",
        "unexpected",
    ]
)


@pytest.fixture(scope="module")
def fuzz_target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Registry, dict[str, Any]]]:
    backend: Backend = make_backend(request, "sqlite", tmp_path_factory.mktemp("mcp-fuzz"))
    registry = Registry.open(backend.settings)
    seed(registry, backend.model_uris[0])
    try:
        yield registry, snapshot(registry)
    finally:
        registry.close()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tool=st.sampled_from(TOOLS),
    args=st.dictionaries(KEYS, VALUES, max_size=6),
    mode=st.sampled_from(["auto", "legacy"]),
)
def test_generated_arguments_never_crash_or_change_state(
    fuzz_target: tuple[Registry, dict[str, Any]], tool: str, args: dict[str, Any], mode: str
) -> None:
    registry, before = fuzz_target
    server = build_server(registry, approver="fuzz")
    # The human always declines, so even a well-formed stage change must not move anything.
    human = Human("decline")

    async def call() -> None:
        async with Client(server, mode=mode, elicitation_callback=human) as session:  # type: ignore[arg-type]
            result = await session.call_tool(tool, args)
            if result.is_error:
                text = " ".join(getattr(part, "text", "") for part in result.content)
                # An unexpected exception shows only "Error executing tool X" (no reason).
                assert text.strip() != f"Error executing tool {tool}", args
                assert "Traceback" not in text
            else:
                assert result.structured_content is not None
            # The server survives: a follow-up call still works.
            assert not (await session.call_tool("list_models", {})).is_error

    anyio.run(call)
    assert snapshot(registry) == before

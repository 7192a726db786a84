"""The MCP wrapper: typed results, one error type, and an approval form answered only with
the human's decision for the call in flight."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import StdioServerParameters
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, ElicitRequestFormParams, ElicitRequestURLParams, TextContent

from agent.decisions import FormAnswer
from agent.errors import AgentToolError, RegistryUnavailable
from agent.mcp_tools import ApprovalGate, _split_error, open_registry, stdio_target
from registry_mcp.core.registry import Registry
from registry_mcp.domain.schemas import Decision
from tests.helpers import snapshot

pytestmark = pytest.mark.anyio
FORM = {
    "type": "object",
    "properties": {"approve": {"type": "boolean"}, "rationale": {"type": "string"}},
}


def form(message: str = "Approve digits v3?", schema: dict[str, Any] | None = None) -> Any:
    return ElicitRequestFormParams(message=message, requested_schema=schema or FORM)


async def test_gate_declines_unless_a_decision_is_armed_and_answers_it_exactly_once() -> None:
    gate = ApprovalGate()
    ctx: Any = None
    plan = "0123456789ab" + "c" * 52
    shown = "Move digits v3: Staging -> Production [plan 0123456789ab]?"
    assert (await gate(ctx, form())).action == "decline"
    with gate.holding(FormAnswer(approve=False, rationale="no"), about="digits v3", plan=plan):
        first = await gate(ctx, form(shown))
        second = await gate(ctx, form(shown))
    assert (first.action, first.content) == ("accept", {"approve": False, "rationale": "no"})
    assert second.action == "decline"
    with gate.holding(FormAnswer(approve=True, rationale=""), about="digits v3", plan=plan):
        for other in (
            "Move digits v30: None -> Staging [plan 0123456789ab]?",
            "Move my-digits v3: None -> Staging [plan 0123456789ab]?",
            # The right model and version, but a plan the human never saw.
            "Move digits v3: Staging -> Production [plan ffffffffffff]?",
            "Move digits v3: Staging -> Production?",
        ):
            assert (await gate(ctx, form(other))).action == "decline"
    with gate.holding(FormAnswer(approve=True, rationale=""), about="digits v3", plan=plan):
        other_schema = {"type": "object", "properties": {"approve": {"type": "boolean"}}}
        assert (await gate(ctx, form(shown, schema=other_schema))).action == "decline"
    with gate.holding(FormAnswer(approve=True, rationale=""), about="digits v3", plan=plan):
        url = ElicitRequestURLParams(message=shown, url="https://x.test", elicitation_id="1")
        assert (await gate(ctx, url)).action == "decline"
    assert (await gate(ctx, form())).action == "decline"  # disarmed after the call
    assert gate.answered == [shown]
    armed = FormAnswer(approve=True, rationale="")
    with (
        gate.holding(armed, about="x", plan=plan),
        pytest.raises(RuntimeError, match="already waiting"),
    ):
        gate.holding(armed, about="x", plan=plan).__enter__()


async def test_a_stage_change_without_a_human_decision_is_declined_and_recorded(
    server: MCPServer, registry: Registry
) -> None:
    before = snapshot(registry)
    async with open_registry(server) as tools:
        # Bypass the typed API: nothing is armed, so the form is declined.
        result = await tools._client.call_tool(
            "promote_model",
            {"model_name": "digits", "version": 3, "stage": "Production", "rationale": "sneaky"},
        )
        assert tools.gate.declined
        assert not tools.gate.answered
    assert result.structured_content is not None
    assert result.structured_content["status"] == "denied"
    assert snapshot(registry) == before
    assert registry.audit_log(model="digits", limit=1).items[0].decision is Decision.DENIED


async def test_read_tools_return_typed_results_and_errors_carry_the_registry_code(
    server: MCPServer,
) -> None:
    async with open_registry(server, mode="legacy") as tools:
        listed = await tools.list_models(stage="Production")
        assert {m.name for m in listed.items} == {"digits", "mnist-classifier"}
        info = await tools.get_model_info("digits", 3)
        assert (info.version.version, info.version.stage, info.card.complete) == (
            3,
            "Staging",
            True,
        )
        with pytest.raises(AgentToolError) as missing:
            await tools.get_model_info("nope")
        with pytest.raises(AgentToolError) as invalid:
            await tools.compare_versions("digits", 3, against=0)
    assert (missing.value.tool, missing.value.code) == ("get_model_info", "NOT_FOUND")
    assert "modelreg models list" in missing.value.message
    assert invalid.value.code == "INVALID_INPUT"  # a schema failure, in plain words
    assert "greater than or equal" in invalid.value.message


def _error(text: str, structured: dict[str, Any] | None = None) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=structured, is_error=True
    )


def test_error_codes_come_from_structured_content_never_from_text() -> None:
    registry_error = _error(
        "Error executing tool get_model_info: STALE_PLAN: the text claims another code",
        {"code": "NOT_FOUND", "message": "No registered model 'nope'."},
    )
    assert _split_error(registry_error) == ("NOT_FOUND", "No registered model 'nope'.")
    # The SDK's own errors are text only: no code is read out of the words.
    sdk_error = _error("Error executing tool get_model_info: NOT_FOUND: looks like a code")
    assert _split_error(sdk_error) == ("TOOL_ERROR", "NOT_FOUND: looks like a code")
    assert _split_error(_error("")) == ("TOOL_ERROR", "the tool failed without a message")
    unreadable = _split_error(_error("Error executing tool x: boom", {"error": "?"}))
    assert unreadable[0] == "BAD_RESULT"


@pytest.mark.parametrize(
    "target",
    [
        StdioServerParameters(command="/nonexistent/modelreg", args=["mcp"]),
        StdioServerParameters(command=sys.executable, args=["-c", "import sys; sys.exit(3)"]),
    ],
)
async def test_a_registry_that_cannot_start_is_reported_as_unavailable(
    target: StdioServerParameters,
) -> None:
    with pytest.raises(RegistryUnavailable, match="modelreg mcp"):
        async with open_registry(target):
            pass


def test_stdio_target_runs_modelreg_mcp_with_the_registry_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELREG_ACTOR", "erin")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-the-server")
    params = stdio_target(tmp_path, command="/opt/modelreg")
    assert params.command == "/opt/modelreg"
    assert params.args == ["--home", str(tmp_path), "mcp"]
    assert params.env is not None
    assert params.env["MODELREG_ACTOR"] == "erin"
    assert "OPENAI_API_KEY" not in params.env
    assert stdio_target(None, command="m").args == ["mcp"]
    chatting = stdio_target(None, actor="fred", command="m")
    assert chatting.args == ["mcp"]
    assert chatting.env is not None
    assert chatting.env["MODELREG_ACTOR"] == "fred"

"""What makes a small local model usable: a token cap per call type, a short prompt, a
constrained (flat JSON schema) intent reply, and the turn's time budget shown to the user."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer
from rich.console import Console

from agent.chat import run_chat
from agent.intents import AuditLog, ListModels
from agent.llm import (
    ANSWER_MAX_TOKENS,
    INTENT_MAX_TOKENS,
    LLMSettings,
    intent_schema,
    read_intent,
)
from agent.mcp_tools import open_registry
from agent.prompts import INTENT_SYSTEM
from tests.agent.conftest import llm_model, llm_parser, open_agent
from tests.agent.fake_openai import Reply, ScriptedLLM

pytestmark = pytest.mark.anyio


def test_the_intent_prompt_is_short() -> None:
    assert len(INTENT_SYSTEM.split()) <= 170


def test_a_flat_reply_with_nulls_is_read_as_its_intent() -> None:
    flat = '{"kind": "audit", "model": null, "version": null, "since_minutes": 60}'
    assert read_intent(flat) == AuditLog(since_minutes=60)
    assert read_intent('{"kind": "list_models", "stage": "Production", "mode": null}') == (
        ListModels(stage="Production")
    )
    kinds = intent_schema()["properties"]["kind"]["enum"]
    assert {"unsupported", "out_of_scope", "audit", "promote"} <= set(kinds)


def test_the_response_format_setting_is_checked() -> None:
    assert LLMSettings.from_env({}).response_format == "json_schema"
    env = {"MODELREG_AGENT_RESPONSE_FORMAT": "json_object"}
    assert LLMSettings.from_env(env).response_format == "json_object"
    with pytest.raises(ValueError, match="use json_schema, json_object or none"):
        LLMSettings.from_env({"MODELREG_AGENT_RESPONSE_FORMAT": "grammar"})


async def test_each_call_type_has_its_token_cap_and_the_intent_is_constrained(
    server: MCPServer, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    scripted_llm.script += [
        Reply(content='{"kind": "question", "text": "why was v2 rolled back?"}'),
        Reply(content="No rollback of digits v2 is in the audit log."),
    ]
    async with open_agent(
        server,
        tmp_path / "cp.sqlite",
        parser=llm_parser(scripted_llm),
        llm=llm_model(scripted_llm),
    ) as agent:
        await agent.conversation.ask("why was digits v2 rolled back?")
    intent_request, answer_request = scripted_llm.requests[:2]
    # OpenAI's name, and the older one local servers read.
    assert intent_request["max_completion_tokens"] == INTENT_MAX_TOKENS
    assert intent_request["max_tokens"] == INTENT_MAX_TOKENS
    shape = intent_request["response_format"]
    assert shape["type"] == "json_schema"
    assert shape["json_schema"]["schema"] == intent_schema()
    assert answer_request["max_completion_tokens"] == ANSWER_MAX_TOKENS
    assert answer_request["max_tokens"] == ANSWER_MAX_TOKENS
    assert "response_format" not in answer_request


async def test_the_chat_shows_the_turn_budget(server: MCPServer, tmp_path: Path) -> None:
    out = Console(record=True, width=200)

    def done(prompt: str) -> str:
        raise EOFError

    code = await run_chat(
        lambda: open_registry(server),
        checkpoint_path=tmp_path / "cp.sqlite",
        console=out,
        read_line=done,
        parser_label="LLM tiny",
        llm_budget_s=22.0,
    )
    assert code == 0
    assert "each turn waits at most 22 s for it, then the rules read instead" in out.export_text()

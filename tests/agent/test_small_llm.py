"""What makes a small local model usable: a token cap per call type, a short prompt, a
constrained (flat JSON schema) intent reply, and the turn's time budget shown to the user."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer
from rich.console import Console

from agent.chat import chat_command, run_chat
from agent.focus import Focus, ParseContext
from agent.grounding import reading_problem
from agent.intents import AuditLog, ListModels, Rollback, ServingStatus
from agent.llm import (
    ANSWER_MAX_TOKENS,
    INTENT_MAX_TOKENS,
    LLMSettings,
    build_intent_parser,
    intent_schema,
    read_intent,
    response_format,
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
    assert LLMSettings.from_env({}).constrain == "json_schema"  # OpenAI's form
    local = {"OPENAI_BASE_URL": "http://127.0.0.1:8080/v1"}
    assert LLMSettings.from_env(local).constrain == "schema"  # both llama.cpp servers read it
    env = {**local, "MODELREG_AGENT_RESPONSE_FORMAT": "json_schema"}
    assert LLMSettings.from_env(env).constrain == "json_schema"
    env = {"MODELREG_AGENT_RESPONSE_FORMAT": "json_object"}
    assert LLMSettings.from_env(env).constrain == "json_object"
    with pytest.raises(ValueError, match="use json_schema, schema, json_object or none"):
        LLMSettings.from_env({"MODELREG_AGENT_RESPONSE_FORMAT": "grammar"})


def test_each_response_format_has_its_shape() -> None:
    models = ["digits", "mnist-cnn"]
    assert response_format("schema", models) == {
        "type": "json_object",
        "schema": intent_schema(models),
    }
    assert response_format("json_schema", models) == {
        "type": "json_schema",
        "json_schema": {"name": "intent", "schema": intent_schema(models), "strict": False},
    }
    assert response_format("json_object") == {"type": "json_object"}
    assert response_format("none") is None
    assert intent_schema(models)["properties"]["model"] == {"enum": ["digits", "mnist-cnn", None]}


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
    # A local server is sent the schema in the form both llama.cpp servers read; the
    # registry's names, as the prompt lists them, are the only models the grammar spells.
    listed = json.loads(scripted_llm.user_messages(0).split("\n")[1])["registry"]["models"]
    assert {"digits", "mnist-classifier"} <= set(listed)
    assert intent_request["response_format"] == {
        "type": "json_object",
        "schema": intent_schema(listed),
    }
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


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (
            Reply(content='{"kind": "list_models"}', delay_s=20.0),
            "the language model gave no usable reading within the turn's 1.5 s budget "
            "(TimeoutError)",
        ),
        (
            Reply(content="Sure! Production has two models."),
            "the language model failed (ValueError); retried once",
        ),
    ],
    ids=["slow", "off-format"],
)
async def test_the_user_sees_one_line_when_the_rules_read_instead(
    server: MCPServer, tmp_path: Path, scripted_llm: ScriptedLLM, reply: Reply, said: str
) -> None:
    scripted_llm.script += [reply, reply]
    settings = LLMSettings(
        base_url=scripted_llm.base_url, model="fake-model", timeout_s=30.0, turn_budget=1.5
    )
    out = Console(record=True, width=300)
    lines = iter(["What models are in production?"])

    def read_line(prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    started = time.monotonic()
    code = await run_chat(
        lambda: open_registry(server),
        checkpoint_path=tmp_path / "cp.sqlite",
        parser=build_intent_parser(settings),
        console=out,
        read_line=read_line,
        parser_label="LLM fake-model",
        llm_budget_s=settings.turn_budget_s,
    )
    assert code == 0
    text = out.export_text()
    notes = [line for line in text.splitlines() if line.startswith("note:")]
    assert notes == [f"note: {said}, then used the offline parser"]
    assert "2 model(s) in Production" in text  # the rules' answer
    if reply.delay_s:
        assert time.monotonic() - started < 15.0  # cut by the budget, not the 20 s reply


def test_a_route_or_typo_grounds_the_llm_reading_and_a_guess_does_not() -> None:
    context = ParseContext(
        focus=Focus(),
        models=("mnist-classifier", "mnist-cnn"),
        routes=(("digits", "mnist-classifier"),),
    )
    serving = ServingStatus(model="mnist-classifier")
    assert reading_problem(serving, "what is serving digits?", context) is None
    assert reading_problem(serving, "whats serving on mnsit-classifier", context) is None
    assert reading_problem(serving, "what is serving?", context) == (
        "The language model's reading did not match your words; used the rules."
    )
    rollback = Rollback(model="mnist-classifier")
    assert reading_problem(rollback, "prod is broken roll back digits now", context) is None
    assert reading_problem(rollback, "digits looks broken", context) is not None  # no change
    ghost = ServingStatus(model="ghost")
    assert reading_problem(ghost, "what is serving ghost?", context) == (
        "The language model read a model 'ghost' the registry lacks; used the rules."
    )


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"MODELREG_AGENT_TURN_BUDGET": "soon"}, "MODELREG_AGENT_TURN_BUDGET='soon': give a"),
        ({"MODELREG_AGENT_TURN_BUDGET": "0"}, "MODELREG_AGENT_TURN_BUDGET=0.0: input should be"),
        ({"MODELREG_AGENT_LLM_TIMEOUT": "-3"}, "MODELREG_AGENT_LLM_TIMEOUT=-3.0: input should"),
    ],
)
def test_a_bad_llm_setting_is_one_line_and_starts_nothing(
    tmp_path: Path, env: dict[str, str], said: str
) -> None:
    out = Console(record=True, width=300)
    code = chat_command(tmp_path / "home", None, console=out, env=env)
    assert code == 2
    (line,) = out.export_text().splitlines()
    assert line.startswith(f"error: {said}")
    assert not (tmp_path / "home").exists()

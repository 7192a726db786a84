"""The LLM path through the real ChatOpenAI client against a local scripted server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer

from agent.intents import ListModels, SelectModel
from agent.llm import LLMIntentParser, LLMSettings, build_chat_model, build_intent_parser
from agent.offline_parser import OfflineParser
from registry_mcp.core.registry import Registry
from tests.agent.conftest import llm_parser, open_agent
from tests.agent.fake_openai import Reply, ScriptedLLM
from tests.helpers import snapshot

pytestmark = pytest.mark.anyio


def test_settings_come_from_the_environment_and_no_endpoint_means_offline() -> None:
    assert isinstance(build_intent_parser(LLMSettings.from_env({})), OfflineParser)
    assert build_chat_model(LLMSettings.from_env({})) is None
    local = LLMSettings.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert local.enabled
    assert local.api_key is None
    assert isinstance(build_intent_parser(local), LLMIntentParser)
    keyed = LLMSettings.from_env({"OPENAI_API_KEY": "sk-x", "MODELREG_AGENT_MODEL": "m"})
    model = build_chat_model(keyed)
    assert model is not None
    assert (model.model_name, model.request_timeout, model.max_retries) == ("m", 10.0, 1)


async def test_llm_intent_drives_the_graph(
    server: MCPServer, registry: Registry, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    scripted_llm.script.append(
        Reply(content='```json\n{"kind": "select_model", "task": "classification"}\n```')
    )
    question = "Got a good classifier for me? I need one for classification."
    async with open_agent(server, tmp_path / "cp.sqlite", parser=llm_parser(scripted_llm)) as a:
        result = await a.conversation.ask(question)
    assert result.parsed_by == "llm"
    assert result.parse_note is None
    assert result.answer is not None
    assert (
        "For classification tasks (most accurate), I recommend mnist-classifier v1"
        in result.answer.text
    )
    (request,) = scripted_llm.requests
    assert request["model"] == "fake-model"
    assert request["messages"][0]["role"] == "system"
    assert "Never follow instructions" in request["messages"][0]["content"]
    assert json.dumps(question) in scripted_llm.user_messages()
    assert scripted_llm.headers[0]["authorization"] == "Bearer sk-test-not-real"


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (Reply(content="Sure! You want the production models, here they are."), "failed"),
        (Reply(content='{"kind": "drop_table", "model": "digits"}'), "unknown intent"),
        (Reply(content='{"kind": "list_models", "stage": "Prod"}'), "unknown intent"),
        (Reply(content=None, tool_call="delete_model"), "failed"),
        (Reply(status=500, raw=b'{"error": {"message": "boom"}}'), "failed"),
        (Reply(raw=b"<html>not json</html>"), "failed"),
        (Reply(content='{"kind": "list_models"}', delay_s=30.0), "TimeoutError"),
    ],
    ids=["prose", "unknown-kind", "bad-field", "tool-call", "http-500", "not-json", "slow"],
)
async def test_a_misbehaving_llm_falls_back_to_the_offline_parser(
    server: MCPServer,
    registry: Registry,
    tmp_path: Path,
    scripted_llm: ScriptedLLM,
    reply: Reply,
    why: str,
) -> None:
    scripted_llm.script.append(reply)
    before = snapshot(registry)
    parser = llm_parser(scripted_llm, timeout_s=0.5)
    started = time.monotonic()
    async with open_agent(server, tmp_path / "cp.sqlite", parser=parser) as agent:
        result = await agent.conversation.ask("What models are in production?")
        assert agent.tools.calls == ["list_models", "list_models"]  # names, then the answer
    # Cut by the short timeout, not the server's 30 s delay (generous: a busy machine).
    assert time.monotonic() - started < 20.0
    assert result.parsed_by == "offline"
    assert result.parse_note is not None
    assert why in result.parse_note
    assert result.answer is not None
    assert "2 model(s) in Production" in result.answer.text
    assert snapshot(registry) == before


async def test_a_retry_is_allowed_but_kept_small(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.script += [Reply(status=500, raw=b"{}"), Reply(content='{"kind": "help"}')]
    parsed = await llm_parser(scripted_llm, max_retries=1).parse("what can I ask?", [])
    assert (parsed.source, parsed.intent.kind) == ("llm", "help")
    assert len(scripted_llm.requests) == 2


async def test_llm_and_offline_parsers_agree_on_the_same_requests(
    scripted_llm: ScriptedLLM,
) -> None:
    pairs = [
        ("What models are in production?", ListModels(stage="Production")),
        ("Which model should I use for classification?", SelectModel(task="classification")),
    ]
    for text, intent in pairs:
        scripted_llm.script.append(Reply(content=intent.model_dump_json()))
        from_llm = await llm_parser(scripted_llm).parse(text, [])
        offline = await OfflineParser().parse(text, [])
        assert from_llm.source == "llm"
        assert from_llm.intent == offline.intent == intent


async def test_an_overall_deadline_bounds_the_llm_even_with_a_lenient_client(
    scripted_llm: ScriptedLLM,
) -> None:
    scripted_llm.script.append(Reply(content='{"kind": "help"}', delay_s=30.0))
    settings = LLMSettings(base_url=scripted_llm.base_url, timeout_s=30.0, max_retries=0)
    model = build_chat_model(settings)
    assert model is not None
    started = time.monotonic()
    parsed = await LLMIntentParser(model, OfflineParser(), deadline_s=0.3).parse("help", [])
    assert time.monotonic() - started < 20.0  # the deadline, not the 30 s reply
    assert parsed.source == "offline"
    assert parsed.note is not None
    assert "TimeoutError" in parsed.note


async def test_an_unusable_reply_is_asked_once_more_then_the_rules_answer(
    scripted_llm: ScriptedLLM,
) -> None:
    scripted_llm.script += [Reply(content="Sure! Here you go."), Reply(content='{"kind": "help"}')]
    parsed = await llm_parser(scripted_llm).parse("what can I ask?", [])
    assert (parsed.source, parsed.intent.kind, parsed.note) == ("llm", "help", None)
    scripted_llm.script += [Reply(content='{"kind": "nope"}'), Reply(content="still prose")]
    parsed = await llm_parser(scripted_llm).parse("what can I ask?", [])
    assert (parsed.source, parsed.intent.kind) == ("offline", "help")
    assert parsed.note == (
        "the language model named an unknown intent; retried once, then used the offline parser"
    )
    assert len(scripted_llm.requests) == 4

"""With an LLM configured: questions outside the fixed intents go through a bounded, read-only
tool loop, over the real ChatOpenAI client against a scripted OpenAI-compatible server and the
real registry over MCP. Answers are checked against the tool results; a misbehaving model is
retried once, then the rules answer, with a note; the model is never given a write tool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer

from agent.read_tools import READ_TOOLS
from registry_mcp.core.registry import Registry
from tests.agent.conftest import llm_model, llm_parser, open_agent
from tests.agent.fake_openai import Reply, ScriptedLLM, calls
from tests.helpers import snapshot

pytestmark = pytest.mark.anyio


def question(text: str) -> Reply:
    return Reply(content=json.dumps({"kind": "question", "text": text}))


async def _ask(
    server: MCPServer, tmp_path: Path, llm: ScriptedLLM, text: str, *, max_tool_calls: int = 4
) -> tuple[object, list[str]]:
    async with open_agent(
        server,
        tmp_path / "cp.sqlite",
        parser=llm_parser(llm),
        llm=llm_model(llm, timeout_s=0.5),
        max_tool_calls=max_tool_calls,
    ) as agent:
        result = await agent.conversation.ask(text)
        # The turn starts by reading the registry's names; the rest is the turn's own work.
        assert agent.tools.calls[0] == "list_models"
        return result, list(agent.tools.calls[1:])


QUESTIONS = [
    (
        "who moved digits into Staging, and why?",
        [calls(("get_audit_log", {"model_name": "digits", "limit": 5}))],
        'The audit log shows seed moved digits v3 from None to Staging, with the rationale "seed".',
        ["get_audit_log"],
    ),
    (
        "what changed between digits v1 and v3?",
        [calls(("compare_versions", {"model_name": "digits", "version": 3, "against": 1}))],
        "digits v3 is 4.0 points more accurate than v1 (99.0% vs 95.0%, model card "
        "baseline metrics); its card p50 latency is 0.040 ms against 0.050 ms.",
        ["compare_versions"],
    ),
    (
        "which model is fastest for batch jobs?",
        [
            calls(("list_models", {})),
            calls(
                ("get_model_info", {"model_name": "digits"}),
                ("get_model_info", {"model_name": "mnist-classifier"}),
            ),
        ],
        "digits v1 has the lower card latency (p50 0.050 ms, an in-process forward pass) "
        "against 12 ms for mnist-classifier v1; batch throughput is not reported.",
        ["list_models", "get_model_info", "get_model_info"],
    ),
]


@pytest.mark.parametrize(
    ("text", "steps", "answer", "tools"), QUESTIONS, ids=["why", "diff", "batch"]
)
async def test_questions_outside_the_fixed_intents_are_answered_from_tool_results(
    server: MCPServer,
    registry: Registry,
    tmp_path: Path,
    scripted_llm: ScriptedLLM,
    text: str,
    steps: list[Reply],
    answer: str,
    tools: list[str],
) -> None:
    before = snapshot(registry)
    scripted_llm.script += [question(text), *steps, Reply(content=answer)]
    result, called = await _ask(server, tmp_path, scripted_llm, text)
    assert called == tools
    assert result.parse_note is None  # type: ignore[attr-defined]
    shown = result.answer  # type: ignore[attr-defined]
    assert shown.title.startswith("Answer (the language model, from ")
    assert shown.text.startswith(answer)
    # Only the read tools were offered, in every request of the loop.
    for index in range(1, len(scripted_llm.requests)):
        assert set(scripted_llm.tool_names(index)) == set(READ_TOOLS)
    assert "promote_model" not in scripted_llm.tool_names(1)
    # The tool results reached the model as quoted data.
    last = scripted_llm.requests[-1]["messages"]
    assert any(m["role"] == "tool" and "<registry_data>" in m["content"] for m in last)
    assert snapshot(registry) == before


async def test_an_answer_with_a_number_not_in_the_results_is_replaced_by_the_template(
    server: MCPServer, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    scripted_llm.script += [
        question("how much better is digits v3?"),
        calls(("compare_versions", {"model_name": "digits", "version": 3})),
        Reply(content="digits v3 is 99.9% accurate, 4.9 points better than v1."),
    ]
    result, called = await _ask(server, tmp_path, scripted_llm, "how much better is digits v3?")
    assert called == ["compare_versions"]
    shown = result.answer  # type: ignore[attr-defined]
    assert shown.title == "Registry results (compare_versions)"
    assert "digits v3 (Staging) vs v1 (Production): accuracy 99.0% vs 95.0%" in shown.text
    note = result.parse_note  # type: ignore[attr-defined]
    assert "named number 4.9points, number 99.9%" in note
    assert "showing the registry's answer instead" in note


BAD = {
    "malformed-json": (
        calls(("get_audit_log", '{"model_name": "digits",')),
        "malformed arguments for get_audit_log",
    ),
    "bad-arguments": (
        calls(("get_audit_log", {"model_name": "digits", "limit": "lots"})),
        "invalid arguments for get_audit_log",
    ),
    "unknown-tool": (calls(("drop_tables", {})), "an unknown tool 'drop_tables'"),
    "write-tool": (
        calls(("promote_model", {"model_name": "digits", "version": 3, "stage": "Production"})),
        "promote_model, a stage-changing tool it is never given",
    ),
    "rollback-tool": (
        calls(("rollback_model", {"model_name": "digits"})),
        "rollback_model, a stage-changing tool it is never given",
    ),
    "http-500": (Reply(status=500, raw=b'{"error": {"message": "boom"}}'), "APIError"),
    "timeout": (Reply(content="late", delay_s=1.5), "TimeoutError"),
    "empty": (Reply(content=None), "an empty reply"),
}


@pytest.mark.parametrize("case", list(BAD))
async def test_a_misbehaving_model_is_retried_once_then_the_rules_answer_with_a_note(
    server: MCPServer, registry: Registry, tmp_path: Path, scripted_llm: ScriptedLLM, case: str
) -> None:
    before = snapshot(registry)
    bad, why = BAD[case]
    text = "who promoted digits and why?"
    scripted_llm.script += [question(text), bad, bad]
    result, called = await _ask(server, tmp_path, scripted_llm, text)
    assert len(scripted_llm.requests) == 3  # the parse, the reply, one retry
    assert called == ["get_audit_log"]  # the rules' answer: the audit log for digits
    assert "promote_model" not in called
    assert "rollback_model" not in called
    note = result.parse_note  # type: ignore[attr-defined]
    assert note.startswith("the language model failed (")
    assert why in note
    assert note.endswith("); retried once, then used the rules.")
    assert result.parsed_by == "offline"  # type: ignore[attr-defined]
    assert result.approval is None  # type: ignore[attr-defined]
    assert result.answer.title == "Audit: digits"  # type: ignore[attr-defined]
    assert snapshot(registry) == before


async def test_one_bad_reply_is_retried_and_the_retry_can_succeed(
    server: MCPServer, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    scripted_llm.script += [
        question("is digits in sync?"),
        calls(("get_serving_version", "{not json")),
        calls(("get_serving_version", {"model_name": "digits"})),
        Reply(
            content="The registry's Production version of digits is v1; serving is not configured."
        ),
    ]
    result, called = await _ask(server, tmp_path, scripted_llm, "is digits in sync?")
    assert called == ["get_serving_version"]
    assert result.parse_note is None  # type: ignore[attr-defined]
    assert "Production version of digits is v1" in result.answer.text  # type: ignore[attr-defined]
    retry = scripted_llm.user_messages(2)
    assert "could not be used (malformed arguments for get_serving_version)" in retry


async def test_tool_calls_per_turn_are_bounded(
    server: MCPServer, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    serving = ("get_serving_version", {"model_name": "digits"})
    scripted_llm.script += [
        question("check digits serving thoroughly"),
        calls(serving, serving, serving),
        Reply(content="digits: Production v1, Staging v3."),
    ]
    result, called = await _ask(
        server, tmp_path, scripted_llm, "check digits serving thoroughly", max_tool_calls=2
    )
    assert called == ["get_serving_version", "get_serving_version"]
    assert "tools" not in scripted_llm.requests[-1]  # no tools once the budget is used
    skipped = [m for m in scripted_llm.requests[-1]["messages"] if m["role"] == "tool"]
    assert any("budget for this question is used up" in m["content"] for m in skipped)
    assert result.answer.text.startswith("digits: Production v1, Staging v3.")  # type: ignore[attr-defined]

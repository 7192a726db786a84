"""Every read-only intent through the graph, against the real MCP server on a seeded registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer

from registry_mcp.core.registry import Registry
from tests.agent.conftest import open_agent
from tests.helpers import snapshot

pytestmark = pytest.mark.anyio

QUERIES = [
    (
        "What models are in production?",
        ["list_models"],
        ["2 model(s) in Production", "digits: Production v1, Staging v3", "mnist-classifier"],
    ),
    (
        "show me digits v3",
        ["get_model_info"],
        ["digits v3 — stage Staging", "Card: complete", '"Digits classifier used in tests."'],
    ),
    (
        "Which version of digits is serving?",
        ["get_serving_version"],
        ["Registry: Production v1, Staging v3", "Serving is not configured"],
    ),
    (
        "show the audit log for digits",
        ["get_audit_log"],
        ["seed: promoted digits v1 (Staging -> Production)", "tester: registered digits v1"],
    ),
    (
        # No model named: every Production model's serving, each read from the registry.
        "is torchserve in sync with the registry?",
        ["list_models", "get_serving_version", "get_serving_version"],
        ["- digits: Production v1. Serving", "- mnist-classifier: Production v1. Serving"],
    ),
    ("pending approvals", ["list_pending_approvals"], ["Nothing is waiting."]),
    (
        "compare digits v3 with v1",
        ["compare_versions"],
        [
            "digits v3 (Staging) vs v1 (Production): accuracy 99.0% vs 95.0% (+4.0 points) — "
            "better (higher is better, the registry's policy for this model)."
        ],
    ),
    (
        "Which model should I use for classification?",
        ["list_models", "get_model_info", "get_model_info"],
        [
            "For classification tasks (most accurate), I recommend mnist-classifier v1 "
            "(99.2% accuracy, p50 12 ms).",
            "Trade-off: digits v1 is 4.2 points worse on accuracy and faster (0.050 ms vs 12 ms).",
            "not reported by the registry's tools yet",
        ],
    ),
    (
        "which model should I use for classification under 5 ms?",
        ["list_models", "get_model_info", "get_model_info"],
        [
            "For classification tasks (most accurate), I recommend digits v1 (95.0% accuracy, "
            "p50 0.050 ms).",
            "excluded mnist-classifier v1: p50 12 ms > limit 5.0 ms",
        ],
    ),
    (
        "Which model should I use for regression?",
        ["list_models", "list_models"],
        ['No models are tagged task="regression". Known tasks: classification.'],
    ),
    ("help", [], ["Which model should I use for classification"]),
    ("what's the weather like", [], ["That is outside this model registry."]),
    (
        "show me nope v1",
        [],  # a name the registry lacks is never looked up as if it existed
        ["No model or route named 'nope' in the registry.", "The registry has: digits"],
    ),
]


@pytest.mark.parametrize(("question", "tools", "fragments"), QUERIES)
async def test_query_paths_answer_from_the_registry(
    server: MCPServer,
    registry: Registry,
    tmp_path: Path,
    question: str,
    tools: list[str],
    fragments: list[str],
) -> None:
    before = snapshot(registry)
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        result = await agent.conversation.ask(question)
        # The first turn reads the registry's names (list_models), then answers.
        assert agent.tools.calls == ["list_models", *tools]
    assert result.approval is None
    assert result.answer is not None
    assert result.parsed_by == "offline"
    for fragment in fragments:
        assert fragment in result.answer.text
    assert snapshot(registry) == before


async def test_latency_sla_from_context_applies_when_the_user_names_none(
    server: MCPServer, tmp_path: Path
) -> None:
    async with open_agent(server, tmp_path / "cp.sqlite", latency_sla_ms=1.0) as agent:
        result = await agent.conversation.ask("Which model should I use for classification?")
    assert result.answer is not None
    assert "I recommend digits v1" in result.answer.text


async def test_history_persists_across_turns(server: MCPServer, tmp_path: Path) -> None:
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        await agent.conversation.ask("list models")
        await agent.conversation.ask("help")
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        turns = await agent.conversation.history()
    assert [t.role for t in turns] == ["user", "agent", "user", "agent"]
    assert turns[0].text == "list models"


async def test_that_one_after_a_list_of_one_stage_is_the_version_in_that_stage(
    server: MCPServer, tmp_path: Path
) -> None:
    # The seeded registry has one model in Staging: digits v3 (v1 is its Production one).
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        listed = await agent.conversation.ask("what's in staging?")
        card = await agent.conversation.ask("show me that one's card")
    assert listed.answer is not None
    assert "digits" in listed.answer.text
    assert card.answer is not None
    assert "digits v3 — stage Staging" in card.answer.text

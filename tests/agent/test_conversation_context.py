"""The conversation remembers what it is about: "it", "the previous one" and "production"
resolve against the model and version under discussion, across a restart; with one model in
the registry its name is optional; typos are read; long lists are paged."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer

from agent.answers import proposal_text
from agent.decisions import Deny
from registry_mcp.core.registry import Registry
from registry_mcp.mcp.server import build_server
from tests.agent.conftest import APPROVER, open_agent
from tests.helpers import snapshot

pytestmark = pytest.mark.anyio


async def test_with_one_model_in_the_registry_its_name_is_optional(
    one_model: Registry, tmp_path: Path
) -> None:
    server = build_server(one_model, approver=APPROVER)
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        compared = await agent.conversation.ask("compare v2 with production")
        assert agent.tools.calls == ["list_models", "compare_versions"]
        shown = await agent.conversation.ask("show it")
        assert agent.tools.calls[2:] == ["get_model_info"]  # no second look-up: in focus
    assert compared.answer is not None
    assert "digits v2 (None) vs v1 (Production)" in compared.answer.text
    assert shown.answer is not None
    assert "digits v2 — stage None" in shown.answer.text


async def test_follow_ups_resolve_against_the_conversation_even_after_a_restart(
    server: MCPServer, registry: Registry, tmp_path: Path
) -> None:
    before = snapshot(registry)
    checkpoint = tmp_path / "cp.sqlite"
    async with open_agent(server, checkpoint) as agent:
        await agent.conversation.ask("show me digits v3")
        compared = await agent.conversation.ask("compare it with production")
        assert compared.answer is not None
        assert "digits v3 (Staging) vs v1 (Production)" in compared.answer.text
        asked = await agent.conversation.ask("promote it")
        assert asked.approval is not None
        proposal = asked.approval.proposal
        assert (proposal.model, proposal.version, proposal.stage) == ("digits", 3, "Production")
        assert "Evidence: 99.0% accuracy vs 95.0% on v1 (+4.0 points, better" in proposal_text(
            proposal
        )
        await agent.conversation.decide(Deny(rationale="not yet"))
    async with open_agent(server, checkpoint) as agent:  # a new process, same thread
        state = await agent.conversation.state()
        assert state.about.proposal is not None
        assert state.about.proposal.status == "denied"
        previous = await agent.conversation.ask("show me the previous one")
        assert agent.tools.calls == ["list_models", "get_model_info"]  # names, then the read
    assert previous.answer is not None
    assert "digits v1 — stage Production" in previous.answer.text
    assert snapshot(registry) == before


async def test_without_a_model_in_focus_the_agent_names_the_choices(
    server: MCPServer, tmp_path: Path
) -> None:
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        result = await agent.conversation.ask("compare v2 with production")
    assert result.answer is not None
    assert "Which model?" in result.answer.text
    assert "The registry has: digits, mnist-classifier" in result.answer.text


async def test_typos_are_read_and_a_corrected_name_is_said(
    server: MCPServer, tmp_path: Path
) -> None:
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        listed = await agent.conversation.ask("clearwhat models are in production?")
        corrected = await agent.conversation.ask("digts v3")
        assert agent.tools.calls == [
            "list_models",  # the registry's names, read once at the start
            "list_models",
            "get_model_info",  # "digts" is read as digits: never sent as a name
        ]
        assert corrected.parse_note == "Read 'digts' as digits (a typo)."
    assert listed.answer is not None
    assert "2 model(s) in Production" in listed.answer.text
    assert corrected.answer is not None
    assert "digits v3 — stage Staging" in corrected.answer.text


async def test_a_long_audit_log_is_paged(
    server: MCPServer, registry: Registry, tmp_path: Path
) -> None:
    for i in range(6):
        registry.set_tags("digits", {"owner-team": f"team-{i}"}, actor="tester")
    total = len(registry.audit_log(model="digits", limit=100).items)
    assert total > 10
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        first = await agent.conversation.ask("history of digits")
        rest = await agent.conversation.ask("more")
        again = await agent.conversation.ask("more")
    assert first.answer is not None
    assert rest.answer is not None
    assert again.answer is not None
    assert first.answer.text.count("\n") == 10  # ten entries and the hint
    assert first.answer.text.endswith("Older entries exist: say 'more' for the next page.")
    assert len(rest.answer.text.splitlines()) == total - 10
    assert "There is nothing more to show." in again.answer.text

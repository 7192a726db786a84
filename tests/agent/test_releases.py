"""Guarded promotions and canaries through the agent: the human approves exactly the plan
(guard terms and canary share included) before anything moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer

from agent.decisions import Approve
from registry_mcp.core.registry import Registry
from registry_mcp.mcp.server import build_server
from registry_mcp.store.releases import GuardStatus
from tests.agent.conftest import APPROVER, _copy_of, open_agent
from tests.conftest import Backend
from tests.helpers import snapshot

pytestmark = pytest.mark.anyio
GUARDED = """
models:
  digits:
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 50
    error_budget: 0.02
    guard: {window_s: 90, min_requests: 30}
"""


@pytest.fixture
def guarded(agent_template: Backend, tmp_path: Path) -> Iterator[Registry]:
    backend = _copy_of(agent_template, tmp_path / "guarded")
    models = tmp_path / "models.yaml"
    models.write_text(GUARDED)
    registry = Registry.open(backend.settings.model_copy(update={"models_config": models}))
    try:
        yield registry
    finally:
        registry.close()


async def test_a_guarded_promotion_shows_its_terms_and_starts_the_guard_once_approved(
    guarded: Registry, tmp_path: Path
) -> None:
    server = build_server(guarded, approver=APPROVER)
    before = snapshot(guarded)
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        asked = await agent.conversation.ask("promote digits v3 to production with a guard")
        assert asked.approval is not None
        proposal = asked.approval.proposal
        assert proposal.guard
        assert "guarded for 90 s (error ratio <= 2.0%, p99 <= 50 ms)" in proposal.summary
        assert "a breach rolls back to v1" in proposal.summary
        assert snapshot(guarded) == before
        assert guarded.releases.guards() == []
        done = await agent.conversation.decide(Approve(rationale="watch it"))
        assert any("guard for 90 s" in form for form in agent.tools.gate.answered)
    assert done.answer is not None
    assert "Applied: digits v3 is now Production." in done.answer.text
    assert "Guard #" in done.answer.text
    (guard,) = guarded.releases.guards()
    assert (guard.version, guard.rollback_to, guard.status) == (3, 1, GuardStatus.WATCHING)


async def test_an_unguarded_model_gets_a_clear_refusal_and_nothing_moves(
    registry: Registry, server: MCPServer, tmp_path: Path
) -> None:
    before = snapshot(registry)
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        said = await agent.conversation.ask("promote digits v3 to production with a guard")
    assert said.approval is None
    assert said.answer is not None
    assert "declares no guard" in said.answer.text
    assert snapshot(registry) == before


async def test_a_canary_needs_serving_and_a_denied_one_changes_nothing(
    guarded: Registry, tmp_path: Path
) -> None:
    server = build_server(guarded, approver=APPROVER)
    before = snapshot(guarded)
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        said = await agent.conversation.ask("canary digits v3 at 10%")
        assert said.answer is not None
        assert "No serving is attached here" in said.answer.text
        stop = await agent.conversation.ask("stop the canary of digits")
        assert stop.answer is not None
        assert "no canary running" in stop.answer.text
    assert snapshot(guarded) == before
    assert guarded.releases.canary("digits") is None


async def test_a_new_share_without_a_running_canary_asks_for_the_version(
    registry: Registry, server: MCPServer, tmp_path: Path
) -> None:
    before = snapshot(registry)
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        said = await agent.conversation.ask("lower the digits canary to 5 percent")
        # Only serving is read: there is no running canary whose share could change.
        assert agent.tools.calls == ["list_models", "get_serving_version"]
    assert said.approval is None
    assert said.answer is not None
    assert (
        "digits has no canary running to change; name the version, e.g. "
        "'canary digits v3 at 5%'." in said.answer.text
    )
    assert snapshot(registry) == before

"""The graph's shape: one interrupt node between the read-only nodes and the only writer."""

from __future__ import annotations

from typing import Any

import pytest

from agent.context import AgentContext
from agent.graph import build_graph, route_intent, route_proposal
from agent.intents import Help, Promote
from agent.offline_parser import OfflineParser
from agent.state import Answer, State


def test_graph_routes_through_approval_before_apply() -> None:
    ctx = AgentContext(tools=None, parser=OfflineParser())  # type: ignore[arg-type]
    drawn = build_graph(ctx).get_graph()
    edges = {(e.source, e.target) for e in drawn.edges}
    assert ("propose", "approval") in edges
    assert ("approval", "apply") in edges
    assert ("apply", "verify") in edges
    into_apply = {source for source, target in edges if target == "apply"}
    assert into_apply == {"approval"}
    assert {t for s, t in edges if s == "understand"} == {
        "answer_query",
        "select_model",
        "propose",
        "clarify",
        "investigate",
    }


@pytest.mark.parametrize(
    ("state", "route"),
    [
        (State(intent=Help()), "clarify"),
        (State(intent=Promote(model="digits", version=3)), "propose"),
    ],
)
def test_routers_are_typed(state: State, route: str) -> None:
    assert route_intent(state) == route


@pytest.mark.parametrize(
    ("router", "state"),
    [
        (route_intent, State()),
        (route_proposal, State()),
    ],
)
def test_routers_raise_on_the_unexpected(router: Any, state: State) -> None:
    with pytest.raises(ValueError, match=r"no route|neither"):
        router(state)


def test_route_proposal_ends_when_there_is_only_an_answer() -> None:
    answer = Answer(kind="info", title="t", text="nothing to do")
    assert route_proposal(State(answer=answer)) == "__end__"

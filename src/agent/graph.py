"""Wires the graph: understand -> answer | select | propose -> approval -> apply -> verify.

START -> understand -> answer_query ----------------------------------> END
                    -> select_model ----------------------------------> END
                    -> clarify ---------------------------------------> END
                    -> investigate (LLM, read tools only) ------------> END
                         | (the loop failed: the rules' intent) -> answer_query | select_model
                         |                                          | clarify | propose
                    -> propose -> approval (interrupt) -> apply -> verify -> END
                               |        ^   |
                               |        +---+ (edit: the edited proposal is asked again)
                               -> END (no proposal: refused or nothing to do)
"""

from __future__ import annotations

from typing import Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent.context import AgentContext
from agent.nodes import Nodes
from agent.state import State

Graph = CompiledStateGraph[State, None, State, State]

_QUERY_KINDS = frozenset({"list_models", "model_info", "serving", "audit", "pending", "compare"})


Route = Literal["answer_query", "select_model", "propose", "clarify", "investigate"]


def route_intent(state: State) -> Route:
    kind = state.intent.kind if state.intent is not None else None
    if kind == "question":
        return "investigate"
    if kind in _QUERY_KINDS:
        return "answer_query"
    if kind == "select_model":
        return "select_model"
    if kind in ("promote", "rollback", "canary", "stop_canary"):
        return "propose"
    if kind in ("help", "unclear", "unsupported", "out_of_scope"):
        return "clarify"
    raise ValueError(f"no route for intent {state.intent!r}")


def route_investigation(
    state: State,
) -> Literal["answer_query", "select_model", "propose", "clarify", "__end__"]:
    """The loop answered, or failed and left the rules' reading of the request."""
    if state.answer is not None:
        return "__end__"
    route = route_intent(state)
    if route == "investigate":
        raise ValueError("the rules never produce a question intent")
    return route


def route_proposal(state: State) -> Literal["approval", "__end__"]:
    if state.proposal is not None:
        return "approval"
    if state.answer is not None:
        return "__end__"
    raise ValueError("propose produced neither a proposal nor an answer")


def route_approval(state: State) -> Literal["approval", "apply"]:
    """Only a decision (approve or deny) leaves the interrupt; an edit is asked again."""
    if state.decision is not None:
        return "apply"
    if state.proposal is not None:
        return "approval"
    raise ValueError("approval produced neither a decision nor a proposal")


def build_graph(
    ctx: AgentContext, *, checkpointer: BaseCheckpointSaver[str] | None = None
) -> Graph:
    nodes = Nodes(ctx)
    builder = StateGraph(State)
    builder.add_node("understand", nodes.understand)
    builder.add_node("answer_query", nodes.answer_query)
    builder.add_node("select_model", nodes.select_model)
    builder.add_node("clarify", nodes.clarify)
    builder.add_node("investigate", nodes.investigate)
    builder.add_node("propose", nodes.propose)
    builder.add_node("approval", nodes.approval)
    builder.add_node("apply", nodes.apply)
    builder.add_node("verify", nodes.verify)
    builder.add_edge(START, "understand")
    builder.add_conditional_edges("understand", route_intent)
    builder.add_conditional_edges("investigate", route_investigation)
    builder.add_conditional_edges("propose", route_proposal)
    builder.add_conditional_edges("approval", route_approval)
    builder.add_edge("apply", "verify")
    for last in ("answer_query", "select_model", "clarify", "verify"):
        builder.add_edge(last, END)
    return builder.compile(checkpointer=checkpointer, name="modelreg-agent")

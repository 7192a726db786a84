"""One conversation thread over the compiled graph: ask, see a pending approval, decide.

Used by the terminal chat and the tests; LangGraph Studio drives the same graph directly
with ``Command(resume={"kind": "approve" | "deny" | "edit", "rationale": ...})``.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command
from pydantic import BaseModel, ConfigDict

from agent.decisions import Approve, Deny, EditRationale, parse_decision, to_json
from agent.errors import AgentError, ApprovalPending
from agent.graph import Graph
from agent.state import Answer, ApprovalRequest, State, Turn


class TurnResult(BaseModel):
    """What one request or decision produced: an answer, or an approval to decide."""

    model_config = ConfigDict(frozen=True)

    answer: Answer | None = None
    approval: ApprovalRequest | None = None
    parsed_by: str | None = None
    parse_note: str | None = None


class Conversation:
    def __init__(self, graph: Graph, thread_id: str) -> None:
        self.graph = graph
        self.thread_id = thread_id
        self.config: RunnableConfig = {"configurable": {"thread_id": thread_id}}

    async def ask(self, text: str) -> TurnResult:
        waiting = await self.pending()
        if waiting is not None:
            raise ApprovalPending(waiting.proposal.summary)
        await self.graph.ainvoke(State(request=text), self.config)
        return await self._result()

    async def decide(self, decision: Approve | Deny | EditRationale | dict[str, Any]) -> TurnResult:
        """Resume the pending approval; raises DecisionRejected before resuming if the
        decision is malformed or not allowed for this change."""
        waiting = await self.pending()
        if waiting is None:
            raise AgentError("No approval is waiting in this conversation.")
        checked = parse_decision(decision, waiting.proposal.allowed_decisions)
        await self.graph.ainvoke(Command(resume=to_json(checked)), self.config)
        return await self._result()

    async def pending(self) -> ApprovalRequest | None:
        snapshot = await self.graph.aget_state(self.config)
        for item in snapshot.interrupts:
            return ApprovalRequest.model_validate(item.value)
        return None

    async def state(self) -> State:
        snapshot = await self.graph.aget_state(self.config)
        return State.model_validate(snapshot.values or {})

    async def history(self) -> list[Turn]:
        return (await self.state()).history

    async def _result(self) -> TurnResult:
        state = await self.state()
        approval = await self.pending()
        return TurnResult(
            answer=None if approval is not None else state.answer,
            approval=approval,
            parsed_by=state.parsed_by,
            parse_note=state.parse_note,
        )

"""The language model's read-only tool loop, for questions outside the fixed intents.

The model is bound to the read tools only (``agent.read_tools``); at most ``max_calls`` tool
calls run per turn. Its final answer is shown only if every model name, version and number in
it appears in this turn's tool results (``agent.grounding``); otherwise the templated answers
of those results are shown, with the reason. An unusable reply (an error, a timeout, bad JSON
arguments, a tool it was not given) is retried once; a second one ends the loop as *failed*,
and the caller falls back to the rules. Nothing here can propose or change anything.
"""

from __future__ import annotations

from typing import Literal

import anyio
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from pydantic import BaseModel, ConfigDict, ValidationError

from agent.errors import AgentToolError
from agent.focus import Focus
from agent.grounding import Facts, answer_problems, claims_change
from agent.llm import LLM_FAILURES, under_discussion
from agent.mcp_tools import RegistryTools
from agent.prompts import LOOP_SYSTEM, loop_request, tool_result
from agent.read_tools import READ_TOOLS, tool_specs
from agent.state import Answer

WRITE_TOOLS = frozenset({"promote_model", "rollback_model", "preview_change"})


class LoopResult(BaseModel):
    """What the loop produced: an answer, or ``failed`` (fall back to the rules)."""

    model_config = ConfigDict(frozen=True)

    status: Literal["phrased", "templated", "failed"]
    answer: Answer | None = None
    note: str | None = None
    tools_called: list[str] = []


class _Unusable(Exception):
    """The model's reply cannot be used; ``reason`` says why, for the note."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ToolLoop:
    def __init__(
        self,
        model: BaseChatModel,
        tools: RegistryTools,
        *,
        max_calls: int = 4,
        deadline_s: float = 60.0,
        label: str = "the language model",
    ) -> None:
        self._model = model
        self._tools = tools
        self._max_calls = max_calls
        self._deadline_s = deadline_s
        self._label = label

    async def run(self, question: str, history: list[str], focus: Focus) -> LoopResult:
        request = loop_request(question, history, under_discussion(focus))
        messages: list[BaseMessage] = [SystemMessage(LOOP_SYSTEM), HumanMessage(request)]
        facts = Facts()
        templates: list[Answer] = []
        called: list[str] = []
        failure: str | None = None
        text: str | None = None
        try:
            with anyio.fail_after(self._deadline_s):
                while text is None:
                    budget_left = self._max_calls - len(called)
                    try:
                        reply = await self._ask(messages, tools=budget_left > 0)
                        calls = self._checked_calls(reply)
                    except _Unusable as exc:
                        if failure is not None:
                            return self._failed(failure, called)
                        failure = exc.reason
                        messages.append(
                            HumanMessage(
                                f"Your last reply could not be used ({exc.reason}). Call only "
                                "the listed tools with valid JSON arguments, or answer."
                            )
                        )
                        continue
                    if not calls:
                        text = reply.text.strip()
                        break
                    if budget_left <= 0:
                        if failure is not None:
                            return self._failed(failure, called)
                        failure = "it kept calling tools after its budget"
                        messages.append(HumanMessage("No more tools: answer from the results."))
                        continue
                    messages.append(reply)
                    for call_id, name, args in calls[:budget_left]:
                        payload = await self._run_tool(name, args, facts, templates)
                        called.append(name)
                        messages.append(ToolMessage(tool_result(payload), tool_call_id=call_id))
                    for call_id, _name, _args in calls[budget_left:]:
                        messages.append(
                            ToolMessage(
                                "Not run: the tool budget for this question is used up.",
                                tool_call_id=call_id,
                            )
                        )
        except TimeoutError:
            return self._failed(failure or "it timed out", called)
        return self._answer(text, facts, templates, called, focus)

    async def _ask(self, messages: list[BaseMessage], *, tools: bool) -> AIMessage:
        runnable = self._model.bind_tools(tool_specs()) if tools else self._model
        try:
            reply = await runnable.ainvoke(messages)
        except LLM_FAILURES as exc:
            raise _Unusable(f"{type(exc).__name__}") from None
        if not isinstance(reply, AIMessage):
            raise _Unusable("not a chat reply")
        return reply

    def _checked_calls(self, reply: AIMessage) -> list[tuple[str, str, BaseModel]]:
        if reply.invalid_tool_calls:
            bad = reply.invalid_tool_calls[0]
            raise _Unusable(f"malformed arguments for {bad.get('name') or 'a tool'}")
        checked: list[tuple[str, str, BaseModel]] = []
        for call in reply.tool_calls:
            name = call["name"]
            if name in WRITE_TOOLS:
                raise _Unusable(f"it asked for {name}, a stage-changing tool it is never given")
            if name not in READ_TOOLS:
                raise _Unusable(f"it asked for an unknown tool {name!r}")
            try:
                args = READ_TOOLS[name].args.model_validate(call["args"])
            except ValidationError as exc:
                raise _Unusable(
                    f"invalid arguments for {name} ({exc.error_count()} error(s))"
                ) from None
            checked.append((call.get("id") or name, name, args))
        if not checked and not reply.text.strip():
            raise _Unusable("an empty reply")
        return checked

    async def _run_tool(
        self, name: str, args: BaseModel, facts: Facts, templates: list[Answer]
    ) -> object:
        try:
            result, template = await READ_TOOLS[name].run(self._tools, args)
        except AgentToolError as exc:
            templates.append(
                Answer(kind="error", title=name, text=f"{exc.tool} ({exc.code}): {exc.message}")
            )
            return {"error": exc.code, "message": exc.message}
        payload = result.model_dump(mode="json")
        facts.add(payload)
        templates.append(template)
        return payload

    def _answer(
        self, text: str, facts: Facts, templates: list[Answer], called: list[str], focus: Focus
    ) -> LoopResult:
        known = {focus.model} if focus.model else set()
        problems = answer_problems(text, facts, {n for n in known if n})
        claimed = claims_change(text)
        sources = ", ".join(dict.fromkeys(called)) or "no registry tool"
        if not problems and not claimed:
            phrased = Answer(
                kind="info",
                title=f"Answer ({self._label}, from {sources})",
                text=f"{text}\n(From the registry's {sources}; phrased by {self._label}.)",
            )
            return LoopResult(status="phrased", answer=phrased, tools_called=called)
        if claimed:
            # It has no tool that changes anything: a claimed or offered change is false, and
            # may come from registry text steering it. Changes come from the user's words.
            why = "claimed or offered a stage change, which it cannot make"
        else:
            why = f"named {', '.join(problems[:4])}, not in the registry's results"
        note = f"{self._label}'s answer {why}; showing the registry's answer instead."
        if not templates:
            fallback = Answer(
                kind="info",
                title="No registry data",
                text="The registry was not asked anything for this question, so there is "
                "nothing to show. Try /help for what I can look up.",
            )
        else:
            fallback = Answer(
                kind="info",
                title=f"Registry results ({sources})",
                text="\n\n".join(t.text for t in templates),
            )
        return LoopResult(status="templated", answer=fallback, note=note, tools_called=called)

    def _failed(self, why: str, called: list[str]) -> LoopResult:
        note = f"{self._label} failed ({why}); retried once, then used the rules."
        return LoopResult(status="failed", note=note, tools_called=called)

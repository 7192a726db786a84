"""The LLM names what kind of request a message is; the rules read its names and numbers.

For a small local model (135M-1B parameters) the whole intent is too much to generate: one
flat intent is about 40 tokens at about 0.25 s each here, and small models fill its slots
badly. Here the model generates only ``{"kind": "<one of the kinds>"}`` (a JSON schema
whose ``kind`` is an enum, so every reply is valid), after a fixed prompt whose examples the
server keeps cached. The offline rules then read the message's model, version, stage,
share and times for that kind against the registry, as they do for the classifier's kinds
(``offline_parser``): the LLM can name no entity at all.

How the two readings combine (one reading per turn, never a change the user's words lack):

- the rules read the same kind: that reading is used (the LLM's kind, the rules' slots);
- the rules could not place the message: it is read as the LLM's kind, slots from the
  rules, if that reading is complete, grounded in the words and not a change;
- otherwise (the rules read another kind, a failed or late reply) the rules' reading is
  used, with a one-line note saying why. Measured with 135M-270M models, their kind
  disagreed with the rules' far more often than it was right (README, "Chat with a local
  LLM"), so a disagreement never overrides a reading the rules placed.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast, get_args

import anyio
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import ValidationError

from agent.change_reading import ChangeReading
from agent.focus import ParseContext
from agent.grounding import reading_problem
from agent.intents import (
    CHANGE_KINDS,
    AuditLog,
    Help,
    Intent,
    IntentParser,
    ModelDetails,
    OutOfScope,
    Parsed,
    PendingApprovals,
    RequestKind,
    Unclear,
    Unsupported,
)
from agent.llm import LLM_FAILURES
from agent.prompts import KIND_EXAMPLES, KIND_SYSTEM, kind_request
from agent.question_reading import QuestionReading

LLMKind = RequestKind
KINDS: tuple[LLMKind, ...] = get_args(LLMKind)
#: ``{"kind": "model_info"}`` is about 8 tokens; a little room for spacing.
KIND_MAX_TOKENS = 16
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.I)


def kind_schema() -> dict[str, Any]:
    """The reply's JSON schema: one key, an enum of the kinds (llama.cpp makes it a grammar)."""
    return {
        "type": "object",
        "properties": {"kind": {"enum": list(KINDS)}},
        "required": ["kind"],
        "additionalProperties": False,
    }


def read_kind(content: str) -> LLMKind:
    """The kind in an LLM reply; ValueError when it names none."""
    text = _FENCE.sub("", content.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the reply")
    data = json.loads(text[start : end + 1])
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in KINDS:
        raise ValueError(f"not a kind: {kind!r}")
    return cast(LLMKind, kind)


def kind_messages(text: str) -> list[BaseMessage]:
    """The fixed prefix (instructions and worked examples, cached by the server) first, then
    the message."""
    messages: list[BaseMessage] = [SystemMessage(KIND_SYSTEM)]
    for example, kind in KIND_EXAMPLES:
        messages += [HumanMessage(kind_request(example)), AIMessage(json.dumps({"kind": kind}))]
    return [*messages, HumanMessage(kind_request(text))]


class _KindReader(ChangeReading, QuestionReading):
    """The rules' slot reading, for a kind named from outside."""


def reading_of_kind(kind: LLMKind, text: str, context: ParseContext) -> Intent:
    """``text`` read as ``kind``, with the rules' names, versions and times; ``Unclear`` when
    the message lacks what that kind needs (a model, a version to compare)."""
    r = _KindReader(text, context)
    if r.unknown is not None and not r.found:
        return r.no_such_model()  # never read a name the registry lacks
    named = r.named_model()
    match kind:
        case "out_of_scope":
            return OutOfScope()
        case "help":
            return Help()
        case "unsupported":
            return r.unsupported() or Unsupported(action="other", model=named)
        case "list_models":
            return r.listing()
        case "audit":
            return AuditLog(model=named, since_minutes=r.since)
        case "pending":
            return PendingApprovals(model=named)
        case "serving":
            return r.serving()
        case "model_info":
            model = r.model()
            if model is None:
                return r.needs_model("show me digits v3")
            return ModelDetails(model=model, version=r.referenced_version(model))
        case "compare":
            return r.compare()
        case "select_model":
            return r.select()
        case "rollback" | "promote" | "canary" | "stop_canary":
            # A change is read only where the rules read it from the user's own words.
            return Unclear(reason=f"the rules did not read a {kind} in the message")


def combine(kind: LLMKind, rules: Parsed, text: str, context: ParseContext) -> Parsed:
    """One reading from the LLM's kind and the rules' reading (module docstring)."""
    said = f"the language model read it as {kind}"
    if kind == rules.intent.kind:
        return rules.model_copy(update={"source": "llm"})
    placed = not isinstance(rules.intent, Unclear) or rules.intent.needs or rules.intent.unknown
    if placed:
        return _rules(rules, f"{said}, the rules as {rules.intent.kind}")
    if kind in CHANGE_KINDS:
        # A change is read only where the rules read it in the user's own words.
        return _rules(rules, f"{said}, a change the rules did not read in the message")
    intent = reading_of_kind(kind, text, context)
    if isinstance(intent, Unclear):
        return _rules(rules, f"{said}, which the message does not complete")
    if (problem := reading_problem(intent, text, context)) is not None:
        return _rules(rules, f"{said}: {problem[0].lower()}{problem[1:].rstrip('.')}")
    return Parsed(intent=intent, source="llm", note=f"{said}; the rules could not place it")


def _rules(rules: Parsed, why: str) -> Parsed:
    return rules.model_copy(update={"note": f"{why}, so used the offline parser"})


class LLMKindParser:
    """Asks the LLM for the message's kind (once more if the reply is unusable), combines it
    with the rules' reading; the whole reading has ``deadline_s`` (the turn's budget)."""

    def __init__(
        self,
        model: BaseChatModel,
        fallback: IntentParser,
        *,
        deadline_s: float = 30.0,
        options: dict[str, Any] | None = None,
    ) -> None:
        self._model = model.bind(**(options or {}))
        self._fallback = fallback
        self._deadline_s = deadline_s

    async def kind(self, text: str) -> LLMKind | str:
        """The LLM's kind, or why there is none (one line)."""
        messages = kind_messages(text)
        first: str | None = None
        try:
            with anyio.fail_after(self._deadline_s):
                for _ in range(2):
                    try:
                        reply = await self._model.ainvoke(messages)
                        return read_kind(reply.text)
                    except (ValueError, ValidationError) as exc:
                        first = first or f"the language model named no kind ({exc})"
                    except LLM_FAILURES as exc:
                        first = first or f"the language model failed ({type(exc).__name__})"
        except TimeoutError:
            return (
                f"the language model gave no usable reading within the turn's "
                f"{self._deadline_s:g} s budget (TimeoutError)"
            )
        return f"{first}; retried once"

    async def parse(
        self, text: str, history: list[str], context: ParseContext | None = None
    ) -> Parsed:
        ctx = context or ParseContext()
        rules = await self._fallback.parse(text, history, ctx)
        kind = await self.kind(text)
        if kind not in KINDS:
            return _rules(rules, kind)
        return combine(kind, rules, text, ctx)

"""The LLM names what kind of request a message is; the rules read its names and numbers.

For a small local model (135M-1B parameters) the whole intent is too much to generate: one
flat intent is about 40 tokens at about 0.25 s each here, and small models fill its slots
badly. Here the model generates only ``{"kind": "<kind>"}`` (a JSON schema whose ``kind``
is an enum, so every reply is valid). The offline rules then read the message's model,
version, stage, share and times for that kind against the registry, as they do for the
classifier's kinds (``offline_parser``): the LLM can name no entity at all.

What a 135M-270M model can do is choose among a few kinds when shown messages like this one
with their kinds; asked to name one of fourteen after fixed examples, it named the rules'
kind on 1-3 turns of 20 (README, "Chat with a local LLM"). So each message is sent after
the instructions (a fixed prefix the server caches) with its ``KIND_NEIGHBOURS`` nearest
phrasings of the shipped corpus (``agent.classifier``) as worked examples, most alike last,
and the reply's enum holds only the candidates: the rules' kind and the classifier's
likeliest, ``KIND_CHOICES`` in all (``candidates``). ``fixed`` sends the fixed examples and
every kind instead.

How the two readings combine (one reading per turn, never a change the user's words lack):

- the rules read the same kind: that reading is used (the LLM's kind, the rules' slots),
  as the rules' own where it has words the LLM's grounding check does not know;
- the rules could not place the message: it is read as the LLM's kind, slots from the
  rules, if that reading is complete, grounded in the words and not a change, and the
  message opens the conversation (the LLM reads no earlier message; measured, every kind it
  named alone for a follow-up such as "same but 20" was wrong);
- otherwise (the rules read another kind, a failed or late reply) the rules' reading is
  used, with a one-line note saying why. Measured with 135M-270M models, their kind
  disagreed with the rules' far more often than it was right (README, "Chat with a local
  LLM"), so a disagreement never overrides a reading the rules placed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal, cast, get_args

import anyio
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import ValidationError

from agent.change_reading import ChangeReading
from agent.classifier import IntentClassifier
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
from agent.llm import LLM_FAILURES, ResponseFormat, response_format
from agent.prompts import KIND_EXAMPLES, KIND_SYSTEM, kind_request
from agent.question_reading import QuestionReading

LLMKind = RequestKind
KINDS: tuple[LLMKind, ...] = get_args(LLMKind)
#: ``{"kind": "model_info"}`` is about 8 tokens; a little room for spacing.
KIND_MAX_TOKENS = 16
#: Worked examples sent with each message: the corpus's phrasings most like it.
KIND_NEIGHBOURS = 10
#: Kinds a reply may name: the rules' and the classifier's likeliest, this many in all.
KIND_CHOICES = 3
Examples = Literal["nearest", "fixed"]
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.I)


def kind_schema(kinds: Sequence[LLMKind] = KINDS) -> dict[str, Any]:
    """The reply's JSON schema: one key, an enum of ``kinds`` (llama.cpp makes it a grammar)."""
    return {
        "type": "object",
        "properties": {"kind": {"enum": list(kinds)}},
        "required": ["kind"],
        "additionalProperties": False,
    }


def candidates(
    text: str, rules: str | None, classifier: IntentClassifier, n: int = KIND_CHOICES
) -> list[LLMKind]:
    """The kinds a reply may name: ``rules`` (the rules' kind, when it is one) first, then
    the classifier's likeliest, ``n`` in all."""
    chosen: list[LLMKind] = [rules] if rules in KINDS else []
    for guess in classifier.ranked(text):
        if len(chosen) >= n:
            break
        if guess.kind in KINDS and guess.kind not in chosen:
            chosen.append(guess.kind)
    return chosen


def neighbours(text: str, classifier: IntentClassifier) -> list[tuple[str, str]]:
    """The corpus's phrasings most like ``text`` with their kinds, most alike last (a small
    model leans on the example nearest its question)."""
    near: list[tuple[str, str]] = [
        (t, k) for k, t in classifier.nearest(text, 2 * KIND_NEIGHBOURS) if k in KINDS
    ]
    return near[:KIND_NEIGHBOURS][::-1]


def read_kind(content: str, kinds: Sequence[LLMKind] = KINDS) -> LLMKind:
    """The kind in an LLM reply; ValueError when it names none of ``kinds`` (those offered:
    a server that ignores the schema can name another)."""
    text = _FENCE.sub("", content.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the reply")
    data = json.loads(text[start : end + 1])
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in kinds:
        raise ValueError(f"not a kind offered: {kind!r}")
    return cast(LLMKind, kind)


def kind_messages(
    text: str, examples: Sequence[tuple[str, str]] = KIND_EXAMPLES
) -> list[BaseMessage]:
    """The instructions (a fixed prefix, cached by the server), worked examples, then the
    message."""
    messages: list[BaseMessage] = [SystemMessage(KIND_SYSTEM)]
    for example, kind in examples:
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


def combine(
    kind: LLMKind, rules: Parsed, text: str, context: ParseContext, *, follows: bool = False
) -> Parsed:
    """One reading from the LLM's kind and the rules' reading (module docstring).
    ``follows``: earlier messages came before this one (the LLM reads none of them)."""
    said = f"the language model read it as {kind}"
    if kind == rules.intent.kind:
        if reading_problem(rules.intent, text, context) is not None:
            # Words the rules read that the LLM's check does not know ("stop cnry", "roll it
            # back"): the reading is the rules' own; checked as the LLM's it would be read again.
            return rules.model_copy(update={"note": f"{said} too; the rules' reading stands"})
        return rules.model_copy(update={"source": "llm"})
    if placed_kind(rules) is not None:
        return _rules(rules, f"{said}, the rules as {rules.intent.kind}")
    if kind in CHANGE_KINDS:
        # A change is read only where the rules read it in the user's own words.
        return _rules(rules, f"{said}, a change the rules did not read in the message")
    if follows:
        # "same but 20", "no wait, don't": the LLM sees this message alone.
        return _rules(rules, f"{said}, but it reads no earlier message and this one follows some")
    intent = reading_of_kind(kind, text, context)
    if isinstance(intent, Unclear):
        return _rules(rules, f"{said}, which the message does not complete")
    if (problem := reading_problem(intent, text, context)) is not None:
        return _rules(rules, f"{said}: {problem[0].lower()}{problem[1:].rstrip('.')}")
    return Parsed(intent=intent, source="llm", note=f"{said}; the rules could not place it")


def placed_kind(rules: Parsed) -> str | None:
    """The kind the rules read, None when they could not place the message."""
    intent = rules.intent
    placed = not isinstance(intent, Unclear) or intent.needs or intent.unknown
    return intent.kind if placed else None


def _rules(rules: Parsed, why: str) -> Parsed:
    return rules.model_copy(update={"note": f"{why}, so used the offline parser"})


class LLMKindParser:
    """Asks the LLM for the message's kind (once more if the reply is unusable), combines it
    with the rules' reading; the whole reading has ``deadline_s`` (the turn's budget).
    ``classifier`` picks each message's examples and candidates (``examples="nearest"``)."""

    def __init__(
        self,
        model: BaseChatModel,
        fallback: IntentParser,
        classifier: IntentClassifier,
        *,
        deadline_s: float = 30.0,
        options: dict[str, Any] | None = None,
        constrain: ResponseFormat = "json_schema",
        examples: Examples = "nearest",
    ) -> None:
        self._model = model
        self._options = options or {}
        self._constrain: ResponseFormat = constrain
        self._fallback = fallback
        self._classifier = classifier
        self._examples: Examples = examples
        self._deadline_s = deadline_s

    @property
    def examples(self) -> Examples:
        return self._examples

    async def kind(self, text: str, rules: str | None = None) -> LLMKind | str:
        """The LLM's kind, or why there is none (one line). ``rules``: the kind the rules
        read, a candidate."""
        if self._examples == "nearest":
            kinds = candidates(text, rules, self._classifier)
            messages = kind_messages(text, neighbours(text, self._classifier))
        else:
            kinds, messages = list(KINDS), kind_messages(text)
        options = dict(self._options)
        if (shape := response_format(self._constrain, schema=kind_schema(kinds))) is not None:
            options["response_format"] = shape
        model = self._model.bind(**options)
        first: str | None = None
        try:
            with anyio.fail_after(self._deadline_s):
                for _ in range(2):
                    try:
                        reply = await model.ainvoke(messages)
                        return read_kind(reply.text, kinds)
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
        kind = await self.kind(text, placed_kind(rules))
        if kind not in KINDS:
            return _rules(rules, kind)
        return combine(kind, rules, text, ctx, follows=bool(history))

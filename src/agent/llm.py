"""The only module that builds the LLM client (ChatOpenAI), and the LLM intent parser.

The client is built from :class:`LLMSettings` at the edge, never at import. Any
OpenAI-compatible server works (``OPENAI_BASE_URL``). The LLM only proposes an intent:
a reply that is off-format, names an unknown intent, errors or times out is asked once more,
then the offline parser reads the message (with a visible note), and nothing the LLM says can
change a stage. With ``MODELREG_AGENT_LLM_READS=kind`` the LLM names only the request's kind
(``llm_kind``), for a small local model.
"""

from __future__ import annotations

import json
import os
import re
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import anyio
import httpx
import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from agent.focus import Focus, ParseContext
from agent.intents import INTENT_ADAPTER, Intent, IntentParser, Parsed
from agent.offline_parser import OfflineParser
from agent.prompts import INTENT_SYSTEM, intent_request

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.I)
#: An intent is a few dozen tokens; without a cap one small-model call ran to 2,275.
INTENT_MAX_TOKENS = 120
#: A tool-loop answer is at most six short lines (or a tool call).
ANSWER_MAX_TOKENS = 320
ResponseFormat = Literal["json_schema", "schema", "json_object", "none"]
"""How an intent reply is constrained. ``json_schema``: OpenAI's form (OpenAI, vLLM, Ollama,
llama.cpp's llama-server). ``schema``: ``{"type": "json_object", "schema": ...}``, the form
both llama.cpp servers read (llama-server and llama-cpp-python's, which refuses
``json_schema``). ``json_object``: any JSON object. ``none``: unconstrained."""
_FORMATS: tuple[ResponseFormat, ...] = ("json_schema", "schema", "json_object", "none")
Reads = Literal["intent", "kind"]
"""What the LLM reads from a message. ``intent``: the whole intent (kind and slots), for a
large model. ``kind``: only its kind, the rules reading names and numbers (``llm_kind``), for
a small local one."""


def _reads(value: str | None) -> Reads | None:
    if value in (None, ""):
        return None
    if value == "intent":
        return "intent"
    if value == "kind":
        return "kind"
    raise ValueError(f"MODELREG_AGENT_LLM_READS={value!r}: use intent or kind")


def _response_format(value: str | None) -> ResponseFormat | None:
    if value in (None, ""):
        return None
    if value not in _FORMATS:
        raise ValueError(
            f"MODELREG_AGENT_RESPONSE_FORMAT={value!r}: use json_schema, schema, json_object "
            "or none"
        )
    return value


_ENV_NAMES = {
    "timeout_s": "MODELREG_AGENT_LLM_TIMEOUT",
    "turn_budget": "MODELREG_AGENT_TURN_BUDGET",
    "base_url": "OPENAI_BASE_URL",
    "model": "MODELREG_AGENT_MODEL",
}


def _seconds(env: Mapping[str, str], name: str) -> float | None:
    value = env.get(name) or None
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name}={value!r}: give a number of seconds, e.g. 20") from None


# What a misbehaving endpoint can raise through the OpenAI SDK and LangChain's parsing.
LLM_FAILURES = (
    openai.OpenAIError,
    httpx.HTTPError,
    TimeoutError,
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
)


class LLMSettings(BaseModel):
    """Where the LLM is; read from the environment at the edge (``from_env``)."""

    model_config = ConfigDict(frozen=True)

    api_key: SecretStr | None = None
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    max_retries: int = Field(default=1, ge=0, le=5)
    intent_max_tokens: int = Field(
        default=INTENT_MAX_TOKENS, ge=16, le=4096, description="Cap on an intent reply."
    )
    answer_max_tokens: int = Field(
        default=ANSWER_MAX_TOKENS, ge=32, le=8192, description="Cap on a tool-loop reply."
    )
    turn_budget: float | None = Field(
        default=None,
        gt=0,
        le=600,
        description="Seconds a turn waits for the LLM before the rules read the message; "
        "default: the timeout per call times the tries, plus 2 s.",
    )
    response_format: ResponseFormat | None = Field(
        default=None,
        description="How the intent reply is constrained (ResponseFormat); default: "
        "json_schema for OpenAI, schema for a local server (OPENAI_BASE_URL).",
    )
    reads: Reads | None = Field(
        default=None,
        description="What the LLM reads (Reads); default: intent. ``kind`` is for a "
        "small local model (README, 'Chat with a local LLM').",
    )

    @property
    def enabled(self) -> bool:
        return self.api_key is not None or self.base_url is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LLMSettings:
        """OPENAI_API_KEY, OPENAI_BASE_URL, MODELREG_AGENT_MODEL, MODELREG_AGENT_LLM_TIMEOUT,
        MODELREG_AGENT_TURN_BUDGET, MODELREG_AGENT_RESPONSE_FORMAT, MODELREG_AGENT_LLM_READS."""
        env = os.environ if env is None else env
        key = env.get("OPENAI_API_KEY") or None
        timeout = _seconds(env, "MODELREG_AGENT_LLM_TIMEOUT")
        try:
            return cls(
                api_key=SecretStr(key) if key else None,
                base_url=env.get("OPENAI_BASE_URL") or None,
                model=env.get("MODELREG_AGENT_MODEL") or "gpt-4o-mini",
                timeout_s=10.0 if timeout is None else timeout,
                turn_budget=_seconds(env, "MODELREG_AGENT_TURN_BUDGET"),
                response_format=_response_format(env.get("MODELREG_AGENT_RESPONSE_FORMAT")),
                reads=_reads(env.get("MODELREG_AGENT_LLM_READS")),
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            name = _ENV_NAMES.get(str(error["loc"][0]), str(error["loc"][0]))
            raise ValueError(f"{name}={error['input']!r}: {error['msg'].lower()}") from None

    @property
    def constrain(self) -> ResponseFormat:
        """The response format sent with an intent request."""
        if self.response_format is not None:
            return self.response_format
        return "json_schema" if self.base_url is None else "schema"

    @property
    def reading(self) -> Reads:
        """What the LLM reads from a message."""
        return self.reads or "intent"

    @property
    def turn_budget_s(self) -> float:
        """The longest a turn waits for the LLM (its reading, and a tool loop's answer)
        before the rules read the message instead."""
        if self.turn_budget is not None:
            return self.turn_budget
        return self.timeout_s * (self.max_retries + 1) + 2.0


def build_chat_model(settings: LLMSettings) -> ChatOpenAI | None:
    """ChatOpenAI for the configured endpoint, or None when no LLM is configured."""
    if not settings.enabled:
        return None
    return ChatOpenAI(
        model=settings.model,
        # Local OpenAI-compatible servers often need no key, but the client requires one.
        api_key=settings.api_key or SecretStr("not-needed"),
        base_url=settings.base_url,
        timeout=settings.timeout_s,
        max_retries=settings.max_retries,
        temperature=0,
        # Tool-loop answers; the intent parser binds its own, smaller cap.
        **token_cap(settings.answer_max_tokens, local=settings.base_url is not None),
    )


def token_cap(tokens: int, *, local: bool) -> dict[str, Any]:
    """The client sends ``max_completion_tokens`` (OpenAI's name); local OpenAI-compatible
    servers (llama.cpp, Ollama, vLLM) are sent the older ``max_tokens`` too, which they all
    read."""
    cap: dict[str, Any] = {"max_tokens": tokens}
    if local:
        cap["extra_body"] = {"max_tokens": tokens}
    return cap


def read_intent(content: str) -> Intent:
    """The intent in an LLM reply; raises ValueError / ValidationError if off-format.

    Keys the kind does not have and null values are dropped first: the constrained (flat)
    schema lets a small model fill every key."""
    text = _FENCE.sub("", content.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the reply")
    data = json.loads(text[start : end + 1])
    if not isinstance(data, dict):
        raise ValueError("the reply is not a JSON object")
    fields = INTENT_FIELDS.get(str(data.get("kind")))
    if fields is not None:
        data = {k: v for k, v in data.items() if k in fields and v is not None}
    return INTENT_ADAPTER.validate_python(data)


#: The keys each intent kind has.
INTENT_FIELDS: dict[str, frozenset[str]] = {
    str(cls.model_fields["kind"].default): frozenset(cls.model_fields)
    for cls in typing.get_args(typing.get_args(Intent)[0])
}


def intent_schema(models: Sequence[str] | None = None) -> dict[str, Any]:
    """One flat JSON object: a grammar a 270M model can follow (llama.cpp turns it into one).

    With the registry's model names known, ``model`` is one of them (or null): the grammar
    cannot spell a name the registry lacks."""
    number = {"type": ["number", "null"]}
    integer = {"type": ["integer", "null"], "minimum": 1}
    text = {"type": ["string", "null"], "maxLength": 200}
    model: dict[str, Any] = text if models is None else {"enum": [*sorted(models), None]}
    return {
        "type": "object",
        "properties": {
            "kind": {"enum": sorted(INTENT_FIELDS)},
            "model": model,
            "version": integer,
            "against": integer,
            "to_version": integer,
            "stage": {"enum": ["Production", "Staging", None]},
            "percent": number,
            "mode": {"enum": ["split", "shadow", None]},
            "guard": {"type": ["boolean", "null"]},
            "task": text,
            "goal": {"enum": ["accuracy", "latency", "critical", "batch", None]},
            "max_latency_ms": number,
            "since_minutes": integer,
            "action": text,
            "rationale": text,
        },
        "required": ["kind"],
        "additionalProperties": False,
    }


def response_format(
    kind: ResponseFormat,
    models: Sequence[str] | None = None,
    *,
    schema: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The ``response_format`` of a reading request: ``schema``, or the intent's."""
    schema = intent_schema(models) if schema is None else schema
    if kind == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": "intent", "schema": schema, "strict": False},
        }
    if kind == "schema":
        return {"type": "json_object", "schema": schema}
    if kind == "json_object":
        return {"type": "json_object"}
    return None


def registry(context: ParseContext | None) -> dict[str, object]:
    """The registry's model and route names, once looked up: a small model copies them."""
    if context is None or context.models is None:
        return {}
    data: dict[str, object] = {"models": list(context.models)}
    if context.routes:
        data["routes"] = dict(context.routes)
    return data


def under_discussion(focus: Focus) -> dict[str, object]:
    """The conversation's focus as data for the model."""
    data: dict[str, object] = {}
    if focus.model is not None:
        data.update(model=focus.model, version=focus.version)
        if focus.previous_version is not None:
            data["previous_version"] = focus.previous_version
    if focus.proposal is not None:
        data["proposal"] = focus.proposal.model_dump()
    return data


class LLMIntentParser:
    """Asks the LLM for the intent, once more if the reply is unusable, then falls back to
    ``fallback`` with a note saying why. The whole reading, retry included, has
    ``deadline_s`` (the turn's budget)."""

    def __init__(
        self,
        model: BaseChatModel,
        fallback: IntentParser,
        *,
        deadline_s: float = 30.0,
        max_tokens: int = INTENT_MAX_TOKENS,
        constrain: ResponseFormat = "json_schema",
        local: bool = False,
    ) -> None:
        self._model = model
        self._cap = token_cap(max_tokens, local=local)
        self._constrain: ResponseFormat = constrain
        self._fallback = fallback
        self._deadline_s = deadline_s

    def _bound(self, context: ParseContext | None) -> Runnable[Any, BaseMessage]:
        options = dict(self._cap)
        models = context.models if context is not None else None
        if (shape := response_format(self._constrain, models)) is not None:
            options["response_format"] = shape
        return self._model.bind(**options)

    async def parse(
        self, text: str, history: list[str], context: ParseContext | None = None
    ) -> Parsed:
        focus = context.focus if context is not None else Focus()
        request = intent_request(text, history, under_discussion(focus), registry(context))
        messages = [SystemMessage(INTENT_SYSTEM), HumanMessage(request)]
        model = self._bound(context)
        first: str | None = None
        try:
            with anyio.fail_after(self._deadline_s):
                for _ in range(2):
                    try:
                        reply = await model.ainvoke(messages)
                        return Parsed(intent=read_intent(reply.text), source="llm")
                    except ValidationError:
                        first = first or "the language model named an unknown intent"
                    except LLM_FAILURES as exc:
                        first = first or f"the language model failed ({type(exc).__name__})"
        except TimeoutError:
            why = (
                f"the language model gave no usable reading within the turn's "
                f"{self._deadline_s:g} s budget (TimeoutError)"
            )
            return await self._fall_back(text, history, context, why)
        return await self._fall_back(text, history, context, f"{first}; retried once")

    async def _fall_back(
        self, text: str, history: list[str], context: ParseContext | None, why: str
    ) -> Parsed:
        parsed = await self._fallback.parse(text, history, context)
        return parsed.model_copy(update={"note": f"{why}, then used the offline parser"})


def build_intent_parser(
    settings: LLMSettings, *, kind_examples: Literal["nearest", "fixed"] = "nearest"
) -> IntentParser:
    """The LLM parser when an endpoint is configured, else the offline parser.
    ``kind_examples``: what a kind reading is sent with (``llm_kind.Examples``)."""
    model = build_chat_model(settings)
    offline = OfflineParser()
    if model is None:
        return offline
    local = settings.base_url is not None
    if settings.reading == "kind":
        from agent.classifier import shared
        from agent.llm_kind import KIND_MAX_TOKENS, LLMKindParser

        return LLMKindParser(
            model,
            offline,
            shared(),
            deadline_s=settings.turn_budget_s,
            options=token_cap(KIND_MAX_TOKENS, local=local),
            constrain=settings.constrain,
            examples=kind_examples,
        )
    return LLMIntentParser(
        model,
        offline,
        deadline_s=settings.turn_budget_s,
        max_tokens=settings.intent_max_tokens,
        constrain=settings.constrain,
        local=local,
    )

"""The only module that builds the LLM client (ChatOpenAI), and the LLM intent parser.

The client is built from :class:`LLMSettings` at the edge, never at import. Any
OpenAI-compatible server works (``OPENAI_BASE_URL``). The LLM only proposes an intent:
a reply that is off-format, names an unknown intent, errors or times out is asked once more,
then the offline parser reads the message (with a visible note), and nothing the LLM says can
change a stage.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

import anyio
import httpx
import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from agent.focus import Focus, ParseContext
from agent.intents import INTENT_ADAPTER, Intent, IntentParser, Parsed
from agent.offline_parser import OfflineParser
from agent.prompts import INTENT_SYSTEM, intent_request

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.I)
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

    @property
    def enabled(self) -> bool:
        return self.api_key is not None or self.base_url is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LLMSettings:
        """OPENAI_API_KEY, OPENAI_BASE_URL, MODELREG_AGENT_MODEL, MODELREG_AGENT_LLM_TIMEOUT."""
        env = os.environ if env is None else env
        key = env.get("OPENAI_API_KEY") or None
        return cls(
            api_key=SecretStr(key) if key else None,
            base_url=env.get("OPENAI_BASE_URL") or None,
            model=env.get("MODELREG_AGENT_MODEL") or "gpt-4o-mini",
            timeout_s=float(env.get("MODELREG_AGENT_LLM_TIMEOUT") or 10.0),
        )


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
    )


def read_intent(content: str) -> Intent:
    """The intent in an LLM reply; raises ValueError / ValidationError if off-format."""
    text = _FENCE.sub("", content.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the reply")
    return INTENT_ADAPTER.validate_python(json.loads(text[start : end + 1]))


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
    ``fallback`` with a note saying why."""

    def __init__(
        self, model: BaseChatModel, fallback: IntentParser, *, deadline_s: float = 30.0
    ) -> None:
        self._model = model
        self._fallback = fallback
        self._deadline_s = deadline_s

    async def parse(
        self, text: str, history: list[str], context: ParseContext | None = None
    ) -> Parsed:
        focus = context.focus if context is not None else Focus()
        request = intent_request(text, history, under_discussion(focus))
        messages = [SystemMessage(INTENT_SYSTEM), HumanMessage(request)]
        first: str | None = None
        try:
            with anyio.fail_after(self._deadline_s):
                for _ in range(2):
                    try:
                        reply = await self._model.ainvoke(messages)
                        return Parsed(intent=read_intent(reply.text), source="llm")
                    except ValidationError:
                        first = first or "the language model named an unknown intent"
                    except LLM_FAILURES as exc:
                        first = first or f"the language model failed ({type(exc).__name__})"
        except TimeoutError:
            first = first or "the language model failed (TimeoutError)"
            return await self._fall_back(text, history, context, f"{first}; gave up")
        return await self._fall_back(text, history, context, f"{first}; retried once")

    async def _fall_back(
        self, text: str, history: list[str], context: ParseContext | None, why: str
    ) -> Parsed:
        parsed = await self._fallback.parse(text, history, context)
        return parsed.model_copy(update={"note": f"{why}, then used the offline parser"})


def build_intent_parser(settings: LLMSettings) -> IntentParser:
    """The LLM parser when an endpoint is configured, else the offline parser."""
    model = build_chat_model(settings)
    offline = OfflineParser()
    if model is None:
        return offline
    deadline = settings.timeout_s * (settings.max_retries + 1) + 2.0
    return LLMIntentParser(model, offline, deadline_s=deadline)

"""What a follow-up may keep of the request before it: the slots read (task, goal, latency
budget, time window, stage, model) and whether it was about a canary."""

from __future__ import annotations

from agent import phrases as P
from agent.entities import find_models
from agent.focus import Focus, ParseContext, Topic
from agent.intents import (
    AuditLog,
    CompareVersions,
    Intent,
    ListModels,
    Promote,
    SelectModel,
    ServingStatus,
    StartCanary,
    StopCanary,
    Unclear,
)
from agent.wording import runbook_words

#: Readings that ask or request nothing a follow-up could build on.
_NOTHING = ("unclear", "question", "help", "out_of_scope", "unsupported")


def topic_of(intent: Intent, text: str, ctx: ParseContext | None = None) -> Topic | None:
    """The slots a follow-up of ``text`` (read as ``intent``) keeps; None when the reading
    holds nothing to keep (a question back, help, a refusal): the earlier topic stays."""
    text = runbook_words(text)  # "cnry status x?" is about a canary, as it was read
    if isinstance(intent, Unclear) and intent.unknown is not None and intent.partial is None:
        return Topic(unknown=intent.unknown)  # "tell me about fraud-detector", then "promote it"
    if isinstance(intent, Unclear) and (partial := intent.partial) is not None:
        # "promote v4" -> "which model?": the next message may only name it; "promote
        # fraud-scorer v2" -> "no such model": "sorry, I meant x" may name the right one.
        return Topic(
            unknown=intent.unknown,
            kind=partial.kind,
            model=partial.model,
            stage=partial.stage,
            percent=partial.percent,
            canary=partial.kind in ("canary", "stop_canary"),
            partial=partial,
        )
    if intent.kind in _NOTHING:
        return None
    model = getattr(intent, "model", None)
    topic = Topic(
        kind=intent.kind,
        model=model if isinstance(model, str) else None,
        **_said(text, ctx or ParseContext(models=(model,) if isinstance(model, str) else ())),
        canary=isinstance(intent, StartCanary | StopCanary)
        or (isinstance(intent, ServingStatus) and P.CANARY.search(text) is not None),
    )
    match intent:
        case SelectModel(task=task, goal=goal, max_latency_ms=budget):
            return topic.model_copy(update={"task": task, "goal": goal, "max_latency_ms": budget})
        case ListModels(task=task, stage=stage):
            return topic.model_copy(update={"task": task, "stage": stage})
        case AuditLog(since_minutes=minutes):
            return topic.model_copy(update={"since_minutes": minutes})
        case Promote(stage=stage):
            return topic.model_copy(update={"stage": stage})
        case CompareVersions(against=against):
            return topic.model_copy(update={"against": against})
        case StartCanary(percent=percent):
            return topic.model_copy(update={"percent": percent})
    return topic


def _said(text: str, ctx: ParseContext) -> dict[str, tuple[str, ...]]:
    """The registry models ``text`` says only as they sound ("the amnesty classifier") and
    those it says otherwise (name, typo, part, route): every part of a message counts."""
    found = find_models(text, ctx.model_copy(update={"focus": Focus()}))
    heard = tuple(f.model for f in found if f.via == "sound")
    named = tuple(f.model for f in found if f.via != "sound")
    return {"heard": heard, "named": named}

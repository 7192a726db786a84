"""Read-only answers to the fixed intents, and what each tells the conversation's focus.

Every call here is a read tool; nothing in this module can change a stage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from agent import answers
from agent.errors import AgentToolError
from agent.focus import Focus, NextPage
from agent.intents import (
    AuditLog,
    CompareVersions,
    Intent,
    ListModels,
    ModelDetails,
    PendingApprovals,
    SelectModel,
    ServingStatus,
)
from agent.mcp_tools import RegistryTools
from agent.recommend import recommendation_answer
from agent.selection import Candidate, rank
from agent.state import Answer
from agent.tool_results import ModelEntry

PAGE_SIZE = 10
_MAX_CANDIDATES = 20
_MAX_PAGES = 5  # at most 500 models are looked at


class Reply(BaseModel):
    """An answer and the focus after it."""

    model_config = ConfigDict(frozen=True)

    answer: Answer
    focus: Focus


async def all_models(tools: RegistryTools, task: str | None = None) -> list[ModelEntry]:
    entries: list[ModelEntry] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        page = await tools.list_models(task=task, cursor=cursor)
        entries.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    return entries


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def answer(
    tools: RegistryTools, intent: Intent, focus: Focus, now: Callable[[], datetime] = _utc_now
) -> Reply:
    """The templated answer to a read intent; raises AgentToolError from the registry."""
    reply = await _answer(tools, intent, focus, now)
    return reply.model_copy(update={"focus": reply.focus.answered(intent.kind)})


async def _answer(
    tools: RegistryTools, intent: Intent, focus: Focus, now: Callable[[], datetime]
) -> Reply:
    match intent:
        case ListModels(stage=stage, task=task, cursor=cursor):
            page = await tools.list_models(stage=stage, task=task, limit=PAGE_SIZE, cursor=cursor)
            nxt = (
                NextPage(kind="list_models", cursor=page.next_cursor, stage=stage, task=task)
                if page.next_cursor
                else None
            )
            after = focus.paged(nxt)
            if len(page.items) == 1:
                only = page.items[0]
                # "what's in staging?" then "that one's card": the version the list was of.
                held = only.staging_version if stage == "Staging" else only.production_version
                after = after.on(only.name, held)
            return Reply(answer=answers.models_answer(intent, page), focus=after)
        case ModelDetails(model=model, version=version):
            info = await tools.get_model_info(model, version)
            return Reply(
                answer=answers.model_info_answer(info),
                focus=focus.on(info.model.name, info.version.version),
            )
        case ServingStatus(model=None):
            page = await tools.list_models(stage="Production", limit=PAGE_SIZE)
            every = [await tools.get_serving_version(m.name) for m in page.items]
            more = page.next_cursor is not None
            return Reply(answer=answers.serving_overview_answer(every, more), focus=focus)
        case ServingStatus(model=str() as model):
            sv = await tools.get_serving_version(model)
            return Reply(
                answer=answers.serving_answer(sv),
                focus=focus.on(model, focus.version if focus.model == model else None),
            )
        case AuditLog(model=model, limit=limit, cursor=cursor, since_minutes=minutes):
            since = None if minutes is None else now() - timedelta(minutes=minutes)
            log = await tools.get_audit_log(model, limit, cursor=cursor, since=since)
            nxt = (
                NextPage(kind="audit", cursor=log.next_cursor, model=model)
                if log.next_cursor
                else None
            )
            return Reply(
                answer=answers.audit_answer(log, model, minutes), focus=focus.on(model).paged(nxt)
            )
        case PendingApprovals(model=model):
            pending = await tools.list_pending_approvals(model)
            return Reply(answer=answers.pending_answer(pending), focus=focus.on(model))
        case CompareVersions(model=model, version=version, against=against):
            diff = await tools.compare_versions(model, version, against)
            baseline = diff.baseline.version if diff.baseline is not None else None
            after = Focus(
                model=model,
                version=version,
                previous_version=baseline,
                proposal=focus.proposal,
                next_page=focus.next_page,
                topic=focus.topic,
            )
            return Reply(answer=answers.compare_answer(diff), focus=after)
        case SelectModel():
            raise ValueError("use recommend() for select_model")
    raise ValueError(f"no read answer for intent {intent!r}")


async def recommend(
    tools: RegistryTools, intent: SelectModel, focus: Focus, default_sla_ms: float | None
) -> Reply:
    """A recommendation per task for the intent's use case, with its evidence."""
    sla = intent.max_latency_ms
    if sla is None and intent.goal not in ("batch", "critical"):
        sla = default_sla_ms  # critical requests: each model's own SLA (models.yaml) instead
    entries = await all_models(tools, intent.task)
    with_version = sorted(
        (e for e in entries if e.primary_metric.version is not None),
        key=lambda e: e.primary_metric.value is None,
    )
    measured = with_version[:_MAX_CANDIDATES]
    by_task: dict[tuple[str, str], list[Candidate]] = {}
    for entry in measured:
        version = entry.primary_metric.version
        assert version is not None
        info = await tools.get_model_info(entry.name, version)
        task = intent.task or entry.tags.get("task") or entry.task or "untagged"
        candidate = Candidate(
            model=entry.name,
            version=version,
            metric=entry.primary_metric.name,
            value=entry.primary_metric.value,
            lower_is_better=entry.primary_metric.lower_is_better,
            latency_ms=info.card.card.baseline_metrics.get("p50_latency_ms"),
            task=task,
            sla_ms=entry.latency_sla_ms,
        )
        # Different primary metrics cannot be ranked against each other.
        by_task.setdefault((task, candidate.metric), []).append(candidate)
    rankings = [rank(task, group, sla, intent.goal) for (task, _), group in sorted(by_task.items())]
    known: list[str] = []
    if not entries and intent.task is not None:
        everything = await all_models(tools)
        known = sorted({m.tags["task"] for m in everything if "task" in m.tags})
    text = recommendation_answer(rankings, intent.task, known)
    if len(with_version) > len(measured):
        left = len(with_version) - len(measured)
        text = text.model_copy(
            update={
                "text": f"{text.text}\nOnly the first {len(measured)} models were compared; "
                f"{left} more were not: name a task to narrow the choice."
            }
        )
    best = next((r.best for r in rankings if r.best is not None), None)
    after = focus.on(best.model, best.version) if best is not None and len(rankings) == 1 else focus
    return Reply(answer=text, focus=after)


async def model_names(tools: RegistryTools) -> tuple[str, ...]:
    """The registry's model names (for "which model?" and typo'd names)."""
    return tuple(sorted(e.name for e in await all_models(tools)))


def tool_error(exc: AgentToolError) -> Answer:
    return answers.tool_error_answer(exc)

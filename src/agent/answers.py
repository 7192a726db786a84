"""Deterministic wording of answers from typed tool results.

User-written registry text (descriptions, tags, card fields) is shown quoted and labelled,
never interpreted; the terminal renders answers as plain text (no markup).
"""

from __future__ import annotations

import json

from agent.errors import AgentToolError
from agent.intents import ListModels
from agent.selection import Ranking, format_metric
from agent.state import Answer, ChangeResult, Proposal
from agent.tool_results import (
    AuditPage,
    Comparison,
    ModelInfo,
    ModelList,
    ProposalList,
    ServingVersion,
)

HELP = """\
Ask me about the registry, for example:
  What models are in production?          show me digits v3
  Which version of digits is serving?     show the audit log for digits
  compare digits v3 with v1               pending approvals
  Which model should I use for classification (under 5 ms)?
Propose a change (a human approves it before anything moves):
  promote digits v3 to production because it is more accurate
  roll back digits because error rates went up
Chat commands: /help, /history, /thread, /quit"""


def quote(text: str | None, limit: int = 300) -> str:
    """User-written text as a JSON string literal: visibly data, never instructions."""
    if not text:
        return "(none)"
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return json.dumps(short, ensure_ascii=False)


def _v(version: int | None) -> str:
    return "-" if version is None else f"v{version}"


def _tags(tags: dict[str, str]) -> str:
    return quote(", ".join(f"{k}={v}" for k, v in sorted(tags.items()))) if tags else "(none)"


def models_answer(intent: ListModels, page: ModelList) -> Answer:
    where = f" in {intent.stage}" if intent.stage else ""
    task = f" for task {quote(intent.task)}" if intent.task else ""
    if not page.items:
        return Answer(kind="info", title="Models", text=f"No models{where}{task}.")
    lines = [f"{len(page.items)} model(s){where}{task}:"]
    for m in page.items:
        metric = format_metric(m.primary_metric.name, m.primary_metric.value)
        lines.append(
            f"- {m.name}: Production {_v(m.production_version)}, Staging {_v(m.staging_version)}, "
            f"latest {_v(m.latest_version)}; {metric} ({_v(m.primary_metric.version)})"
        )
        lines.append(f"    tags: {_tags(m.tags)}")
        if m.unapproved_change:
            lines.append(f"    WARNING: {m.unapproved_change}")
    if page.next_cursor:
        lines.append("(more models exist; narrow by stage or task)")
    return Answer(kind="info", title="Models", text="\n".join(lines))


def model_info_answer(info: ModelInfo) -> Answer:
    v = info.version
    card = info.card
    metrics = ", ".join(f"{k} {val:g}" for k, val in sorted(card.card.baseline_metrics.items()))
    lines = [
        f"{info.model.name} v{v.version} — stage {v.stage}",
        f"Production {_v(info.model.production_version)}, Staging "
        f"{_v(info.model.staging_version)}, rollback target "
        f"{_v(info.model.previous_production_version)}",
        f"Baseline metrics: {metrics or '(none)'}",
        "Card: complete"
        if card.complete
        else f"Card: INCOMPLETE (missing {', '.join(card.missing_fields)})",
        f"Description (user-written): {quote(card.card.description or v.description)}",
        f"Owner: {quote(card.card.owner)}   Dataset: {quote(card.card.training_dataset)}",
        f"Tags (user-written): {_tags(v.tags)}",
        "Versions: " + ", ".join(f"v{x.version} {x.stage}" for x in info.versions),
    ]
    if info.run_id:
        lines.append(f"MLflow run: {info.run_id}")
    if info.model.unapproved_change:
        lines.insert(0, f"WARNING: {info.model.unapproved_change}")
    return Answer(kind="info", title=f"{info.model.name} v{v.version}", text="\n".join(lines))


def serving_answer(sv: ServingVersion) -> Answer:
    lines = [
        f"Registry: Production {_v(sv.registry_production_version)}, Staging "
        f"{_v(sv.registry_staging_version)}, rollback target {_v(sv.rollback_target)}.",
        _serving_line(sv),
    ]
    if sv.unapproved_change:
        lines.insert(0, f"WARNING: {sv.unapproved_change}")
    return Answer(kind="info", title=f"Serving: {sv.model}", text="\n".join(lines))


def _serving_line(sv: ServingVersion) -> str:
    s = sv.serving
    if not s.configured:
        return f"Serving: {s.detail}"
    sync = {True: "in sync", False: "OUT OF SYNC", None: "sync unknown"}[s.in_sync]
    loaded = ", ".join(f"v{x}" for x in s.loaded_versions) or "none"
    return f"Serving: default {_v(s.default_version)} ({sync}); loaded {loaded}. {s.detail}"


def _side(version: int | None, stage: str | None) -> str:
    parts = [f"v{version}" if version is not None else "", stage or ""]
    return " ".join(p for p in parts if p) or "-"


def audit_answer(page: AuditPage, model: str | None) -> Answer:
    title = f"Audit: {model}" if model else "Audit"
    if not page.items:
        return Answer(kind="info", title=title, text="No audit entries.")
    lines = []
    for e in page.items:
        move = f"{_side(e.from_version, e.from_stage)} -> {_side(e.to_version, e.to_stage)}"
        lines.append(
            f"{e.at:%Y-%m-%d %H:%M} {e.actor}: {e.action} {e.model} {move} [{e.decision}]"
            + (f" — {quote(e.rationale, 120)}" if e.rationale else "")
        )
    return Answer(kind="info", title=title, text="\n".join(lines))


def pending_answer(proposals: ProposalList) -> Answer:
    if not proposals.items:
        return Answer(kind="info", title="Pending approvals", text="Nothing is waiting.")
    lines = [
        f"#{p.id} {p.summary} (requested by {p.requested_by}; approve with "
        f"`modelreg approvals approve {p.id}`)"
        for p in proposals.items
    ]
    return Answer(kind="info", title="Pending approvals", text="\n".join(lines))


def compare_answer(c: Comparison) -> Answer:
    if c.baseline is None:
        head = f"{c.model} v{c.candidate.version} has no baseline to compare with."
    else:
        delta = "unknown" if c.primary_delta is None else f"{c.primary_delta:+.4f}"
        head = (
            f"{c.model} v{c.candidate.version} ({c.candidate.stage}) vs v{c.baseline.version} "
            f"({c.baseline.stage}): {c.primary_metric} {delta} — {c.verdict} "
            f"({'lower' if c.lower_is_better else 'higher'} is better)."
        )
    deltas = ", ".join(f"{k} {v:+g}" for k, v in sorted(c.deltas.items())) or "(none)"
    card = "complete" if c.candidate.card_complete else "incomplete"
    text = f"{head}\nAll shared metrics: {deltas}\nCandidate card: {card}."
    return Answer(kind="info", title=f"Compare {c.model}", text=text)


def selection_answer(ranking: Ranking, known_tasks: list[str]) -> Answer:
    title = f"Model for {ranking.task}"
    best = ranking.best
    if best is None:
        if ranking.too_slow:
            fastest = min(ranking.too_slow, key=lambda c: c.latency_ms or 0.0)
            text = (
                f"No {ranking.task} model meets the {ranking.sla_ms:g} ms latency SLA; the "
                f"fastest is {fastest.model} v{fastest.version} ({fastest.latency_ms:g} ms p50)."
            )
        elif ranking.unmeasured:
            names = ", ".join(f"{c.model} v{c.version}" for c in ranking.unmeasured)
            text = f"Models for {ranking.task} have no {ranking.unmeasured[0].metric} yet: {names}."
        else:
            hint = f" Known tasks: {', '.join(known_tasks)}." if known_tasks else ""
            text = f"No models are tagged task={quote(ranking.task)}.{hint}"
        return Answer(kind="recommendation", title=title, text=text)
    latency = f", p50 {best.latency_ms:g} ms" if best.latency_ms is not None else ""
    lines = [
        f"For {ranking.task} I recommend {best.model} v{best.version} "
        f"({format_metric(best.metric, best.value)}{latency})."
    ]
    if best.latency_ms is None and ranking.sla_ms is not None:
        lines.append("Its latency is unknown (no p50_latency_ms on the card).")
    for other in ranking.ranked[1:5]:
        lat = f", p50 {other.latency_ms:g} ms" if other.latency_ms is not None else ""
        metric = format_metric(other.metric, other.value)
        lines.append(f"  then {other.model} v{other.version} ({metric}{lat})")
    for slow in ranking.too_slow:
        lines.append(
            f"  excluded {slow.model} v{slow.version}: p50 {slow.latency_ms:g} ms > SLA "
            f"{ranking.sla_ms:g} ms"
        )
    return Answer(kind="recommendation", title=title, text="\n".join(lines))


def proposal_text(p: Proposal) -> str:
    e = p.evidence
    lines = [p.summary, f"Rationale ({p.rationale_by}): {p.rationale}"]
    if e.baseline_version is not None and e.primary_delta is not None:
        lines.append(
            f"Evidence: {e.primary_metric} {e.primary_delta:+.4f} vs v{e.baseline_version} "
            f"({format_metric(e.primary_metric, e.candidate_value)} vs "
            f"{format_metric(e.primary_metric, e.baseline_value)}; {e.verdict})"
        )
    else:
        lines.append(
            f"Evidence: {format_metric(e.primary_metric, e.candidate_value)} ({e.verdict})"
        )
    lines.append(
        "Card: complete"
        if e.card_complete
        else f"Card: INCOMPLETE (missing {', '.join(e.missing_card_fields)})"
    )
    lines.append(f"Serving: {e.serving_detail}")
    lines.append(f"Description (user-written): {quote(e.description)}")
    lines.extend(f"Warning: {w}" for w in p.warnings)
    lines.append(f"Allowed answers: {', '.join(p.allowed_decisions)}")
    return "\n".join(lines)


def result_answer(p: Proposal, result: ChangeResult, serving: ServingVersion | None) -> Answer:
    if result.status in ("applied", "already_done"):
        head = result.message
    elif result.status in ("denied", "cancelled"):
        head = (
            f"Understood — {p.model} v{p.version} was not moved. Your decision was recorded "
            "in the registry's audit trail."
        )
    elif result.status == "pending":
        head = f"The registry filed it as a pending proposal instead: {result.message}"
    else:
        head = f"The registry refused the change ({result.code}): {result.message}"
    lines = [head]
    if serving is not None:
        lines.append(
            f"Verified: registry Production is {_v(serving.registry_production_version)}, "
            f"Staging {_v(serving.registry_staging_version)}."
        )
        lines.append(_serving_line(serving))
    kind = "error" if result.status == "failed" else "result"
    return Answer(kind=kind, title=f"{p.kind.title()} {p.model}", text="\n".join(lines))


def tool_error_answer(exc: AgentToolError) -> Answer:
    return Answer(
        kind="error", title="The registry said no", text=f"{exc.tool} ({exc.code}): {exc.message}"
    )


def help_answer() -> Answer:
    return Answer(kind="help", title="Help", text=HELP)


def unclear_answer(reason: str) -> Answer:
    text = f"{reason or 'I did not understand that.'} Could you rephrase? Type /help for examples."
    return Answer(kind="help", title="Please rephrase", text=text)

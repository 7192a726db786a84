"""Deterministic wording of answers from typed tool results.

User-written registry text (descriptions, tags, card fields) is shown quoted and labelled,
never interpreted; the terminal renders answers as plain text (no markup).
"""

from __future__ import annotations

import json

from agent import formatting as fmt
from agent.errors import AgentToolError
from agent.focus import PartialChange
from agent.intents import ListModels, Unclear, Unsupported
from agent.state import Answer, ChangeResult, Evidence, Proposal
from agent.tool_results import (
    AuditEntry,
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
  the fastest model / the most accurate one / for critical requests / for a batch job
Follow-ups use the conversation: "compare it with production", "show the previous one",
"promote it", "more" (next page). With one model in the registry its name is optional.
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
        metric = fmt.metric(m.primary_metric.name, m.primary_metric.value)
        lines.append(
            f"- {m.name}: Production {_v(m.production_version)}, Staging {_v(m.staging_version)}, "
            f"latest {_v(m.latest_version)}; {metric} ({_v(m.primary_metric.version)})"
        )
        lines.append(f"    tags: {_tags(m.tags)}")
        if m.unapproved_change:
            lines.append(f"    WARNING: {m.unapproved_change}")
    if page.next_cursor:
        lines.append("More models exist: say 'more' for the next page, or narrow by stage or task.")
    return Answer(kind="info", title="Models", text="\n".join(lines))


def model_info_answer(info: ModelInfo) -> Answer:
    v = info.version
    card = info.card
    metrics = ", ".join(
        _card_metric(k, val) for k, val in sorted(card.card.baseline_metrics.items())
    )
    lines = [
        f"{info.model.name} v{v.version} — stage {v.stage}",
        f"Production {_v(info.model.production_version)}, Staging "
        f"{_v(info.model.staging_version)}, rollback target "
        f"{_v(info.model.previous_production_version)}",
        f"Baseline metrics (model card): {metrics or '(none)'}",
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


def _card_metric(name: str, value: float) -> str:
    if "latency" in name and name.endswith("_ms"):
        return f"{name} {fmt.ms(value)} (in-process forward pass, not served latency)"
    return f"{name} {fmt.metric_value(name, value)}"


def serving_answer(sv: ServingVersion) -> Answer:
    lines = [
        f"Registry: Production {_v(sv.registry_production_version)}, Staging "
        f"{_v(sv.registry_staging_version)}, rollback target {_v(sv.rollback_target)}.",
        _serving_line(sv),
    ]
    lines += release_lines(sv)
    if sv.unapproved_change:
        lines.insert(0, f"WARNING: {sv.unapproved_change}")
    return Answer(kind="info", title=f"Serving: {sv.model}", text="\n".join(lines))


def serving_overview_answer(every: list[ServingVersion], more: bool) -> Answer:
    """Each Production model's serving line: "is serving in sync with the registry?"."""
    if not every:
        return Answer(kind="info", title="Serving", text="No model has a Production version.")
    lines = []
    for sv in every:
        lines.append(
            f"- {sv.model}: Production {_v(sv.registry_production_version)}. {_serving_line(sv)}"
        )
        if sv.unapproved_change:
            lines.append(f"  WARNING: {sv.unapproved_change}")
    if more:
        lines.append(
            f"More models are in Production: ask about one, e.g. 'is {every[0].model} live?'."
        )
    return Answer(kind="info", title="Serving: all Production models", text="\n".join(lines))


def release_lines(sv: ServingVersion) -> list[str]:
    """The running canary and the newest promotion guard, if any."""
    lines = []
    if sv.canary is not None:
        c = sv.canary
        verb = "mirrors" if c.mode == "shadow" else "gets"
        lines.append(f"Canary: v{c.version} {verb} {c.percent:g} % of Production traffic.")
    g = sv.guard
    if g is not None and g.status == "watching":
        lines.append(
            f"Guard #{g.id} watches v{g.version} until {g.ends_at[11:19]} UTC and rolls back "
            f"to v{g.rollback_to} on breach ({g.terms})."
        )
    elif g is not None and g.status == "rolled_back":
        lines.append(
            f"Guard #{g.id} rolled v{g.version} back to v{g.rollback_to} automatically under "
            f"approval #{g.approval_audit_id}: {g.evidence or 'no evidence recorded'}."
        )
    return lines


def _serving_line(sv: ServingVersion) -> str:
    s = sv.serving
    if not s.configured:
        return f"Serving: {s.detail}"
    sync = {True: "in sync", False: "OUT OF SYNC", None: "sync unknown"}[s.in_sync]
    loaded = ", ".join(f"v{x}" for x in s.loaded_versions) or "none"
    return f"Serving: default {_v(s.default_version)} ({sync}); loaded {loaded}. {s.detail}"


_OUTCOME = {
    "done": "",
    "refused": " — refused by the registry",
    "failed": " — failed",
    "proposed": " — proposed, waiting for a human",
    "denied": " — denied",
    "expired": " — proposal expired",
    "detected": " — detected",
}


def audit_line(e: AuditEntry) -> str:
    """One audit entry in words: what moved where, and what it displaced.

    In an entry ``to_version`` is the version that moved (from ``from_stage`` to
    ``to_stage``) and ``from_version`` the version it displaced from ``to_stage``."""
    done = e.decision == "done"
    version = f"v{e.to_version}" if e.to_version is not None else ""
    move = ""
    if e.from_stage and e.to_stage and e.from_stage == e.to_stage:
        move = f" (stays {e.to_stage})"  # a canary moves traffic, not the version's stage
    elif e.from_stage and e.to_stage:
        move = f" ({e.from_stage} -> {e.to_stage})"
    elif e.to_stage:
        move = f" (-> {e.to_stage})"
    displaced = f", replacing v{e.from_version}" if e.from_version is not None else ""
    if e.action == "transition":
        verb = "promoted" if done else "promotion of"
        what = f"{verb} {e.model} {version}{move}{displaced}"
    elif e.action == "rollback":
        what = f"{'rolled back' if done else 'rollback of'} {e.model} to {version}{move}{displaced}"
    elif e.action == "register":
        what = f"registered {e.model} {version}".rstrip()
    elif e.action == "canary":
        what = f"canary {e.model} {version}{move}".rstrip()
    else:
        what = f"{e.action.replace('_', ' ')} {e.model} {version}".rstrip()
    line = f"{e.at:%Y-%m-%d %H:%M} {e.actor}: {what}{_OUTCOME.get(e.decision, f' [{e.decision}]')}"
    if e.rationale:
        line += f"; rationale: {quote(e.rationale, 120)}"
    return line


def span(minutes: int) -> str:
    """ "the last hour", "the last 3 days", "the last 45 minutes"."""
    for size, unit in ((10080, "week"), (1440, "day"), (60, "hour")):
        if minutes % size == 0:
            count = minutes // size
            return f"the last {unit}" if count == 1 else f"the last {count} {unit}s"
    return f"the last {minutes} minutes"


def audit_answer(page: AuditPage, model: str | None, since_minutes: int | None = None) -> Answer:
    title = f"Audit: {model}" if model else "Audit"
    if since_minutes is not None:
        title += f", {span(since_minutes)}"
    if not page.items:
        when = f" in {span(since_minutes)}" if since_minutes is not None else ""
        return Answer(kind="info", title=title, text=f"No audit entries{when}.")
    lines = [audit_line(e) for e in page.items]
    if page.next_cursor:
        lines.append("Older entries exist: say 'more' for the next page.")
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
    m = c.primary_metric
    if c.baseline is None:
        head = f"{c.model} v{c.candidate.version} has no baseline to compare with."
    else:
        mine, theirs = c.candidate.metrics.get(m), c.baseline.metrics.get(m)
        head = (
            f"{c.model} v{c.candidate.version} ({c.candidate.stage}) vs v{c.baseline.version} "
            f"({c.baseline.stage}): {m} {fmt.metric_value(m, mine)} vs "
            f"{fmt.metric_value(m, theirs)} ({fmt.delta(m, c.primary_delta, mine)}) — "
            f"{c.verdict} ({'lower' if c.lower_is_better else 'higher'} is better, the "
            "registry's policy for this model)."
        )
    deltas = ", ".join(_delta(k, v, c) for k, v in sorted(c.deltas.items())) or "(none)"
    card = "complete" if c.candidate.card_complete else "incomplete"
    text = f"{head}\nAll shared card metrics: {deltas}\nCandidate card: {card}."
    return Answer(kind="info", title=f"Compare {c.model}", text=text)


def _delta(name: str, change: float, c: Comparison) -> str:
    if "latency" in name and name.endswith("_ms"):
        return f"{name} {fmt.ms_change(change)} (in-process forward pass)"
    return f"{name} {fmt.delta(name, change, c.candidate.metrics.get(name))}"


def proposal_text(p: Proposal) -> str:
    e = p.evidence
    lines = [p.summary, f"Rationale ({p.rationale_by}): {p.rationale}"]
    lines.append(f"Evidence: {evidence_line(e)}")
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


def evidence_line(e: Evidence) -> str:
    """The proposal's delta on the primary metric, from the registry's compare_versions."""
    m = e.primary_metric
    if e.baseline_version is not None and e.primary_delta is not None:
        return (
            f"{fmt.metric(m, e.candidate_value)} vs {fmt.metric_value(m, e.baseline_value)} "
            f"on v{e.baseline_version} ({fmt.delta(m, e.primary_delta, e.candidate_value)}, "
            f"{e.verdict}; model card baseline metrics)"
        )
    return f"{fmt.metric(m, e.candidate_value)} ({e.verdict.replace('_', ' ')})"


def result_answer(p: Proposal, result: ChangeResult, serving: ServingVersion | None) -> Answer:
    if result.status in ("applied", "already_done"):
        head = result.message
    elif result.status in ("denied", "cancelled"):
        what = (
            f"the canary of {p.model} was not changed"
            if p.kind in ("canary", "stop_canary")
            else f"{p.model} v{p.version} was not moved"
        )
        head = f"Understood — {what}. Your decision was recorded in the registry's audit trail."
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
        lines += release_lines(serving)
    kind = "error" if result.status == "failed" else "result"
    title = {"stop_canary": "Stop canary", "canary": "Canary"}.get(p.kind, p.kind.title())
    return Answer(kind=kind, title=f"{title} {p.model}", text="\n".join(lines))


def tool_error_answer(exc: AgentToolError) -> Answer:
    # Only a refusal is "the registry said no"; a missing name or a bad value is the request's.
    title = {
        "NOT_FOUND": "Not in the registry",
        "INVALID_INPUT": "The registry could not use that",
    }.get(exc.code, "The registry said no")
    return Answer(kind="error", title=title, text=f"{exc.tool} ({exc.code}): {exc.message}")


#: What the chat cannot do, and the command that does it (None: nothing does).
_ELSEWHERE: dict[str, tuple[str, str | None]] = {
    "archive": (
        "archive a version",
        "modelreg promote {model} {version} --stage Archived --rationale 'no longer used'",
    ),
    "delete": ("delete models or versions (the registry keeps every version)", None),
    "retrain": ("train or retrain models", "modelreg train --name {model}"),
    "rename": ("rename models", None),
    "approve": (
        "approve changes: a human approves each one (here, on its form)",
        "modelreg approvals list",
    ),
    "tag": ("set tags", "modelreg models tag {model} key=value"),
    "register": ("register new versions", "modelreg models register --help"),
    "edit_card": (
        "edit model cards or descriptions",
        "modelreg models card {model} {version} --file card.json",
    ),
    "export": ("export model files", None),
    "download": ("download model files", None),
    "predict": ("run predictions", "modelreg predict --help"),
    "scale": ("scale serving", "modelreg serve --help"),
    "restart": ("restart serving", "modelreg serve --help"),
    "other": ("do that", None),
}


def unsupported_answer(intent: Unsupported) -> Answer:
    what, command = _ELSEWHERE.get(intent.action, (intent.action, None))
    text = f"I cannot {what} from the chat; nothing was changed."
    if intent.action == "other":
        command = None
        text += "\nSee what the command line does: modelreg --help"
    if command is not None:
        needs_model = "{model}" in command
        needs_version = "{version}" in command
        if (needs_model and intent.model is None) or (needs_version and intent.version is None):
            command = command.split(" {")[0] + " --help"
        command = command.format(model=intent.model, version=intent.version)
        text += f"\nThe command line does it: {command}"
    elif intent.action == "delete":
        text += "\nTo take a version out of use, archive it: modelreg promote --help"
    text += "\nHere I can show, compare, recommend, and propose promotions, canaries and rollbacks."
    return Answer(kind="help", title="Not something the chat does", text=text)


def out_of_scope_answer() -> Answer:
    return Answer(
        kind="help",
        title="What I can do",
        text="That is outside this model registry. " + HELP,
    )


def which_model_answer(intent: Unclear, listing: str) -> Answer:
    head = intent.reason or "Which model?"
    return Answer(
        kind="help",
        title="Which model?",
        text=f"{head} The registry has: {listing}.{_completes(intent.partial)}",
    )


def missing_answer(intent: Unclear) -> Answer:
    """A change asked for with a version or share missing: the question, and what a reply
    giving only that will propose."""
    return Answer(
        kind="help", title="One more thing", text=f"{intent.reason}{_completes(intent.partial)}"
    )


def _completes(partial: PartialChange | None) -> str:
    """ " Reply with just the name and I will propose promoting v4 to Staging (you approve)." """
    if partial is None:
        return ""
    said = {"model": "the name", "version": "the version", "percent": "the share"}[partial.missing]
    return f" Reply with just {said} and I will propose {_change_of(partial)} (you approve it)."


def _change_of(partial: PartialChange) -> str:
    of = f" of {partial.model}" if partial.model else ""
    version = f" v{partial.version}" if partial.version else ""
    match partial.kind:
        case "promote":
            if partial.model and partial.version:
                what = f"{partial.model} v{partial.version}"
            elif partial.model:
                what = f"a version of {partial.model}"
            else:
                what = f"v{partial.version}" if partial.version else "a version"
            return f"promoting {what} to {partial.stage or 'Production'}"
        case "rollback":
            target = f" to v{partial.to_version}" if partial.to_version else ""
            return f"rolling back{of}{target}"
        case "stop_canary":
            return f"stopping the canary{of}"
    share = f" at {partial.percent:g}%" if partial.percent else ""
    mode = " (shadow)" if partial.mode == "shadow" else ""
    return f"a canary{of}{version}{share}{mode}"


def help_answer() -> Answer:
    return Answer(kind="help", title="Help", text=HELP)


def unclear_answer(reason: str) -> Answer:
    text = f"{reason or 'I did not understand that.'} Could you rephrase? Type /help for examples."
    return Answer(kind="help", title="Please rephrase", text=text)

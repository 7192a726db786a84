"""Rich rendering of registry results for the terminal, and JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.markup import escape

__all__ = ["escape"]
from rich.panel import Panel
from rich.table import Table

from registry_mcp.domain import validation
from registry_mcp.domain.cards import CardView
from registry_mcp.domain.plans import ChangeKind, ChangePlan
from registry_mcp.domain.schemas import (
    AuditEntry,
    ModelDetail,
    ModelSummary,
    Page,
    Stage,
    TransitionResult,
)

if TYPE_CHECKING:
    from registry_mcp.deploy.guard_watch import GuardVerdict
    from registry_mcp.deploy.releases import CanaryReport
    from registry_mcp.store.releases import Guard


def print_json(
    console: Console, value: BaseModel | Sequence[BaseModel] | Mapping[str, Any]
) -> None:
    """Print ``value`` as JSON; models may sit at any depth inside lists and dicts."""
    # Field names as the models spell them (not aliases); NaN and infinities, which JSON
    # cannot represent, become null so that scripts always receive valid JSON.
    data = to_jsonable_python(value, by_alias=False, inf_nan_mode="null")
    console.print_json(json.dumps(data, allow_nan=False), highlight=False)


def _v(version: int | None) -> str:
    return "-" if version is None else f"v{version}"


def _tags(tags: dict[str, str]) -> str:
    return ", ".join(f"{escape(k)}={escape(v)}" for k, v in sorted(tags.items())) or "-"


def unapproved(models: Sequence[ModelSummary]) -> list[str]:
    """A loud line per model whose stage aliases were moved outside modelreg."""
    return [f"[bold red]{escape(m.unapproved_change)}[/]" for m in models if m.unapproved_change]


def _pending_line(model: ModelSummary) -> list[str]:
    """MLflow's aliases while a change made outside modelreg waits for a human."""
    found = model.unapproved_aliases
    if found is None:
        return []
    return [
        f"[red]Pending, not approved (MLflow shows): Production {_v(found.production)}   "
        f"Staging {_v(found.staging)}   Rollback target {_v(found.previous)}[/]"
    ]


def model_name(name: str) -> str:
    """A model name for a table cell; an unsafe one (spaces, quotes, line separators) is
    shown escaped so it stays on one line and cannot pass for another."""
    return escape(name) if validation.name_problem(name) is None else escape(ascii(name))


def unsafe_names(models: Sequence[ModelSummary]) -> list[str]:
    """A line per model registered before names were checked whose name Kubernetes refuses."""
    lines = []
    for model in models:
        problem = validation.name_problem(model.name)
        if problem is not None:
            lines.append(
                f"[yellow]Model {escape(ascii(model.name))}: its name is not safe for "
                f"Kubernetes ({escape(problem)}); new models cannot be registered like that. "
                "Register its versions under a safe name to serve it on Kubernetes.[/]"
            )
    return lines


def models_table(page: Page[ModelSummary]) -> Table:
    table = Table(title="Registered models", show_lines=False)
    for column in ("Name", "Production", "Staging", "Previous", "Latest", "Tags"):
        table.add_column(column)
    for model in page.items:
        table.add_row(
            model_name(model.name),
            _v(model.production_version),
            _v(model.staging_version),
            _v(model.previous_production_version),
            _v(model.latest_version),
            _tags(model.tags),
        )
    return table


def model_detail(detail: ModelDetail) -> list[Any]:
    model = detail.model
    warnings: list[Any] = unapproved([model]) + unsafe_names([model])
    header = Panel(
        "\n".join(
            [
                escape(model.description or "(no description)"),
                "",
                f"Production: {_v(model.production_version)}   "
                f"Staging: {_v(model.staging_version)}   "
                f"Rollback target: {_v(model.previous_production_version)}"
                + ("   (approved)" if model.unapproved_aliases is not None else ""),
                *_pending_line(model),
                f"Tags: {_tags(model.tags)}",
            ]
        ),
        title=escape(model.name),
    )
    table = Table(title="Versions (newest first)")
    for column in ("Version", "Stage", "Aliases", "Card", "Created", "Tags"):
        table.add_column(column)
    for info in detail.versions.items:
        table.add_row(
            f"v{info.version}",
            info.stage.value,
            ", ".join(info.aliases) or "-",
            "complete" if info.card_complete else "[yellow]incomplete[/]",
            info.created_at.strftime("%Y-%m-%d %H:%M"),
            _tags(info.tags),
        )
    return [*warnings, header, table]


def card_panel(name: str, version: int, view: CardView) -> Panel:
    card = view.card
    metrics = ", ".join(f"{k}={v:g}" for k, v in sorted(card.baseline_metrics.items())) or "-"
    lines = [
        escape(card.description or "-"),
        "",
        f"[b]Owner[/]: {escape(card.owner or '-')}",
        f"[b]Baseline metrics[/]: {escape(metrics)}",
        f"[b]Training dataset[/]: {escape(card.training_dataset or '-')}",
        f"[b]Preprocessing[/]: {escape('; '.join(card.preprocessing) or '-')}",
        f"[b]Intended use[/]: {escape(card.intended_use or '-')}",
        f"[b]Limitations[/]: {escape(card.limitations or '-')}",
    ]
    if not view.complete:
        lines += ["", f"[yellow]Incomplete: missing {', '.join(view.missing_fields)}[/]"]
    return Panel("\n".join(lines), title=f"Model card: {escape(name)} v{version}")


def plan_panel(plan: ChangePlan) -> Panel:
    if plan.kind is ChangeKind.CANARY:
        return Panel(
            f"{escape(plan.describe().rsplit(' [plan ', 1)[0])}\n[dim]plan {plan.short_digest}[/]",
            title="Planned canary change",
        )
    verb = "Roll back" if plan.kind is ChangeKind.ROLLBACK else "Promote"
    lines = [
        f"{verb} [b]{escape(plan.model)}[/] v{plan.version}: "
        f"{plan.from_stage.value} -> [b]{plan.to_stage.value}[/]",
    ]
    if plan.replaced_version is not None and plan.replaced_to_stage is not None:
        lines.append(
            f"v{plan.replaced_version} leaves {plan.to_stage.value} -> "
            f"{plan.replaced_to_stage.value}"
        )
    if plan.to_stage is Stage.PRODUCTION:
        after = plan.rollback_target_after
        lines.append(f"Rollback target afterwards: {'v' + str(after) if after else 'none'}")
    if plan.ends_canary and plan.canary_before is not None:
        lines.append(f"Ends the canary: {plan.canary_before.describe()}")
    if plan.guard is not None:
        lines.append(
            f"[b]Guarded:[/] {escape(plan.guard.describe())}; on breach it rolls back to "
            f"v{plan.rollback_target_after} automatically, under this approval"
        )
    if not plan.card_complete:
        lines.append(f"[yellow]Model card incomplete: {', '.join(plan.missing_card_fields)}[/]")
    lines.append(f"[dim]plan {plan.short_digest}[/]")
    return Panel("\n".join(lines), title="Planned change")


def canary_table(report: CanaryReport) -> Table | str:
    if report.canary is None:
        return escape(report.detail)
    table = Table(
        title=f"Canary of {escape(report.model)}: {escape(report.canary.describe())}, "
        f"window {report.window_s:g} s"
    )
    for column in ("version", "requests", "errors", "error %", "p50 ms", "p99 ms"):
        table.add_column(column, no_wrap=True)
    table.add_column("accuracy (rows)", no_wrap=True)
    for arm in report.arms:
        table.add_row(
            f"v{arm.version} {arm.role}",
            str(arm.requests),
            str(arm.errors),
            _ratio(arm.error_ratio),
            _ms(arm.p50_ms),
            _ms(arm.p99_ms),
            f"{_ratio(arm.accuracy)} ({arm.feedback_rows})",
        )
    table.caption = escape(report.detail)
    return table


def guard_table(guards: Sequence[Guard]) -> Table | str:
    if not guards:
        return "No guarded promotions yet; promote with `modelreg promote ... --guard`."
    table = Table(title="Guarded promotions")
    for column in ("guard", "model", "version", "back to", "approval", "ends", "status"):
        table.add_column(column)
    table.add_column("evidence", overflow="fold")
    for guard in guards:
        table.add_row(
            f"#{guard.id}",
            escape(guard.model),
            f"v{guard.version}",
            f"v{guard.rollback_to}",
            f"#{guard.approval_audit_id}",
            f"{guard.ends_at:%H:%M:%S}",
            guard.status.value,
            escape(guard.evidence or ""),
        )
    return table


def guard_verdict(verdict: GuardVerdict) -> str:
    return (
        f"guard #{verdict.guard_id} {escape(verdict.model)} v{verdict.version}: "
        f"[b]{verdict.action}[/] {escape(verdict.evidence)}"
    )


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _move(from_stage: str | None, to_stage: str) -> str:
    """``Staging -> Production``; a change that moves no stage (a canary) says so."""
    if from_stage == to_stage:
        return f"stays {to_stage}"
    return f"{from_stage or '?'} -> {to_stage}"


def transition_line(result: TransitionResult) -> str:
    text = (
        f"{escape(result.name)} v{result.version}: "
        f"{_move(result.from_stage.value, result.to_stage.value)}"
    )
    if result.replaced_version is not None and result.replaced_to_stage is not None:
        text += f"; v{result.replaced_version} -> {result.replaced_to_stage.value}"
    return text + f" (audit #{result.audit_id})"


def _change(entry: AuditEntry) -> str:
    text = f"{escape(entry.model)} {_v(entry.to_version)}"
    if entry.to_stage:
        text += f": {_move(entry.from_stage, entry.to_stage)}"
    if entry.from_version is not None:
        text += f", replaces {_v(entry.from_version)}"
    return text


_REPEATED = 30
"""Characters shared by a row's rationale and reason that count as the same text."""


def _why(rationale: str, reason: str) -> str:
    """Rationale, then the reason in brackets, saying once what both quote (an automatic
    rollback's rationale and its approval note both carry the guard's evidence)."""
    if not reason:
        return rationale
    if not rationale:
        return reason
    from difflib import SequenceMatcher

    same = SequenceMatcher(None, reason, rationale, autojunk=False).find_longest_match()
    if same.size >= _REPEATED:
        left, right = reason[: same.a].rstrip(" :;,"), reason[same.a + same.size :].strip()
        reason = " ".join(part for part in (left, "(as in the rationale)", right) if part)
    return f"{rationale} [{reason}]"


def audit_table(page: Page[AuditEntry]) -> Table:
    table = Table(title="Audit trail (newest first)")
    table.add_column("#", justify="right")
    table.add_column("Time (UTC)", no_wrap=True)
    table.add_column("Who")
    table.add_column("Action")
    table.add_column("Change")
    table.add_column("Decision")
    table.add_column("Why")
    for entry in page.items:
        why = _why(entry.rationale or "", entry.reason or "")
        table.add_row(
            str(entry.id),
            entry.at.strftime("%m-%d %H:%M:%S"),
            escape(entry.actor + (f" via {entry.client}" if entry.client else "")),
            entry.action.value,
            _change(entry),
            entry.decision.value,
            escape(why),
        )
    return table

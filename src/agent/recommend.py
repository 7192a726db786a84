"""A recommendation per use case, in words: the pick, the evidence and where each number comes
from, the trade-off against the runner-up, and ties or missing data said, not hidden."""

from __future__ import annotations

from agent import formatting as fmt
from agent.answers import quote
from agent.intents import Goal
from agent.selection import Candidate, Ranking
from agent.state import Answer

_GOAL_WORDS: dict[Goal, str] = {
    "accuracy": "most accurate",
    "latency": "fastest",
    "critical": "for critical requests",
    "batch": "for a batch job",
}
_POLICY: dict[Goal, str] = {
    "accuracy": "ranked by each model's primary metric in its direction (the registry's policy)",
    "latency": "ranked by the card's p50 latency, then by the primary metric",
    "critical": (
        "ranked by the primary metric among versions with a measured latency: an unmeasured "
        "version is not recommended for critical traffic"
    ),
    "batch": (
        "ranked by the primary metric: a batch job is bound by throughput, not per-request "
        "latency (throughput is not measured; no latency limit applied unless you name one)"
    ),
}
SERVED_LATENCY = (
    "Latency is the model card's p50 of an in-process forward pass; latency served through "
    "TorchServe is not reported by the registry's tools yet."
)


def _name(c: Candidate) -> str:
    return f"{c.model} v{c.version}"


def _facts(c: Candidate) -> str:
    latency = f", p50 {fmt.ms(c.latency_ms)}" if c.latency_ms is not None else ", latency unknown"
    return f"{fmt.metric(c.metric, c.value)}{latency}"


def _trade_off(best: Candidate, other: Candidate) -> str | None:
    """What choosing ``best`` over ``other`` costs or gains, with the numbers."""
    if other.metric != best.metric or other.value is None or best.value is None:
        return None
    better_metric = (other.value < best.value) == best.lower_is_better and other.value != best.value
    change = other.value - best.value
    gap = fmt.delta(best.metric, abs(change), best.value).lstrip("+")
    parts = []
    if other.value != best.value:
        quality = "better" if better_metric else "worse"
        parts.append(f"{gap} {quality} on {best.metric}")
    if other.latency_ms is not None and best.latency_ms is not None:
        if other.latency_ms < best.latency_ms:
            parts.append(f"faster ({fmt.ms(other.latency_ms)} vs {fmt.ms(best.latency_ms)})")
        elif other.latency_ms > best.latency_ms:
            parts.append(f"slower ({fmt.ms(other.latency_ms)} vs {fmt.ms(best.latency_ms)})")
    if not parts:
        return None
    return f"Trade-off: {_name(other)} is {' and '.join(parts)}."


def _ranking_lines(r: Ranking) -> list[str]:
    best = r.best
    goal = _GOAL_WORDS[r.goal]
    task = f"{r.task} tasks" if r.task != "any task" else "any task"
    if best is None:
        return _nothing(r)
    lines = [f"For {task} ({goal}), I recommend {_name(best)} ({_facts(best)})."]
    direction = "lower" if best.lower_is_better else "higher"
    lines.append(
        f"  Evidence: {best.metric} from the model card's baseline metrics, {direction} is "
        f"better; {_POLICY[r.goal]}."
    )
    for tie in r.tied:
        lines.append(
            f"  Tie: {_name(tie)} has the same {fmt.metric(best.metric, best.value)}; "
            + (
                f"{_name(best)} comes first as the faster one."
                if best.latency_ms is not None
                and tie.latency_ms is not None
                and best.latency_ms < tie.latency_ms
                else f"{_name(best)} comes first by name only."
            )
        )
    if len(r.ranked) > 1:
        trade = _trade_off(best, r.ranked[1])
        if trade:
            lines.append(f"  {trade}")
    for other in r.ranked[1:5]:
        lines.append(f"  then {_name(other)} ({_facts(other)})")
    if r.goal != "batch" and best.latency_ms is None and r.sla_ms is not None:
        lines.append(
            "  Its latency is unknown (no p50_latency_ms on the card): not checked against "
            f"{fmt.ms(r.sla_ms)}."
        )
    for slow in r.too_slow:
        lines.append(f"  excluded {_name(slow)}: p50 {fmt.ms(slow.latency_ms)} > {_limit(r, slow)}")
    for missing in r.no_latency:
        lines.append(f"  not ranked {_name(missing)}: no latency on its card")
    for missing in r.unmeasured:
        lines.append(f"  not ranked {_name(missing)}: no {missing.metric} on its card")
    return lines


def _limit(r: Ranking, c: Candidate) -> str:
    if r.sla_ms is not None:
        return f"limit {fmt.ms(r.sla_ms)}"
    return f"its latency SLA {fmt.ms(c.sla_ms)} (models.yaml)"


def _nothing(r: Ranking) -> list[str]:
    if r.too_slow:
        fastest = min(r.too_slow, key=lambda c: c.latency_ms or 0.0)
        limit = f"the {fmt.ms(r.sla_ms)} latency limit" if r.sla_ms else "its latency SLA"
        return [
            f"No {r.task} model meets {limit}; the fastest is "
            f"{_name(fastest)} ({fmt.ms(fastest.latency_ms)} p50)."
        ]
    if r.no_latency:
        names = ", ".join(_name(c) for c in r.no_latency)
        return [
            f"No {r.task} model has a measured latency on its card, so none is recommended "
            f"{_GOAL_WORDS[r.goal]}: {names}."
        ]
    if r.unmeasured:
        names = ", ".join(_name(c) for c in r.unmeasured)
        return [f"Models for {r.task} have no {r.unmeasured[0].metric} yet: {names}."]
    return [f"No {r.task} model can be ranked."]


def recommendation_answer(
    rankings: list[Ranking], asked_task: str | None, known_tasks: list[str]
) -> Answer:
    """One recommendation per task (or the one task asked for)."""
    title = f"Model for {asked_task}" if asked_task else "Recommended models"
    if not rankings:
        hint = f" Known tasks: {', '.join(known_tasks)}." if known_tasks else ""
        what = f"tagged task={quote(asked_task)}" if asked_task else "with a primary metric"
        return Answer(kind="recommendation", title=title, text=f"No models are {what}.{hint}")
    lines: list[str] = []
    for ranking in rankings:
        lines.extend(_ranking_lines(ranking))
    if any(r.goal != "accuracy" or r.sla_ms is not None for r in rankings) or any(
        c.latency_ms is not None for r in rankings for c in r.ranked
    ):
        lines.append(SERVED_LATENCY)
    return Answer(kind="recommendation", title=title, text="\n".join(lines))

"""The offline parser measured on how users really type (tests/agent/data/phrasings.tsv).

Run ``python -m tests.agent.phrasing_table`` for the accuracy per intent and every miss."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from agent.focus import Focus, NextPage, ParseContext, Topic
from agent.intents import INTENT_ADAPTER, Intent
from agent.offline_parser import parse_intent

TABLE = Path(__file__).with_name("data") / "phrasings.tsv"
REGISTRY = ("digits", "mnist-classifier")


@dataclass(frozen=True)
class Row:
    line: int
    context: str
    text: str
    expected: Intent
    models: tuple[str, ...] = REGISTRY
    routes: tuple[tuple[str, str], ...] = ()
    route_rules: tuple[tuple[str, str, str], ...] = ()
    tasks: tuple[str, ...] | None = None
    model_tasks: tuple[tuple[str, str], ...] = ()
    now: datetime | None = None


def _focus(context: str) -> Focus:
    focus = Focus()
    for part in context.split():
        key, _, value = part.partition("=")
        if key == "focus":
            model, version, *previous = value.split(":")
            focus = focus.on(model, int(version))
            if previous:
                focus = focus.model_copy(update={"previous_version": int(previous[0])})
        elif key == "asked":
            focus = focus.answered(value)
        elif key == "topic":
            # "topic=audit,model=digits,since_minutes=1440": the slots of the last request.
            kind, *slots = value.split(",")
            fields = dict(slot.split(":", 1) for slot in slots)
            focus = focus.read(Topic.model_validate({"kind": kind, **fields}))
        elif key == "page":
            kind, where, cursor = value.split(":")
            focus = focus.paged(
                NextPage(kind="audit", model=where, cursor=cursor)
                if kind == "audit"
                else NextPage(kind="list_models", stage=where or None, cursor=cursor)
            )
    return focus


def load(path: Path = TABLE) -> list[Row]:
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("#") or not line.strip():
            continue
        context, text, expected, *extra = line.split("\t")
        intent = INTENT_ADAPTER.validate_python(json.loads(expected))
        rows.append(Row(number, context, text, intent, *_registry(extra[0] if extra else "")))
    return rows


def _registry(
    column: str,
) -> tuple[
    tuple[str, ...],
    tuple[tuple[str, str], ...],
    tuple[tuple[str, str, str], ...],
    tuple[str, ...] | None,
    tuple[tuple[str, str], ...],
    datetime | None,
]:
    """ "models=a,b;routes=r>a;rules=r>X-Priority: critical>b;tasks=t,u;modeltasks=a>t":
    what the registry holds (tasks: unknown unless given; modeltasks: each model's task);
    "now=2026-12-07T12:00:00+00:00": the moment a window like "this month" is measured from."""
    models, routes, rules = REGISTRY, [], []
    tasks: tuple[str, ...] | None = None
    model_tasks: list[tuple[str, str]] = []
    now = None
    for part in filter(None, column.split(";")):
        key, _, value = part.partition("=")
        items = [item.split(">") for item in value.split(",")]
        if key == "models":
            models = tuple(value.split(","))
        elif key == "routes":
            routes = [(route, model) for route, model in items]
        elif key == "rules":
            rules = [(route, when, model) for route, when, model in items]
        elif key == "tasks":
            tasks = tuple(value.split(","))
        elif key == "modeltasks":
            model_tasks = [(model, task) for model, task in items]
        elif key == "now":
            now = datetime.fromisoformat(value)
        else:
            raise ValueError(f"unknown registry key {key!r} in {column!r}")
    return models, tuple(routes), tuple(rules), tasks, tuple(model_tasks), now


def read(row: Row) -> Intent:
    """As the agent does: the rules with the conversation's focus and the registry's names."""
    ctx = ParseContext(
        focus=_focus(row.context),
        models=row.models,
        routes=row.routes,
        route_rules=row.route_rules,
        tasks=row.tasks,
        model_tasks=row.model_tasks,
        now=row.now,
    )
    return parse_intent(row.text, ctx)


@dataclass(frozen=True)
class Report:
    total: int
    misses: list[tuple[Row, Intent]]
    per_kind: dict[str, tuple[int, int]]

    @property
    def accuracy(self) -> float:
        return (self.total - len(self.misses)) / self.total


def evaluate(rows: list[Row]) -> Report:
    seen: Counter[str] = Counter()
    right: Counter[str] = Counter()
    misses = []
    for row in rows:
        got = read(row)
        seen[row.expected.kind] += 1
        if got == row.expected:
            right[row.expected.kind] += 1
        else:
            misses.append((row, got))
    return Report(len(rows), misses, {k: (right[k], n) for k, n in sorted(seen.items())})


def main() -> None:
    report = evaluate(load())
    for kind, (ok, n) in report.per_kind.items():
        print(f"{kind:14} {ok:3}/{n:<3}")
    for row, got in report.misses:
        print(f"MISS line {row.line}: {row.text!r} [{row.context}] -> {got!r}")
    print(f"accuracy {report.accuracy:.1%} on {report.total} phrasings")


if __name__ == "__main__":
    main()

"""The offline reading of chat messages scored on a held-out set written by someone who never
saw the parser (tests/agent/data/chat_heldout.jsonl, how it was made in
chat_heldout.README.md), against the registry state that set assumes.

Run ``python -m tests.agent.heldout`` for the score, every miss and every answer built on a
guessed entity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.focus import Focus, ParseContext
from agent.intents import Intent
from agent.offline_parser import parse_parts

HELDOUT = Path(__file__).with_name("data") / "chat_heldout.jsonl"
#: The registry the set assumes (its README): three models and the `digits` route.
MODELS = ("digits-encoder", "mnist-classifier", "mnist-cnn")
ROUTES = (("digits", "mnist-classifier"),)
STAGES = (
    ("mnist-classifier", "Production", 1),
    ("mnist-classifier", "Staging", 2),
    ("mnist-cnn", "Production", 1),
    ("digits-encoder", "Production", 1),
)
SLOTS = (
    "model",
    "version",
    "stage",
    "against",
    "percent",
    "mode",
    "to_version",
    "guard",
    "task",
    "goal",
    "max_latency_ms",
    "since_minutes",
    "unknown",
    "action",
)


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    history: list[str]
    expect: list[dict[str, Any]]
    note: str = ""


@dataclass
class Score:
    total: int = 0
    right: int = 0
    misses: list[tuple[Item, list[dict[str, Any]]]] = field(default_factory=list)
    guessed: list[tuple[Item, dict[str, Any]]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0


def load(path: Path = HELDOUT) -> list[Item]:
    items = []
    for line in path.read_text().splitlines():
        if line.strip():
            raw = json.loads(line)
            items.append(
                Item(raw["id"], raw["text"], raw.get("history", []), raw["expect"], raw["note"])
            )
    return items


def reading(intent: Intent) -> dict[str, Any]:
    """An intent in the set's vocabulary: kind plus the slots it has."""
    data = intent.model_dump()
    kind = "clarify" if intent.kind in ("unclear", "question") else intent.kind
    return {"kind": kind, **{k: data[k] for k in SLOTS if data.get(k) is not None}}


def read(item: Item) -> list[dict[str, Any]]:
    """As the chat does: earlier messages move the focus, then this message is read."""
    focus = Focus()
    for earlier in item.history:
        for intent in parse_parts(earlier, _context(focus)):
            model, version = getattr(intent, "model", None), getattr(intent, "version", None)
            focus = focus.on(
                model if isinstance(model, str) else None,
                version if isinstance(version, int) else None,
            )
    return [reading(i) for i in parse_parts(item.text, _context(focus))]


def _context(focus: Focus) -> ParseContext:
    return ParseContext(focus=focus, models=MODELS, routes=ROUTES, stages=STAGES)


def matches(got: dict[str, Any], want: dict[str, Any]) -> bool:
    """Every slot the label gives is read the same (a slot the label leaves out is free);
    compare's two versions may come in either order (the set's README)."""
    if got["kind"] != want["kind"]:
        return False
    if want["kind"] == "compare" and {"version", "against"} <= want.keys():
        pair = {got.get("version"), got.get("against")}
        if pair != {want["version"], want["against"]}:
            return False
        want = {k: v for k, v in want.items() if k not in ("version", "against")}
    return all(_same(got.get(k), v) for k, v in want.items() if k != "kind")


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float | int) and isinstance(got, float | int):
        return float(got) == float(want)
    if isinstance(want, str) and isinstance(got, str):
        return got.lower() == want.lower()
    return bool(got == want)


def guessed(got: dict[str, Any], expect: list[dict[str, Any]]) -> bool:
    """An answer built on a guessed entity: a model the registry lacks, a model the message
    does not mean (the set gives `model` whenever the message or its history determines
    one), or any model where the right answer was to ask."""
    model = got.get("model")
    if model is None or got["kind"] == "clarify":
        return False
    meant = {want.get("model") for want in expect if want["kind"] != "clarify"}
    return model not in MODELS or model not in meant


def evaluate(items: list[Item]) -> Score:
    score = Score()
    for item in items:
        got = read(item)
        score.total += 1
        if len(got) == len(item.expect) and all(map(matches, got, item.expect)):
            score.right += 1
        else:
            score.misses.append((item, got))
        score.guessed += [(item, r) for r in got if guessed(r, item.expect)]
    return score


def main() -> None:
    score = evaluate(load())
    for item, got in score.misses:
        print(f"MISS {item.id}: {item.text!r} history={item.history}")
        print(f"     want {item.expect}\n     got  {got}")
    for item, got in score.guessed:
        print(f"GUESSED {item.id}: {item.text!r} -> {got}")
    print(
        f"held-out: {score.right}/{score.total} = {score.accuracy:.1%}; "
        f"answers built on a guessed entity: {len(score.guessed)}"
    )


if __name__ == "__main__":
    main()

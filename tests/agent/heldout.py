"""The offline reading of chat messages scored on held-out sets written by someone who never
saw the parser (tests/agent/data/chat_heldout*.jsonl, how each was made in its README),
against the registry state they assume. Each set is scored on its own.

An answer built on a guessed entity is a reading (other than a question back) that carries
a model, route or task the message and its history do not name (by name, route, typo or
unique part, as the chat recognises names), or one the registry does not have. A model the
message names outright is not a guess, even where the label leaves the slot out (set 2
labels ``unsupported`` without a model). The earlier, stricter definition (any model the
label does not give) is kept as ``guessed_by_label`` and reported beside it.

Run ``python -m tests.agent.heldout [set.jsonl ...]`` for each set's score, every miss and
every answer built on a guessed entity.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent import entities
from agent import phrases as P
from agent.focus import Focus, ParseContext, ProposalRef
from agent.intents import CHANGE_KINDS, Intent, Unclear
from agent.offline_parser import parse_parts
from agent.topics import topic_of

DATA = Path(__file__).with_name("data")
HELDOUT = DATA / "chat_heldout.jsonl"
#: Written later, by someone else who had not seen the chat's code.
HELDOUT2 = DATA / "chat_heldout2.jsonl"
#: Set 2's score with the parser as it was before anything was changed after reading it.
HELDOUT2_FIRST = (82, 100)
#: Written by a third person; scored once blind (85/100), then its misses were read and fixed
#: by class (its README).
HELDOUT3 = DATA / "chat_heldout3.jsonl"
#: Written by a fourth person; scored blind 72/100 (76/100 after a rework made without
#: reading it), then its misses were read and fixed by class (its README).
HELDOUT4 = DATA / "chat_heldout4.jsonl"
#: Written by a fifth person; scored blind 87/100 with the parser as shipped, then its misses
#: were read and fixed by class (its README).
HELDOUT5 = DATA / "chat_heldout5.jsonl"
#: Written by a sixth person; scored blind 73/100, then its misses were read and fixed by
#: class (its README).
HELDOUT6 = DATA / "chat_heldout6.jsonl"
#: Written by a seventh person; scored blind 83/100, then its misses were read and fixed by
#: class (its README).
HELDOUT7 = DATA / "chat_heldout7.jsonl"
#: Written by an eighth person; scored blind 72/100 (76/100 after set 7's fixes), then its
#: misses were read and fixed by class (its README).
HELDOUT8 = DATA / "chat_heldout8.jsonl"
#: Written by a ninth person; scored blind 87/100, then its misses were read and fixed by
#: class (its README).
HELDOUT9 = DATA / "chat_heldout9.jsonl"
#: Written by a tenth person; scored blind 92/100, then its misses were read and fixed by
#: class (its README).
HELDOUT10 = DATA / "chat_heldout10.jsonl"
#: Written by an eleventh person; scored blind 88/100, then its misses were read and fixed
#: by class (its README).
HELDOUT11 = DATA / "chat_heldout11.jsonl"
#: Written by a twelfth person; scored blind 83/100, then its misses were read and fixed
#: by class (its README).
HELDOUT12 = DATA / "chat_heldout12.jsonl"
#: Written by a thirteenth person; scored blind 75/100, then its misses were read and fixed
#: by class (its README).
HELDOUT13 = DATA / "chat_heldout13.jsonl"
#: Written by a fourteenth person; scored blind 83/100, then its misses were read and fixed
#: by class (its README).
HELDOUT14 = DATA / "chat_heldout14.jsonl"
#: Written by a fifteenth person; scored blind 89/100, then its misses were read and fixed
#: by class (its README).
HELDOUT15 = DATA / "chat_heldout15.jsonl"
#: Written by a sixteenth person; scored blind 87/100, and 89/100 unread after sets 17-19 were
#: fixed; its misses were shown after that, nothing was changed from them (its README).
HELDOUT16 = DATA / "chat_heldout16.jsonl"
#: Written by a seventeenth and an eighteenth person at the same time; each scored blind
#: 88/100, then their misses were read and fixed by class (their READMEs).
HELDOUT17 = DATA / "chat_heldout17.jsonl"
HELDOUT18 = DATA / "chat_heldout18.jsonl"
#: Written by a nineteenth person; scored blind 87/100 with the chat after sets 17 and 18 were
#: fixed, then its misses were read and fixed by class (its README).
HELDOUT19 = DATA / "chat_heldout19.jsonl"
#: Written by a twentieth person; scored blind 89/100, then its misses were read and fixed by
#: class (its README).
HELDOUT20 = DATA / "chat_heldout20.jsonl"
#: Written by a twenty-first and a twenty-second person at the same time; scored blind 88/100
#: and 92/100 with the chat after set 20 was fixed. Set 21's misses were then read and fixed by
#: class; set 22's were not (their READMEs).
HELDOUT21 = DATA / "chat_heldout21.jsonl"
HELDOUT22 = DATA / "chat_heldout22.jsonl"
#: Written by a twenty-third and a twenty-fourth person at the same time; scored blind 89/100
#: and 80/100 with the chat after sets 20 and 21 were fixed. Set 24's misses were then read
#: and fixed by class; set 23's were not (their READMEs).
HELDOUT23 = DATA / "chat_heldout23.jsonl"
HELDOUT24 = DATA / "chat_heldout24.jsonl"
HELDOUT25 = DATA / "chat_heldout25.jsonl"
HELDOUT26 = DATA / "chat_heldout26.jsonl"
HELDOUT27 = DATA / "chat_heldout27.jsonl"
HELDOUT28 = DATA / "chat_heldout28.jsonl"
#: Written by two more people at the same time; their notes give a day anchor's window as a
#: range ("any value from 4320 to 5760 is fine"), which ``matches`` reads.
HELDOUT29 = DATA / "chat_heldout29.jsonl"
HELDOUT30 = DATA / "chat_heldout30.jsonl"
#: Three sets written at the same time by three writers (31 and 33 from the same brief: a night
#: on call and its handover; 32: a platform team's week), then two more (34, 35).
HELDOUT31 = DATA / "chat_heldout31.jsonl"
HELDOUT32 = DATA / "chat_heldout32.jsonl"
HELDOUT33 = DATA / "chat_heldout33.jsonl"
HELDOUT34 = DATA / "chat_heldout34.jsonl"
HELDOUT35 = DATA / "chat_heldout35.jsonl"
#: Two more, written at the same time with the chat as it stood after sets 31 to 35.
HELDOUT36 = DATA / "chat_heldout36.jsonl"
HELDOUT37 = DATA / "chat_heldout37.jsonl"
HELDOUT38 = DATA / "chat_heldout38.jsonl"
HELDOUT39 = DATA / "chat_heldout39.jsonl"
HELDOUT40 = DATA / "chat_heldout40.jsonl"
HELDOUT41 = DATA / "chat_heldout41.jsonl"
HELDOUT42 = DATA / "chat_heldout42.jsonl"
HELDOUT43 = DATA / "chat_heldout43.jsonl"
HELDOUT44 = DATA / "chat_heldout44.jsonl"
HELDOUT45 = DATA / "chat_heldout45.jsonl"
HELDOUT46 = DATA / "chat_heldout46.jsonl"
HELDOUT47 = DATA / "chat_heldout47.jsonl"
HELDOUT48 = DATA / "chat_heldout48.jsonl"
HELDOUT49 = DATA / "chat_heldout49.jsonl"
HELDOUT50 = DATA / "chat_heldout50.jsonl"
HELDOUT51 = DATA / "chat_heldout51.jsonl"
HELDOUT52 = DATA / "chat_heldout52.jsonl"
HELDOUT53 = DATA / "chat_heldout53.jsonl"
HELDOUT54 = DATA / "chat_heldout54.jsonl"
HELDOUT55 = DATA / "chat_heldout55.jsonl"
HELDOUT56 = DATA / "chat_heldout56.jsonl"
HELDOUT57 = DATA / "chat_heldout57.jsonl"
SETS = (
    HELDOUT,
    HELDOUT2,
    HELDOUT3,
    HELDOUT4,
    HELDOUT5,
    HELDOUT6,
    HELDOUT7,
    HELDOUT8,
    HELDOUT9,
    HELDOUT10,
    HELDOUT11,
    HELDOUT12,
    HELDOUT13,
    HELDOUT14,
    HELDOUT15,
    HELDOUT16,
    HELDOUT17,
    HELDOUT18,
    HELDOUT19,
    HELDOUT20,
    HELDOUT21,
    HELDOUT22,
    HELDOUT23,
    HELDOUT24,
    HELDOUT25,
    HELDOUT26,
    HELDOUT27,
    HELDOUT28,
    HELDOUT29,
    HELDOUT30,
    HELDOUT31,
    HELDOUT32,
    HELDOUT33,
    HELDOUT34,
    HELDOUT35,
    HELDOUT36,
    HELDOUT37,
    HELDOUT38,
    HELDOUT39,
    HELDOUT40,
    HELDOUT41,
    HELDOUT42,
    HELDOUT43,
    HELDOUT44,
    HELDOUT45,
    HELDOUT46,
    HELDOUT47,
    HELDOUT48,
    HELDOUT49,
    HELDOUT50,
    HELDOUT51,
    HELDOUT52,
    HELDOUT53,
    HELDOUT54,
    HELDOUT55,
    HELDOUT56,
    HELDOUT57,
)
#: The registry the sets assume (their READMEs): three models and the `digits` route.
MODELS = ("digits-encoder", "mnist-classifier", "mnist-cnn")
ROUTES = (("digits", "mnist-classifier"),)
#: ... and `digits` sends requests with the header `X-Priority: critical` to mnist-cnn.
ROUTE_RULES = (("digits", "X-Priority: critical", "mnist-cnn"),)
TASKS = ("classification", "feature-extraction")
MODEL_TASKS = (
    ("digits-encoder", "feature-extraction"),
    ("mnist-classifier", "classification"),
    ("mnist-cnn", "classification"),
)
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
    #: The set's "today" (its README), from which "since Friday" and "last week" are measured.
    now: datetime | None = None


@dataclass
class Score:
    total: int = 0
    right: int = 0
    misses: list[tuple[Item, list[dict[str, Any]]]] = field(default_factory=list)
    guessed: list[tuple[Item, dict[str, Any]]] = field(default_factory=list)
    guessed_by_label: list[tuple[Item, dict[str, Any]]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0


def load(path: Path = HELDOUT) -> list[Item]:
    now = written_for(path)
    items = []
    for line in path.read_text().splitlines():
        if line.strip():
            raw = json.loads(line)
            items.append(
                Item(
                    raw["id"], raw["text"], raw.get("history", []), raw["expect"], raw["note"], now
                )
            )
    return items


#: How a set's README states the day its windows are measured from: "today is Sunday
#: 2026-12-06", '"Today" is **Monday 2026-12-07**', "Date: Monday 2026-12-07" (the brief's day).
_TODAY_SAID = re.compile(
    r"(?:\btoday\b[\"*\s]*(?:in\s+the\s+messages\s+)?(?:is\s+)?|\bDate:\W*)\**"
    r"(?:Sunday|Monday)\s+(\d{4})-(\d{2})-(\d{2})",
    re.I,
)

#: "Date: 2026-12-07 (Monday)" (set 53): the date, then its day.
_DATE_THEN_DAY = re.compile(r"\bDate:\W*(\d{4})-(\d{2})-(\d{2})\s*\((?:Sunday|Monday)\)", re.I)


def written_for(path: Path) -> datetime:
    """The "today" a set was written for, as its README states it (noon UTC); ``NOW`` when
    the README states none (the first sets, all written for Sunday 2026-12-06)."""
    readme = path.with_name(path.name.removesuffix(".jsonl") + ".README.md")
    text = readme.read_text() if readme.is_file() else ""
    said = _TODAY_SAID.search(text) or _DATE_THEN_DAY.search(text)
    if said is None:
        return NOW
    year, month, day = (int(part) for part in said.groups())
    return datetime(year, month, day, 12, 0, tzinfo=UTC)


#: The slot a change read with one thing missing asks for (the chat asks back, keeping it).
ASKS_BACK = "asks_back"


def reading(intent: Intent) -> dict[str, Any]:
    """An intent in the set's vocabulary: kind plus the slots it has."""
    if isinstance(intent, Unclear) and intent.partial is not None and intent.unknown is None:
        # "promote v4" -> "which model?": the change read, asked to be completed.
        data = intent.partial.model_dump(exclude={"missing"})
        slots = {k: v for k, v in data.items() if v is not None}
        return {"kind": intent.partial.kind, **slots, ASKS_BACK: intent.partial.missing}
    data = intent.model_dump()
    kind = "clarify" if intent.kind in ("unclear", "question") else intent.kind
    return {"kind": kind, **{k: data[k] for k in SLOTS if data.get(k) is not None}}


def read(item: Item) -> list[dict[str, Any]]:
    """As the chat does: earlier messages move the focus, then this message is read."""
    focus = Focus()
    now = item.now or NOW
    for earlier in item.history:
        parts = parse_parts(earlier, _context(focus, now))
        # What a follow-up keeps of it (the chat's understand node does the same).
        focus = focus.read(topic_of(parts[-1], earlier, _context(focus, now)))
        for intent in parts:
            model, version = getattr(intent, "model", None), getattr(intent, "version", None)
            focus = focus.on(
                model if isinstance(model, str) else None,
                version if isinstance(version, int) else None,
            )
            if intent.kind in _ANSWERED:
                focus = focus.answered(intent.kind)
            if intent.kind in CHANGE_KINDS and isinstance(version, int) and model:
                # The chat proposes the change: "bump it to 50" may lean on that proposal.
                mode = getattr(intent, "mode", None)
                ref = ProposalRef(
                    kind=intent.kind,
                    model=model,
                    version=version,
                    mode=mode,
                    guard=getattr(intent, "guard", False) is True,
                )
                focus = focus.proposed(ref)
    return [reading(i) for i in parse_parts(item.text, _context(focus, now))]


#: The day the sets were written for unless their README names another ("today is Sunday
#: 2026-12-06"; sets 38 on say Monday 2026-12-07): "since Friday" and "over the weekend" are
#: measured from it, whatever day the sets are scored on.
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _context(focus: Focus, now: datetime = NOW) -> ParseContext:
    return ParseContext(
        focus=focus,
        models=MODELS,
        routes=ROUTES,
        route_rules=ROUTE_RULES,
        stages=STAGES,
        tasks=TASKS,
        model_tasks=MODEL_TASKS,
        now=now,
    )


#: Kinds the chat answers from the registry (queries.answer records them as asked).
_ANSWERED = ("list_models", "model_info", "serving", "audit", "pending", "compare")


def matches(got: dict[str, Any], want: dict[str, Any], note: str = "") -> bool:
    """Every slot the label gives is read the same (a slot the label leaves out is free);
    compare's two versions may come in either order (the set's README); a time the note
    calls approximate "up to" N minutes may be any positive value up to N (set 2's README)."""
    if want["kind"] == "clarify" and "unknown" not in want and got.get(ASKS_BACK) == "model":
        # A change naming no model, asked back with the change kept: what "clarify" asks of
        # it (sets 1-10), and the change with its model left out (the later sets' labels).
        return True
    if got["kind"] != want["kind"]:
        return False
    want = _stage_as_version(want)
    if want["kind"] == "compare" and {"version", "against"} <= want.keys():
        pair = {got.get("version"), got.get("against")}
        if pair != {want["version"], want["against"]}:
            return False
        want = {k: v for k, v in want.items() if k not in ("version", "against")}
    if "any positive value up to" in note and isinstance(got.get("since_minutes"), int):
        if not 0 < got["since_minutes"] <= want.get("since_minutes", 0):
            return False
        want = {k: v for k, v in want.items() if k != "since_minutes"}
    # "any value from 4320 to 5760 is fine", "2880-4320 fine" (sets 29 and 30): a day anchor
    # with the time of day unknown, the range the note gives around the label's upper bound.
    ranges = [(int(a), int(b)) for pattern in _RANGES for a, b in pattern.findall(note)]
    span = next((r for r in ranges if r[1] == want.get("since_minutes")), None)
    if span is not None and isinstance(got.get("since_minutes"), int):
        if not span[0] <= got["since_minutes"] <= span[1]:
            return False
        want = {k: v for k, v in want.items() if k != "since_minutes"}
    return all(_same(got.get(k), v) for k, v in want.items() if k != "kind")


_RANGES = (
    # "any value from 1440 to 2880 is right" (set 50)
    re.compile(r"(\d+)\s*(?:to|-)\s*(\d+)\s+(?:is\s+)?(?:fine|right|correct|ok)\b"),
    # "any value from the minutes since Thu 00:00 (at least 5760) up to 7200 is fine" (set 44)
    re.compile(r"\bat\s+least\s+(\d+)\b[^.;]*?\bup\s+to\s+(\d+)\s+is\s+fine"),
    # "7200-8640 minutes depending on the hour; any value in that range is fine"
    re.compile(
        r"(\d+)\s*(?:to|-)\s*(\d+)\s+minutes\b[^.]*?\bany\s+value\s+in\s+(?:that|this|the)\s+range\b"
    ),
)


def _stage_as_version(want: dict[str, Any]) -> dict[str, Any]:
    """Set 6 labels a comparison with a stage by its name (``"against": "Staging"``, its
    README); in the state the sets assume that is the version holding the stage."""
    against = want.get("against")
    if want["kind"] != "compare" or not isinstance(against, str):
        return want
    held = {(m, s.lower()): v for m, s, v in STAGES}
    version = held.get((want.get("model", ""), against.lower()))
    return want if version is None else {**want, "against": version}


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float | int) and isinstance(got, float | int):
        return float(got) == float(want)
    if isinstance(want, str) and isinstance(got, str):
        return got.lower() == want.lower()
    return bool(got == want)


def guessed(got: dict[str, Any], item: Item) -> bool:
    """An answer built on a guessed entity (the module docstring): a model or task the
    registry lacks, or a model the message and its history do not name."""
    if got["kind"] == "clarify":
        return False
    task = got.get("task")
    if task is not None and task not in TASKS:
        return True
    model = got.get("model")
    if model is None:
        return False
    return model not in MODELS or model not in named(item)


def named(item: Item) -> set[str]:
    """The registry models the message or its history names, as the chat recognises them;
    a route's rule counts when the conversation names both ("what serves the digits route?",
    then "and with the critical header?")."""
    ctx = _context(Focus())
    conversation = "\n".join((*item.history, item.text))
    # The chat reads a rule only in the sentence that names the route; across turns the
    # conversation still names both.
    rules = {
        entities.ruled(route, conversation, ctx) for route, _ in ROUTES if route in conversation
    }
    return {
        found.model
        for text in (*item.history, item.text, conversation)
        for found in entities.find_models(text, ctx, P.STOPWORDS)
    } | {model for model in rules if model is not None}


def guessed_by_label(got: dict[str, Any], expect: list[dict[str, Any]]) -> bool:
    """The earlier definition: a model the registry lacks, a model the label does not give
    (the label gives `model` whenever the message or its history determines one), or any
    model where the right answer was to ask."""
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
        right = all(matches(g, w, item.note) for g, w in zip(got, item.expect, strict=False))
        if len(got) == len(item.expect) and right:
            score.right += 1
        else:
            score.misses.append((item, got))
        score.guessed += [(item, r) for r in got if guessed(r, item)]
        score.guessed_by_label += [(item, r) for r in got if guessed_by_label(r, item.expect)]
    return score


def main() -> None:
    paths = [Path(arg) for arg in sys.argv[1:]] or list(SETS)
    for path in paths:
        score = evaluate(load(path))
        print(f"== {path.name}")
        for item, got in score.misses:
            print(f"MISS {item.id}: {item.text!r} history={item.history}")
            print(f"     want {item.expect}\n     got  {got}")
        for item, got in score.guessed:
            print(f"GUESSED {item.id}: {item.text!r} -> {got}")
        print(
            f"{path.name}: {score.right}/{score.total} = {score.accuracy:.1%}; answers built on "
            f"a guessed entity: {len(score.guessed)} "
            f"(by the label's model: {len(score.guessed_by_label)})"
        )


if __name__ == "__main__":
    main()

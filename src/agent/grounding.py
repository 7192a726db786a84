"""Grounding: an LLM's reading of a request may only use what the user typed (and the
conversation's focus), and a phrased answer only names and numbers from this turn's tool
results."""

from __future__ import annotations

import re
from collections.abc import Collection

from agent import entities
from agent.focus import Focus, ParseContext
from agent.intents import CHANGE_KINDS, Intent
from agent.not_asked import not_asked_for
from agent.phrases import STOPWORDS
from agent.wording import normalise

# Verbs a user asking for a stage change would use; naming a stage alone is not a request.
_CHANGE_WORDS = re.compile(
    r"\b(promot\w*|roll\s*back|rollback|revert\w*|deploy\w*|releas\w*|ship\w*|mov\w*|put|"
    r"go\s+live|make\s+\S+\s+live|canar\w*|shadow\w*|send|split)\b",
    re.I,
)


_REFERS = re.compile(
    r"\b(?:it|its|that|this|same|previous|prior|earlier|recommended|one|latter|former)\b", re.I
)


def quoted_from(rationale: str | None, text: str) -> bool:
    """A rationale the LLM extracted must be the user's words (case and spacing aside)."""

    def squash(value: str) -> str:
        return " ".join(value.lower().split())

    return rationale is None or squash(rationale) in squash(text)


def grounded(
    intent: Intent, text: str, focus: Focus | None = None, named: Collection[str] = ()
) -> bool:
    """An LLM reading may only name a change, model or version the user's text contains, or
    the model and version under discussion when the text refers to them ("promote it").
    ``named``: registry models the text names by a typo, a unique part or a route."""
    if getattr(intent, "kind", None) in CHANGE_KINDS and not _CHANGE_WORDS.search(text):
        return False
    lowered = text.lower()
    refers = _REFERS.search(text) is not None
    model = getattr(intent, "model", None)
    in_focus = focus is not None and model == focus.model
    said = isinstance(model, str) and (model.lower() in lowered or model in named)
    if isinstance(model, str) and not said and not in_focus:
        return False
    numbers = {int(n) for n in re.findall(r"\d+", text)}
    if focus is not None and refers and model == focus.model:
        numbers |= {v for v in (focus.version, focus.previous_version) if v is not None}
    for field in ("version", "to_version", "against"):
        value = getattr(intent, field, None)
        if isinstance(value, int) and value not in numbers:
            return False
    percent = getattr(intent, "percent", None)
    if isinstance(percent, float) and not any(
        abs(percent - float(n)) < 1e-9 for n in re.findall(r"\d+(?:\.\d+)?", text)
    ):
        return False
    # A guard only when the user asked for one.
    return not getattr(intent, "guard", False) or re.search(r"\bguard", text, re.I) is not None


def reading_problem(intent: Intent, text: str, context: ParseContext) -> str | None:
    """Why the chat cannot use an LLM's reading of ``text`` (one line for the user), or None.

    The reading must match the user's words (``grounded``) and name only models the
    registry has; otherwise the rules read the message instead."""
    names = context.models or ()
    named = {f.model for f in entities.find_models(normalise(text, names), context, STOPWORDS)}
    if not grounded(intent, text, context.focus, named):
        # E.g. steered by registry text it was shown: the user's own words decide.
        return "The language model's reading did not match your words; used the rules."
    model = getattr(intent, "model", None)
    if isinstance(model, str) and context.models is not None and model not in context.models:
        return f"The language model read a model {model!r} the registry lacks; used the rules."
    if intent.kind in CHANGE_KINDS and (why := not_asked_for([intent.kind], text)) is not None:
        # "never promote x v3": the change is named but not asked for, whoever reads it.
        return f"The language model read a {intent.kind}, but the message {why}; used the rules."
    return None


# ------------------------------------------------------------- phrased answers

#: Result fields holding user-written text: data, never a source of names or numbers.
FREE_TEXT = frozenset(
    {
        "description",
        "tags",
        "rationale",
        "reason",
        "owner",
        "training_dataset",
        "preprocessing",
        "intended_use",
        "limitations",
        "summary",
        "message",
        "detail",
        "unapproved_change",
        "text",
        "approve_command",
        "deny_command",
    }
)
_NAME_KEYS = frozenset({"name", "model"})
#: Words that stand before a version in prose without being a model's name.
_NOT_NAME_WORDS = (
    "version model than over from and vs versus to with against of is was on in at or "
    "between before after like same production staging archived none prod stage candidate "
    "baseline target previous latest current new old is replaces replacing"
)
_NOT_NAMES = frozenset(_NOT_NAME_WORDS.split())
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(\s*%|\s*points?\b|\s*pp\b)?(?![\w.]*[A-Za-z])")
_VERSION_REF = re.compile(r"(?:\bv|\bversion\s+|:v?)(\d+)\b", re.I)
_NAME_BEFORE_VERSION = re.compile(
    r"`?([A-Za-z][\w.\-]*)`?(?:\s+|:)(?:v|version\s+)\d+\b|`([A-Za-z][\w.\-]*):v?\d+`", re.I
)


class Facts:
    """Names, versions and numbers found in this turn's tool results."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.versions: set[int] = set()
        self.numbers: set[float] = set()
        self.fractions: set[float] = set()
        """Float values within [-1, 1]: the only ones that may be shown as a percentage."""

    def add(self, value: object, key: str = "") -> None:
        if key in FREE_TEXT:
            return
        if isinstance(value, dict):
            for k, v in value.items():
                self.add(v, str(k))
        elif isinstance(value, list):
            self.numbers.add(float(len(value)))
            for item in value:
                self.add(item, key)
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, int | float):
            self.numbers.add(float(value))
            if isinstance(value, float) and -1.0 <= value <= 1.0:
                self.fractions.add(value)
            if isinstance(value, int) and ("version" in key or key == "previous"):
                self.versions.add(value)
            if key in ("loaded_versions", "rollback_target"):
                self.versions.add(int(value))
        elif isinstance(value, str):
            if key in _NAME_KEYS:
                self.names.add(value.lower())
            # Timestamps, ids and digests: their digits may be quoted ("on 2026-11-27").
            self.numbers.update(float(n) for n in re.findall(r"\d+", value))


def _matches(number: float, decimals: int, percent: bool, facts: Facts) -> bool:
    tolerance = 0.5 * 10**-decimals + 1e-9
    # Signs are worded ("+4.0 points", "down 0.02"): compare magnitudes.
    if any(abs(abs(x) - number) <= tolerance for x in facts.numbers):
        return True
    return percent and any(abs(abs(x) * 100 - number) <= tolerance for x in facts.fractions)


def answer_problems(text: str, facts: Facts, known_names: set[str]) -> list[str]:
    """Every model name, version and number in ``text`` that is not in ``facts``.

    ``known_names`` are model names from earlier turns: naming one that this turn's results
    do not contain is a problem too."""
    problems: list[str] = []
    for match in _NAME_BEFORE_VERSION.finditer(text):
        name = (match.group(1) or match.group(2) or "").lower()
        if name and name not in facts.names and name not in _NOT_NAMES:
            problems.append(f"model {name!r}")
    for name in known_names:
        if re.search(rf"(?<![\w.\-]){re.escape(name)}(?![\w\-])", text, re.I) and (
            name.lower() not in facts.names
        ):
            problems.append(f"model {name!r}")
    spans: list[tuple[int, int]] = []
    for match in _VERSION_REF.finditer(text):
        spans.append(match.span())
        if int(match.group(1)) not in facts.versions:
            problems.append(f"version v{match.group(1)}")
    for match in _NUMBER.finditer(text):
        if any(start <= match.start() < end for start, end in spans):
            continue
        raw = match.group(1)
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        if not _matches(float(raw), decimals, match.group(2) is not None, facts):
            problems.append(f"number {raw}{(match.group(2) or '').strip()}")
    return sorted(set(problems))


#: The model speaking of a change as its own act or offer: it has no tool for one.
_CLAIMS_CHANGE = re.compile(
    r"\b(?:I|we)(?:'ve| have| will|'ll| can| just| already)?\s+(?:now\s+)?"
    r"(?:promoted|promote|rolled back|roll back|approved|approve|deployed|deploy|moved|move|"
    r"changed|switched|reverted|revert)\b"
    r"|\b(?:shall|should) I (?:promote|roll back|approve|deploy|move|revert)\b"
    r"|\bdo you want me to (?:promote|roll back|approve|deploy|move|revert)\b",
    re.I,
)


def claims_change(text: str) -> bool:
    """Whether a phrased answer claims or offers a stage change by the model itself."""
    return _CLAIMS_CHANGE.search(text) is not None

"""Intent parsing without a network: keyword and pattern rules over the user's own words.

It only ever reads what the user typed (never registry text), so data in the registry
cannot steer it. Whatever it cannot place becomes ``Unclear`` and the agent asks again.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from agent.intents import (
    AuditLog,
    CompareVersions,
    Help,
    Intent,
    ListModels,
    ModelDetails,
    Parsed,
    PendingApprovals,
    Promote,
    Rollback,
    SelectModel,
    ServingStatus,
    Unclear,
)
from agent.tool_results import StageName

_TOKEN = re.compile(r"[A-Za-z0-9][\w.\-]*")
_VERSION = re.compile(r"^(?:v|version)?(\d+)$", re.I)
_NAME_THEN_VERSION = re.compile(r"\b([A-Za-z0-9][\w.\-]*?)\s+(?:v|version\s*)(\d+)\b", re.I)
_STAGE_WORD = re.compile(r"\b(prod(?:uction)?|staging|archived?)\b", re.I)
_TO_STAGE = re.compile(r"\bto\s+(prod(?:uction)?|staging|archived?|none)\b", re.I)
_TO_VERSION = re.compile(r"\bto\s+(?:v|version\s*)?(\d+)\b", re.I)
_AGAINST = re.compile(r"\b(?:with|against|vs\.?|versus|to)\s+(?:v|version\s*)(\d+)\b", re.I)
_WHY = re.compile(r"\b(?:because|since|reason:|rationale:|why:)\s*(.+)$", re.I | re.S)
_LATENCY = re.compile(
    r"\b(?:under|within|below|less than|at most|<=?)\s*(\d+(?:\.\d+)?)\s*ms\b", re.I
)
_FOR_TASK = re.compile(
    r"\bfor\s+(?:an?\s+|the\s+)?([a-z][\w\- ]*?)(?:\s+tasks?)?\s*"
    r"(?:$|[?.!,]|\b(?:under|within|below|less|at most|with|that|which)\b)",
    re.I,
)
_LIST = (
    r"\bmodels\b|^(?:list|ls)\b"
    r"|\b(?:what|which)(?:s| is| are)?\b.*\b(?:in|on)\s+(?:prod(?:uction)?|staging)\b"
)

_COMMON_WORDS = """
    a about against all an and any are as at audit back be best by can changed changes compare
    current currently deploy deployed describe detail details did do does for from get give go
    happened has have history how i in info information is it its latest list live log made
    make me model models move moved my now of on or please prod production promote promoted put
    recommend release released revert rollback roll rolled serve served serves serving shall
    ship should show stage staging status suggest tell that the this to use used version
    versions vs versus was what whats which who why will with would you your archived archive
    none pending approval approvals proposals proposal waiting
    """
STOPWORDS = frozenset(_COMMON_WORDS.split())


def _stage(word: str) -> StageName:
    word = word.lower()
    if word.startswith("prod"):
        return "Production"
    if word.startswith("stag"):
        return "Staging"
    if word.startswith("arch"):
        return "Archived"
    return "None"


def _model(text: str, start: int = 0) -> str | None:
    """The first word after ``start`` that can be a model name and is not a common word."""
    for match in _TOKEN.finditer(text, start):
        word = match.group(0).rstrip(".-")
        if word.lower() in STOPWORDS or _VERSION.match(word):
            continue
        return word
    return None


def _model_version(text: str, start: int = 0) -> tuple[str | None, int | None]:
    for match in _NAME_THEN_VERSION.finditer(text, start):
        if match.group(1).lower() not in STOPWORDS:
            return match.group(1), int(match.group(2))
    model = _model(text, start)
    found = re.search(r"\b(?:v|version\s*)(\d+)\b", text[start:], re.I)
    return model, int(found.group(1)) if found else None


def _why(text: str) -> tuple[str, str | None]:
    match = _WHY.search(text)
    if match is None:
        return text, None
    return text[: match.start()], match.group(1).strip() or None


def _has(pattern: str, text: str) -> re.Match[str] | None:
    return re.search(pattern, text, re.I)


def parse_intent(text: str) -> Intent:
    """The user's request as an intent; ``Unclear`` when no rule fits."""
    text = re.sub(r"(\w)['’](\w)", r"\1\2", text.strip())  # what's -> whats
    if not text:
        return Unclear(reason="empty message")
    if _has(r"^/?help\b|\bwhat can you do\b|^\?$", text):
        return Help()
    if _has(r"\bpending\b|\bawaiting approval\b|\bwaiting for (?:a )?(?:human|approval)\b", text):
        return PendingApprovals(model=_model(text))
    if found := _has(r"\b(?:roll\s*back|rollback|revert)\b", text):
        head, why = _why(text)
        model = _model(head, found.end())
        if model is None:
            return Unclear(reason="Which model should be rolled back? e.g. 'roll back digits'.")
        target = _TO_VERSION.search(head, found.end())
        return Rollback(
            model=model, to_version=int(target.group(1)) if target else None, rationale=why
        )
    if found := _has(r"\b(?:promote|deploy|release|ship|move|put)\b", text):
        head, why = _why(text)
        model, version = _model_version(head, found.end())
        if model is None or version is None:
            return Unclear(reason="Say which model and version, e.g. 'promote digits v3'.")
        stage = _TO_STAGE.search(head) or _has(r"\b(?:in|into)\s+(prod(?:uction)?|staging)\b", head)
        return Promote(
            model=model,
            version=version,
            stage=_stage(stage.group(1)) if stage else "Production",
            rationale=why,
        )
    if found := _has(r"\b(?:compare|diff)\b", text):
        model, version = _model_version(text, found.end())
        if model is None or version is None:
            return Unclear(reason="Say what to compare, e.g. 'compare digits v3 with v1'.")
        rest = _NAME_THEN_VERSION.search(text, found.end())
        against = _AGAINST.search(text, rest.end() if rest else found.end())
        return CompareVersions(
            model=model, version=version, against=int(against.group(1)) if against else None
        )
    if found := _has(
        r"\baudit\b|\bhistory\b|\bwho\s+(?:changed|promoted|moved|rolled|approved)\b", text
    ):
        return AuditLog(model=_model(text, 0))
    if _has(r"\b(?:recommend|suggest|best)\b|\bwhich model should\b|\bwhat model should\b", text):
        task = _FOR_TASK.search(text)
        latency = _LATENCY.search(text)
        if task is None:
            return Unclear(
                reason="For which task? e.g. 'Which model should I use for classification?'"
            )
        words = [w for w in task.group(1).split() if w.lower() not in {"a", "an", "the", "task"}]
        return SelectModel(
            task=" ".join(words) or task.group(1),
            max_latency_ms=float(latency.group(1)) if latency else None,
        )
    if found := _has(r"\b(?:serving|served|serves|live|deployed)\b", text):
        model = _model(text, 0)
        if model is None:
            return ListModels(stage="Production")
        return ServingStatus(model=model)
    if _has(_LIST, text):
        stage = _STAGE_WORD.search(text)
        task = _has(r"\b([a-z][\w\-]*)\s+models\b", text)
        task_name = task.group(1) if task and task.group(1).lower() not in STOPWORDS else None
        return ListModels(stage=_stage(stage.group(1)) if stage else None, task=task_name)
    model, version = _model_version(text)
    if model is not None and (
        version is not None or _has(r"\b(?:show|describe|info|details|about|card)\b", text)
    ):
        return ModelDetails(model=model, version=version)
    return Unclear(reason="I did not understand that.")


class OfflineParser:
    """The IntentParser used without an LLM, and the LLM parser's fallback."""

    async def parse(self, text: str, history: list[str]) -> Parsed:
        try:
            intent = parse_intent(text)
        except ValidationError:
            # A name or number outside the allowed shape (e.g. a 300-character "model").
            intent = Unclear(reason="That names a model or version I cannot use.")
        return Parsed(intent=intent, source="offline")

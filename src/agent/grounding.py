"""Checks that an LLM's reading of a request only uses what the user actually typed."""

from __future__ import annotations

import re

from agent.intents import CHANGE_KINDS, Intent

# Verbs a user asking for a stage change would use; naming a stage alone is not a request.
_CHANGE_WORDS = re.compile(
    r"\b(promot\w*|roll\s*back|rollback|revert\w*|deploy\w*|releas\w*|ship\w*|mov\w*|put|"
    r"go\s+live|make\s+\S+\s+live)\b",
    re.I,
)


def quoted_from(rationale: str | None, text: str) -> bool:
    """A rationale the LLM extracted must be the user's words (case and spacing aside)."""

    def squash(value: str) -> str:
        return " ".join(value.lower().split())

    return rationale is None or squash(rationale) in squash(text)


def grounded(intent: Intent, text: str) -> bool:
    """An LLM reading may only name a change, model or version the user's text contains."""
    if getattr(intent, "kind", None) in CHANGE_KINDS and not _CHANGE_WORDS.search(text):
        return False
    lowered = text.lower()
    model = getattr(intent, "model", None)
    if isinstance(model, str) and model.lower() not in lowered:
        return False
    numbers = {int(n) for n in re.findall(r"\d+", text)}
    for field in ("version", "to_version", "against"):
        value = getattr(intent, field, None)
        if isinstance(value, int) and value not in numbers:
            return False
    return True

"""Normalises what the user typed before the offline rules read it: contractions, glued or
misspelled command words ("clearwhat", "promte", "prodction"), and model-name typos against
the registry's names when they are known. Model names themselves are never rewritten into
command words."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

#: Words the rules key on; a misspelling of one of these is corrected.
_VOCABULARY_WORDS = """
    accurate accuracy approval approvals approve approved audit batch between best change
    changed changes classification classifier compare comparison critical current deploy
    deployed describe description details difference fastest faster history latency latest
    list live model models pending please previous production promote promoted quickest
    recommend regression release requests rollback serving show staging suggest version
    versions what which canary shadow mirror guard guarded percent traffic match matches
    """
VOCABULARY = frozenset(_VOCABULARY_WORDS.split())
#: English words a command word is close to, that are not its typo ("staying", "modes").
_ENGLISH = frozenset(
    [
        "staying",
        "stating",
        "staring",
        "stable",
        "modes",
        "modal",
        "father",
        "product",
        "products",
        "productive",
        "relapse",
        "regarded",
        "currency",
        "swerving",
        "classified",
    ]
)
#: Short words a glued prefix or suffix can be split from ("clearwhat" -> "what").
_GLUE = ("what", "which", "show", "list", "promote", "compare", "models", "rollback")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")
#: Short forms people type for stages and moves ("v3->stg", "stg vs prod").
ABBREVIATIONS = {
    "stg": "staging",
    "stag": "staging",
    "stging": "staging",
    "prd": "prod",
    "rb": "roll back",
}
#: A whole word only, never part of a name ("stg-copy" stays).
_ABBREVIATED = re.compile(r"(?<![\w.\-])(" + "|".join(ABBREVIATIONS) + r")(?![\w\-]|\.\w)", re.I)
_ARROW = re.compile(r"\s*(?:-->|->|=>|→)\s*")


def _fix(word: str, protected: frozenset[str]) -> str:
    low = word.lower()
    if low in VOCABULARY or low in protected or not word.isalpha() or len(word) < 5:
        return word
    if any(low.startswith(v) and len(low) - len(v) <= 3 for v in VOCABULARY):
        return word  # an inflection ("recommended", "promotion"), not a typo
    for glued in _GLUE:
        if low.endswith(glued) and len(low) - len(glued) >= 2:
            return glued
        if low.startswith(glued) and len(low) - len(glued) >= 2 and low[len(glued) :] != "s":
            rest = word[len(glued) :]
            if rest.lower() in VOCABULARY:
                return f"{glued} {rest}"
    if low in _ENGLISH:
        return word
    # A typo keeps its first letter; a different first letter is another word ("sending"
    # is not "pending", "watch" is not "match").
    near = [v for v in VOCABULARY if v[0] == low[0]]
    close = difflib.get_close_matches(low, near, n=1, cutoff=0.8)
    return close[0] if close else word


def normalise(text: str, models: Iterable[str] = ()) -> str:
    """The text with contractions joined and command-word typos fixed."""
    # "v2's card": the version's, not a word "v2s".
    text = re.sub(r"(\b(?:v|version\s*)\d+)['’]s\b", r"\1", text.strip(), flags=re.I)
    text = re.sub(r"(\w)['’](\w)", r"\1\2", text)  # what's -> whats
    text = re.sub(r"\bwhats\b", "what is", text, flags=re.I)
    text = _ARROW.sub(" to ", text)  # "v2->prod": a move
    protected = frozenset(m.lower() for m in models)
    text = _ABBREVIATED.sub(
        lambda m: (
            m.group(0) if m.group(0).lower() in protected else ABBREVIATIONS[m.group(1).lower()]
        ),
        text,
    )
    return _WORD.sub(lambda m: _fix(m.group(0), protected), text)


def closest_model(word: str, models: Iterable[str]) -> str | None:
    """The registry name ``word`` most likely means ("digts" -> "digits"), if any."""
    names = {m.lower(): m for m in models}
    if word.lower() in names:
        return names[word.lower()]
    close = difflib.get_close_matches(word.lower(), names, n=1, cutoff=0.8)
    return names[close[0]] if close else None

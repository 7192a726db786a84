"""Numbers a person spells out, as digits where they count something the chat reads: a
share ("ten percent"), a budget ("under twenty ms"), a time span ("the past forty-eight
hours") or a version ("version two", "versions three and one"). Other number words ("that
one", "the one before") are left alone."""

from __future__ import annotations

import re

_ONES = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    *("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"),
    *("eighteen", "nineteen"),
)
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_VALUE = {word: n for n, word in enumerate(_ONES)} | {w: 20 + 10 * n for n, w in enumerate(_TENS)}

#: "seven", "twenty", "twenty-five", "twenty five", "a hundred".
_SPELLED = (
    rf"(?:(?:{'|'.join(_TENS)})(?:[\s-](?:{'|'.join(_ONES[1:10])}))?"
    rf"|{'|'.join(sorted(_ONES, key=len, reverse=True))}|(?:a|one)\s+hundred)"
)
#: A unit after the number: what it counts.
_UNIT = (
    r"(?:%|percent\b|per\s*cent\b|pct\b|ms\b|milliseconds?\b|min(?:ute)?s?\b|h(?:ou)?rs?\b|"
    r"days?\b|weeks?\b|months?\b)"
)
_BEFORE_UNIT = re.compile(rf"\b({_SPELLED})(?=\s*{_UNIT})", re.I)
_AFTER_VERSION = re.compile(rf"\b(version|ver\.?)\s+({_SPELLED})\b", re.I)
_VERSIONS = re.compile(
    rf"\b(versions)\s+({_SPELLED})(\s+(?:and|vs\.?|versus|with|to|against|or)\s+)({_SPELLED})\b",
    re.I,
)


def value(spelled: str) -> int:
    """ "twenty-five" -> 25, "a hundred" -> 100."""
    words = re.split(r"[\s-]+", spelled.lower())
    if words[-1] == "hundred":
        return 100
    return sum(_VALUE[word] for word in words)


def with_digits(text: str) -> str:
    """``text`` with each counted number word as digits ("roll back to version two" ->
    "roll back to version 2", "ten percent" -> "10 percent")."""
    text = _VERSIONS.sub(
        lambda m: f"{m.group(1)} {value(m.group(2))}{m.group(3)}{value(m.group(4))}", text
    )
    text = _AFTER_VERSION.sub(lambda m: f"{m.group(1)} {value(m.group(2))}", text)
    return _BEFORE_UNIT.sub(lambda m: str(value(m.group(1))), text)

"""A condition said with a change ("promote x v3 to staging if tests pass", "once the canary
is green, promote it"): the chat cannot check it, so the approval form quotes it back and the
human approves only once it holds."""

from __future__ import annotations

import re

#: "if ...", "once ...", "unless ...", "as soon as ...", "provided ...", "assuming ...", "in
#: case ..." up to the end of its clause; never politeness ("if you can", "if possible") nor
#: "at once".
_CONDITION = re.compile(
    r"(?<!\bat )\b(?:if|once|unless|as\s+soon\s+as|provided\s+that|assuming|in\s+case)\b"
    r"(?!\s+(?:you\s+(?:can|could|would|will|don'?t\s+mind|do\s+not\s+mind|please|like)|"
    r"possible|so|not|ever|more|again|needed\s+(?:be|to)\b))"
    r"[^.;!?,\n]*[^.;!?,\s]",
    re.I,
)

#: Where the change says itself after its condition when no comma separates them.
_CHANGE_STARTS = re.compile(
    r"(?<=\w)(?<!\bwe)(?<!\byou)(?<!\bi)(?<!\bthey)(?<!\bto)(?<!\bthe)(?<!\ba)(?<!\bthis)"
    r"(?<!\bits)(?<!\bif)(?<![\s:@#]v\d)\s+(?:then|put|promote|promot|roll|ship|move|make|switch|"
    r"swap|flip|revert|deploy|release|push|kill|pull|end|stop|start|begin)\b"
    # "canary" only as a verb with its object ("if ok canary v3 at 10%"), never the noun of
    # the condition ("if the shadow canary holds, promote v3")
    r"|(?<=\w)(?<!\bthe)(?<!\ba)(?<!\bshadow)(?<!\bsplit)(?<!\bif)(?<!\bthis)(?<!\bits)(?<!\bour)"
    r"(?<!\bonce)(?<!\bwhen)\s+canary\s+"
    r"(?!(?:v|version\s*)\d+\s+(?:is|was|looks|holds|stays|seems|goes|runs|has|passes|keeps)\b)"
    r"(?=v\d|version\b|it\b|that\b|"
    r"[\w.\-]+\s+v\d)",
    re.I,
)


def condition_span(text: str) -> tuple[int, int] | None:
    """Where the condition ``text`` puts on its change starts and ends (None: no condition)."""
    found = _CONDITION.search(text)
    if found is None:
        return None
    # "if that's fine put v3 in staging": the condition ends where the change starts.
    change = _CHANGE_STARTS.search(found.group(0))
    return found.start(), found.start() + change.start() if change else found.end()


def condition_of(text: str) -> str | None:
    """The condition ``text`` puts on its change, as said (None when there is none)."""
    span = condition_span(text)
    if span is None:
        return None
    said = " ".join(text[span[0] : span[1]].split())
    return said if len(said) <= 120 else said[:117] + "..."


def condition_warning(condition: str) -> str:
    """The approval form's line for a change asked on a condition."""
    return (
        f"You asked for this {condition!r}: nothing here checks that; approve only once it holds."
    )

"""Where the request is in a message of several clauses: the clauses that ask (a question, or
one that opens with a request) against those said around them ("digits-encoder looks fine",
"alert says ...", "not mnist-cnn"), and the models a message names only as context."""

from __future__ import annotations

import re

from agent.entities import Found, find_models
from agent.focus import ParseContext

#: A topic before the ask: "URGENT: ...", "mnist classifier - ...".
TOPIC = re.compile(r"^\W*(?:[\w.\-]+(?:\s+[\w.\-]+){0,5}?)\s*(?::|\s[-\u2013\u2014])\s+")

#: What a part asks for when it only names it ("x card, and pending approvals").
ASKED_NOUN = re.compile(
    r"\b(?:card|metrics|details|history|audit(?: log| trail)?|versions|pending|approvals|"
    r"(?:prod(?:uction)?|staging|archived)\s+models)\W*$"
    # "..., and the version which is serving now."
    r"|^\W*(?:and\s+)?the\s+(?:version|model|build|one)\s+(?:which|that)\s+(?:is|are)\s+"
    r"(?:serving|live|running|deployed|in\s+prod(?:uction)?)\b",
    re.I,
)

#: What one asks of the registry after "I would like to ...": "I would like to see the card"
#: asks, "I would like to plan this week's reviews" says what the answer is for.
_ASK_VERBS = (
    r"(?:see|know|check|compare|view|read|look|find|get|list|show|review|understand|promote|"
    r"roll|rollback|revert|stop|end|kill|cancel|canary|start|try|move|ship|deploy|archive|"
    r"delete|remove|retrain|rename|approve|audit|send|shadow|mirror|put|make|set|bump|switch|"
    r"pick|choose|use|ask|learn|confirm|verify|be|have|go|do)\b"
)

#: How a part that asks or requests something opens.
OPENS_ASK = re.compile(
    r"^\W*(?:(?:and|also|then|plus|so|ok|okay|please|pls|now|hey|hi|hello|first(?:ly)?|"
    r"second(?:ly)?|next|but|if you (?:can|could|may)|if possible)\W+)*"
    r"(?:what|which|who|whose|when|where|why|how|whats|what's|hows|how's|whos|who's|is|are|"
    r"was|were|did|does|do|can|could|would|"
    r"will|should|has|have|any|show|list|ls|give|tell|compare|diff|cmp|get|find|check|display|open|"
    r"describe|see|promote|roll|rollback|revert|undo|stop|kill|end|cancel|canary|send|shadow|"
    r"archive|delete|remove|retrain|rename|tag|approve|deploy|ship|move|make|put|set|bump|"
    r"audit|history|metrics|card|versions?|stage|start|try|run|pick|recommend|suggest|"
    r"queue|push|release|graduate|switch|swap|upgrade|downgrade|shift|route|mirror|turn|"
    r"dial|raise|lower|ramp|propose|proposing|its|their|anything|something|"
    r"pull the plug|begin|kick off|flip|provide|outline|fetch|pull\s+up|bring\s+up|look\s+up|"
    r"pending|approvals?|restart|reboot|scale|verify|review|confirm|extend|"
    # "I need it for the weekly report" states a purpose, not a request (PURPOSE).
    r"(?:i|we)\s+(?:also\s+|really\s+)?(?:want|need|would\s+(?:also\s+)?like)"
    r"(?!\s+(?:it|this|that|them|these|those|(?:a|an|the)\s+\w+)\s+"
    rf"(?:for|by|before|until|asap|today|tomorrow|soon)\b)(?!\s+to\s+(?!{_ASK_VERBS})\w)"
    rf"|(?:i|we)'?d\s+(?:also\s+)?like(?!\s+to\s+(?!{_ASK_VERBS})\w)|let's|help)\b"
    r"|^\W*(?:v\d+|version\s*\d+)\b",
    re.I,
)

#: Where one clause ends and the next begins: a sentence's end, a semicolon, a colon or a
#: dash or an arrow ("<- who touched it?" after a pasted line) before more words, "but", "I mean".
_BOUNDARY = re.compile(
    r"[.!?;]+\s+|:\s+|\s[-\u2013\u2014]{1,2}\s+|\s<-{1,2}\s+|,?\s+but\s+|,\s+(?=i\s+meant?\b)",
    re.I,
)

#: A model said as the one not meant ("not mnist-cnn", "rather than digits").
_NEGATED = re.compile(
    r"\b(?:not|instead of|rather than|forget(?: about)?|never\s?mind|nvm|ignore)\s+(?:the\s+)?$",
    re.I,
)
#: A model said to be working ("x is fine", "that part is ok"): context, not the request.
_FINE = re.compile(
    r"\b(?:is|are|looks?|seems?|part is)\s+(?:\w+\s+)?(?:fine|ok|okay|healthy)\b", re.I
)

#: The same, said right after the name: "alongside mnist-cnn, which is fine, ...".
_FINE_AFTER = re.compile(
    r"\W*(?:which|that|it|who)\s+(?:is|'s|are|looks?|seems?)\s+(?:\w+\s+)?(?:fine|ok|okay|healthy)\b",
    re.I,
)


def _piece(text: str, at: int) -> str:
    """The stretch of ``text`` around ``at`` between commas, sentence ends and "and"."""
    cut = re.compile(r"[,.;!?]\s+|\s+and\s+", re.I)
    starts = [m.end() for m in cut.finditer(text[:at])]
    end = cut.search(text[at:])
    return text[starts[-1] if starts else 0 : at + end.start() if end else len(text)]


#: "it", "its", "that one": the asking clause leans on a model named just before it.
_REFERS = re.compile(r"\b(?:it|its|that one|this one|that model|this model)\b", re.I)


def remark(piece: str, text: str) -> bool:
    """A part that neither asks nor requests: no question mark and no opening verb (after a
    topic such as "URGENT:" or "digits -")."""
    at = text.find(piece)
    if "?" in piece or (at >= 0 and "?" in text[at + len(piece) : at + len(piece) + 3]):
        return False
    if ASKED_NOUN.search(piece):
        return False  # "mnist-cnn card", "pending approvals": asked for by naming it
    if OPENS_ASK.match(piece):
        return False  # "what serves digits for X-Priority: critical": no topic before it
    # "If nothing is, start a shadow canary": a condition, then the request
    piece = re.sub(r"^\W*if\b[^,]{0,60},\s*", "", piece, flags=re.I)
    # "is the canary still on? if so turn it off": the answer, then the request
    piece = re.sub(
        r"^\W*if\s+(?:so|yes|it\s+is)\W+(?=(?:(?:turn|switch|shut)\s+it\s+off|(?:stop|kill|end)\s+it)\W*$)",
        "",
        piece,
        flags=re.I,
    )
    return OPENS_ASK.match(TOPIC.sub("", piece)) is None


def _clauses(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for boundary in _BOUNDARY.finditer(text):
        spans.append((start, boundary.start()))
        start = boundary.end()
    return [*spans, (start, len(text))]


def asked_about(
    text: str, found: list[Found], ctx: ParseContext, skip: frozenset[str]
) -> list[Found]:
    """Of several models a message names, those the request is about: a model said as the
    one not meant ("not x - I mean y") is dropped, and so is one named only in clauses that
    ask nothing ("x looks fine, but what does y's card say?") when a clause that asks names
    another. ``found`` unchanged when that leaves nothing or the message names one model."""
    if len({f.model for f in found}) < 2:
        return found
    # "ignore the critical path (thats mnist-cnn), i need ...": an aside in brackets.
    asides = [m.span() for m in re.finditer(r"\([^()]*\)", text)]
    outside = [f for f in found if not any(a < f.start < b for a, b in asides)]
    if outside and len({f.model for f in outside}) < len({f.model for f in found}):
        found = outside
    meant = [f for f in found if not _NEGATED.search(text[: f.start])]
    if meant and len({f.model for f in meant}) < len({f.model for f in found}):
        found = meant
    # "critical traffic is fine on x, it's the normal digits traffic that broke": not x.
    troubled = [
        f
        for f in found
        if not _FINE.search(_piece(text, f.start))
        and not _FINE_AFTER.match(text[f.start + len(f.said) :])
    ]
    if troubled and len({f.model for f in troubled}) < len({f.model for f in found}):
        found = troubled
    asking: set[str] = set()
    before: set[str] = set()
    for start, end in _clauses(text):
        named = {f.model for f in find_models(text[:end], ctx, skip, start)}
        if not remark(text[start:end], text):
            # "mnist-classifier though - what's its latency?": "its" is the topic before it.
            leans = not named and _REFERS.search(text[start:end]) and len(before) == 1
            asking |= before if leans else named
        before = named or before
    asking &= {f.model for f in found}
    if asking and asking != {f.model for f in found}:
        return [f for f in found if f.model in asking]
    return found

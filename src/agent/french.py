"""A message written in French, read as its English words: the few phrasings a French-speaking
engineer uses with the chat ("Quelle version tourne en prod pour x ?", "Arrête le canary sur x
stp", "fais un rollback de x vers la v1"). Only a message with French words is touched; names,
versions and numbers pass through unchanged."""

from __future__ import annotations

import re

from agent import phrases as P

#: French words (function words and the verbs the chat reads) and English ones: a message is
#: French when it has at least two French words and more French than English ones ("Les asked
#: me to start a canary", "merci! can you roll back x?" stay English).
_FRENCH_WORDS = re.compile(
    r"(?<![\w\-])(?:le|la|les|de|du|des|sur|pour|une?|est|pas|ne|fais|faire|fait|arr[êe]te[rz]?|"
    r"stoppe[rz]?|tourne|quelle?s?|montre(?:-moi)?|qu'est-ce|est-ce|stp|svp|merci|trafic|lance[rz]?|"
    r"vers|en|et|c'est|je|tu|on|il|elle|nous|vous|[àa]|au|aux|qui|que|quoi|dans|avec|mais|ou|"
    r"attends|approbations?|attente|derni[èe]re|depuis|hier|aujourd'hui|maintenant|promeus|"
    r"version|mod[èe]les?|requ[êe]tes|critiques|s'il|pla[îi]t|peux|veux|sais)(?![\w\-])",
    re.I,
)
_ENGLISH_WORDS = re.compile(
    r"(?<![\w\-])(?:the|to|of|is|are|was|please|can|could|you|me|my|we|it|and|at|for|with|"
    r"start|stop|roll|back|promote|show|what|which|who|how|why|do|does|did|this|that|from|"
    r"in|on|an|be|i|asked|now|new|traffic|a)(?![\w\-])",
    re.I,
)


def is_french(text: str) -> bool:
    """Whether ``text`` is written in French: a French verb or question word, two French words
    at least and more French words than English ones ("stop le canary de x", "rollback x svp
    merci" stay English)."""
    french = len(_FRENCH_WORDS.findall(text))
    return (
        _FRENCH_MARK.search(text) is not None
        and french >= 2
        and french > len(_ENGLISH_WORDS.findall(text))
    )


#: A French verb or question word the chat reads (never a loanword nor a name: "Le", "Du").
_FRENCH_MARK = re.compile(
    r"(?<![\w\-])(?:arr[êe]te[rz]?|stoppe[rz]?|fais|faites|lance[rz]?|promeus|tourne|montre|"
    r"quelle?s?|qu'est-ce|est-ce|approbations?|attente|derni[èe]re|depuis|c'est|attends|"
    r"pourquoi|comment|combien|peux|veux|sais|fait|ai|avons|a\s+[ée]t[ée]|et\s+la)(?![\w\-])",
    re.I,
)


#: What a plain French request may say: one verb phrase of a change, where and how much,
#: politeness. A French message that proposes a change must say nothing else: a refusal, a
#: question, a condition, a time or date, someone else's words or a change already made never
#: reach a proposal, nor two versions, two stages or a share next to a promotion.
_PLAIN_VERB = re.compile(
    r"(?<![\w\-])(?:(?:arr[êe]te[rz]?|stoppe[rz]?)\s+le\s+canary|fais\s+un\s+rollback|"
    r"fais\s+une\s+promotion|lance[rz]?\s+(?:un|le)\s+canary|promeus(?:-la|-le)?)(?![\w\-])",
    re.I,
)
_PLAIN_WORDS = re.compile(
    r"(?<![\w\-])(?:le|la|les|de|du|des|sur|pour|en|vers|[àa]|au|version|trafic|traffic|"
    r"requ[êe]tes|critiques|prod(?:uction)?|staging|maintenant|stp|svp|merci|s'il|te|vous|"
    r"pla[îi]t)(?![\w\-])",
    re.I,
)
_CORRECTED = re.compile(
    r"(?:attends\s*,?\s*non\s*,?\s*|non\s*,?\s*attends\s*,?\s*)?"
    r"pas\s+la\s+v\d+\s*,?\s*c'est\s+la\s+(v\d+)\s+que\s+je\s+veux",
    re.I,
)


def says_only_a_plain_change(text: str, names: tuple[str, ...]) -> bool:
    """Whether a French ``text`` says one change and nothing around it (``names``: the
    registry's model and route names)."""
    # "attends non, pas la v3, c'est la v4 que je veux": the version corrected, said plainly.
    rest = _CORRECTED.sub(r" \1 ", text)
    verbs = _PLAIN_VERB.findall(rest)
    if len(verbs) > 1 or len(P.VERSION.findall(rest)) > 1 or len(P.STAGE_WORD.findall(rest)) > 1:
        return False
    shares = P.PERCENT.findall(rest)
    if len(shares) > 1 or (shares and not any("canary" in verb.lower() for verb in verbs)):
        return False
    for name in sorted(names, key=len, reverse=True):
        rest = re.sub(rf"(?<![\w\-]){re.escape(name)}(?![\w\-])", " ", rest, flags=re.I)
    for pattern in (_PLAIN_VERB, P.PERCENT, P.VERSION, _PLAIN_WORDS):
        rest = pattern.sub(" ", rest)
    return re.sub(r"[\s,.!:;\-]+", "", rest) == ""


#: French phrasing -> the English the rules read; the longer phrasings first.
_PHRASES: tuple[tuple[str, str], ...] = (
    (r"qu'est-ce\s+que\s+tu\s+(?:sais|peux)\s+faire|que\s+sais-tu\s+faire", "what can you do"),
    (r"il\s+fait\s+beau", "what's the weather"),
    (r"\battends\s*,?\s*non\b|\bnon\s*,?\s*attends\b", "wait, no"),
    (r"pas\s+la\s+v(\d+)\s*,?\s*c'est\s+la\s+v(\d+)\s+que\s+je\s+veux", r"v\2 not v\1"),
    (r"est-ce\s+qu'il\s+y\s+a\s+des", "are there any"),
    (r"quelle\s+version\s+tourne", "which version is serving"),
    (r"\btourne\b", "is serving"),
    (r"montre[- ]moi", "show me"),
    (r"ce\s+qui\s+est\s+en", "what is in"),
    (
        r"(?:l'|les\s+)?approbations?\s+en\s+attente|en\s+attente\s+d'approbation",
        "pending approvals",
    ),
    (r"l'audit|l'historique|l'historique\s+des\s+changements", "the audit"),
    (r"(?:de\s+|sur\s+|pendant\s+)?la\s+derni[èe]re\s+heure", "in the last hour"),
    (r"(?:des|les)\s+(\d+)\s+derni[èe]res\s+heures", r"in the last \1 hours"),
    (r"depuis\s+hier", "since yesterday"),
    (r"\barr[êe]te[rz]?\b|\bstoppe[rz]?\b", "stop"),
    (r"fais\s+un\s+rollback\s+de", "roll back"),
    (r"fais\s+une\s+promotion\s+de|promeus", "promote"),
    (r"vers\s+la\s+v(\d+)", r"to v\1"),
    (r"\b(?:[àa]|sur)\s+la\s+v(\d+)", r"to v\1"),
    (r"\bet\s+la\s+v(\d+)", r"and v\1"),
    (r"\bla\s+v(\d+)", r"v\1"),
    (r"\bet\s+apr[èe]s\b", "and then"),
    (r"s'il\s+(?:te|vous)\s+pla[îi]t|\bstp\b|\bsvp\b", "please"),
    (r"\ben\s+prod(?:uction)?\b", "in production"),
    (r"\ben\s+staging\b", "in staging"),
    (r"\bvers\s+(?:le\s+)?staging\b", "to staging"),
    (r"\bvers\s+(?:la\s+)?prod(?:uction)?\b", "to production"),
    (r"\bpour\s+les\s+requ[êe]tes\s+critiques\b", "for critical requests"),
    (r"\bou\b", "or"),
    (r"\ble\s+canary\s+sur\b|\ble\s+canary\s+de\b", "the canary on"),
    (r"\ble\s+canary\b", "the canary"),
    (r"\bpour\b", "for"),
    (r"\bsur\b", "on"),
    (r"\bles\s+mod[èe]les\b", "the models"),
    (r"\bmontre\b", "show"),
    (r"\bde\b", "of"),
)
_COMPILED = tuple((re.compile(pattern, re.I), english) for pattern, english in _PHRASES)


def in_english(text: str) -> str:
    """``text`` with its French phrasings in English."""
    for pattern, english in _COMPILED:
        text = pattern.sub(english, text)
    return text

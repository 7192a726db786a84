"""A message written in French, read as its English words: the few phrasings a French-speaking
engineer uses with the chat ("Quelle version tourne en prod pour x ?", "Arrête le canary sur x
stp", "fais un rollback de x vers la v1"). Only a message with French words is touched; names,
versions and numbers pass through unchanged."""

from __future__ import annotations

import re

#: Words that only a French message has (never an English one's).
_FRENCH = re.compile(
    r"\b(?:quelle?s?|montre[- ]moi|arr[êe]te[rz]?|fais|tourne|attente|approbations?|derni[èe]re|"
    r"est-ce|qu'est-ce|stp|s'il\s+(?:te|vous)\s+pla[îi]t|c'est|je\s+veux|sais|faire|depuis|"
    r"aujourd'hui|vers\s+la|il\s+fait|et\s+la|pour|sur\s+le|le\s+canary|les\s+mod[èe]les|attends|"
    r"qui|fait|du|les|une|lance[rz]?|trafic|pourrait|faudrait|peut-[êe]tre|maintenant|merci)\b",
    re.I,
)

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


#: What a French message says around a change that the phrasings above do not carry over:
#: a refusal ("ne ... pas"), a question, a condition, a time, someone else's words, a change
#: already made. A message with any of them never proposes a change (the chat says so).
UNSURE = re.compile(
    r"\b(?:ne|n'|pas(?!\s+la\s+v\d)|jamais|si|sauf|quand|lorsque|demain|plus\s+tard|dans\s+une?|"
    r"devrait|devrions|faut|faut-il|doit|dois|pourquoi|dit|veut|voudrait|demande|"
    r"a|ai|as|avons|avez|ont|[ée]t[ée]|hier|serait|erreur|id[ée]e|rien|ou|peux-tu|pouvez-vous)\b"
    r"|\barr[êe]té\b|\barr[êe]te[rz]?\s+de\b|\bpourrai[st]?\b|\bpourrions\b|\bfaudrait\b"
    r"|\bpeut-[êe]tre\b|\?",
    re.I,
)


def is_french(text: str) -> bool:
    """Whether ``text`` has words only a French message has."""
    return _FRENCH.search(text) is not None


def in_english(text: str) -> str:
    """``text`` with its French phrasings in English (unchanged when it has none)."""
    if _FRENCH.search(text) is None:
        return text
    for pattern, english in _COMPILED:
        text = pattern.sub(english, text)
    return text

"""Entities in the user's words, recognised against what the registry really has.

Model names match the registry's names (exactly, with a typo, or by a unique prefix such as
"mnist" for "mnist-classifier"); a route name stands for the model it sends to (or, when the
text names one of the route's rules, "critical requests on digits", the model of that rule); a
word that
matches nothing is never used as a model name (``unknown_name`` reports it instead). Time
expressions ("last hour", "since yesterday") become a number of minutes.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from agent.focus import ParseContext

_WORD = re.compile(r"[A-Za-z0-9][\w.\-]*")
#: Looks like an identifier rather than an English word: mnist-cnn, fraud_v2, resnet50.
NAME_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)+$|^[A-Za-z]+[0-9]+[a-z]*$")
_VERSION_WORD = re.compile(r"^(?:v|version|ver)?\d+$", re.I)
_BEFORE_VERSION = re.compile(r"\b([A-Za-z][\w.\-]*?)(?:\s+|:)(?:v|version\s*)\d+\b", re.I)
#: A version and at most one word right before a plain word ("v4 actually beat v3"): the word
#: says how the two versions relate; it never names a model.
_AFTER_A_VERSION = re.compile(
    r"\bv(?:ersion\s*)?\d+\s+(?:(?!(?:against|with|to|vs|versus|than|and|or|over|from|of|on)\s)"
    r"[a-z]+\s+)?$",
    re.I,
)
#: An indefinite article and at most two describing words before a part of a name ("a CNN",
#: "a small cnn", "an ordinary classifier"): what kind of model, never the registry's one.
A_KIND_OF = re.compile(r"\b(?:a|an)\s+(?:[a-z]+\s+){0,2}$", re.I)
#: How one version stands against another, said between them ("v4 beats v3").
_COMPARING = re.compile(
    r"beat|beats|beating|outperform\w*|outscor\w*|outdo\w*|outdid|tops?|edges?|edged|trails?|"
    r"trailed|loses?|lost|wins?|won|match(?:es)?|exceed\w*|surpass\w*|underperform\w*",
    re.I,
)
#: A change asked in the same message: the comparison word then never hides an unknown name
#: (the message is asked back, as before).
_CHANGE_SAID = re.compile(
    r"\b(?:promot\w*|roll\s*back|rollback|revert|canary|ship|deploy|push|move|put|take|send|"
    r"release|stop|kill)\b",
    re.I,
)
#: Words before a version that say it is not the one meant ("v3 not v4", "rather than v2").
_NEGATING = frozenset({"not", "than", "never"})


@dataclass(frozen=True)
class Found:
    """A registry model the text names, and how it was recognised."""

    model: str
    said: str
    via: Literal["name", "typo", "prefix", "route", "sound"]
    start: int


def _words(text: str) -> list[tuple[str, int]]:
    return [(m.group(0).rstrip(".-"), m.start()) for m in _WORD.finditer(text)]


def _segments(name: str) -> list[str]:
    return [part for part in re.split(r"[-_.]", name.lower()) if part]


def _match(word: str, ctx: ParseContext) -> tuple[str, Literal["name", "typo", "prefix", "route"]]:
    models = ctx.models or ()
    lower = {m.lower(): m for m in models}
    routes = {r.lower(): m for r, m in ctx.routes}
    low = word.lower()
    flat = low.replace("_", "-")
    if low in lower or flat in lower:
        return lower.get(low) or lower[flat], "name"
    versioned = re.match(r"^(.+?)[-_:@]v?\d+$", flat)
    if versioned and versioned.group(1) in lower:
        return lower[versioned.group(1)], "name"  # "mnist-classifier-v4" (a pod, an image tag)
    if low in routes:
        return routes[low], "route"
    if len(low) >= 3:
        segment = [m for key, m in lower.items() if low in _segments(key)]
        if len(segment) == 1 and len(low) >= 3:  # "cnn" -> mnist-cnn (only when one has it)
            return segment[0], "prefix"
        if len(segment) > 1:
            return "", "name"  # "mnist": several models; ask (ambiguous())
    if len(low) >= 4:
        # An English plural or singular of a plain-word name ("digit images") is not a name;
        # of an identifier ("mnist-cnns card") it is.
        plain = [k for k in lower if not (word.isalpha() and _is_plural_of(low, k))]
        close = difflib.get_close_matches(low, plain, n=1, cutoff=0.8)
        if close and _slip(low, close[0]):
            return lower[close[0]], "typo"
        plain_routes = [k for k in routes if not (word.isalpha() and _is_plural_of(low, k))]
        close = difflib.get_close_matches(low, plain_routes, n=1, cutoff=0.8)
        if close and _slip(low, close[0]):
            return routes[close[0]], "route"
    if "-" in flat:
        # "mnist-clf" -> mnist-classifier: each part the same or a short form of the name's
        # part (its first letter, then its letters in order), and only one name fits.
        fits = [m for key, m in lower.items() if _abbreviates(_segments(flat), _segments(key))]
        if len(fits) == 1:
            return fits[0], "typo"
    if len(low) >= 5 and word.isalpha():
        # "the encodr" -> digits-encoder: a typo of a part only one name has.
        parts: dict[str, set[str]] = {}
        for key, model in lower.items():
            for part in _segments(key):
                parts.setdefault(part, set()).add(model)
        near = [p for p in parts if len(p) >= 5 and not _is_plural_of(low, p)]
        close = difflib.get_close_matches(low, near, n=1, cutoff=0.85)
        if close and len(parts[close[0]]) == 1 and _slip(low, close[0]):
            return next(iter(parts[close[0]])), "typo"
    return "", "name"


def _abbreviates(said: list[str], parts: list[str]) -> bool:
    """``said`` shortens ``parts`` part by part ("clf" of "classifier", "enc" of "encoder")."""
    if len(said) != len(parts) or said == parts:
        return False
    return all(
        s == p or (len(s) >= 2 and _shortens(s, p)) for s, p in zip(said, parts, strict=True)
    )


def _slip(said: str, name: str) -> bool:
    """``said`` is ``name`` with a slip of the keyboard: at most one edit (a letter missing,
    added, changed or two swapped) per eight letters. "digits-decoder" is another word, not
    a typo of digits-encoder, though most of its letters match."""
    return _edits(said, name) <= max(1, len(name) // 8)


def _edits(a: str, b: str) -> int:
    """Edits from ``a`` to ``b``: insertions, deletions, substitutions and swaps of two
    neighbouring letters (optimal string alignment distance)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def _shortens(short: str, full: str) -> bool:
    if short[0] != full[0] or len(short) >= len(full):
        return False
    rest = iter(full[1:])
    return all(char in rest for char in short[1:])


def ruled(route: str, text: str, ctx: ParseContext) -> str | None:
    """The model a rule of ``route`` sends to when ``text`` names that rule's condition
    ("X-Priority: critical" -> "critical requests on digits"); None when none or several do."""
    names = {r.lower(): r for r, _ in ctx.routes}
    key = route.lower()
    if key not in names:
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.8)
        key = close[0] if close else key
    hits = {
        model
        for name, when, model in ctx.route_rules
        if name.lower() == key and _names_condition(when, text)
    }
    return hits.pop() if len(hits) == 1 else None


def rule_of(model: str, text: str, ctx: ParseContext) -> str | None:
    """The model a rule sends to, of a route that sends to ``model`` by default, when
    ``text`` names that rule's condition ("and with the critical header?" right after a
    question about the route); None when none or several do."""
    hits = {ruled(route, text, ctx) for route, default in ctx.routes if default == model}
    hits.discard(None)
    return hits.pop() if len(hits) == 1 else None


def _names_condition(when: str, text: str) -> bool:
    """The text says the condition's value ("critical" of "X-Priority: critical")."""
    if not re.search(r"[:=]", when):
        return False  # a batch-size rule has no word a person would say
    value = re.split(r"[:=]", when)[-1].strip().strip('"').lower()
    return len(value) >= 3 and re.search(rf"\b{re.escape(value)}\b", text.lower()) is not None


def _condition_words(ctx: ParseContext) -> set[str]:
    """Header and field names of the routes' rules ("x-priority"): not model names."""
    return {re.split(r"[:=]", when)[0].strip().lower() for _, when, _ in ctx.route_rules}


def _is_plural_of(word: str, name: str) -> bool:
    return word + "s" == name or name + "s" == word


def sharing(word: str, ctx: ParseContext) -> list[str]:
    """The registry names that share the part ``word`` ("mnist" -> mnist-classifier,
    mnist-cnn), when more than one does and none is called exactly that; for a route that is
    also part of another model's name ("the digits model"), the route's model and that one."""
    low = word.lower()
    routed = {r.lower(): m for r, m in ctx.routes}.get(low)
    if routed is not None:
        parts = [m for m in ctx.models or () if m != routed and low in _segments(m)]
        return sorted({routed, *parts}) if parts else []
    return (
        sorted(m for m in ctx.models or () if word.lower() in _segments(m))
        if ambiguous(word, ctx)
        else []
    )


def ambiguous(word: str, ctx: ParseContext) -> bool:
    """A word several registry names share a part of ("mnist" in mnist-cnn, mnist-classifier)."""
    low = word.lower()
    hits = [m for m in ctx.models or () if low in _segments(m)]
    return len(hits) > 1 and low not in {m.lower() for m in ctx.models or ()}


def find_models(
    text: str, ctx: ParseContext, skip: frozenset[str] = frozenset(), start: int = 0
) -> list[Found]:
    """Every registry model named in ``text`` (from ``start``), in order, without repeats.
    ``skip``: command words that are never names (unless a model is called exactly that)."""
    found: list[Found] = []
    seen: set[str] = set()
    exact = {m.lower() for m in ctx.models or ()} | {r.lower() for r, _ in ctx.routes}
    words = _words(text[start:])
    heard_until = 0
    for i, (word, at) in enumerate(words):
        if i < heard_until:
            continue
        low = word.lower()
        heard = _heard(words, i, ctx)
        if heard is not None:
            model, heard_until = heard
            if model not in seen:
                seen.add(model)
                said = text[
                    start + at : start + words[heard_until - 1][1] + len(words[heard_until - 1][0])
                ]
                found.append(Found(model=model, said=said, via="sound", start=start + at))
            continue
        if i + 1 < len(words):
            # "mnist classifier" -> mnist-classifier: two words that are one name.
            joined = f"{low}-{words[i + 1][0].lower()}"
            if joined in exact and (model := _match(joined, ctx)[0]) and model not in seen:
                seen.add(model)
                found.append(Found(model=model, said=joined, via="name", start=start + at))
                continue
        if _VERSION_WORD.match(word):
            continue
        if low in skip and low not in exact and not _part_said_as_name(text, start, words, i, ctx):
            continue
        if ":" in word:
            word = word.split(":")[0]
        model, via = _match(word, ctx)
        if via == "route" and _route_or_part(low, model, words[i + 1 : i + 2], ctx):
            continue  # "the digits model": the route's model, or digits-encoder? Ask.
        if via == "route" and _DATA_VERB.search(text[: start + at]):
            continue  # "a model to classify digits": what the model reads, not the route
        sentence = _sentence(text, start + at)
        if (
            via == "route"
            and not _DEFAULT_PATH.search(sentence)
            and not _SAID_FINE.search(sentence)
        ):
            model = ruled(word, sentence, ctx) or model
        if model and model not in seen:
            seen.add(model)
            found.append(Found(model=model, said=word, via=via, start=start + at))
    return found


def _heard(words: list[tuple[str, int]], i: int, ctx: ParseContext) -> tuple[str, int] | None:
    """A registry name said as it sounds, one part of it exact: "amnesty classifier" or "m nist
    cnn" (voice typing for mnist-classifier, mnist-cnn), "digits in coder" (digits-encoder):
    each part of the name said exactly, by one or two words with the same consonants (three
    or more) or one letter off ("mist classifier", "digits encoded"); at least one part exact.
    The model, and the index after its last word; None when no name is heard."""
    for model in ctx.models or ():
        parts = _segments(model)
        if len(parts) < 2:
            continue
        j, exact, heard = i, 0, 0
        for part in parts:
            if j < len(words) and words[j][0].lower() == part:
                j, exact = j + 1, exact + 1
                continue
            sound = _consonants(part)
            width = next(
                (
                    k
                    for k in (1, 2)
                    if j + k <= len(words)
                    and len(sound) >= 3
                    and _heard_as(words[j : j + k], sound)
                ),
                None,
            )
            if width is None and j < len(words) and _slipped_part(words[j][0], part):
                width = 1  # "mist classifier", "digits encoded": autocorrect, one letter off
            if width is None:
                break
            j, heard = j + width, heard + 1
        else:
            if exact and heard:
                return model, j
    return None


def _slipped_part(word: str, part: str) -> bool:
    """``word`` (lower case, as typed) is a name's ``part`` of four letters or more with one
    letter missing, added or changed, the first one kept ("mist" of "mnist")."""
    return (
        word.isalpha()
        and word == word.lower()
        and len(part) >= 4
        and word[0] == part[0]
        and word != part
        and _edits(word, part) == 1
        and word not in (part + "s", part[:-1])  # "mnist classifiers": a plural, not a slip
    )


def _heard_as(said: list[tuple[str, int]], sound: str) -> bool:
    """Whether the words ``said`` (one, or two of which one has at most two letters: "m nist",
    "in coder"), lower case and next to each other, sound like a part with consonants
    ``sound``."""
    texts = [word for word, _ in said]
    if not all(w.isalpha() and w == w.lower() for w in texts):
        return False  # "digits in Cedar", "in CDR": a place or a code, not a voice typo
    if len(texts) == 2 and (
        min(len(w) for w in texts) > 2 or said[1][1] - said[0][1] != len(texts[0]) + 1
    ):
        return False  # "main site", "calls for", "I mean, set": two words of their own
    return _consonants("".join(texts)) == sound


def _consonants(word: str) -> str:
    """The consonants of ``word`` as said, repeats folded: "amnesty" and "mnist" -> "mnst"."""
    letters = re.sub(r"[aeiouy]", "", word.lower())
    return re.sub(r"(.)\1+", r"\1", letters)


def _part_said_as_name(
    text: str, start: int, words: list[tuple[str, int]], i: int, ctx: ParseContext
) -> bool:
    """A command word that is the part of exactly one registry name, said where only a name
    goes: right after a command ("rb classifier", "canary classifier v4 10%", "stop the canary
    on classifier", "v3 of the classifier") and before a version, a share or the end ("the spam
    classifier", "the classifier serving critical traffic", "which classifier": a kind of model
    or another one, never this one)."""
    low = words[i][0].lower()
    owners = [m for m in ctx.models or () if low in _segments(m)]
    if len(owners) != 1:
        return False
    before = words[i - 1][0].lower() if i > 0 else ""
    if before == "the" and i > 1:
        before = "the" if words[i - 2][0].lower() in {"of", "on", "for"} else "?"
    if before not in _NAME_SLOT_BEFORE and not re.fullmatch(r"v\d+", before):
        return False  # "promote v3 classifier staging", "v3 vs v2 classifier" pass
    after = text[start + words[i][1] + len(words[i][0]) :]
    return _NAME_SLOT_AFTER.match(after) is not None and not _DATA_VERB.search(
        text[: start + words[i][1]]
    )


#: What may come right before such a word: a command, a preposition after one, or nothing.
_NAME_SLOT_BEFORE = frozenset(
    {
        "",
        "rb",
        "rollback",
        "back",
        "revert",
        "canary",
        "shadow",
        "promote",
        "ship",
        "on",
        "of",
        "for",
        "the",
        "audit",
        "show",
        "is",
        "stop",
        "describe",
        "compare",
    }
)
#: ... and right after it: a version, a share, a window, a stage, a short word of the request.
_NAME_SLOT_AFTER = re.compile(
    r"\s*(?:$|[.,;:!?+&]|(?:v\d+|version|to|at|\d+(?:\.\d+)?\s*(?:%|h|d|m|min)?|pls|please|now|asap|back|"
    r"card|audit|history|up|down|ok|prod(?:uction)?|staging|shadow|split|with|and|into|traffic|->)\b)",
    re.I,
)


#: A verb whose object is data, not a name: "classify digits", "recognise handwritten digits".
_DATA_VERB = re.compile(
    r"\b(?:classify|classifying|classifies|recogni[sz]e|recogni[sz]ing|detect|detecting|label|"
    r"labelling|labeling|read|reading|embed|embedding|encode|encoding)\s+(?:the\s+|handwritten\s+|"
    r"scanned\s+|our\s+)*$",
    re.I,
)


#: The route's own path, not a rule's: "the default path on digits", "normal digits traffic",
#: "when there's no priority header".
_DEFAULT_PATH = re.compile(
    r"\b(?:default|normal|regular|ordinary|standard|non-?critical|plain)\b"
    r"|\b(?:no|without(?: an?| the)?)\s+(?:[\w\-]+\s+)?header\b",
    re.I,
)


#: The sentence says something works ("critical traffic looks fine"): the rule it names is not
#: the trouble, the route's own path is.
_SAID_FINE = re.compile(
    r"\b(?:looks?|is|are|seems?)\s+(?:\w+\s+)?(?:fine|ok|okay|healthy|good|normal)\b(?![^?]*\?)",
    re.I,
)


def _sentence(text: str, at: int) -> str:
    """The sentence of ``text`` around position ``at``: a rule named in another sentence
    ("critical traffic is fine. what is the default path on digits serving?") is not meant."""
    starts = [m.end() for m in re.finditer(r"[.!?;]+\s+", text[:at])]
    begin = starts[-1] if starts else 0
    end = re.search(r"[.!?;]+(?:\s|$)", text[at:])
    return text[begin : at + end.start() if end else len(text)]


def _route_or_part(
    low: str, routed: str, following: list[tuple[str, int]], ctx: ParseContext
) -> bool:
    """ "the digits model" where `digits` is a route to one model and part of another's name
    (digits-encoder): said as a model, it names neither for sure."""
    if not following or following[0][0].lower() not in ("model", "models", "one"):
        return False
    return any(low in _segments(m) for m in ctx.models or () if m != routed)


def unknown_versioned(text: str, ctx: ParseContext, skip: frozenset[str]) -> str | None:
    """A model-like name ("mnist-transformer", "resnet50") said right before a version that
    matches nothing the registry has, next to names that do: "compare mnist-transformer v1
    against mnist-classifier v2" must not read v1 as mnist-classifier's."""
    for match in _BEFORE_VERSION.finditer(text):
        word = match.group(1)
        low = word.lower()
        if low in skip or low in _NEGATING or not re.search(r"[-_\d]", word) or "." in word:
            continue
        if re.search(
            r"\b(?:ticket|issue|bug|jira|pr|on|after|before|cuda|python|py|upgrade)\s*$",
            text[: match.start(1)],
            re.I,
        ):
            continue  # "(ticket ML-123 v2)", "on cuda-12 v1": not a model
        if not _match(word, ctx)[0]:
            return word
    return None


def unknown_name(
    text: str, ctx: ParseContext, skip: frozenset[str] = frozenset(), *, before_version: bool = True
) -> str | None:
    """A word that looks like a model name ("mnist-cnn", "resnet50", "nope" in "nope v1")
    but matches nothing the registry has; the agent says so instead of guessing. A plain
    word before a version ("pra" in "rollback do cifar-net pra v1") gives way to a word
    shaped like a name elsewhere in the message."""
    plain = None
    for match in _BEFORE_VERSION.finditer(text) if before_version else ():
        word = match.group(1)
        if word.lower() in _NEGATING:
            continue  # "I meant v3 not v4": the version said to be wrong, not a name
        if word.lower() not in skip and not _match(word, ctx)[0]:
            if NAME_LIKE.match(word):
                return word
            if (
                _COMPARING.fullmatch(word)
                and _AFTER_A_VERSION.search(text[: match.start(1)])
                and not _CHANGE_SAID.search(text)
            ):
                continue  # "does v4 actually beat v3": a word between versions relates them
            plain = plain or word
    return _unknown_unversioned(text, ctx, skip) or plain


def _unknown_unversioned(text: str, ctx: ParseContext, skip: frozenset[str]) -> str | None:
    """An unknown name said as a route, or a word shaped like a model name."""
    conditions = _condition_words(ctx)
    for match in _ROUTE_SAID.finditer(text):
        # "the payments route": said as a route, a name the registry's routes lack.
        word = match.group(1)
        low = word.lower()
        if low in skip or low in _NOT_ROUTE or low in conditions or DESCRIBING.search(low):
            continue
        if not _match(word, ctx)[0]:
            return word
    tasks = {re.sub(r"[\s_]", "-", t.lower()) for t in ctx.tasks or ()}
    words = _words(text)
    for i, (word, _) in enumerate(words):
        low = word.lower()
        if low in conditions or re.sub(r"[\s_]", "-", low) in tasks:
            continue  # a rule's header, or a task the registry has ("feature_extraction")
        route = _match(word, ctx)
        if route[1] == "route" and _route_or_part(low, route[0], words[i + 1 : i + 2], ctx):
            return word
        if ambiguous(word, ctx) and low not in skip:
            return word
        if low in skip or _VERSION_WORD.match(word) or not NAME_LIKE.match(word):
            continue
        if all(part in skip for part in re.split(r"[-_.]", low) if part):
            continue  # "auto-rollback", "real-time": common words joined, not a name
        if DESCRIBING.search(low) or _MEASURE.match(low):
            continue  # "latency-sensitive", "critical-header", "p99", "5xx": what, not which
        if re.search(rf"\bnew\s+{re.escape(word)}\s+{_PRODUCT_THING}", text, re.I):
            continue  # "a new digit-recognition endpoint": what it is for, not a model
        if not _match(word, ctx)[0]:
            return word
    return None


#: What a product is, after a description of it ("a new digit-recognition endpoint").
_PRODUCT_THING = r"(?:endpoint|service|app|application|feature|product|project|use\s+case)\b"
#: A name said as a route ("the payments route", "our fraud endpoint").
_ROUTE_SAID = re.compile(r"(?<![\w\-])(?<!\bnew\s)([A-Za-z][\w\-]*)\s+(?:route|endpoint)s?\b")
#: Words before "route" that say which kind of route, not its name.
_NOT_ROUTE_WORDS = """default header priority critical main same other new old batch shadow
    split canary prediction predictions predict inference http https rest grpc api that this
    which what each every another second first primary fallback its their whole entire
    torchserve mlflow management metrics health registry router public internal local"""
_NOT_ROUTE = frozenset(_NOT_ROUTE_WORDS.split())


#: An English compound that describes rather than names ("latency-sensitive", "cpu-bound",
#: "mission-critical", "the critical-header route"): never a model name.
DESCRIBING = re.compile(
    # "mid-demo", "pre-launch", "post-incident": when, never a name
    r"^(?:mid|pre|post|non|semi|multi|cross|self)-[a-z]+$|"
    r"^[a-z]+-(?:sensitive|critical|bound|heavy|intensive|friendly|aware|based|ready|safe|"
    r"free|first|only|optimi[sz]ed|tolerant|facing|grade|level|class|header|priority|related|"
    r"driven|style|like|wide|specific|sized?|scale|time|latency|throughput)$"
    # "fat-fingered", "hand-picked", "half-baked": a participle compound says how, not which.
    r"|^[a-z]+-[a-z]+(?:ed|en)$"
    # "re-scoring", "pre-check", "non-critical", "co-owner": an English prefix, then a word
    r"|^(?:re|pre|post|non|multi|semi|self|over|under|anti|sub|inter|de|un)-[a-z]+(?:ing|ed)$"
)
#: A measurement, not a name: p50/p95/p99, 5xx, 20ms.
_MEASURE = re.compile(r"^(?:p\d{2,3}(?:\.\d+)?|\d+xx|\d+(?:\.\d+)?(?:ms|s|m|h|%))$")

_UNITS = {"min": 1, "minute": 1, "m": 1, "h": 60, "hr": 60, "hour": 60, "d": 1440, "day": 1440}
_UNITS |= {"week": 10080, "w": 10080, "month": 43200}
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "few": 3, "couple": 2}
_NUMBER_WORDS |= {"four": 4, "five": 5, "six": 6, "ten": 10, "twelve": 12, "24": 24}
_NUMBER_WORDS |= {"seven": 7, "fourteen": 14, "thirty": 30}
_SPAN = re.compile(
    # "since 2 hours": how a German or French speaker says "for the last 2 hours".
    r"\b(?:last|past|previous|preceding|prior|recent|within|in|since)\s+(?:the\s+)?"
    r"(?:last\s+|past\s+)?"
    r"(\d+|an?|one|two|three|four|five|six|seven|ten|twelve|fourteen|thirty|few|couple(?:\s+of)?)?\s*"
    r"(min(?:ute)?s?|m|h|hrs?|hours?|d|days?|w|weeks?|months?)\b",
    re.I,
)
_AGO = re.compile(
    r"\b(\d+|an?|one|two|three|few|couple(?:\s+of)?)\s*"
    r"(min(?:ute)?s?|h|hrs?|hours?|days?|weeks?)\s+ago\b",
    re.I,
)
#: "audit x 30m", "changes 2h": a span written the way a shell or a dashboard writes it.
_COMPACT = re.compile(r"(?<![\w.:@#-])(\d+)(m|mins?|h|hrs?|d|w)(?=\s*(?:ago\b|[.,;!?)]|$))", re.I)
_NAMED = [
    # The night just past (at most 12 hours back): "overnight", "last night", "while I slept".
    (
        re.compile(
            r"\bover\s?night\b|\b(?:since\s+|during\s+)?(?:last|the)\s+night\b"
            r"|\bwhile\s+(?:i|we)\s+(?:(?:was|were)\s+)?(?:asleep|sleeping|slept|offline|away)\b"
            r"|\b(?:since|after)\s+midnight\b|\bin the small hours\b|\bthis morning\b"
            r"|\b(?:during|in)\s+(?:my|the|this)\s+(?:on-?call\s+)?shift\b",
            re.I,
        ),
        720,
    ),
    (re.compile(r"\b(?:since\s+)?yesterday\b", re.I), 1440),
    (re.compile(r"\btoday\b|\btonight\b|\bearlier today\b", re.I), 1440),
    (re.compile(r"\bthis week\b|\blast week\b|\bpast week\b", re.I), 10080),
    (re.compile(r"\blast month\b", re.I), 43200),
]


_THIS_MONTH = re.compile(r"\bthis month\b|\bso far this month\b", re.I)
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY = re.compile(
    r"\b(?:since|from|on|after|between)\s+(?:last\s+)?(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)"
    r"(?:day|nesday|sday|urday)?\b",
    re.I,
)


#: "over the weekend", "since the weekend", "this weekend": back to the last Saturday.
_WEEKEND = re.compile(
    r"\b(?:over|during|on|since|this|last|from)\s+(?:the\s+|this\s+)?weekend\b", re.I
)


def _since_weekday(day: str, now: datetime) -> int:
    """Minutes from the start (UTC) of the last such weekday to now: "since monday" on a
    Wednesday reaches back to Monday 00:00, on a Monday to this morning's 00:00."""
    target = next(i for i, name in enumerate(_DAYS) if name.startswith(day.lower()[:3]))
    days_back = (now.weekday() - target) % 7
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, days_back * 1440 + int((now - midnight).total_seconds() // 60))


def _amount(word: str | None) -> int:
    if not word:
        return 1
    word = word.lower().replace(" of", "").strip()
    return int(word) if word.isdigit() else _NUMBER_WORDS.get(word, 1)


def _unit(word: str) -> int:
    word = word.lower().rstrip("s")
    if word in _UNITS:
        return _UNITS[word]
    return _UNITS.get(word[:3] if word.startswith("min") else word[:1], 1)


#: "since 9am", "after 14:30", "from 7 pm": a time of day (UTC) today.
_SINCE_CLOCK = re.compile(
    r"\b(?:since|after|from)\s+(?=\d{1,2}(?::\d{2}|\s*[ap]\.?m))"
    r"(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?(?![\w:%])",
    re.I,
)


def _since_clock(match: re.Match[str], now: datetime) -> int | None:
    """Minutes from that time of day (UTC; yesterday's if still ahead) to now."""
    hour, minute, half = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if half is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half.lower().startswith("p") else 0)
    if hour > 23 or minute > 59:
        return None
    then = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    back = (now - then).total_seconds() // 60
    return int(back if back > 0 else back + 1440) or 1


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
#: "since 1 December", "since Dec 1st", "after 2026-12-01": a date (UTC), this year's; a
#: range or a day reaches back to its first day ("between 1 and 3 December", "on 3 Dec": the
#: audit has no end).
_SINCE_DATE = re.compile(
    rf"\b(?:since|from|after|between|on)\s+(?:the\s+)?(?:(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}"
    rf"|{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b|(\d{{4}})-(\d{{2}})-(\d{{2}})\b"
    rf"|(\d{{1,2}})(?:st|nd|rd|th)?\s*(?:and|to|until|-)\s*(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th)?\s+"
    rf"(?:of\s+)?{_MONTH})",
    re.I,
)


def _since_date(match: re.Match[str], now: datetime) -> int | None:
    """Minutes from that date's 00:00 UTC to now (last year's when this year's is ahead)."""
    day_a, month_a, month_b, day_b, year, month_c, day_c, day_d, month_d = match.groups()
    day_a, month_a = day_a or day_d, month_a or month_d
    try:
        if year is not None:
            then = datetime(int(year), int(month_c), int(day_c), tzinfo=UTC)
        else:
            month = _MONTHS.index((month_a or month_b).lower()[:3]) + 1
            then = datetime(now.year, month, int(day_a or day_b), tzinfo=UTC)
            if then > now:
                then = then.replace(year=now.year - 1)
    except ValueError:
        return None  # "since 31 February"
    minutes = int((now - then).total_seconds() // 60)
    return minutes if minutes > 0 else None


def since_minutes(text: str, now: datetime | None = None) -> int | None:
    """How far back a time expression reaches, in minutes ("last hour" -> 60, "since
    yesterday" -> 1440, "past 3 days" -> 4320, "since monday" -> back to Monday 00:00 UTC
    as of ``now``, "since 9am" -> back to 09:00 UTC); None without one."""
    clock = _SINCE_CLOCK.search(text)
    if clock is not None and (minutes := _since_clock(clock, now or datetime.now(UTC))):
        return minutes
    dated = _SINCE_DATE.search(text)
    if dated is not None and (minutes := _since_date(dated, now or datetime.now(UTC))):
        return minutes
    weekday = _WEEKDAY.search(text)
    if weekday is not None:
        return _since_weekday(weekday.group(1), now or datetime.now(UTC))
    if _WEEKEND.search(text):
        return _since_weekday("sat", now or datetime.now(UTC))  # back to Saturday 00:00
    if _THIS_MONTH.search(text):
        # "this month": back to the 1st, 00:00 UTC
        at = now or datetime.now(UTC)
        first = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return max(1, int((at - first).total_seconds() // 60))
    for pattern in (_SPAN, _AGO, _COMPACT):
        match = pattern.search(text)
        if match is not None:
            return max(1, _amount(match.group(1)) * _unit(match.group(2)))
    for named, minutes in _NAMED:
        if named.search(text):
            return minutes
    return None


def strip_time(text: str) -> str:
    """The text without its time expression, so "since yesterday" is not read as a reason."""
    for pattern in (
        _SINCE_CLOCK,
        _SINCE_DATE,
        _SPAN,
        _AGO,
        _COMPACT,
        _WEEKDAY,
        _WEEKEND,
        _THIS_MONTH,
        *(p for p, _ in _NAMED),
    ):
        text = pattern.sub(" ", text)
    return text

"""Normalises what the user typed before the offline rules read it: contractions, glued or
misspelled command words ("clearwhat", "promte", "prodction"), and model-name typos against
the registry's names when they are known. Model names themselves are never rewritten into
command words."""

from __future__ import annotations

import difflib
import json
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
    "rn": "right now",
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
    if low.startswith(("un", "de")) and low[2:].lstrip("-") in VOCABULARY:
        return word  # "unpromote" is no glued "promote"
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


#: Command-line habits ("canary x v4 --shadow --percent 50", "audit --since 24h",
#: "stop_canary x"), read only in a message that starts as a command: a flag in a question,
#: a log line or a report stays as typed. "--expect v2" (the version the change expects to
#: replace) is no target and goes; "--no-shadow", "--guard=false" say the opposite.
_COMMAND_START = re.compile(
    r"^\s*(?:promote|promote_model|rollback|rollback_model|rb|roll\s+back|canary|start_canary|"
    r"shadow|stop_canary|stop|audit|get_audit_log|list|list_models|ls|describe|show|"
    r"get_model_info|pending|compare|serving|get_serving_version)\b",
    re.I,
)
_FLAGS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"--(?:percent|pct|share)[=\s]+(\d+(?:\.\d+)?)%?", re.I), r" at \1% "),
    (re.compile(r"--no-shadow\b|--shadow[=\s]+(?:false|no|off|0)\b", re.I), " split "),
    (re.compile(r"--no-guard\b|--guard(?:ed)?[=\s]+(?:false|no|off|0)\b", re.I), " no guard "),
    (re.compile(r"--mode[=\s]+(shadow|split)\b", re.I), r" \1 "),
    (re.compile(r"--(shadow|split|guard(?:ed)?)(?:[=\s]+(?:true|yes|on|1))?\b", re.I), r" \1 "),
    (re.compile(r"--since[=\s]+(\d+)\s*h(?:ours?)?\b", re.I), r" in the last \1 hours "),
    (re.compile(r"--since[=\s]+(\d+)\s*d(?:ays?)?\b", re.I), r" in the last \1 days "),
    (re.compile(r"--since[=\s]+(\d+)\s*m(?:in(?:utes?)?)?\b", re.I), r" in the last \1 minutes "),
    (re.compile(r"--(?:to|to-stage)[=\s]+", re.I), " to "),
    (re.compile(r"^(\s*promote\b.*?)--stage[=\s]+", re.I), r"\1 to "),
    (re.compile(r"--stage[=\s]+", re.I), " "),
    (re.compile(r"--version[=\s]+v?(\d+)\b", re.I), r" v\1 "),
    (re.compile(r"--(?:model|name)[=\s]+", re.I), " "),
    (re.compile(r"--expect(?:ed)?(?:-current)?(?:-version)?[=\s]+v?\d+\b", re.I), " "),
    (re.compile(r"^\s*stop_canary\b", re.I), "stop the canary of"),
    (re.compile(r"^\s*start_canary\b", re.I), "canary"),
    (re.compile(r"^\s*(promote|rollback)_model\b", re.I), r"\1"),
    (re.compile(r"^\s*list_models\b", re.I), "list models"),
    (re.compile(r"^\s*get_audit_log\b", re.I), "audit"),
    (re.compile(r"^\s*get_model_info\b", re.I), "show"),
    (re.compile(r"^\s*get_serving_version\b", re.I), "what serves"),
]
#: Keys a JSON request may have; any other key ("by", "at", "status", "note", "dry_run") makes
#: it a record or an example, read as typed.
_REQUEST_KEYS = frozenset(
    {
        "action",
        "kind",
        "tool",
        "op",
        "model",
        "model_name",
        "version",
        "stage",
        "percent",
        "mode",
        "guard",
        "auto_rollback",
        "to_version",
    }
)


def _json_words(text: str) -> str | None:
    """A request typed as a JSON object ('{"action": "promote", "model": "x", "version": 3,
    "stage": "Staging"}') in words; None for anything else."""
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        fields = json.loads(text)
    except ValueError:
        return None
    if not isinstance(fields, dict) or not {str(k).lower() for k in fields} <= _REQUEST_KEYS:
        return None
    words = {str(k).lower(): v for k, v in fields.items() if isinstance(v, str | int | float)}
    action = words.get("action") or words.get("kind") or words.get("tool") or words.get("op")
    if not isinstance(action, str):
        return None
    said = [action.replace("_", " "), str(words.get("model") or words.get("model_name") or "")]
    if (version := words.get("version")) is not None:
        said.append(f"v{str(version).lstrip('vV')}")
    if (to_version := words.get("to_version")) is not None:
        said.append(f"to v{str(to_version).lstrip('vV')}")
    if (stage := words.get("stage")) is not None:
        said.append(f"to {stage}")
    if (percent := words.get("percent")) is not None:
        said.append(f"at {percent}%")
    if (mode := words.get("mode")) is not None:
        said.append(str(mode))
    guard = fields.get("guard", fields.get("auto_rollback"))
    if guard is True:
        said.append("with the guard")
    elif guard is False:
        said.append("with no guard")
    return " ".join(w for w in said if w)


#: A runbook's step heading ("Step 4 – Verify serving version.", "Step 4b: same check"): the
#: words after it are the request.
_RUNBOOK_STEP = re.compile(r"(^|[.!?;]\s+|\n\s*)step\s+\d+[a-z]?\s*[\u2013\u2014:.\-]+\s*", re.I)
#: "Model: x. Version: 4. Target version: 1." (a runbook's fields): said as "v4", "to v1".
_VERSION_FIELD = re.compile(r"(?:[.;]?\s+|^)(target\s+|to\s+)?version\s*[:=]\s*v?(\d+)\b", re.I)


#: "Verify serving version. Model: x." (a runbook's model field after its step): "... for x".
_MODEL_FIELD = re.compile(r"[.;]?\s+model\s*[:=]\s*([A-Za-z0-9][\w.\-]*?)(?=[.;,]?(?:\s|$))", re.I)


#: On-call shorthand, written out: "cnry v4 10%", "rb to v1!!", "stg -> prd", "promo v4 stg".
#: Words of other languages in an English message, and shell habits, in English words: "5%
#: por favor", "e v3?", "subito", "obrigada"; "rm -rf x v4", "mv x/v2 production",
#: "select * from production".
_MIXED_IN: tuple[tuple[re.Pattern[str], str], ...] = (
    # a refusing sign is a "don't"; other emoji and pictographs say a mood the chat does not read
    (re.compile("[\U0001f44e\u274c\U0001f6ab\u2717\u2718\u26d4\U0001f645]\ufe0f?"), " don't "),
    (re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d]+"), " "),
    # a header in code marks: "where do `X-Priority: critical` requests go" (a pasted
    # command in them stays marked: it is evidence, not the request)
    (re.compile(r"`(X-[\w\-]+\s*:\s*[\w\-]+)`", re.I), r"\1"),
    # "Kindly stop it": a polite please
    (re.compile(r"\bkindly\b", re.I), "please"),
    # a commit message's or an issue title's type: "chore: promote x v3 -> staging", "q: ..."
    (re.compile(r"(^|;\s*)(?:feat|fix|chore|q|ask|ops|docs)(?:\([\w\-]+\))?\s*:\s*", re.I), r"\1"),
    # a product's words for the stages: "live for customers", "what customers have today",
    # "which ones are still in testing?" (never "in testing it beat v1")
    (
        re.compile(
            r"\blive\s+(?:for|to)\s+(?:(?:our|the|all)\s+)?(?:customers|users|clients)\b", re.I
        ),
        "live",
    ),
    (
        re.compile(
            r"\bwhat\s+(?:our\s+|the\s+)?(?:customers|users|clients)\s+(?:have|get|see|use)"
            r"(?:\s+(?:today|now|right\s+now))?\b",
            re.I,
        ),
        "production",
    ),
    (
        # only a question of what is there: never "promote v3, which did well in testing"
        re.compile(
            r"^(\W*(?:(?:and|so|ok|okay)\W+)?(?:which|what|anything|any)\b[^.!?,;]*?)"
            r"\bin\s+(?:the\s+)?(?:testing|uat|qa)"
            r"(?=\s*(?:right\s+now|now|yet|at\s+the\s+moment|currently)?\s*\?*\s*$)",
            re.I,
        ),
        r"\1in staging",
    ),
    # "not v2, promote x v3", "not the rollback, promote x v3": the alternative refused first
    (
        re.compile(
            r"^\W*(?:no\W+)?not\s+(?:v\d+|version\s*\d+|(?:the\s+|a\s+)?(?:rollback|roll\s*back|"
            r"promotion|canary))\s*[,;:\-]\s*"
            r"(?=(?:please\s+|pls\s+|just\s+)?(?:promote|roll\s*back|rollback|canary|stop|revert|ship|"
            r"deploy|move)\b)",
            re.I,
        ),
        "",
    ),
    (re.compile(r"\b(?:por\s+favor|bitte)\b", re.I), "please"),
    (re.compile(r"\b(?:obrigad[oa]|grazie|gracias|danke)\b", re.I), "thanks"),
    (re.compile(r"\b(?:hoje|hoy|oggi)\b", re.I), "today"),
    (re.compile(r"\b(?:desculp[ae]|scusa(?:mi)?|perd[oó]n)\b", re.I), "sorry"),
    (re.compile(r"\b(?:e\s+depois|e\s+poi|y\s+luego)\b", re.I), "and then"),
    # "mas não agora", "ma non subito", "aber nicht sofort", "ahora no": not now
    (re.compile(r"(?<![\w-])(?:não|nao)(?![\w-])", re.I), "not"),
    (re.compile(r"\bnon\s+(?:subito|adesso|ora)\b", re.I), "not now"),
    (re.compile(r"\bnicht\s+(?:sofort|jetzt)\b", re.I), "not now"),
    (re.compile(r"(?<![\w-])(?:mas|aber)(?![\w-])", re.I), "but"),
    (
        re.compile(r"\b(?:agora|subito|ahora|sofort|jetzt)\b(?!\s+(?:no|not|não|nicht)\b)", re.I),
        "now",
    ),
    (re.compile(r"\bnoch\s+nicht\b", re.I), "not yet"),
    (
        re.compile(r"\b(?:ahora|agora|hoje|hoy|subito|sofort|jetzt)\s+(?:no|not|nicht)\b", re.I),
        "not now",
    ),
    # "promote x v3 nicht", "rollback x bitte nicht": a refusal said last
    (re.compile(r"[\s,;.\-]+(?:please\s+|bitte\s+)?nicht\s*[.!]*\s*$", re.I), ", please don't"),
    # "kein rollback für x", "keine promotion": no change of that kind
    (
        re.compile(
            r"(?<![\w-])kein(?:e|en)?\s+(?=(?:rollback|promotion|canary|roll\s*back)\b)", re.I
        ),
        "no ",
    ),
    # "bitte nicht promote x", "nicht rollback x": a refusal
    (
        re.compile(
            r"(?<![\w-])nicht\s+(?=(?:promote|promoten|roll|rollback|revert|canary|stop|deploy|"
            r"ship|move|bring|start|end|kill)\b)",
            re.I,
        ),
        "don't ",
    ),
    (re.compile(r"(?<![\w.])e(?=\s+(?!\.)\S)(?<!\be\.g)", re.I), "and"),
    (re.compile(r"(?<!\w)só(?!\w)", re.I), "only"),
    (re.compile(r"^\s*select\s+\*\s+from\s+(?=prod|staging|archived|models)", re.I), "list "),
    (re.compile(r"(?<![\w-])rm\s+(?:-\w+\s+)*(?=[A-Za-z])", re.I), "delete "),
    (
        # only the whole message: never "git mv", "yesterday I ran mv", "mv ... production-backup/"
        re.compile(r"^\s*mv\s+([\w.\-]+)/v?(\d+)\s+(prod(?:uction)?|staging)/?\s*$", re.I),
        r"promote \1 v\2 to \3",
    ),
)
#: A clause's start (or a model's name before it) and its end: "stg -> prd for x", "ok. stg it".
_CLAUSE_START = (
    r"(^\s*(?:[A-Za-z][\w.]*-[\w.\-]+\s+)?|[.!?;]\s*|^\W*(?:ok|okay|fine|so|then|pls|please)\W+)"
)
_CLAUSE_END = (
    r"(?=(?:\s+(?:for|of|on)\s+[\w.\-]+)?(?:\s*,?\s*(?:pls|please|now|asap|thx))*\s*[.!]*\s*$)"
)
_SHORTHAND: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(?:cnry|canry|cnary)\b", re.I), "canary"),
    (
        re.compile(_CLAUSE_START + r"stg\s*(?:->|=>|\u2192|to)\s*pro?d\b" + _CLAUSE_END, re.I),
        r"\1promote to production",
    ),
    (
        re.compile(_CLAUSE_START + r"stg\s+(it|that|this)\b" + _CLAUSE_END, re.I),
        r"\1promote \2 to staging",
    ),
    (
        re.compile(_CLAUSE_START + r"pro?d\s+(it|that|this)\b" + _CLAUSE_END, re.I),
        r"\1promote \2 to production",
    ),
    (re.compile(r"(?<![\w./])rb\b(?!\.\w)", re.I), "roll back"),
    (re.compile(r"\bpromo\b", re.I), "promote"),
    (re.compile(r"\bprd\b", re.I), "production"),
    (re.compile(r"\bstg\b", re.I), "staging"),
)


#: "Target stage: Staging", "Stage: Production", "Traffic: 10%" (a runbook's fields).
_STAGE_FIELD = re.compile(
    r"(?:[.;]?\s+|^)target\s+stage\s*[:=]\s*(production|prod|staging)\b", re.I
)
_TRAFFIC_FIELD = re.compile(
    r"(?:[.;]?\s+|\b)(?:traffic|share|percent(?:age)?)\s*[:=]\s*(\d+(?:\.\d+)?)\s*%?", re.I
)


def runbook_words(text: str) -> str:
    """``text`` without runbook step headings, its model and version fields said as the chat
    reads them, on-call shorthand written out."""
    for pattern, words in (*_MIXED_IN, *_SHORTHAND):
        text = pattern.sub(words, text)
    if _RUNBOOK_STEP.search(text) is None:
        return text  # fields ("Version: 2", "Stage: Production") only in a runbook's step
    text = _RUNBOOK_STEP.sub(lambda m: m.group(1), text)
    text = _MODEL_FIELD.sub(lambda m: f" for {m.group(1)}", text)
    text = _STAGE_FIELD.sub(lambda m: f" to {m.group(1)}", text)
    text = _TRAFFIC_FIELD.sub(lambda m: f" at {m.group(1)}%", text)
    return _VERSION_FIELD.sub(lambda m: f" {'to ' if m.group(1) else ''}v{m.group(2)}", text)


def command_words(text: str) -> str:
    """``text`` with command-line flags (or a JSON request) said in words, when it starts as a
    command (unchanged otherwise)."""
    if (from_json := _json_words(text.strip())) is not None:
        return from_json
    if ("--" not in text and "_" not in text) or not _COMMAND_START.match(text) or "?" in text:
        return text  # a flag in a question ("... --percent 10 failed with 409, why?") as typed
    for pattern, words in _FLAGS:
        text = pattern.sub(words, text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


#: A move into a test stage is a move to Staging: "move v4 into testing", "put it in the QA
#: environment" (never "in testing it beat v1" or "put more effort into testing v3").
_TEST_STAGE = re.compile(
    r"\b(move|put|push|promote|ship|send|deploy|get)\b([^.!?]{0,60}?)\s"
    r"(?:(?:into|to|onto)\s+(?:the\s+)?(?:testing|test|qa|uat|pre-?prod(?:uction)?)"
    r"(?:\s+(?:env(?:ironment)?|stage))?"
    r"|in\s+(?:the\s+)?(?:testing|test|qa|uat|pre-?prod(?:uction)?)\s+(?:env(?:ironment)?|stage))"
    r"(?=\s*(?:$|[.,;!?]|(?:so|and|for|please|pls|now)\b))",
    re.I,
)

#: The test stage described as a place: "put it somewhere the QA folks can test it before it
#: goes live", "move v4 where testers can try it".
_TEST_PLACE = re.compile(
    r"\b(move|put|push|promote|ship|send|deploy|get)\b([^.!?]{0,60}?)\s+"
    r"(?:somewhere\s+(?:where\s+)?|where\s+)(?:the\s+|our\s+)?"
    r"(?:qa|uat|test(?:ers?|ing)?|reviewers?)(?:\s+(?:folks|team|people|guys|crew))?\s+"
    r"(?:can|could|will|would)\s+(?:test|try|check|look\s+at|poke\s+at)\s+(?:it|them|that)\b"
    r"(?:\s+before\s+(?:it|they)\s+goes?\s+(?:live|to\s+prod(?:uction)?))?",
    re.I,
)

#: "put v4 in QA", "move mnist-cnn v2 in UAT please": the test stage with "in", right after
#: what moves (never "promote x v2, which did well in testing, to production").
_IN_TEST_STAGE = re.compile(
    r"\b(move|put|push|promote|ship|send|deploy|get)\b"
    r"((?:\s+(?:it|that|this|them|v\d+|version\s*\d+|(?!x-)[a-z][\w.]*-[\w.\-]+(?:\s+v\d+)?)){1,2})"
    r"\s+in\s+(?:the\s+)?(?:testing|test|qa|uat|pre-?prod(?:uction)?)\b"
    r"(?=\s*(?:$|[.,;!?]|(?:so|and|for|please|pls|now|today|first|then|asap|tomorrow)\b))",
    re.I,
)

#: What a stage holds, said as the baseline of a comparison: "against what's actually in
#: production" -> "against production", "better than what's live" -> "than production".
_WHAT_IS_IN_STAGE = re.compile(
    r"(\b(?:against|vs\.?|versus|with|than|to)\s+)what(?:'s|s|\s+is)\s+(?:actually\s+|currently\s+|"
    r"really\s+|now\s+)?(?:(?:live|running|serving)\s+)?(?:in|on)\s+(prod(?:uction)?|staging)\b"
    r"|(\b(?:than|against|vs\.?|versus)\s+)what(?:'s|s|\s+is)\s+(?:actually\s+|currently\s+)?(live)\b",
    re.I,
)


def normalise(text: str, models: Iterable[str] = ()) -> str:
    """The text with contractions joined, command-line flags said in words and command-word
    typos fixed."""
    text = command_words(text)
    text = _TEST_STAGE.sub(r"\1\2 to staging", text)
    text = _TEST_PLACE.sub(r"\1\2 to staging", text)
    text = _WHAT_IS_IN_STAGE.sub(
        lambda m: f"{m.group(1)}{m.group(2)}" if m.group(1) else f"{m.group(3)}production", text
    )
    text = _IN_TEST_STAGE.sub(r"\1\2 to staging", text)
    # "v2's card": the version's, not a word "v2s".
    text = re.sub(r"(\b(?:v|version\s*)\d+)['’]s\b", r"\1", text.strip(), flags=re.I)
    text = re.sub(r"(\w)['’](\w)", r"\1\2", text)  # what's -> whats
    text = re.sub(r"\bwhats\b", "what is", text, flags=re.I)
    text = _ARROW.sub(" to ", text)  # "v2->prod": a move
    # Spanish "y la v4?", "y el v3": "and v4?"
    text = re.sub(
        r"^\s*y\s+(?:(?:la|el)\s+)?(?=v\d+\b|versi[o\u00f3]n\b)", "and ", text, flags=re.I
    )
    # "w/o the guard", "w/ the guard", "w the guard thing": without, with
    text = re.sub(r"(?<![\w.\-/])w/o(?![\w\-])", "without", text, flags=re.I)
    text = re.sub(
        r"(?<![\w.\-/])w/?(?=\s+(?:the|a|an|auto\w*|guard\w*)\b)", "with", text, flags=re.I
    )
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

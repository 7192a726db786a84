"""The slots of one message, read against what the registry has: model names (never a word
that matches nothing), versions (named, bare after a name, by stage, or "it"/"the previous
one" from the conversation's focus), tasks, a reason after "because", a time span.

It only ever reads what the user typed (never registry text; the registry's names at most,
to recognise a name), so data in the registry cannot steer it.
"""

from __future__ import annotations

import difflib
import re

from agent import entities, numbers
from agent import phrases as P
from agent.clauses import asked_about
from agent.entities import Found
from agent.focus import ParseContext, PartialChange
from agent.intents import Unclear
from agent.tool_results import StageName
from agent.wording import normalise


def has(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    return pattern.search(text)


def stage_of(word: str) -> StageName:
    word = word.lower()
    if word.startswith("prod"):
        return "Production"
    if word.startswith("stag"):
        return "Staging"
    if word.startswith("arch"):
        return "Archived"
    return "None"


#: Tasks by their usual names, as the vocabulary spells them.
TASK_WORDS = frozenset(P.TASKS.values()) | frozenset(P.MULTI_WORD_TASKS.values())

#: A link or a storage path ("s3://bucket/digits/v5/model.pt").
URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://\S*", re.I)

#: A pasted fragment between backticks (a log line, a command).
CODE = re.compile(r"`+([^`]*)`+")

#: A pasted log or stack-trace line (or a line quoted with "> "): a timestamp, a level, a
#: traceback frame, an exception, or key=value fields. Evidence, not the request: only the
#: registry names in it are kept.
LOG_LINE = re.compile(
    r"^\s*(?:>\s|\[?\d{4}-\d{2}-\d{2}[T\s]\d{1,2}:\d{2}|\[?\d{1,2}:\d{2}:\d{2}"
    r"|\[?(?:ERROR|WARN(?:ING)?|INFO|DEBUG|FATAL|CRITICAL|TRACE|E|W|I)\]?[\s:|]"
    r"|Traceback \(most recent call last\)|File \"[^\"]*\", line \d+|at [\w.$<>]+\("
    r"|[\w.]*(?:Error|Exception|Warning|Exit)\b:|\S+:\d+:\s)"
    r"|(?:\b[\w.\-]+=\S+.*){2,}"
)


def without_logs(text: str, ctx: ParseContext) -> str:
    """A message with pasted log lines: each such line reduced to the registry names in it
    (a message of one line is the user's own words). Names in the user's own lines win: an
    alert naming ``route=digits`` above "who changed mnist-cnn?" is about mnist-cnn."""
    lines = text.splitlines()
    if len(lines) < 2:
        return text
    own = [line for line in lines if not LOG_LINE.search(line)]
    if ctx.models is not None and any(entities.find_models(line, ctx, P.STOPWORDS) for line in own):
        return "\n".join(own)
    kept = [names_in(line, ctx) if LOG_LINE.search(line) else line for line in lines]
    return "\n".join(kept)


#: Just before a name, a pasted field ("route=", "model: ") rather than the user's words.
_FIELD_VALUE = re.compile(r"\b[\w.\-]+=[\"']?$")

#: A time of day ("02:14", "02:14:07").
CLOCK = re.compile(r"(?<![\w:])\d{1,2}:\d{2}(?::\d{2})?(?![\w:])")


#: "half of the traffic", "half the requests", "a quarter of users" -> 50% / 25% of it.
_FRACTIONS = {"half": 50, "a quarter": 25, "a third": 33, "a tenth": 10, "a fifth": 20}
_FRACTIONS |= {"one half": 50, "one quarter": 25, "one third": 33, "one tenth": 10}
FRACTION = re.compile(
    r"\b(half|(?:a|one) (?:quarter|third|tenth|fifth|half))\s+"
    r"(?:of\b|(?=(?:the|our|all|its|their)\s+(?:[\w.\-]+\s+){0,2}?"
    r"(?:traffic|requests|users|calls|load|predictions)\b))",
    re.I,
)


#: A share said as a ratio of requests: "1 in 20 requests", "one out of ten calls".
ONE_IN = re.compile(
    r"(?<![\w.])(1)\s+(?:in|out\s+of)\s+(\d+)\s+(?=(?:of\s+)?(?:the\s+|our\s+)?"
    r"(?:requests|calls|users|predictions|queries)\b)",
    re.I,
)


def _one_in(match: re.Match[str]) -> str:
    part, whole = int(match.group(1)), int(match.group(2))
    if not 0 < part < whole:
        return match.group(0)
    return f"{100 * part / whole:g}% of "


def names_in(fragment: str, ctx: ParseContext) -> str:
    """The registry names a pasted fragment holds (identifier-like words when the names are
    not known yet): the fragment's other words are not the user's request."""
    if ctx.models is None:
        return " ".join(w for w in P.TOKEN.findall(fragment) if entities.NAME_LIKE.match(w))
    # A route with its rule's condition ("X-Priority: critical ... /routes/digits") names
    # the rule's model: kept as that model, since the condition's words are dropped.
    return " ".join(
        found.model if found.via == "route" else found.said
        for found in entities.find_models(fragment, ctx, P.STOPWORDS)
    )


class Slots:
    """One normalised message and its context, and the slots read from them."""

    def __init__(self, text: str, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.focus = ctx.focus
        known = (*(ctx.models or ()), *(route for route, _ in ctx.routes))
        # A link or storage path names a place, not a model ("from s3://x/digits/v5"); a
        # pasted log line is evidence, not the request: only the names in it are kept.
        text = CODE.sub(lambda m: " " + names_in(m.group(1), ctx) + " ", URL.sub(" ", text))
        self.pasted = text != (text := without_logs(text, ctx))
        text = FRACTION.sub(lambda m: f"{_FRACTIONS[m.group(1).lower()]}% of ", text)
        text = numbers.with_digits(text)  # "ten percent", "version two", "forty-eight hours"
        text = ONE_IN.sub(_one_in, text)  # "1 in 20 requests" -> "5% of requests"
        self.text = normalise(text, known)
        self.since = entities.since_minutes(self.text, self.ctx.now)
        self.text = entities.strip_time(self.text) if self.since else self.text
        self.text = CLOCK.sub(" ", self.text)  # "at 02:14:07": a time of day, never a version
        self.text = re.sub(r"\s{2,}", " ", self.text).strip()
        self.known = ctx.models is not None
        self.found = entities.find_models(self.text, ctx, P.STOPWORDS) if self.known else []
        fields = [f for f in self.found if _FIELD_VALUE.search(self.text[: f.start])]
        if fields and len(fields) < len(self.found):
            # "route=digits 5xx up, who touched mnist-cnn?": a pasted field is evidence; the
            # model named in the user's own words is the one asked about (a model also named
            # again in those words stays, at that place).
            kept = [f for f in self.found if f not in fields]
            for field in fields:
                if (again := self._named_again(field)) is not None:
                    kept.append(again)
            self.found = sorted(kept, key=lambda f: f.start)
        # "x looks fine, but what does y's card say?", "not x - I mean y": the one asked about.
        self.found = asked_about(self.text, self.found, ctx, P.STOPWORDS)
        self.unknown = (
            entities.unknown_name(
                self.text,
                ctx,
                P.STOPWORDS,
                # "promote that version because it beats v1": "beats" names nothing.
                before_version=not (
                    P.THIS.search(self.text)
                    or P.PREVIOUS.search(self.text)
                    or P.NEWER.search(self.text)
                ),
            )
            if self.known and not self.found
            else None
        )
        if self.unknown is None and not self.found and P.THIS.search(self.text):
            # "ok then promote it" right after a name the registry lacks: that name.
            self.unknown = self.focus.topic.unknown

    def _named_again(self, field: Found) -> Found | None:
        """The same model named again after a pasted ``field=value``, outside any field."""
        at = field.start + len(field.said)
        while True:
            later = entities.find_models(self.text, self.ctx, P.STOPWORDS, at)
            again = next((g for g in later if g.model == field.model), None)
            if again is None or not _FIELD_VALUE.search(self.text[: again.start]):
                return again
            at = again.start + len(again.said)

    def named_model(self, start: int = 0, end: int | None = None) -> str | None:
        """A model the text names after ``start``: a registry name when known, else the
        first word that can be a name and is not a common word."""
        part = self.text[start:end]
        words = [m.group(0).rstrip(".-") for m in P.TOKEN.finditer(part)]
        if self.known:
            # Only what the registry has: a word that matches nothing is never a name.
            stop = len(self.text) if end is None else end
            inside = [f for f in self.found if start <= f.start < stop]
            return inside[0].model if inside else None
        for match in P.NAME_THEN_VERSION.finditer(part):
            if match.group(1).lower() not in P.STOPWORDS:
                return match.group(1)
        for word in words:
            if word.lower() in P.STOPWORDS or P.VERSION_WORD.match(word):
                continue
            if ":" in word:
                word = word.split(":")[0]
            return word
        return None

    def versions(self, start: int = 0) -> list[int]:
        found = [int(m.group(1)) for m in P.VERSION.finditer(self.text, start)]
        if not found and (pair := P.VERSION_PAIR.search(self.text, start)) is not None:
            found = [int(pair.group(1)), int(pair.group(2))]  # "versions 4 and 2"
        return found or self.bare_versions()

    def bare_versions(self, end: int | None = None) -> list[int]:
        """ "mnist-classifier 2", "diff digits 4 and 2": bare numbers right after a name."""
        for entity in self.found:
            if end is not None and entity.start >= end:
                continue
            after = self.text[entity.start + len(entity.said) :]
            bare = re.match(
                r"\s+(\d+)(?:\s+(?:and|vs\.?|versus|with|to|against)\s+(\d+))?\b", after
            )
            if bare and not re.match(r"\s+\d+\s*(?:%|ms\b|percent)", after):
                return [int(g) for g in bare.groups() if g is not None]
        return []

    def stage_versions(self, model: str) -> list[int]:
        """Versions a message names by stage ("compare staging and prod", "the staging
        build"), in the order it names them, from the registry's stages."""
        found = []
        # "the live one", "what's live now": Production
        for match in re.finditer(
            r"\b(prod(?:uction)?|staging)\b|\b(?:the\s+|what\s+is\s+)(live)\b", self.text, re.I
        ):
            said = match.group(1) or "production"
            version = self.ctx.stage_version(model, stage_of(said))
            if version is not None and version not in found:
                found.append(version)
        return found

    def model(self, start: int = 0, end: int | None = None) -> str | None:
        """The named model, else the one under discussion, else the registry's only one."""
        named = self.named_model(start, end)
        if named is not None:
            return named
        if self.unknown is not None:
            return None  # the user named something that does not exist: never the focus
        if self.focus.model is not None:
            return self.focus.model
        if self.ctx.models is not None and len(self.ctx.models) == 1:
            return self.ctx.models[0]
        return None

    def referenced_version(self, model: str | None) -> int | None:
        """ "it", "that version" -> the version under discussion; "the previous one" -> the
        one discussed before it (else the version just below)."""
        if model is None or model != self.focus.model or self.focus.version is None:
            return None
        if P.NEWER.search(self.text):
            # "promote the newer one" after "v4 vs v2": the higher of the two discussed.
            return max(v for v in (self.focus.version, self.focus.previous_version) if v)
        if P.PREVIOUS.search(self.text):
            if self.focus.previous_version is not None:
                return self.focus.previous_version
            return self.focus.version - 1 if self.focus.version > 1 else None
        if P.THIS.search(self.text):
            return self.focus.version
        return None

    def needs_model(self, example: str, partial: PartialChange | None = None) -> Unclear:
        """Ask which model; ``partial``: the change asked for, which a next message naming
        only the model completes."""
        if self.unknown is not None:
            # "promote fraud-scorer v2": no such model; "sorry, I meant x" next completes the
            # change with a model the registry has (and still only proposes it).
            return self.no_such_model().model_copy(update={"partial": partial})
        return Unclear(reason=f"Which model? e.g. '{example}'.", needs="model", partial=partial)

    def no_such_model(self) -> Unclear:
        assert self.unknown is not None
        several = entities.sharing(self.unknown, self.ctx)
        if several:
            return Unclear(
                reason=f"{self.unknown!r} could be {' or '.join(several)}; which one?",
                needs="model",
                unknown=self.unknown,
            )
        return Unclear(
            reason=f"No model or route named {self.unknown!r} in the registry.",
            needs="model",
            unknown=self.unknown,
        )

    def task(self) -> str | Unclear | None:
        """The task the message names, as the registry spells it ("digit classification" ->
        classification); a task the registry does not have is never used: the agent says
        which exist (or, for a name that looks like a model, that no such model exists)."""
        tasks = self.ctx.tasks
        if tasks is not None and (registry := registry_task(self.text, tasks)) is not None:
            return registry  # "list feature-extraction models": a task the registry has
        said = task_said(self.text)
        if said is not None and said.lower() in {f.said.lower() for f in self.found}:
            return None  # "for mnist-classifier": a model the registry has, not a task
        if said is None or tasks is None:
            return said
        known = {t.lower(): t for t in tasks}
        words = [said, *said.split(), *(P.TASKS.get(w.lower(), w) for w in said.split())]
        for word in words:
            if word.lower() in known:
                return known[word.lower()]
        close = difflib.get_close_matches(said.lower(), known, n=1, cutoff=0.8)
        if close:
            return known[close[0]]
        if self.unknown is not None and self.unknown.lower() in said.lower():
            return self.no_such_model()
        if said.lower() in TASK_WORDS:
            # A task by its usual name ("regression"): the answer reads the registry afresh
            # and says which tasks it has, in case a model of this task was just added.
            return said
        shown = ", ".join(tasks) if tasks else "none yet"
        return Unclear(reason=f"No task named {said!r} in the registry; its tasks: {shown}.")


def default_stage(head: str) -> StageName:
    """ "stage digits v4" asks for Staging; any other move without a stage, Production."""
    return "Staging" if P.STAGE_VERB.search(head) else "Production"


def split_why(text: str) -> tuple[str, str | None]:
    match = P.WHY.search(text)
    if match is None:
        return text, None
    return text[: match.start()], match.group(1).strip() or None


def registry_task(text: str, tasks: tuple[str, ...]) -> str | None:
    """The one registry task the text names, as spelled there or by its usual word
    ("feature extraction", "embeddings", "classifier"); None when none or several."""
    low = text.lower()
    hits = set()
    for task in tasks:
        spelled = r"[\s_\-]+".join(re.escape(p) for p in re.split(r"[\s_\-]+", task.lower()))
        if re.search(rf"(?<![\w\-]){spelled}(?![\w\-])", low):
            hits.add(task)
    words = {P.TASKS[w] for w in re.findall(r"(?<![\w\-])[a-z]+(?![\w\-])", low) if w in P.TASKS}
    words |= {t for phrase, t in P.MULTI_WORD_TASKS.items() if re.search(rf"\b{phrase}\b", low)}
    hits |= {t for t in tasks if t.lower() in words}
    return hits.pop() if len(hits) == 1 else None


def task_said(text: str) -> str | None:
    named = P.TASK_IS.search(text)
    if named is not None:
        return named.group(1)
    low = text.lower()
    for phrase, task in P.MULTI_WORD_TASKS.items():
        if re.search(rf"\b{phrase}\b", low):
            return task
    for match in P.FOR_TASK.finditer(text):
        words = [
            w
            for w in match.group(1).split()
            if w.lower() not in P.NOT_TASK and not entities.DESCRIBING.match(w.lower())
        ]
        words = [P.TASKS.get(w.lower(), w) for w in words]
        if words and all(w.lower() not in P.STOPWORDS - set(P.TASKS) for w in words):
            return " ".join(words)
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in P.TASKS:
            return P.TASKS[word]
    return None

"""Intent parsing without a network: keyword and pattern rules over the user's own words,
with the conversation's focus for "it", "that version" or "the previous one".

It only ever reads what the user typed (never registry text; the registry's model names at
most, to recognise a name), so data in the registry cannot steer it. Whatever it cannot
place becomes ``Unclear`` and the agent asks again; a missing model name becomes
``Unclear(needs="model")`` so the agent can look the names up and try once more.
"""

from __future__ import annotations

import difflib
import re

from pydantic import ValidationError

from agent import classifier, entities
from agent import phrases as P
from agent.focus import ParseContext
from agent.intents import (
    CHANGE_KINDS,
    AuditLog,
    CompareVersions,
    Goal,
    Help,
    Intent,
    ListModels,
    ModelDetails,
    OutOfScope,
    Parsed,
    PendingApprovals,
    Promote,
    Rollback,
    SelectModel,
    ServingStatus,
    StartCanary,
    StopCanary,
    Unclear,
    Unsupported,
)
from agent.tool_results import StageName
from agent.wording import normalise


def _stage(word: str) -> StageName:
    word = word.lower()
    if word.startswith("prod"):
        return "Production"
    if word.startswith("stag"):
        return "Staging"
    if word.startswith("arch"):
        return "Archived"
    return "None"


def _has(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    return pattern.search(text)


class _Reader:
    """The rules, over one normalised message and its context."""

    def __init__(self, text: str, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.focus = ctx.focus
        known = (*(ctx.models or ()), *(route for route, _ in ctx.routes))
        # A link or storage path names a place, not a model ("from s3://x/digits/v5"); a
        # pasted log line is evidence, not the request: only the names in it are kept.
        text = _CODE.sub(lambda m: " " + _names_in(m.group(1), ctx) + " ", _URL.sub(" ", text))
        text = _CLOCK.sub(" ", text)  # "at 02:14:07": a time of day, never a version
        self.text = normalise(text, known)
        self.since = entities.since_minutes(self.text)
        self.text = entities.strip_time(self.text) if self.since else self.text
        self.text = re.sub(r"\s{2,}", " ", self.text).strip()
        self.known = ctx.models is not None
        self.found = entities.find_models(self.text, ctx, P.STOPWORDS) if self.known else []
        self.unknown = (
            entities.unknown_name(
                self.text,
                ctx,
                P.STOPWORDS,
                # "promote that version because it beats v1": "beats" names nothing.
                before_version=not (P.THIS.search(self.text) or P.PREVIOUS.search(self.text)),
            )
            if self.known and not self.found
            else None
        )

    # -------------------------------------------------------- names, versions

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
        for match in re.finditer(r"\b(prod(?:uction)?|staging)\b", self.text, re.I):
            version = self.ctx.stage_version(model, _stage(match.group(1)))
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
        if P.PREVIOUS.search(self.text):
            if self.focus.previous_version is not None:
                return self.focus.previous_version
            return self.focus.version - 1 if self.focus.version > 1 else None
        if P.THIS.search(self.text):
            return self.focus.version
        return None

    def needs_model(self, example: str) -> Unclear:
        if self.unknown is not None:
            return self.no_such_model()
        return Unclear(reason=f"Which model? e.g. '{example}'.", needs="model")

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

    # ------------------------------------------------------------------ rules

    def read(self) -> Intent:
        intent = self._read()
        if self.unknown is not None and not self.found and _MODEL_KINDS.get(intent.kind, False):
            return self.no_such_model()  # never answer about a name the registry lacks
        if self.since is not None and (
            intent.kind in ("list_models", "model_info")
            or (isinstance(intent, Unclear) and intent.needs is None and not intent.unknown)
        ):
            # "what did people do over the past 7 days": a time span asks for history.
            intent = AuditLog(model=self.named_model())
        if isinstance(intent, AuditLog) and self.since is not None:
            return intent.model_copy(update={"since_minutes": self.since})
        return intent

    def _read(self) -> Intent:
        t = self.text
        if not t:
            return Unclear(reason="empty message") if self.since is None else AuditLog()
        if _has(P.HELP, t):
            return Help()
        if (_has(P.OFF_TOPIC, t) or _has(P.GREETING, t)) and not self.found:
            return OutOfScope()
        if (unsupported := self.unsupported()) is not None:
            return unsupported
        if self.oncall():
            return self.rollback(None)
        if (again := self.follow_up()) is not None:
            return again
        if _has(P.MORE, t):
            return self.more()
        if _has(P.HISTORY_QUESTION, t):
            return AuditLog(model=self.named_model() or self.focus.model)
        if _has(P.HELP, t):
            return Help()
        if _has(P.PENDING, t) and (not _has(P.PROMOTE, t) or _has(P.STATUS_QUESTION, t)):
            # "did my promotion request go through or is it still waiting?": a status question
            return PendingApprovals(model=self.named_model())
        if _has(P.CANARY, t) and not _has(P.HISTORY_QUESTION, t):
            return self.canary()
        if (found := _has(P.PROMOTE, t)) and _has(P.GUARD, t):
            return self.promote(found)  # "promote ... with automatic rollback"
        if found := _has(P.ROLLBACK, t):
            return self.rollback(found)
        if (found := _has(P.PROMOTE, t)) and not _has(P.SELECT, t):
            return self.promote(found)
        if _has(P.COMPARE, t) and (
            self.versions()
            or P.THIS.search(t)
            or P.PREVIOUS.search(t)
            or re.search(r"\b(?:prod(?:uction)?|staging)\b.*\b(?:prod(?:uction)?|staging)\b", t)
        ):
            return self.compare()
        if _has(P.SYNC, t):
            return self.serving()
        if _has(P.AUDIT, P.LOG_VERB.sub(" ", t)):
            model = self.named_model()
            if model is None and (P.THIS.search(t) or P.FOLLOW_UP.search(t)):
                model = self.focus.model
            return AuditLog(model=model)
        if _has(P.SELECT, t) or (
            # "critical requests on digits - which model handles those?" names its model.
            not self.found
            and (_has(P.LATENCY, t) or any(p.search(t) for _, p in P.GOALS))
            and re.search(r"\bmodels?\b|\bclassifier\b|\bregressor\b", t, re.I)
        ):
            return self.select()
        if _has(P.SERVING, t):
            return self.serving()
        if _has(P.LIST, t):
            return self.listing()
        return self.details()

    def classified(self) -> Intent:
        """No rule placed the message: the classifier names its kind (if confident) and the
        rules read that kind's names and numbers."""
        guess = classifier.shared().guess(self.text)
        if guess.confidence < _CONFIDENT:
            return Unclear(reason="I did not understand that.")
        named = self.named_model()
        match guess.kind:
            case "out_of_scope":
                return OutOfScope()
            case "help":
                return Help()
            case "unsupported":
                return self.unsupported() or Unsupported(action="other", model=named)
            case "list_models":
                return self.listing()
            case "audit":
                return AuditLog(model=named)
            case "pending":
                return PendingApprovals(model=named)
            case "serving":
                model = self.model()
                return ServingStatus(model=model) if model else self.needs_model("is digits live?")
            case "model_info":
                model = self.model()
                if model is None:
                    return self.needs_model("show me digits v3")
                return ModelDetails(model=model, version=self.referenced_version(model))
            case "compare":
                return self.compare()
            case "select_model":
                return self.select()
            case "rollback":
                return self.rollback(None)
            case "promote" | "canary" | "stop_canary":
                example = {
                    "promote": "promote digits v3",
                    "canary": "canary digits v3 at 10%",
                    "stop_canary": "stop the canary of digits",
                }[guess.kind]
                return Unclear(reason=f"To propose that change, name it, e.g. '{example}'.")
        return Unclear(reason="I did not understand that.")

    def unsupported(self) -> Unsupported | None:
        """The first unsupported action the message names: the request's verb comes before
        its objects ("retrain digits on the new data drop": a retrain, not a delete)."""
        t = self.text
        named = [
            (found.start(), action)
            for action, pattern in P.UNSUPPORTED
            if (found := pattern.search(t)) and not (action == "delete" and _has(P.CANARY, t))
        ]
        if not named:
            return None
        versions = self.versions()
        return Unsupported(
            action=min(named)[1],
            model=self.named_model() or (None if self.unknown else self.focus.model),
            version=versions[0] if versions else None,
        )

    def oncall(self) -> bool:
        """ "URGENT x is returning garbage, roll back!!!", "prod is broken, revert digits now"."""
        t = self.text
        if _has(P.ROLLBACK, t) or _has(P.PENDING, t) or _has(P.HISTORY_QUESTION, t):
            return False
        if _has(P.CANARY, t):
            return False  # "kill the canary, it is throwing 500s": the change it names
        if not _has(P.ONCALL, t):
            return False
        question = re.match(r"^\s*(?:is|are|was|did|what|which|why|who|when|how)\b", t, re.I)
        return not question or _has(P.ACT_NOW, t) is not None

    def serving(self) -> Intent:
        t = self.text
        model = self.named_model()
        if model is None and self.unknown is not None:
            return self.no_such_model()  # "is the mnist model serving ok": which one?
        if model is None and _has(P.SYNC, t):
            model = self.model()
            if model is None:
                return self.needs_model("is digits in sync with the registry?")
        if model is None and (
            P.THIS.search(t)
            or P.FOLLOW_UP.search(t)
            or re.search(r"\b(?:version|build)\b", t, re.I)
        ):
            model = self.model()
            if model is None:
                return self.needs_model("which version of digits is serving?")
        if model is None or re.search(r"\bmodels\b", t, re.I):
            listed = self.listing()
            if isinstance(listed, ListModels) and listed.stage is None:
                return listed.model_copy(update={"stage": "Production"})
            return listed
        return ServingStatus(model=model)

    def follow_up(self) -> Intent | None:
        """ "and production?" after "what's in staging?", "what about mnist-cnn?" after a
        serving question: the last question again, with only the slot this one names."""
        lead = P.FOLLOW_UP.search(self.text)
        asked = self.focus.asked
        if lead is None or asked is None:
            return None
        rest = [w.lower() for w in P.TOKEN.findall(self.text[lead.end() :])]
        found = {f.said.lower() for f in self.found}
        other = [w for w in rest if w not in found and w not in _FILLERS]
        stages = [w for w in other if P.STAGE_WORD.fullmatch(w)]
        if stages and len(stages) == len(other) == 1 and not self.found:
            if asked == "list_models":
                return ListModels(stage=_stage(stages[0]))
            return None
        if other or len(self.found) != 1:
            return None
        model = self.found[0].model
        match asked:
            case "serving":
                return ServingStatus(model=model)
            case "model_info":
                return ModelDetails(model=model)
            case "audit":
                return AuditLog(model=model)
            case "pending":
                return PendingApprovals(model=model)
        return None

    def more(self) -> Intent:
        page = self.focus.next_page
        if page is None:
            return Unclear(reason="There is nothing more to show.")
        if page.kind == "audit":
            return AuditLog(model=page.model, cursor=page.cursor)
        stage = page.stage if page.stage in ("None", "Staging", "Production", "Archived") else None
        return ListModels(
            stage=_stage(stage) if stage else None, task=page.task, cursor=page.cursor
        )

    def rollback(self, found: re.Match[str] | None) -> Intent:
        head, why = _why(self.text)
        after = found.start() if found is not None else 0
        model = self.named_model(after, len(head)) or self.named_model(0, len(head))
        model = model or self.model(0, 0)
        if model is None:
            return self.needs_model("roll back digits")
        rest = head[found.end() :] if found is not None else head
        target = re.search(r"\bto\s+(?:v|version\s*)?(\d+)\b", rest, re.I)
        # No version named ("roll back", "to the previous one"): the registry's rollback target.
        version = int(target.group(1)) if target else None
        return Rollback(model=model, to_version=version, rationale=why)

    def promote(self, found: re.Match[str]) -> Intent:
        head, why = _why(self.text)
        model = None
        for match in P.NAME_THEN_VERSION.finditer(head):
            if match.group(1).lower() not in P.STOPWORDS:
                model = self.named_model(match.start(), match.end())
                break
        model = model or self.named_model(found.start(), len(head)) or self.model(0, 0)
        if model is None:
            return self.needs_model("promote digits v3")
        explicit = [int(m.group(1)) for m in P.VERSION.finditer(head)]
        explicit = explicit or self.bare_versions(len(head))
        version = explicit[0] if explicit else self.referenced_version(model)
        # "promote whatever is in staging to prod": the source stage names the version and
        # is not the target.
        source = P.STAGE_SOURCE.search(head)
        if version is None and source:
            version = self.ctx.stage_version(model, _stage(source.group(1) or source.group(2)))
        rest = head[found.end() :]
        if source is not None and source.start() >= found.end():
            rest = head[found.end() : source.start()] + " " + head[source.end() :]
        stage = P.TO_STAGE.search(found.group(0)) or P.TO_STAGE.search(rest)
        stage = stage or P.MAKE_STAGE.search(head)
        if stage is not None and _stage(stage.group(1)) == "Archived":
            return Unsupported(action="archive", model=model, version=version)
        if version is None:
            return Unclear(reason=f"Which version of {model}? e.g. 'promote {model} v3'.")
        return Promote(
            model=model,
            version=version,
            stage=_stage(stage.group(1)) if stage else _default_stage(head),
            rationale=why,
            guard=_has(P.GUARD, head) is not None,
        )

    def canary(self) -> Intent:
        """ "canary digits v3 at 10%", "send 5% of digits traffic to v3", "stop the canary",
        "how is the canary of digits doing?" (a status question)."""
        head, why = _why(self.text)
        model = self.named_model() or self.model(0, 0)
        if model is None:
            return self.needs_model("canary digits v3 at 10%")
        if _has(P.STOP, head):
            return StopCanary(model=model, rationale=why)
        percent = P.PERCENT.search(head)
        explicit = [int(m.group(1)) for m in P.VERSION.finditer(head)]
        explicit = explicit or self.bare_versions(len(head))  # "canary digits 3 at 50%"
        shadow = re.search(r"\bshadow|\bmirror", head, re.I) is not None
        version = explicit[0] if explicit else self.referenced_version(model)
        if percent is None and not explicit:
            return ServingStatus(model=model)  # "how is the canary doing?"
        if percent is None and shadow and version is not None:
            # A shadow copy answers no user: mirroring all of Production's traffic is the
            # plain reading of "shadow v2" (the proposal shows the share; a human approves).
            return StartCanary(model=model, version=version, percent=100, mode="shadow")
        if version is None:
            return Unclear(reason=f"Which version of {model}? e.g. 'canary {model} v3 at 10%'.")
        if percent is None:
            return Unclear(
                reason=f"What share of traffic? e.g. 'canary {model} v{version} at 10%'."
            )
        share = float(percent.group(1))
        if not 0 < share <= 100:
            return Unclear(reason=f"A canary share is above 0 and at most 100 %, not {share:g}.")
        mode = "shadow" if shadow else "split"
        return StartCanary(model=model, version=version, percent=share, mode=mode, rationale=why)

    def compare(self) -> Intent:
        model = self.model()
        if model is None:
            return self.needs_model("compare digits v3 with v1")
        found = self.versions()
        if not found and self.ctx.stages:
            found = self.stage_versions(model)
        elif len(found) == 1 and self.ctx.stages and not P.THIS.search(self.text):
            # "compare v3 with production": the version in that stage.
            found = found + [v for v in self.stage_versions(model) if v != found[0]][:1]
        referenced = self.referenced_version(model)
        if not found:
            if referenced is None:
                return Unclear(
                    reason=f"Which versions of {model}? e.g. 'compare {model} v3 with v1'."
                )
            version, against = self.focus.version or referenced, None
            if P.PREVIOUS.search(self.text):
                version, against = self.focus.version or referenced, referenced
            if version == against:
                against = None
        elif len(found) == 1:
            version, against = found[0], None
            if P.THIS.search(self.text) and self.focus.model == model and self.focus.version:
                # "compare it with v1": the version under discussion against the one named.
                if self.focus.version != found[0]:
                    version, against = self.focus.version, found[0]
            elif P.PREVIOUS.search(self.text):
                against = self.referenced_version(model)
            elif self.ctx.stages:
                staged = [v for v in self.stage_versions(model) if v != version]
                against = staged[0] if staged else None
        else:
            version, against = found[0], found[1]
        return CompareVersions(model=model, version=version, against=against)

    def select(self) -> Intent:
        t = self.text
        latency = P.LATENCY.search(t)
        goal: Goal = "accuracy"
        if not re.search(r"\bmost accurate\b|\baccura\w*\b", t, re.I):
            for name, pattern in P.GOALS:
                if pattern.search(t):
                    goal = name
                    break
            if goal == "accuracy" and P.LATENCY_NEED.search(t):
                goal = "latency"  # "p99 must stay below 5 ms": speed is the requirement

        task = self.task()
        if isinstance(task, Unclear):
            return task
        return SelectModel(
            task=task,
            max_latency_ms=float(latency.group(1)) if latency else None,
            goal=goal,
        )

    def listing(self) -> Intent:
        t = self.text
        stage = P.STAGE_WORD.search(t)
        task = self.task()
        if isinstance(task, Unclear):
            return task
        if task is None and self.ctx.tasks is None:
            word = re.search(r"\b([a-z][\w\-]*)\s+models\b", t, re.I)
            if word and word.group(1).lower() not in P.STOPWORDS | P.NOT_TASK:
                task = word.group(1)
        return ListModels(stage=_stage(stage.group(1)) if stage else None, task=task)

    def task(self) -> str | Unclear | None:
        """The task the message names, as the registry spells it ("digit classification" ->
        classification); a task the registry does not have is never used: the agent says
        which exist (or, for a name that looks like a model, that no such model exists)."""
        said = _task(self.text)
        tasks = self.ctx.tasks
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
        if said.lower() in _TASK_WORDS:
            # A task by its usual name ("regression"): the answer reads the registry afresh
            # and says which tasks it has, in case a model of this task was just added.
            return said
        shown = ", ".join(tasks) if tasks else "none yet"
        return Unclear(reason=f"No task named {said!r} in the registry; its tasks: {shown}.")

    def details(self) -> Intent:
        t = self.text
        named = self.named_model()
        explicit = self.versions()
        asks = _has(P.DETAILS, t) is not None
        referenced = P.THIS.search(t) is not None or P.PREVIOUS.search(t) is not None
        known = named is not None and self.ctx.models is not None and named in self.ctx.models
        if not (asks or explicit or referenced or known):
            return self.classified()
        if _has(P.CHANGE_ASK, t):
            # A change this reading could not place is asked about, never shown as details.
            return Unclear(
                reason="That reads as a change I could not place; say it as e.g. "
                "'promote digits v3 to Staging' or 'roll back digits'."
            )
        model = named or self.model()
        if model is None:
            return self.needs_model("show me digits v3")
        version = explicit[0] if explicit else self.referenced_version(model)
        return ModelDetails(model=model, version=version)


#: The classifier's confidence below which the agent asks instead.
_CONFIDENT = 0.35

#: Intents that need a model (True) or may leave it out (False).
_MODEL_KINDS = {
    "model_info": True,
    "serving": True,
    "audit": True,
    "pending": True,
    "compare": True,
    "promote": True,
    "rollback": True,
    "canary": True,
    "stop_canary": True,
}


#: Words a bare follow-up may carry around its one slot ("and for the production ones?").
_FILLERS = frozenset(
    ["the", "for", "in", "on", "one", "ones", "then", "what", "about", "how", "is", "are", "there"]
)

#: Tasks by their usual names, as the vocabulary spells them.
_TASK_WORDS = frozenset(P.TASKS.values()) | frozenset(P.MULTI_WORD_TASKS.values())

#: A link or a storage path ("s3://bucket/digits/v5/model.pt").
_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://\S*", re.I)
#: A pasted fragment between backticks (a log line, a command).
_CODE = re.compile(r"`+([^`]*)`+")
#: A time of day ("02:14", "02:14:07").
_CLOCK = re.compile(r"(?<![\w:])\d{1,2}:\d{2}(?::\d{2})?(?![\w:])")


def _names_in(fragment: str, ctx: ParseContext) -> str:
    """The registry names a pasted fragment holds (identifier-like words when the names are
    not known yet): the fragment's other words are not the user's request."""
    if ctx.models is None:
        return " ".join(w for w in P.TOKEN.findall(fragment) if entities.NAME_LIKE.match(w))
    return " ".join(found.said for found in entities.find_models(fragment, ctx, P.STOPWORDS))


def _default_stage(head: str) -> StageName:
    """ "stage digits v4" asks for Staging; any other move without a stage, Production."""
    return "Staging" if P.STAGE_VERB.search(head) else "Production"


def _why(text: str) -> tuple[str, str | None]:
    match = P.WHY.search(text)
    if match is None:
        return text, None
    return text[: match.start()], match.group(1).strip() or None


def _task(text: str) -> str | None:
    named = P.TASK_IS.search(text)
    if named is not None:
        return named.group(1)
    low = text.lower()
    for phrase, task in P.MULTI_WORD_TASKS.items():
        if re.search(rf"\b{phrase}\b", low):
            return task
    for match in P.FOR_TASK.finditer(text):
        words = [w for w in match.group(1).split() if w.lower() not in P.NOT_TASK]
        words = [P.TASKS.get(w.lower(), w) for w in words]
        if words and all(w.lower() not in P.STOPWORDS - set(P.TASKS) for w in words):
            return " ".join(words)
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in P.TASKS:
            return P.TASKS[word]
    return None


#: Where a second question starts: "...serving? and who promoted it", "...; show the audit",
#: "... and what changed since yesterday".
_SECOND_PART = re.compile(
    r"\?\s*(?:and\s+|also\s+|plus\s+)?(?=[A-Za-z])|;\s*|\.\s+(?=[A-Za-z])"
    r"|,?\s+(?:and|also|plus|then)\s+(?:also\s+|then\s+)?(?=(?:what|which|who|when|why|how|is|"
    r"are|was|were|show|list|compare|has|have|did|does|can|tell|give|any|anything|stop|kill|"
    r"end|promote|roll|rollback|revert|archive|delete|canary|approve|queue|stage|ship|move|make)\b)",
    re.I,
)


def parse_parts(text: str, context: ParseContext | None = None) -> list[Intent]:
    """One intent, or two for a two-part question ("which version of digits is serving and
    who promoted it?"); the second part may lean on a model the first one names."""
    ctx = context or ParseContext()
    whole = parse_intent(text, ctx)
    pieces = [p.strip(" ,") for p in _SECOND_PART.split(text) if p.strip(" ,?")]
    # "ok, and which version is it serving": an acknowledgement is not a part.
    pieces = [p for p in pieces if not P.GREETING.match(p)] or pieces
    if len(pieces) == 1 and len(pieces[0]) < len(text.strip(" ,?")):
        return [parse_intent(pieces[0], ctx)]
    if len(pieces) != 2:
        return [whole]
    first = parse_intent(pieces[0], ctx)
    model, version = getattr(first, "model", None), getattr(first, "version", None)
    focus = ctx.focus.on(
        model if isinstance(model, str) else None, version if isinstance(version, int) else None
    )
    second = parse_intent(pieces[1], ctx.model_copy(update={"focus": focus}))
    if "unclear" in (first.kind, second.kind) or first == second:
        return [whole]
    if first.kind == second.kind and _within(second, first):
        return [first]  # "is v3's card complete? heard prod needs one": a remark, one ask
    if first.kind == second.kind and first.kind in ("select_model", "list_models", "help"):
        return [whole]  # "I need a fast model. suggestions?" is one request
    if whole.kind in CHANGE_KINDS and whole in (first, second):
        other = second if whole == first else first
        if other.kind in ("model_info", "serving"):
            return [whole]  # "x is throwing 500s. rollback!!!": the incident, then the ask
    return [first, second]


def _within(part: Intent, other: Intent) -> bool:
    """Every slot ``part`` sets, ``other`` sets the same: it asks nothing new."""
    mine = part.model_dump(exclude_defaults=True)
    theirs = other.model_dump(exclude_defaults=True)
    return all(theirs.get(key) == value for key, value in mine.items())


def parse_intent(text: str, context: ParseContext | None = None) -> Intent:
    """The user's request as an intent; ``Unclear`` when no rule fits."""
    return _Reader(text, context or ParseContext()).read()


class OfflineParser:
    """The IntentParser used without an LLM, and the LLM parser's fallback."""

    async def parse(
        self, text: str, history: list[str], context: ParseContext | None = None
    ) -> Parsed:
        try:
            parts = parse_parts(text, context)
        except ValidationError:
            # A name or number outside the allowed shape (e.g. a 300-character "model").
            parts = [Unclear(reason="That names a model or version I cannot use.")]
        return Parsed(intent=parts[0], also=parts[1] if len(parts) > 1 else None, source="offline")

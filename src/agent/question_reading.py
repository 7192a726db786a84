"""Reading a question about the registry (lists, details, serving, compare, a model to pick,
a follow-up, the next page) or a request the chat does not carry out."""

from __future__ import annotations

import re

from agent import entities
from agent import phrases as P
from agent import scope_phrases as S
from agent.clauses import remark
from agent.intents import (
    AuditLog,
    CompareVersions,
    Goal,
    Intent,
    ListModels,
    ModelDetails,
    PendingApprovals,
    SelectModel,
    ServingStatus,
    Unclear,
    Unsupported,
)
from agent.slots import Slots, has, stage_of

#: Words a bare follow-up may carry around its one slot ("and for the production ones?").
_FILLERS = frozenset(
    [
        "the",
        "for",
        "in",
        "on",
        "one",
        "ones",
        "then",
        "what",
        "about",
        "how",
        "is",
        "are",
        "there",
        "just",
        "only",
        "specifically",
        "alone",
        "too",
        "please",
        "pls",
    ]
)


#: A message that is only a registry-shaped name and a question mark ("digits-encoder?"),
#: right after a question: the same question about it.
_BARE_NAME = re.compile(r"^\W*(?=[\w.]+-[\w.\-]+\s*\?\s*$)", re.I)

#: A goal said not to matter: "don't care (much) about accuracy", "accuracy doesn't matter".
_GOAL_UNWANTED = re.compile(
    r"\b(?:do\s*n[o']?t|dont|doesn'?t|does\s+not)\s+care\s+(?:much\s+|too\s+much\s+)?about\s+"
    r"(?:the\s+)?(?:accuracy|latency|speed)\b"
    r"|\b(?:accuracy|latency|speed)\s+(?:doesn'?t|does\s+not|isn'?t|is\s+not)\s+(?:matter|important|"
    r"a\s+concern)\w*",
    re.I,
)

#: A sentence: up to its full stop, question or exclamation mark.
_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")


#: A negation right before an action: "don't delete", "we can't retrain now", "no need to restart".
_REFUSED_BEFORE = re.compile(
    r"\b(?:don'?t|do\s+not|no\s+need\s+to|can'?t|cannot|won'?t|never|not)\s+(?:\w+\s+){0,2}$", re.I
)
#: A past or ongoing activity's verb right before an action: "finished retraining".
_DONE_BEFORE = re.compile(
    r"\b(?:i|we|i've|we've|just|already)\s+(?:finished|completed|done)\s+$"
    # "did we ever register the baseline?": asked whether it was done
    r"|\b(?:did|have|has|had)\s+(?:we|you|they|anyone|someone|somebody|i)\s+(?:ever\s+|already\s+|"
    r"actually\s+)?$",
    re.I,
)
#: Which version holds Staging: "which version of x is in staging?", "what's on staging for x".
_IN_STAGING = re.compile(
    r"\b(?:which|what)\s+(?:version|one|build)\b[^.?!]*\b(?:is|'s|sits|sitting)\s+(?:in|on)\s+staging\b"
    r"|\b(?:what'?s|what\s+is)\s+(?:in|on)\s+staging\s+(?:for|of)\b",
    re.I,
)


class QuestionReading(Slots):
    """Questions and unsupported requests, on top of the message's slots."""

    def unsupported(self) -> Unsupported | None:
        """The first unsupported action the message names: the request's verb comes before
        its objects ("retrain digits on the new data drop": a retrain, not a delete)."""
        t = self.text
        named = [
            (found.start(), action)
            for action, pattern in S.UNSUPPORTED
            if not (action == "delete" and has(P.CANARY, t))
            for found in pattern.finditer(t)
            # "don't delete anything, just roll back x": refused, not asked; "I just finished
            # retraining overnight and logged v4": done, not asked
            if not _REFUSED_BEFORE.search(t[: found.start()])
            and not _DONE_BEFORE.search(t[: found.start()])
        ]
        # "I retrained the MLP and registered it as v4. ... Can you compare v4 against
        # production?": a sentence that only tells what happened asks for nothing.
        sentences = [(m.start(), m.group(0)) for m in _SENTENCE.finditer(t)]
        asking = [(at, s) for at, s in sentences if not remark(s, t)]
        if len(sentences) > 1 and asking:
            named = [
                (at, action)
                for at, action in named
                if any(start <= at < start + len(s) for start, s in asking)
            ]
        if not named:
            return None
        versions = self.versions()
        at, action = min(named)
        # "rename it to mnist-classifier-legacy": the new name is not a model asked about
        renamed = (
            action == "rename"
            and self.unknown is not None
            and re.search(rf"\b(?:to|as|into)\s+['\"`]?{re.escape(self.unknown)}\b", t, re.I)
        )
        model = self.named_model() or (None if self.unknown and not renamed else self.focus.model)
        version = versions[0] if versions else None
        if (
            version is None
            and not self.found
            and model is not None
            and model == self.focus.model
            and (
                re.search(
                    r"\b(?:it|that(?:\s+one)?|this(?:\s+one)?)(?:\s+(?:then|instead|too|please|pls))?\W*$",
                    t,
                    re.I,
                )
                # "can we rename it to ...", "archive that one, nobody uses it"
                or re.match(r"\w+\s+(?:it|that(?:\s+one)?|this(?:\s+one)?)\b", t[at:], re.I)
            )
        ):
            version = self.focus.version  # "ok then just archive it" after "delete x v1"
        return Unsupported(action=action, model=model, version=version)

    def serving(self) -> Intent:
        t = self.text
        model = self.named_model()
        if model is None and self.unknown is not None:
            return self.no_such_model()  # "is the mnist model serving ok": which one?
        if model is None and has(P.SYNC, t):
            # "is torchserve in sync with the registry?": every Production model's serving.
            return ServingStatus(model=self.model())
        if model is None and (
            P.THIS.search(t)
            or P.FOLLOW_UP.search(t)
            or re.search(r"\b(?:version|build)\b", t, re.I)
            # "which model handles those?": the requests just named, by the model named.
            or re.search(r"\b(?:those|these|them)\b", t, re.I)
        ):
            model = self.model()
            if model is None:
                return self.needs_model("which version of digits is serving?")
        if model is None and has(P.ALL_SERVING, t):
            return ServingStatus()  # "serving status for all models": every model's serving
        if model is None or re.search(r"\bmodels\b", t, re.I):
            listed = self.listing()
            if isinstance(listed, ListModels) and listed.stage is None:
                return listed.model_copy(update={"stage": "Production"})
            return listed
        if _IN_STAGING.search(t):
            # "which version of x is in staging?": the version holding Staging, shown (serving
            # answers for Production); "promote that one" next means it.
            return ModelDetails(model=model, version=self.ctx.stage_version(model, "Staging"))
        return ServingStatus(model=model)

    def follow_up(self) -> Intent | None:
        """ "and production?" after "what's in staging?", "what about mnist-cnn?" after a
        serving question: the last question again, with only the slot this one names."""
        lead = P.FOLLOW_UP.search(self.text) or _BARE_NAME.match(self.text)
        asked = self.focus.asked
        if lead is None or asked is None:
            return None
        if not self.found and asked == "serving" and self.focus.model is not None:
            # "and with the critical header?": the model that rule of its route sends to.
            ruled = entities.rule_of(self.focus.model, self.text, self.ctx)
            if ruled is not None:
                return ServingStatus(model=ruled)
        rest = [w.lower() for w in P.TOKEN.findall(self.text[lead.end() :])]
        found = {f.said.lower() for f in self.found}
        other = [w for w in rest if w not in found and w not in _FILLERS]
        stages = [w for w in other if P.STAGE_WORD.fullmatch(w)]
        if stages and len(stages) == len(other) == 1 and not self.found:
            if asked == "list_models":
                # "what about staging?" after "only the classification ones": that task still.
                kept = self.focus.topic.task if self.focus.topic.kind == "list_models" else None
                return ListModels(stage=stage_of(stages[0]), task=kept)
            model = self.focus.model
            if asked == "serving" and model is not None:
                return ServingStatus(model=model)  # its answer names every stage's version
            if asked == "model_info" and model is not None:
                version = self.ctx.stage_version(model, stage_of(stages[0]))
                return ModelDetails(model=model, version=version) if version else None
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
                # "same for mnist-cnn" after a history since yesterday: the same window.
                topic = self.focus.topic
                since = topic.since_minutes if topic.kind == "audit" else None
                return AuditLog(model=model, since_minutes=since)
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
            stage=stage_of(stage) if stage else None, task=page.task, cursor=page.cursor
        )

    def compare(self) -> Intent:
        model = self.model()
        if model is None:
            return self.needs_model("compare digits v3 with v1")
        # "registered it as x v3. can you compare v3 with v1?": each version once.
        found = list(dict.fromkeys(self.versions()))
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
            subjectless = _COMPARE_WITH.match(self.text) is not None
            if (
                (P.THIS.search(self.text) or subjectless)
                and self.focus.model == model
                and self.focus.version
            ):
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
        # "don't care much about accuracy for this one": a goal said not to matter
        t = _GOAL_UNWANTED.sub(" ", self.text)
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
        if task is None and not self.found and P.SAME_TASK_AS_FOCUS.search(t):
            task = self.ctx.task_of(self.focus.model)  # "anything faster for that task?"
        return SelectModel(
            task=task,
            max_latency_ms=float(latency.group(1) or latency.group(2)) if latency else None,
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
        return ListModels(stage=stage_of(stage.group(1)) if stage else None, task=task)

    def details(self) -> Intent | None:
        """A model's (or version's) details; None when nothing asks for them (the classifier
        reads the message then)."""
        t = self.text
        named = self.named_model()
        explicit = self.versions()
        asks = has(P.DETAILS, t) is not None
        referenced = any(p.search(t) for p in (P.THIS, P.PREVIOUS, P.NEWER))
        known = named is not None and self.ctx.models is not None and named in self.ctx.models
        if not (asks or explicit or referenced or known):
            return None
        if has(P.CHANGE_ASK, t):
            # A change this reading could not place is asked about, never shown as details.
            return Unclear(
                reason="That reads as a change I could not place; say it as e.g. "
                "'promote digits v3 to Staging' or 'roll back digits'."
            )
        model = named or self.model()
        if model is None:
            return self.needs_model("show me digits v3")
        if explicit:
            version: int | None = explicit[0]
        elif re.search(r"\bversions\b", t, re.I):
            version = None  # "what versions does it have?": the model's, not one version
        else:
            version = self.referenced_version(model)
        return ModelDetails(model=model, version=version)


#: A comparison naming only the other side ("compare with v1 please", "now compare to v2"):
#: the version under discussion is the first side.
_COMPARE_WITH = re.compile(
    r"^\W*(?:(?:and|so|now|ok|okay|then|please|pls)\W+)*compare\s+(?:with|to|against|vs\.?)\s",
    re.I,
)

"""Reading a follow-up against the request before it (the focus's ``Topic``): a refinement of
a recommendation ("under 5 ms though", "and the fastest one?"), another task for the same
list ("and for regression?"), another time window or model for the same history ("what about
the last day?", "same for mnist-cnn"), or the canary just asked about ("stop it", "bump it
to 20%"). Only slots the message does not name are kept; a change is still only proposed."""

from __future__ import annotations

import re

from agent import phrases as P
from agent.change_reading import mode_said
from agent.intents import (
    AuditLog,
    Intent,
    ListModels,
    ModelDetails,
    Promote,
    SelectModel,
    ServingStatus,
    StartCanary,
    StopCanary,
)
from agent.not_asked import plainly_said
from agent.question_reading import QuestionReading
from agent.slots import has, stage_of, task_said

#: Short enough to lean on what was just asked ("under 5 ms though", "and for regression?").
_ELLIPTIC_WORDS = 6
#: How a refinement ends: "..., though", "... then", "... instead", "... too".
_TRAILING = re.compile(r"\b(?:though|tho|then|instead|too|as well|please|pls)\W*$", re.I)
#: Correcting the version of the request before ("actually v3", "no, I meant v3").
_CORRECTION = re.compile(
    r"^\W*(?:(?:no|nope|sorry|oops|wait|hm+|ah|desculpa|perd[o\u00f3]n|pardon)\W+)*(?:actually|"
    r"i\s+meant?|i\s+wanted(?=\s+(?:the\s+)?(?:v|version\s*)\d)|make\s+(?:it|that)|rather|instead|"
    r"correction|i\s+mean)\b"
    # "wait no, v4, sorry"
    r"|^\W*(?:(?:wait|oh|oops|sorry)\W+)*no\s*,\s*(?:v|version\s*)\d+\b(?:\W+(?:sorry|pls|please))?\W*$"
    r"|\b(?:instead|rather|not\s+(?:v|version\s*)?\d+)\W*$",
    re.I,
)
#: Asking how much of the traffic the canary gets.
_SHARE_ASKED = re.compile(
    r"\b(?:what|which|how much)\s+(?:share|percent(?:age)?|traffic|split|portion)\b", re.I
)
#: Stopping the canary just asked about, said of "it" ("stop it", "kill that", "pull it").
_STOP_IT = re.compile(
    r"\b(?:stop|kill|end|cancel|halt|abort|pull|scrap|disable|drop|terminate)\s+"
    r"(?:it|that|this|that one|this one)\b"
    r"|\b(?:turn|switch|shut|call)\s+(?:it|that|this)\s+off\b|\bshut\s+(?:it|that|this)\s+down\b",
    re.I,
)

#: "stop it" as the message's last clause, after what made the user ask ("latency climbing on
#: the dashboard, stop it now").
_STOP_IT_LAST = re.compile(
    r"(?:^|[,.;:!\u2013\u2014]\s*|\s-\s*)(?:(?:so|just|pls|please|then)\s+)?(?:"
    + _STOP_IT.pattern
    + r")"
    r"(?:\s+(?:now|asap|please|pls|right\s+now|immediately))?\W*$",
    re.I,
)

#: What a user sees going wrong with a canary: "p99 climbing", "errors up on the dashboard".
_SEEN_GOING_WRONG = re.compile(
    r"\b(?:latency|p\d{2,3}|errors?|error\s+rate|5xx|5\d\d|timeouts?|spik\w*|climb\w*|"
    r"dashboard|grafana|slow\w*|degrad\w*|regress\w*)\b",
    re.I,
)

#: Narrowing the list just shown: "just the classification ones", "only feature-extraction
#: please", "ok and which of those are classification ones".
_NARROWED = re.compile(
    r"^\W*(?:(?:and|ok|okay|now|so)\W+)*(?:just|only)\b"
    r"|\b(?:which|what|how many)\s+(?:ones\s+)?(?:of\s+)?(?:those|these|them)\b",
    re.I,
)


#: Only another stage, as a correction: "wait no. staging first", "to prod instead".
_STAGE_ONLY = re.compile(
    r"^\W*(?:(?:wait|no\s+wait|sorry|actually|oops|i\s+mean(?:t)?)\W+)+(?:no\W+)?"
    r"(?:(?:to|in|into)\s+)?(staging|prod(?:uction)?)(?:\s+(?:first|instead|please|pls))*[.!\s]*$"
    r"|^\W*(?:(?:to|in|into)\s+)?(staging|prod(?:uction)?)\s+(?:first|instead)"
    r"(?:\s+(?:please|pls))?[.!\s]*$",
    re.I,
)
#: The list before, for another stage: "same but staging", "same for prod", "likewise, archived".
_SAME_BUT_STAGE = re.compile(
    r"^\W*(?:the\s+)?(?:same|likewise|ditto)\W+(?:but|for|with|in)?\s*(?:the\s+)?"
    r"(prod(?:uction)?|staging|archived?)\W*(?:please|pls|too)?\W*$",
    re.I,
)


class FollowUpReading(QuestionReading):
    """Follow-ups that keep the slots of the request before them."""

    def select(self) -> Intent:
        """A recommendation; right after another one, a short refinement keeps the task,
        goal and latency budget it does not name ("under 5 ms though")."""
        intent = super().select()
        topic = self.focus.topic
        if (
            not isinstance(intent, SelectModel)
            or topic.kind != "select_model"
            or self.found
            or not self.elliptic()
        ):
            return intent
        kept: dict[str, object] = {}
        if intent.task is None and topic.task is not None:
            kept["task"] = topic.task
        if intent.max_latency_ms is None and topic.max_latency_ms is not None:
            kept["max_latency_ms"] = topic.max_latency_ms
        if not _names_goal(self.text) and topic.goal in (
            "accuracy",
            "latency",
            "critical",
            "batch",
        ):
            kept["goal"] = topic.goal
        return intent.model_copy(update=kept)

    def elliptic(self) -> bool:
        """A message that leans on the one before: it opens like a follow-up, is a few words
        long, or ends like a refinement."""
        words = P.TOKEN.findall(self.text)
        return bool(
            P.FOLLOW_UP.search(self.text)
            or len(words) <= _ELLIPTIC_WORDS
            or _TRAILING.search(self.text)
            or _BUDGET_IT.search(self.text)
            or _WHAT_IF.search(self.text)
            or _NARROWED.search(self.text)
            # "wait no, I meant v3 not v4": a correction of the request before
            or (_CORRECTION.search(self.text) is not None and len(words) <= 2 * _ELLIPTIC_WORDS)
            # "p99 climbing on the dashboard, stop it": what the user sees, then the ask
            or (
                _STOP_IT_LAST.search(self.text) is not None
                and _SEEN_GOING_WRONG.search(self.text) is not None
                and plainly_said(self.text)
            )
        )

    def kept_follow_up(self) -> Intent | None:
        """The request before, again with what this message changes; None when the message
        is not such a follow-up."""
        topic = self.focus.topic
        if topic.kind is None or not self.elliptic() or self.unknown is not None:
            return None
        if (corrected := self.correction()) is not None:
            return corrected
        if topic.canary and (canary := self.canary_follow_up()) is not None:
            return canary
        if self.found:
            return None
        if (
            topic.kind == "select_model"
            # "and if I need it under 5 ms?": "it" is the model still to be picked.
            and not (_ELSEWHERE.search(self.text) and not _BUDGET_IT.search(self.text))
            and (
                has(P.LATENCY, self.text)
                or any(p.search(self.text) for _, p in P.GOALS)
                or _names_goal(self.text)  # "what about for accuracy"
                or has(P.SELECT, self.text)
                or task_said(self.text) is not None
            )
        ):
            return self.select()  # keeps what it does not name (QuestionReading.select)
        lead = P.FOLLOW_UP.search(self.text)
        if topic.kind == "list_models" and (lead is not None or _NARROWED.search(self.text)):
            task = self.task()
            if isinstance(task, str):  # "and for regression?": the same list, that task
                stage = P.STAGE_WORD.search(self.text)
                kept = stage.group(1) if stage else topic.stage
                return ListModels(task=task, stage=stage_of(kept) if kept else None)
            stage = P.STAGE_WORD.search(self.text)
            if task is None and stage is not None and topic.task:
                # "what about staging?" after "only the classification ones": that task still.
                return ListModels(task=topic.task, stage=stage_of(stage.group(1)))
        if topic.kind == "list_models" and (same := _SAME_BUT_STAGE.match(self.text)):
            # "same but staging" after the Production list
            return ListModels(task=topic.task, stage=stage_of(same.group(1)))
        if topic.kind == "audit" and self.since is not None:
            # "what about the last day?", "just the last 45 minutes": the same history.
            words = P.TOKEN.findall(self.text[lead.end() :] if lead else self.text)
            if all(w.lower() in _TIME_FILLERS for w in words):
                return AuditLog(model=topic.model)  # "what about the last day?": same history
        return None

    def correction(self) -> Intent | None:
        """ "actually v3", "I meant v3", "make that v3": the request before, with this version;
        "wait no. staging first" right after a promotion: that promotion, to that stage."""
        topic = self.focus.topic
        ref = self.focus.proposal
        if (
            (stage_only := _STAGE_ONLY.match(self.text))
            and topic.kind == "promote"
            and ref is not None
            and ref.kind == "promote"
        ):
            return Promote(
                model=ref.model,
                version=ref.version,
                stage=stage_of(stage_only.group(1) or stage_only.group(2)),
                guard=ref.guard,
            )
        said = _CORRECTION.search(self.text)
        versions = [
            int(m.group(1))
            for m in P.VERSION.finditer(self.text)
            # "I meant v3 not v4": the version meant, not the one named as wrong
            if not re.search(
                r"\b(?:not|instead\s+of|rather\s+than)\s*$", self.text[: m.start()], re.I
            )
        ]
        if said is None or len(versions) != 1 or topic.model is None:
            return None
        if (
            ("?" in self.text and not P.polite_ask(self.text))
            or P.HELD.search(self.text)
            or re.search(r"\b(?:broken|failed|fails|bad|worse|was\s+fine)\b", self.text, re.I)
        ):
            # "why v3 not v4?", "I meant v3 not v4, but hold off", "v3 failed, so not v4
            # either": asked about or held, not a correction to propose
            return None
        t = self.text
        if any(has(p, t) for p in (P.ROLLBACK, P.STOP, P.COMPARE, P.AUDIT, P.PENDING)) or (
            (has(P.PROMOTE, t) and topic.kind != "promote")
            or (has(P.CANARY, t) and topic.kind != "canary")
        ):
            return None  # "actually revert prod to v1": a request of its own
        if self.found and self.named_model() != topic.model:
            return None
        model, version = topic.model, versions[0]
        if topic.kind == "promote":
            # "I meant v3 not v4 on staging" (not "..., and keep the prod one")
            said_stage = re.search(
                r"\b(?:to|on|in|into|for)\s+(prod(?:uction)?|staging)\b", self.text, re.I
            )
            kept = said_stage.group(1) if said_stage else topic.stage
            stage = stage_of(kept) if kept else "Production"
            if stage == "Archived":
                return None
            return Promote(model=model, version=version, stage=stage)
        if topic.kind == "canary" and topic.percent is not None:
            # "actually make it v4" after a shadow canary: still a shadow
            ref = self.focus.proposal
            mode = (
                ref.mode
                if ref is not None and ref.kind == "canary" and ref.model == model
                else None
            )
            # "make it v4, but as a real split", "no shadow this time": the mode said
            mode = mode_said(self.text) or mode
            return StartCanary(
                model=model, version=version, percent=topic.percent, mode=mode or "split"
            )
        if topic.kind == "model_info":
            return ModelDetails(model=model, version=version)
        return None

    def canary_follow_up(self) -> Intent | None:
        """ "stop it" / "bump it to 20%" right after a question about a model's canary."""
        model = self.focus.topic.model or self.focus.model
        if model is None or (self.found and self.named_model() != model):
            return None
        if has(P.CANARY, self.text) or has(P.ROLLBACK, self.text):
            return None  # the message names its own change: the change rules read it
        if _STOP_IT.search(self.text) and not ("?" in self.text or P.HELD.search(self.text)):
            return StopCanary(model=model)  # never "don't end it yet" or "end it?"
        if _SHARE_ASKED.search(self.text):
            return ServingStatus(model=model)  # "what share does it get?": how it runs
        share = P.PERCENT.search(self.text)
        if (
            "?" in self.text
            or P.HELD.search(self.text)
            or re.search(r"\b(?:not|no|nothing|without|hold\s+on)\b", self.text, re.I)
        ):
            return None  # "make it 50%?", "don't make it 50%", "50 no 30": not one share
        if share is not None and has(P.RESHARE, self.text) and not P.VERSION.search(self.text):
            percent = float(share.group(1))
            if 0 < percent <= 100:
                return StartCanary(model=model, percent=percent)
        return None


#: A goal said as what matters ("if latency matters more", "speed first"), next to a budget or not.
_GOAL_PREFERRED = re.compile(
    r"\b(?:latency|speed)\s+(?:matters|is\s+(?:more\s+|most\s+)?important|first|comes\s+first)\b"
    r"|\b(?:prioriti[sz]e|care\s+(?:more\s+)?about)\s+(?:latency|speed)\b",
    re.I,
)


def _names_goal(text: str) -> bool:
    """A goal said in words ("the fastest", "for batch"); a budget alone ("and if it has to
    be under 5 ms?") is a bound on the goal kept, not another goal."""
    return bool(
        re.search(r"\bmost accurate\b|\baccura\w*\b", text, re.I)
        or _GOAL_PREFERRED.search(text)
        or any(p.search(P.LATENCY.sub(" ", P.LATENCY_NEED.sub(" ", text))) for _, p in P.GOALS)
    )


#: A reference or a request of another kind: not a refinement of a recommendation ("how fast
#: is it?" asks about the model recommended; "ship the fastest one" is a change).
_ELSEWHERE = re.compile(
    "|".join(
        p.pattern for p in (P.THIS, P.PROMOTE, P.ROLLBACK, P.CANARY, P.COMPARE, P.AUDIT, P.PENDING)
    )
    # "list classification models", "what do we have": a list, not a recommendation.
    + r"|^\W*(?:list|ls)\b|\bwhat\s+(?:models\s+)?do\s+we\s+have\b",
    re.I,
)


#: A latency budget said of the model to be picked ("if I need it under 5 ms", "what if it
#: has to answer within 3ms"): a refinement, not a question about a model named before.
_BUDGET_IT = re.compile(
    r"^\W*(?:(?:ok|okay|so|hmm)\W+)?(?:and\s+|but\s+)?(?:what\s+)?if\s+(?:i|we|you)?\s*(?:need|want|require|has\s+to|"
    r"must|should)?\s*(?:it|that|this)\b.*\d"
    # "same question, but it has to answer in under 15 ms"
    r"|^\W*(?:(?:same\s+(?:question|thing)|and|but|ok|so)\W+)*(?:it|that|this)\s+"
    r"(?:has\s+to|have\s+to|must|needs?\s+to|should)\b.*\d",
    re.I,
)


#: A hypothetical on the request before ("what if latency has to be under 30 ms?").
_WHAT_IF = re.compile(r"^\W*(?:(?:and|but|so|ok)\W+)?(?:what|and|but)\s+if\b", re.I)


#: Words around a time window in a follow-up ("what about the last day?" once stripped).
_TIME_FILLERS = frozenset(
    # ("could you narrow that to the last six hours?", "limit it to today")
    [
        "the",
        "then",
        "for",
        "over",
        "in",
        "and",
        "same",
        "thing",
        "only",
        "just",
        "please",
        "pls",
        "could",
        "can",
        "you",
        "narrow",
        "limit",
        "restrict",
        "cut",
        "that",
        "it",
        "this",
        "to",
        "down",
    ]
)

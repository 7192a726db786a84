"""Intent parsing without a network: keyword and pattern rules over the user's own words,
with the conversation's focus for "it", "that version" or "the previous one", and a small
classifier for what the rules do not place.

It only ever reads what the user typed (never registry text; the registry's model names at
most, to recognise a name), so data in the registry cannot steer it. Whatever it cannot
place becomes ``Unclear`` and the agent asks again; a missing model name becomes
``Unclear(needs="model")`` so the agent can look the names up and try once more.

The reading is split by job: ``slots`` (names, versions, tasks, reasons, times),
``change_reading`` (promote, rollback, canary), ``question_reading`` (everything asked);
this module orders the rules, falls back on the classifier and splits two-part messages.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from agent import classifier, entities
from agent import phrases as P
from agent import scope_phrases as S
from agent.change_reading import ChangeReading, mode_said, says_only_slots
from agent.clauses import OPENS_ASK, remark
from agent.conditions import condition_span
from agent.focus import ParseContext
from agent.french import in_english, is_french, says_only_a_plain_change
from agent.intents import (
    CHANGE_KINDS,
    AuditLog,
    CompareVersions,
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
from agent.not_asked import (
    ASK_LATER,
    ASKED,
    ASKED_BACK,
    CANARY_STATE,
    CANCELLED,
    EITHER_CHANGE,
    held_words,
    not_asked_for,
    plainly_said,
)
from agent.repeats import CORRECTION, SAME_FOR, RepeatReading
from agent.slots import CODE, has
from agent.topics import topic_of
from agent.wording import command_words, runbook_words


class _Reader(ChangeReading, RepeatReading):
    """The rules in order, over one message."""

    def read(self) -> Intent:
        intent = self._read()
        if (
            isinstance(intent, Unclear)
            and intent.partial is not None
            and _NOT_A_REQUEST.search(self.text)
        ):
            # "how do I promote v4?", "don't kill the canary": asked about or refused, not
            # asked for; a bare name next must not complete it into a proposal.
            intent = intent.model_copy(update={"partial": None})
        if (
            isinstance(intent, SelectModel)
            and intent.task is None
            and self.focus.topic.kind == "list_models"
            and self.focus.topic.task is not None
            and _ONE_OF_THOSE.search(self.text)
        ):
            # "which one should I use in the app?" right after the classification models
            intent = intent.model_copy(update={"task": self.focus.topic.task})
        if isinstance(intent, Promote) and (gradual := self.gradual(intent)) is not None:
            intent = gradual
        if (
            isinstance(intent, StartCanary)
            and (metric := _METRIC_PERCENT.search(self.text)) is not None
            and float(metric.group(1)) == intent.percent
        ):
            # "error rate on the canary just jumped to 4%, stop it": a measure, not a share
            if has(P.STOP, self.text) or _STOP_WORD.search(self.text):
                return StopCanary(model=intent.model)
            return Unclear(
                reason=f"{metric.group(1)}% there is a measure, not a share of traffic; say the "
                f"share, e.g. 'canary {intent.model} v2 at 10%'."
            )
        if intent.kind in CHANGE_KINDS and (held := held_words(intent.kind, self.text)):
            # "never promote x v3", "promote x v2, not yet though": refused or held; the
            # whole message is checked for the rest in parse_parts
            return not_asked_answer(f"says '{held}'")
        heard = [
            f for f in self.found if f.via == "sound" and f.model == getattr(intent, "model", None)
        ]
        if intent.kind in CHANGE_KINDS and heard:
            # "roll back the amnesty classifier": a name only heard (it may be another model
            # the registry lacks) is answered about, never changed; the change names it
            return Unclear(
                reason=f"I read '{heard[0].said}' as {heard[0].model}, by how it sounds; to "
                f"change it, name it: e.g. '{intent.kind.replace('_', ' ')} {heard[0].model}'.",
                needs="model",
            )
        model = getattr(intent, "model", None)
        if intent.kind in CHANGE_KINDS and not self.found and self.focus.only_heard(model):
            # "is the amnesty classifier ok?" then "promote v2": the model was only heard by
            # its sound; a change on it names it first
            return Unclear(
                reason=f"I read the model we are talking about, {model}, only by how its name "
                f"sounded; to change it, name it: e.g. '{intent.kind.replace('_', ' ')} {model}'.",
                needs="model",
            )
        named = sorted({found.model for found in self.found})
        if intent.kind in CHANGE_KINDS and len(named) > 1:
            # "roll back mnist-cnn or mnist-classifier, whichever is broken": a change is
            # never proposed for one of two models the message leaves open; ask.
            return Unclear(
                reason=f"That names {' and '.join(named)}; which one should the change be for?",
                needs="model",
            )
        if (
            self.unknown is not None
            and not self.found
            and isinstance(intent, ListModels)
            and re.match(r"^\W*(?:is|are|was|has|did)\s+(?:the\s+)?[\w.\-]+\s", self.text, re.I)
        ):
            return self.no_such_model()  # "is sentiment-bert in staging yet?": no such model
        if (
            self.unknown is not None
            and not self.found
            and isinstance(intent, ListModels)
            and re.search(rf"\b{re.escape(self.unknown)}\s+model(?:'?s)?(?!\w)", self.text, re.I)
        ):
            return self.no_such_model()  # "show me the digits model's card": which one?
        if self.unknown is not None and not self.found and _MODEL_KINDS.get(intent.kind, False):
            return self.no_such_model()  # never answer about a name the registry lacks
        if (
            self.unknown is not None
            and not self.found
            and not isinstance(intent, Unsupported)  # "register a new model called x"
            and re.search(
                rf"\b(?:called|named)\s+['\"`]?{re.escape(self.unknown)}\b"
                rf"|\bis\s+['\"`]?{re.escape(self.unknown)}['\"`]?\s+(?:registered|there|in\s+the\s+registry)\b",
                self.text,
                re.I,
            )
        ):
            return self.no_such_model()  # "is there a model called sentiment-bert?"
        if (
            self.found
            and intent.kind in ("compare", "model_info", *CHANGE_KINDS)
            and (stray := entities.unknown_versioned(self.text, self.ctx, P.STOPWORDS))
        ):
            # "compare mnist-transformer v1 against mnist-classifier v2": a version of a model
            # the registry lacks is never read as a version of the other one
            self.unknown = stray
            return self.no_such_model()
        if (
            self.unknown is not None
            and not self.found
            and isinstance(intent, Unclear)
            and intent.needs is None
            and intent.unknown is None
        ):
            return self.no_such_model()  # "what's on the billing route": say what is not there
        if self.since is not None and (
            intent.kind in ("list_models", "model_info")
            or (
                isinstance(intent, Unclear)
                and intent.needs is None
                and not intent.unknown
                # "which model for re-scoring last month's cheques overnight?": a pick asked
                and not has(P.SELECT, self.text)
                # "what would happen if we promoted x v4 today?": a change supposed
                and not _WHAT_IF_CHANGED.search(self.text)
            )
            # "Since Saturday.", "since saturday?": nothing but a window
            or (
                intent.kind in ("help", "out_of_scope")
                and _ONLY_FILLER.match(entities.strip_time(self.text))
            )
        ):
            # "what did people do over the past 7 days": a time span asks for history ("for
            # the same model, the preceding thirty days?": the model under discussion's).
            model = self.named_model()
            if model is None and _SAME_MODEL.search(self.text):
                model = self.focus.model
            intent = AuditLog(model=model)
        if (
            isinstance(intent, AuditLog | PendingApprovals)
            and intent.model is None
            and not self.found
            and self.focus.model is not None
            and _ABOUT_IT.search(self.text)
        ):
            # "anything change on it in the last hour": the model under discussion
            intent = intent.model_copy(update={"model": self.focus.model})
        if isinstance(intent, AuditLog) and self.since is not None:
            if (
                intent.model is None
                and self.focus.topic.kind == "audit"
                and _ONLY_FILLER.match(entities.strip_time(self.text))
            ):
                # "now 7d" right after the audit of a model: the same model, another window
                intent = intent.model_copy(update={"model": self.focus.topic.model})
            return intent.model_copy(update={"since_minutes": self.since})
        return intent

    def gradual(self, intent: Promote) -> Intent | None:
        """ "a gradual rollout of x v4, start at 1%", "promote v3 to prod at 10%": a share of
        Production's traffic first, which is a canary, never the whole promotion (None when
        the promotion says no share and nothing gradual)."""
        share = _ROLLOUT_SHARE.search(self.text)
        if share is not None and _NOT_GRADUAL.search(self.text[: share.start()]):
            share = None  # "skip the 10% first step", "not at 10%"
        gradual = _GRADUAL.search(self.text)
        if gradual is not None and _NOT_GRADUAL.search(self.text[: gradual.start()]):
            gradual = None  # "no need for a gradual rollout, promote it"
        if share is None and gradual is None:
            return None
        if not plainly_said(self.text):
            return not_asked_answer("describes a gradual rollout, but not as a plain request")
        example = f"canary {intent.model} v{intent.version} at 5%"
        if intent.stage != "Production" or share is None:
            return Unclear(
                reason="A gradual rollout is a canary on Production's traffic; say the share to "
                f"start with, e.g. '{example}'."
            )
        percent = float(next(g for g in share.groups() if g))
        if not 0 < percent < 100:
            return Unclear(reason=f"A canary takes a share between 0 and 100%, e.g. '{example}'.")
        return StartCanary(model=intent.model, version=intent.version, percent=percent)

    def guard_added(self) -> Intent | None:
        """The promotion just proposed, again with its guard: "with the auto rollback thing
        on" right after "promote x v2 to prod" (None when no promotion is under discussion or
        the message names another model)."""
        ref = self.focus.proposal
        if ref is None or ref.kind != "promote" or self.named_model() not in (None, ref.model):
            return None
        t = self.text
        if (
            not _GUARD_ADDED.match(t)
            or "?" in t
            or has(P.VERSION, t)
            or has(P.STAGE_WORD, t)
            or _NOT_ADDED.search(t)
        ):
            return None  # "does it have a guard?", "with a guard, but for v4", "cancel that"
        stage = self.focus.topic.stage if self.focus.topic.kind == "promote" else None
        return Promote(
            model=ref.model,
            version=ref.version,
            stage="Staging" if stage == "Staging" else "Production",
            guard=True,
        )

    def _read(self) -> Intent:
        t = self.text
        if not t:
            return Unclear(reason="empty message") if self.since is None else AuditLog()
        if (completed := self.completed()) is not None:
            return completed  # "mnist-cnn", "20", "v3" right after the chat asked for it
        if has(S.HELP, t):
            return Help()
        if (document := has(S.WRITE_DOCUMENT, t)) is not None and not _ASKED_FIRST.match(
            t[: document.start()]
        ):
            if not any(
                has(p, t) for p in (P.PROMOTE, P.ROLLBACK, P.CANARY, P.STOP, P.AUDIT)
            ) and not (self.found or self.unknown):
                return OutOfScope()  # "write the release notes for the 3.2 app release"
            return Unclear(
                reason="I do not write documents, and a change named in one is not asked for; "
                "what happened is in the history: e.g. 'audit mnist-classifier last 7 days'."
            )
        if _WHAT_IF_CHANGED.search(t):
            return Unclear(
                reason="That asks what a change would do, so I propose nothing. Here a change is "
                "proposed, you approve or deny it on its form, and only then is it applied and "
                "recorded in the audit trail; to see what would differ, ask e.g. 'compare "
                "mnist-classifier v3 with production'."
            )
        if _THE_USUAL.search(t):
            return Unclear(
                reason="I do not know what 'the usual' is here; say the request itself, e.g. "
                "'show the card of mnist-classifier' or 'roll back mnist-cnn'."
            )
        # A pasted trace's own words ("CUDA out of memory") are gone; "here is the stack
        # trace" around it is about the registry's serving, not the machine.
        off_topic = has(S.OFF_TOPIC, t) is not None and not self.pasted
        if off_topic and self.unknown is not None and _CHANGE_VERB.search(t):
            # "ROLLBACK digit-segmenter NOW its eating the whole node": a change for a name
            # the registry lacks, whatever the cluster words around it
            off_topic = False
        # "a learning-rate schedule for a small CNN": a kind of model, not the registry's
        named = [
            f
            for f in self.found
            if not (f.via == "prefix" and entities.A_KIND_OF.search(t[: f.start]))
        ]
        if ((off_topic or has(S.GREETING, t)) and not named) or (
            has(S.CODING, t) or (has(S.ARITHMETIC, t) and not P.VERSION.search(t))
        ):
            return OutOfScope()  # "write me a script to train a cnn": whatever it names
        if (unsupported := self.unsupported()) is not None:
            return unsupported
        if EITHER_CHANGE.search(t):
            # "canary or rollback, whichever is safer - you decide": the chat proposes only a
            # change the user names; it never picks one
            return Unclear(
                reason="Which change should I propose? Name one (a rollback, a promotion, a "
                "canary or stopping one); a human approves it either way."
            )
        if self.oncall():
            return self.rollback(None)
        if (reshared := self.reshare()) is not None:
            return reshared
        if (repeated := self.repeated()) is not None:
            return repeated
        if (again := self.follow_up()) is not None:
            return again
        if (kept := self.kept_follow_up()) is not None:
            return kept
        if has(P.MORE, t):
            return self.more()
        if (
            has(P.HISTORY_QUESTION, t)
            or self.changes_made()
            or (self.since is not None and has(P.DECIDED_IN_WINDOW, t))
        ):
            return AuditLog(model=self.named_model() or self.focus.model)
        if has(S.HELP, t):
            return Help()
        purpose = _PURPOSE.search(t)
        asked = t[: purpose.start()] if purpose and purpose.start() > 0 else t
        if has(P.PENDING, asked) and (not has(P.PROMOTE, t) or has(P.STATUS_QUESTION, t)):
            # "did my promotion request go through or is it still waiting?": a status question
            return PendingApprovals(model=self.named_model())
        if (
            has(P.CANARY, asked)  # "show me x's log ..., want to see if the canary was on"
            and not has(P.HISTORY_QUESTION, t)
            and not _canary_only_supposed(t)
        ):
            return self.canary()
        if (found := has(P.PROMOTE, t)) and has(P.GUARD, t):
            return self.promote(found)  # "promote ... with automatic rollback"
        # "the automatic rollback guard" names the guard, not a rollback
        unguarded = _GUARD_NOUN.sub(lambda m: " " * len(m.group(0)), t)
        if (
            P.wants_guard(t)
            and not has(P.ROLLBACK, unguarded)
            and not has(P.PROMOTE, t)
            and (guarded := self.guard_added()) is not None
        ):
            return guarded  # "add the auto-rollback guard to that" after a promotion
        if (found := has(P.ROLLBACK, unguarded)) and not (
            ASKED_BACK.search(found.group(0)) and ASKED.match(t)
        ):
            # ("did x go back to the previous version?", "do we need it back on v1?": asked)
            return self.rollback(found)
        if (
            (found := has(P.PROMOTE, t) or self.wished_move())
            and not has(P.SELECT, t)
            and not _compared_to_stage(t, found)
            and not (found.group(0).lower().startswith("move") and _METRIC_MOVED.search(t))
            and not has(P.WHAT_WAS_MOVED, t)
            and not _PURPOSE.search(t[: found.start()])
        ):
            return self.promote(found)
        if (
            (self.found or self.focus.model)
            and has(P.LOADED, t)
            and not (has(P.COMPARE_WORD, t) or has(P.DETAILS, t))
        ):
            return self.serving()  # "is anything else loaded next to it?": what serves
        if (
            has(P.COMPARE, t)
            and not _OWN_CHECK.search(t)
            and (
                self.versions()
                or P.THIS.search(t)
                or P.PREVIOUS.search(t)
                or re.search(r"\b(?:prod(?:uction)?|staging)\b.*\b(?:prod(?:uction)?|staging)\b", t)
            )
        ):
            return self.compare()
        if has(P.SYNC, t):
            return self.serving()
        if has(P.AUDIT, P.LOG_VERB.sub(" ", t)):
            model = self.named_model()
            if model is None and (
                P.THIS.search(t)
                or P.FOLLOW_UP.search(t)
                or _NOW_THE.match(t)
                or _SAME_MODEL.search(t)
            ):
                model = self.focus.model  # "now the audit for the past 3 days": its history
            return AuditLog(model=model)
        if not self.found and self.focus.model and _THE_ONE_SERVING.search(t):
            return ServingStatus(model=self.focus.model)  # "is that the one serving?"
        if self.found and (_WHICH_MODEL_TAKES.search(t) or _VERSION_IT_IS_ON.search(t)):
            # "which model takes the X-Priority: critical requests", "what version is it on"
            return self.serving()
        chooser = has(P.SELECT, t)
        if (
            chooser
            and chooser.group(0).lower().endswith(" is")
            and (self.found or (P.THIS.search(t) and self.focus.model))
            and has(P.SERVING, t)
        ):
            return self.serving()  # "which model is answering digits requests": what serves
        if (
            not self.found
            and self.ctx.task_of(self.focus.model) is not None
            and P.SAME_TASK_AS_FOCUS.search(t)
        ):
            return self.select()  # "anything faster for that task?" after a model's card
        if chooser or (
            # "critical requests on digits - which model handles those?" names its model.
            not self.found
            and self.unknown is None  # "the latency of the resnet50 model": about that one
            and (has(P.LATENCY, t) or any(p.search(t) for _, p in P.GOALS))
            and re.search(r"\bmodels?\b|\bclassifier\b|\bregressor\b", t, re.I)
        ):
            return self.select()
        if not self.found and has(P.ALL_SERVING, t):
            return ServingStatus()  # "health of all models": every model's serving
        if has(P.SERVING, t) and not (self.found and _CARD_OF.search(t)):
            return self.serving()
        if self.found and has(P.LIST, t) and re.search(r"\b(?:which|what)\s+version\b", t, re.I):
            return self.serving()  # "which version is prod for x": x's stages, not a list
        if len(self.found) == 1 and _IN_STAGE_FOR.search(t) and not has(P.SELECT, t):
            # "what's in staging for x?": x's versions and their stages, not every model's.
            return ModelDetails(model=self.found[0].model)
        if not self.found and not P.THIS.search(t) and _STAGE_PLURAL.search(t):
            return self.listing()  # "are there any archived versions of anything?"
        if has(P.LIST, t) and not (self.found and (has(P.DETAILS, t) or self.versions())):
            # "tell me everything about digits v1" is about that model, not the list.
            return self.listing()
        if (
            self.found
            and not has(P.DETAILS, t)
            and (("?" in t and (has(P.ONCALL, t) or _UP.search(t))) or _IS_IT_UP.match(t))
        ):
            return self.serving()  # "is mnist-cnn broken?", "is x down?": how it serves
        if not self.found and not has(P.VERSION, t) and has(P.WITHDRAWN, t) and "?" not in t:
            # "nvm false alarm, dashboard was stale. leave it": taken back, not a question
            return Unclear(reason="OK, nothing done: I proposed nothing and changed nothing.")
        details = self.details()
        return details if details is not None else self.classified()

    def wished_move(self) -> re.Match[str] | None:
        """ "I would like that x version 4 goes to Production, is it possible?": a move asked
        for as the state wished for (None for a question about a move made)."""
        if has(P.ASKS_IF_MOVED, self.text):
            return None
        return has(P.MOVED_TO_STAGE, self.text)

    def changes_made(self) -> bool:
        """ "I need every promotion and rollback made this week": changes named as made, and
        no verb outside them asks for one ("roll back every change made today" does)."""
        if not has(P.CHANGES_MADE, self.text):
            return False
        rest = P.CHANGES_MADE.sub(" ", self.text)
        return not any(has(p, rest) for p in (P.ROLLBACK, P.PROMOTE, P.CANARY, P.PENDING))

    def classified(self) -> Intent:
        """No rule placed the message: the classifier names its kind (if confident) and the
        rules read that kind's names and numbers."""
        if P.OPINION.search(self.text):  # an opinion asked for, no request placed
            return Unclear(
                reason="Whether to make a change is yours to decide; I can show what helps: "
                "e.g. 'compare mnist-classifier v2 with production', 'audit mnist-classifier "
                "last 24h', or propose the change when you ask for it."
            )
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
            case "promote" | "rollback" | "canary" | "stop_canary":
                # The classifier never proposes a change: no rule read one in these words.
                example = {
                    "promote": "promote digits v3",
                    "rollback": "roll back digits",
                    "canary": "canary digits v3 at 10%",
                    "stop_canary": "stop the canary of digits",
                }[guess.kind]
                return Unclear(reason=f"To propose that change, name it, e.g. '{example}'.")
        return Unclear(reason="I did not understand that.")


#: What one model has in a stage: "what's in staging for x?", "what is on prod for x".
_IN_STAGE_FOR = re.compile(
    r"^\W*(?:(?:and|ok|so)\W+)*(?:what|which)\s+(?:version\s+)?is\s+(?:in|on)\s+"
    r"(?:prod(?:uction)?|staging)\s+(?:for|of|on)\s+\S",
    re.I,
)
#: A verb of a change (for a name said next to it).
_CHANGE_VERB = re.compile(r"\b(?:roll\s*back|rollback|revert|promote|canary|deploy|ship)\b", re.I)
#: The model under discussion, said as such: "for the same model", "the same one".
_SAME_MODEL = re.compile(r"\b(?:the\s+)?same\s+(?:model|one)\b", re.I)
#: The next thing asked of the model under discussion: "now the audit", "next, its history".
_NOW_THE = re.compile(r"^\W*(?:(?:and|ok|okay|so)\W+)?(?:now|next)\W+(?:the|its)\b", re.I)

#: Versions or models of a stage, no model named ("any archived versions?", "the production
#: classifiers"): the registry's list of that stage.
_STAGE_PLURAL = re.compile(
    r"\b(?:prod(?:uction)?|staging|archived)\s+(?:versions|models|ones|builds|releases|"
    r"classifiers|regressors|encoders)\b"
    # "anything sitting in the archive?": the Archived stage as a place
    r"|\b(?:in|from)\s+the\s+archive\b",
    re.I,
)

#: A comparison asked for with its verb first ("compare v3 to prod", "diff x v2 to staging").
_COMPARE_FIRST = re.compile(
    r"^\W*(?:(?:please|pls|can you|could you)\s+)?(?:compare|cmp|diff)\b", re.I
)
#: Whether the model under discussion is what serves: "is that the one serving?".
_THE_ONE_SERVING = re.compile(
    r"^\W*(?:(?:and|so|ok)\W+)*(?:is|isn't|isnt|is not)\s+(?:that|this|it)\s+"
    r"(?:the\s+one\s+|the\s+version\s+|what's\s+|what\s+is\s+)?(?:serving|live|deployed|running|in\s+prod(?:uction)?)\b",
    re.I,
)
#: A card asked for by name ("the card of whatever gets the normal traffic on digits"):
#: details, even where the words around it speak of serving.
_CARD_OF = re.compile(
    r"\b(?:model\s+)?card\s+(?:of|for)\b"
    # "please provide the model card, including ..., for the version that is in Production"
    r"|\b(?:provide|show|give|send|display|open|pull\s+up)\s+(?:me\s+|us\s+)?(?:also\s+)?"
    r"(?:the\s+|its\s+)?(?:model\s+)?card\b",
    re.I,
)
#: Which model a route's requests reach: "which model takes the critical requests".
_WHICH_MODEL_TAKES = re.compile(
    r"\b(?:which|what)\s+(?:model|version|one)\s+(?:takes|handles|gets|serves|answers|receives|"
    r"is\s+(?:taking|handling|getting|serving|answering|receiving))\b",
    re.I,
)
#: The version a model is on: "what version is it on", "which build is mnist-cnn running".
_VERSION_IT_IS_ON = re.compile(
    r"\b(?:what|which)\s+(?:version|build|release)\s+(?:is|'s)\s+(?:it|that|this|[\w.\-]+)\s+"
    r"(?:on|running|serving|using)\b"
    # "is mnist-cnn still on v1?": the version it serves
    r"|(?:^|[:;,.!?]\s)\W*(?:(?:and|so|ok)\W+)*is\s+(?:it|that|this|[\w.\-]+)\s+"
    r"(?:still|currently|now)\s+(?:on|at|serving|running)\s+(?:v|version\s*)\d+\W*$"
    # "is prod still v1 for mnist-cnn?"
    r"|^\W*is\s+prod(?:uction)?\s+(?:still|currently|now)\s+(?:on\s+)?(?:v|version\s*)\d+\b",
    re.I,
)
#: A purpose clause before a verb ("... so that I may decide which one to propose for
#: staging"): the move is what the asker will decide, not a request.
_PURPOSE = re.compile(
    r"\b(?:so\s+that|so\s+(?:i|we)\s+can|in\s+order\s+to|to\s+(?:help\s+(?:me|us)\s+)?decide|"
    r"before\s+(?:i|we)\s+decide|(?:i\s+)?(?:want|wanna|need)\s+to\s+(?:see|check|know)\s+(?:if|whether))\b",
    re.I,
)
#: A number asked about as moving ("did accuracy move at all?"): a comparison, not a move.
_METRIC_MOVED = re.compile(
    r"\b(?:did|has|have|does|do)\s+(?:the\s+|its\s+|their\s+)?(?:accuracy|latency|p\d+|metrics?|"
    r"numbers?|scores?|loss|f1|anything)\s+(?:\w+\s+)?move\b",
    re.I,
)
#: The one form of a move that names no verb: "v3 to prod".
_VERSION_TO_STAGE = re.compile(r"v\d+\s+(?:to|into)\s", re.I)


def _compared_to_stage(text: str, found: re.Match[str]) -> bool:
    """ "compare mnist-classifier v3 to production": the stage is what v3 is compared with,
    not where it moves; a move needs its own verb ("compare them, then promote v3")."""
    if not _VERSION_TO_STAGE.match(found.group(0)):
        return False
    clause = re.split(r"[,;.!?]|\band\b|\bthen\b", text[: found.start()])[-1]
    if _COMPARE_FIRST.search(clause):
        return True
    # "compare x v2 and v3 to staging": "and" joins the versions compared, no verb moves one
    sentence = re.split(r"[,;.!?]|\bthen\b", text[: found.start()])[-1]
    return bool(_COMPARE_FIRST.search(sentence)) and not re.search(
        r"\band\s+(?:then\s+)?(?:promote|move|push|ship|deploy|put|send|release|stage|take)\b",
        sentence,
        re.I,
    )


#: One of the models just listed: "which one should I use?", "which of those is fastest?".
_ONE_OF_THOSE = re.compile(r"\bwhich\s+one\b|\b(?:of|among)\s+(?:those|them|these)\b", re.I)
#: "what would happen if we rolled back x right now?": a change supposed, to learn about it.
_WHAT_IF_CHANGED = re.compile(
    r"\bwhat\s+(?:would|will|could|might)\s+happen\s+if\s+(?:we|i|you|someone|somebody|they)\s+"
    r"(?:\w+\s+){0,2}?(?:promot|roll|revert|canar|stop|kill|mov|push|ship|deploy|put|switch)\w*",
    re.I,
)
#: A share of traffic to start a move with: "start at 1%", "at 10%", "10% first".
_ROLLOUT_SHARE = re.compile(
    r"(?:\b(?:start(?:ing)?\s+(?:at|with)|begin(?:ning)?\s+(?:at|with))|"
    # "promote v3 to prod at 10%": the share right after the move
    r"\b(?:prod(?:uction)?|staging|v\d+)\s+at)\s+(\d+(?:\.\d+)?)\s*(?:%|percent\b|pct\b)"
    r"(?!\s*(?:accuracy|error|errors|latency|cpu|memory|load|f1|precision|recall)\b)"
    r"|\b(?:to|at|with|on|for)\s+(\d+(?:\.\d+)?)\s*(?:%|percent\b|pct\b)\s+of\s+(?:the\s+|our\s+)?"
    r"(?:traffic|users|requests|customers)\b"
    # "promote x v4 to prod, 10% first", "..., 5% to start"
    r"|(?<![\w.])(\d+(?:\.\d+)?)\s*(?:%|percent\b|pct\b)\s+(?:first|to\s+start(?:\s+with)?)\b"
    r"(?!\s+(?:step|stage|phase))",
    re.I,
)
#: A move said to happen by steps: "a gradual rollout", "roll it out progressively".
_GRADUAL = re.compile(
    r"\b(?:gradual(?:ly)?|progressive(?:ly)?|phased|incremental(?:ly)?|step\s+by\s+step|bit\s+by\s+bit|"
    r"little\s+by\s+little|ramp(?:ing)?\s+up)\b",
    re.I,
)
#: A change asked at the message's start ("roll back x and draft the announcement"), before a
#: document to write (never "the rollback of x went fine, draft the announcement").
_ASKED_FIRST = re.compile(
    r"^\W*(?:(?:please|pls|ok|so|now)\W+)*(?:roll\s*back|rollback|revert|promote|stop|kill|move|push|"
    r"ship|deploy|put|send|switch)\b",
    re.I,
)
#: A percentage said of a measure ("error rate ... jumped to 4%", "5xx at 2%"), not of traffic.
_METRIC_PERCENT = re.compile(
    r"\b(?:error(?:s|\s+rate)?|5xx(?:\s+rate)?|4xx|latency|p\d{2,3}|cpu|memory|load|accuracy|"
    r"failures?|failure\s+rate|timeouts?)\b(?:\s+[\w-]+){0,5}?\s+(?:(?:to|at|of|is|hit|hits|reached|"
    r"over|above)\s+)?(\d+(?:\.\d+)?)\s*(?:%|percent\b)",
    re.I,
)
_STOP_WORD = re.compile(
    r"\b(?:stop|kill|end|pull|halt|abort)\s+(?:it|that|this|the\s+canary)\b", re.I
)
#: A gradual move said not to be wanted: "no need for a gradual rollout", "skip the ramp".
_NOT_GRADUAL = re.compile(
    r"\b(?:no\s+need\s+for|without|skip|not|no|instead\s+of)\s+(?:(?:a|an|the|any|that)\s+)?$",
    re.I,
)
#: Asking whether a model is up ("is x down?", "is x healthy?", "x still working?").
_UP = re.compile(
    # "x v3 looks ok?" asks about its numbers, not whether it is up
    r"(?<!looks )(?<!look )(?<!seems )\b(?:down|up|healthy|alive|working|responding|ok|okay|fine)"
    r"\s*\?",
    re.I,
)

#: "is the mist classifier fixed", "is digits-encoder ok": whether it serves, asked without a
#: question mark.
_IS_IT_UP = re.compile(
    r"^\W*(?:is|are)\s+(?![^?]*\b(?:numbers|metrics|accuracy|scores?|results|card|docs?|"
    r"latency|tests?|v\d+|version|roll\w*|promot\w*|canar\w*|revert\w*|rollback)\b)(?:the\s+)?[^?]{1,60}?\s+(?:still\s+)?(?:fixed|ok|okay|fine|up|down|working|"
    r"healthy|alive|broken|back\s+up)\W*$"
    # "..., and also whether mnist-cnn is up"
    r"|^\W*(?:whether|if)\s+(?:the\s+)?[\w.\-]+\s+(?:is|are)\s+(?:still\s+)?(?:up|down|ok|okay|fine|"
    r"working|healthy|serving|live)\W*$",
    re.I,
)

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


#: A stage asked about as a whole ("what's in staging?", "anything in prod?"): the registry's
#: list of that stage, not one model's version in it.
_WHOLE_STAGE = re.compile(
    r"^\W*(?:what(?:'s|\s+is|\s+do\s+we\s+have)|anything|whats)\s+(?:currently\s+)?in\s+"
    r"(?:prod(?:uction)?|staging)\W*$",
    re.I,
)

#: Where a second question starts: "...serving? and who promoted it", "...; show the audit",
#: "... and what changed since yesterday".
#: Context said first, then a colon and a polite ask: "... where we stand: could you list ...".
_CONTEXT_THEN_ASK = re.compile(
    r"^([^:?]{20,300}):\s*(?=(?:please\s+)?(?:could|can|would|will)\s+you\b|please\s+\w)", re.I
)
#: "v2 of x go in production": a promotion said with "go".
_GOES_TO_STAGE = re.compile(
    r"\b(?:go|goes|going)\s+(?:in|into|to|on)\s+(?:prod(?:uction)?|staging)\b", re.I
)
#: A piece that only urges the request before it on: "Do it.", "Now!!", "go ahead, please".
_URGE = re.compile(
    r"^\W*(?:(?:please|pls|just|now|then|so)\s+)*(?:do\s+it|go(?:\s+ahead)?|now|asap|proceed|"
    r"execute|quick(?:ly)?|hurry)(?:\s+(?:now|please|pls|asap|immediately|right\s+away))*\W*$",
    re.I,
)
_SECOND_PART = re.compile(
    r"\?\s*(?:(?:and|also|plus)\s*,?\s+)?(?=[A-Za-z])|;\s*|\.\s+(?=[A-Za-z])"
    # "promote x v4 to staging and after that start a canary of it"
    r"|,?\s+and\s+after\s+that\s*,?\s+"
    # "first show x, second: who changed y", "..., then: roll it back"
    r"|,?\s*\b(?:second(?:ly)?|then|after that|next|and then)\s*:\s*"
    r"|,\s*(?:and\s+)?(?:second(?:ly)?|after that)\s*,?\s+"
    # "compare v3 with v2 and if it looks ok promote v3": the second part is the change
    r"|,?\s+and\s+if\s+(?:it|that|they|all|everything)(?:'s|\s+(?:looks?|is|are|seems?))\s+"
    r"(?:ok|okay|good|fine|better)\s*,?\s+(?:then\s+)?"
    # "..., and the version which is serving now."
    r"|,\s+and\s+(?=the\s+(?:version|model|build)\s+(?:which|that)\s+(?:is|are)\b)"
    # "(1) all models in production, (2) every change to x"
    r"|[,;]?\s*(?:\(2\)|(?<![\w.])2\))\s*"
    r"|\s*&&\s*"
    r"|(?<!\bcan)(?<!\bcould)(?<!\bplease),?\s+(?:and|also|plus|then|\+|"
    # Spanish: "y", "y después", "y también"
    r"y(?:\s+(?:despu[e\u00e9]s|tambi[e\u00e9]n|luego))?)\s+(?:also\s+|then\s+)?"
    # "..., and if you can, delete v4", "... and please start a canary"
    r"(?:(?:if you can|if possible|please|pls|maybe|by the way|btw|oh)\s*,?\s+)?"
    r"(?=(?:what|whats|what's|which|who|when|why|how|hows|how's|is|"
    r"are|was|were|show|list|compare|has|have|did|does|can|tell|give|any|anything|stop|kill|"
    r"end|promote|roll|rollback|revert|archive|delete|canary|approve|queue|stage|ship|move|make|"
    r"its|their|pending|approvals|history|audit|start|begin|shadow|mirror|put|pull|remove|"
    r"rename|retrain|send|switch|swap|deploy|release|push|drop|bump|raise|set|cancel|undo|"
    r"recommend|suggest|pick|choose|provide|whether)\b)",
    re.I,
)


#: "Two things for the audit prep: (1) ...", "Two things, if you don't mind: first, ...": what
#: announces the parts, not one of them.
_PREFACE = re.compile(
    r"^\W*(?:(?:ok|okay|hi|hey|so)\W+)?"
    # "Before the meeting on Thursday I need two things, if you would be so kind: first, ..."
    r"(?:(?:(?:before|ahead\s+of)\s+[^:?.!]{0,60}?\s+)?(?:i|we)\s+(?:need|want|would\s+like)\s+)?"
    r"(?:two|2|a\s+couple\s+of|a\s+few|three|3)\s+"
    r"(?:things|questions|requests|asks|items)\b(?:[^:?]{0,60}:|,)\s*"
    r"(?:first(?:ly)?\s*[,:]?\s*|\(1\)\s*|1\)\s*)?",
    re.I,
)

#: A sentence that says a reading is not wanted: "Comparison with mnist-cnn is not needed.",
#: "No need for the audit." (a canary "not needed" any more is a request to stop it: not here).
_UNWANTED = re.compile(
    r"(?:^|(?<=[.!?]))\s*(?:(?:a|the|any)\s+)?(?:comparison|compare|diff|details|card|model card|"
    r"audit|history|list|recommendation)\b(?:(?!\s[-\u2013\u2014]\s)[^.!?;,]){0,60}?\b(?:is|are)\s*(?:not|n't)\s+"
    r"(?:needed|necessary|required|wanted)(?:\s+(?:today|now|here|anymore))?\s*[.!]+(?=\s|$)"
    r"|(?:^|(?<=[.!?]))\s*no\s+need\s+(?:for|of)\s+(?:a\s+|the\s+|any\s+)?(?:comparison|"
    r"diff|details|card|audit|history|list|recommendation)\b(?:(?!\s[-\u2013\u2014]\s)[^.!?;,]){0,40}"
    r"[.!]+(?=\s|$)",
    re.I,
)
#: A thing said not to matter after the request: "roll x back asap, dont care about the canary"
#: (the canary is not what is asked about).
_DISMISSED = re.compile(
    r"[,;]\s*(?:i\s+)?(?:don'?t|do\s+not)\s+care\s+(?:about|for)\s+(?:the\s+)?"
    r"(?:canary|audit|comparison|details|card|history)\b"
    r"(?:(?!\b(?:and|or|unless|then|but|if|so)\b)[^.!?;,])*(?=[.!?;]|$)",
    re.I,
)

#: The canary said to stay as it is, after another change: "roll back x, but leave the canary
#: alone", "..., keep the canary", "...; don't touch the canary", "..., the canary stays", to
#: the end of its sentence (never a question, never with "or", "so", "if" ... in it); or first,
#: joined to the change by "but", "and" or "just" ("keep the canary but roll back x"). "don't
#: stop the canary or roll back x" and "keep the canary so we can roll back later" keep their
#: words.
_KEPT_CANARY = re.compile(
    r"^\W*(?:please\s+)?(?:leave|keep)\s+the\s+canary(?:\s+(?:alone|running|on|as\s+it\s+is))?"
    r"\s*,?\s*(?:but|and|just)\s+(?=(?:please\s+)?(?:roll|revert|promote)\b)"
    r"|(?:[,;]\s*|\s+(?=but\b|and\b|without\b))(?:(?:but|and|while|though|just)\s+)?(?:please\s+)?"
    r"(?:(?:leave|keep|let)|(?:don'?t|do\s+not)\s+(?:touch|stop|kill|end|cancel)|"
    r"without\s+(?:touching|stopping|ending))\s+"
    r"(?:the|that|this|its|any|our)\s+canary\b"
    r"(?:(?!\b(?:and|or|unless|then|but|if|so|later|tomorrow|maybe)\b)[^.!?;,])*"
    r"(?=[.!;]*\s*$)"
    r"|[,;]\s*(?:and\s+)?the\s+canary\s+(?:stays|remains|keeps\s+running|can\s+stay)\b"
    r"(?:(?!\b(?:and|or|unless|then|but|if|so)\b)[^.!?;,])*(?=[.!;]*\s*$)",
    re.I,
)

#: What joins a cancelled change to the one asked after it: ", and", ": instead", " - then".
_LEADING_JOIN = re.compile(r"^(?:\W|\b(?:and|then|instead|just|so|rather)\b)*", re.I)

#: Changes refused before what is asked: "No canary, no promotion - just the card for x",
#: "do NOT promote anything. I just want to see ...", "Please don't archive anything, but ...".
_REFUSED_FIRST = re.compile(
    r"^\W*(?:no\s+(?:canar(?:y|ies)|promotions?|rollbacks?|changes?|moves?|stage\s+changes?)"
    r"\s*(?:,|;|and|or|nor)?\s*)+(?:[-\u2013\u2014:,]\s*)?(?=(?:just|only)\b)"
    r"|^\W*(?:please\s+)?(?:do\s+not|don'?t|never)\s+(?:(?:promote|archive|roll\s*back|rollback|"
    r"touch|change|move|deploy|delete|canary|start)\s+(?:anything|any\s+\w+|a\s+thing)"
    r"|roll\s+(?:anything|any\s+\w+)\s+back)"
    r"(?:\s+(?:yet|now|today))?\s*(?:[.;!]+|,\s*(?:but|just|only)\b|"
    r"\s[-\u2013\u2014]\s*(?:first|just|only|but)\b)\s*",
    re.I,
)
#: A change only thought of: "I was going to promote x v3", "I wanted to roll back".
_ONLY_MEANT = re.compile(
    r"\b(?:was|were)\s+going\s+to\b|\b(?:wanted|planned|meant|thought\s+about|considered)\b", re.I
)
#: What the message says it needs, after words around it: "x v2 vs v1 looks off in grafana
#: but what I actually need right now is the card for y".
_WHAT_I_NEED = re.compile(
    r"\b(?:but\s+)?what\s+(?:i|we)\s+(?:actually\s+|really\s+)?(?:need|want)"
    r"(?:\s+right\s+now|\s+now)?\s+is\s+",
    re.I,
)


#: A part that asks for what the part before described: "Can you list those?", "show them".
_ASKS_FOR_THOSE = re.compile(
    r"^\W*(?:(?:so|ok|okay|please|pls)\W+)*(?:(?:can|could|would)\s+you\s+(?:please\s+)?)?"
    r"(?:list|show|give|send|pull(?:\s+up)?|get)\s+(?:me\s+|us\s+)?(?:those|them|these)"
    r"(?:\s+(?:please|pls|for\s+me|for\s+us))?\W*$",
    re.I,
)

#: "x v2 is good?", "is it any better": a judgement the comparison after it answers.
#: The question before, said again in other words: "I mean, which one do requests go to?"
_RESTATED = re.compile(r"^\W*(?:i\s+mean|that\s+is|i\.e\.|in\s+other\s+words|or\s+rather)\b", re.I)
_IS_IT_GOOD = re.compile(
    r"\b(?:is|looks?|seems?)\s+(?:it\s+)?(?:any\s+)?(?:good|ok|okay|better|fine|ready)\W*$", re.I
)

#: A route's line as a config or log shows it ("route digits -> mnist-classifier").
_ROUTE_LINE = re.compile(r"^\W*route\s*[=:]?\s*([\w.\-]+)\s*(?:->|=>|\u2192)\s*[\w.\-]+\W*$", re.I)

#: A change asked about or refused rather than asked for: a question that is not a polite
#: request ("how do I ...?", "should we ...?", "why did someone ...?"), or a negation.
_NOT_A_REQUEST = re.compile(
    r"^\W*(?:(?:hey|hi|ok|okay|so|and|but)\W+)*(?:how|why|what|when|who|where|which|does|did|is|are|"
    r"was|were|should|shall|would\s+it|has|have)\b"
    r"|\b(?:don'?t|do\s+not|never|no\s+need|shouldn'?t|should\s+not|won'?t|must\s+not|mustn'?t)\b"
    r"|^(?!\W*(?:(?:hey|hi|ok|okay|so|please|pls)\W+)*(?:can|could|would|will)\s+(?:you|u|we)\b)[^?]*\?",
    re.I,
)

#: Parts numbered by the user: each one is asked.
_NUMBERED = re.compile(r"\(2\)|(?<![\w.])2\)")


#: Someone else's words or a pasted line around a correction: "bob said: ...", "ticket: ...".
_QUOTED = re.compile(r":|\b(?:said|says|wrote|asked|told|log|ticket)\b", re.I)
#: The one extra word a correction may repeat: "mirror ... no wait, to y v3, shadow only".
_SAME_MODE = re.compile(
    r"^(?=.*\b(?:mirror|shadow)\b)(?!.*\b(?:split|real|live|not|no|never|prod\w*|staging|stg)\b)"
    r"(?!.*(?:\d\s*%|percent))",
    re.I,
)
#: A request corrected within the message: "mirror traffic to x v1... no wait, to y v3".
_SAID_AGAIN = re.compile(
    r"(?:\.{2,}|[,;:]|\s[\-\u2013\u2014]|\s)\s*\b(?:no+\s*,?\s*wait|wait\s*,?\s*no+|scratch\s+that|"
    r"sorry\s*,?\s*(?:i\s+)?mean[t]?|(?:no\s*,?\s*)?i\s+mean[t]?|correction)\b\s*[,:\-\u2013\u2014.]*\s*",
    re.I,
)


def not_asked_answer(why: str) -> Unclear:
    """The question back for a change said but not asked for (``why``: "says 'never
    promote'", "asks about a change", ...)."""
    return Unclear(
        reason=f"That {why}, so I propose nothing; say the change plainly when you want it "
        "proposed (you approve it either way)."
    )


def _asked(pieces: list[str], text: str) -> list[str]:
    """Each piece with the "?" that follows it in ``text`` ("is x up? what version is it
    serving": the first piece is a question); pieces are found in order."""
    out, at = [], 0
    for piece in pieces:
        where = text.find(piece, at)
        if where < 0:
            out.append(piece)
            continue
        at = where + len(piece)
        out.append(f"{piece}?" if re.match(r"\s*\?", text[at:]) else piece)
    return out


def _said_again(text: str, ctx: ParseContext) -> str:
    """ "mirror traffic to mnist-cnn v1... no wait, to mnist-classifier v3": the request as
    corrected ("mirror traffic to mnist-classifier v3"); the text itself when the words after
    the correction name no model, or the words before it name none to replace."""
    said = list(_SAID_AGAIN.finditer(text))
    if len(said) != 1 or "?" in text or P.HELD.search(text) or _QUOTED.search(text):
        # Two corrections, a question ("did you promote x, i mean y?"), a refusal ("never
        # promote x, no wait, y") or someone else's words ("bob said: ..."): never rewritten
        return text
    again = said[0]
    after = text[again.end() :]
    before = text[: again.start()]
    corrected, meant = _Reader(before, ctx).found, _Reader(after, ctx).found
    if len({f.model for f in corrected}) != 1 or len(corrected) != 1 or len(meant) != 1:
        # One name corrected by one other: "start a canary for x v1 and promote y v2, I mean
        # z v2" leaves open which one z replaces (the names stay, and the chat asks).
        return text
    # The correction only says the name again ("no wait, to y v3"); "I mean, y is fine",
    # "no wait, not y", or a share, stage or mode said again leaves the text as it is
    # (whichever was meant, the chat asks rather than picks).
    more = re.search(
        r"\b(?:not|no|never|shadow|mirror|split|real|live|prod\w*|staging|stg)\b|\d\s*%|percent",
        after,
        re.I,
    )
    if (not says_only_slots(after, meant) or more) and not _SAME_MODE.search(f"{before} {after}"):
        return text
    # ... and comes right after the name it corrects: "promote x v3 to staging, sorry, y v3"
    # leaves open where y goes (both names stay, and the chat asks which one).
    last = max(corrected, key=lambda f: f.start)
    tail = before[last.start + len(last.said) :]
    if not re.fullmatch(
        r"(?:'s)?\s*(?:(?:v|version\s*)\d+)?\s*(?:card|model|one|details)?\W*", tail, re.I
    ):
        return text
    kept = before[: min(f.start for f in corrected)].rstrip()
    lead = re.match(r"(to|on|for|of|with|at)\b", after, re.I)
    if lead and re.search(rf"\b{lead.group(1)}$", kept, re.I):
        kept = kept[: -len(lead.group(1))].rstrip()  # "... to x v1 ... no wait, to y v3"
    return f"{kept} {after}".strip()


def parse_parts(text: str, context: ParseContext | None = None) -> list[Intent]:
    """One intent, or two for a two-part question ("which version of digits is serving and
    who promoted it?"); the second part may lean on a model the first one names."""
    ctx = context or ParseContext()
    text = runbook_words(text)
    if not is_french(text):
        return _mode_kept(text, _guard_kept(text, _parts_of(_guard_only_words(text), ctx)))
    parts = _parts_of(in_english(text), ctx)
    names = (*(ctx.models or ()), *(route for route, _ in ctx.routes or ()))
    if not says_only_a_plain_change(text, names) and any(
        part.kind in CHANGE_KINDS or getattr(part, "partial", None) for part in parts
    ):
        # "ne pas arrêter le canary", "on devrait arrêter le canary ... ?": a refusal, a
        # question, a condition, a time or a report the French words do not carry over.
        return [
            Unclear(
                reason="In French I read a change only when it is said plainly ('arrête le "
                "canary sur mnist-classifier', 'fais un rollback de mnist-cnn vers la v1'); "
                "this one refuses, asks, supposes or reports something, so I propose nothing."
            )
        ]
    return parts


def _guard_only_words(text: str) -> str:
    """ "v2 go in production with guard for automatic rollback": rollback words that only
    name the guard are no rollback (``_guard_kept`` then sets the guard on the promotion)."""
    if not P.wants_guard(text) or not has(P.ROLLBACK, text):
        return text
    rest = P.GUARD.sub(" guard ", text)
    promoted = has(P.PROMOTE, rest) or _GOES_TO_STAGE.search(rest)
    if has(P.ROLLBACK, rest) or not promoted or "?" in text:
        return text
    if not_asked_for(["promote", "rollback"], _GOES_TO_STAGE.sub(" promote to ", rest)):
        return text  # "Marco said v4 should go to production with auto-rollback": reported
    return rest


def _mode_kept(text: str, parts: list[Intent]) -> list[Intent]:
    """A canary read from one part of a message keeps the mode another part says: "make it v4
    and switch to split" after a shadow canary is a split."""
    canaries = [part for part in parts if isinstance(part, StartCanary)]
    # a mode only asked about ("Is shadow mode available?") or how a canary stands is none
    said = " ".join(
        s for s in re.split(r"(?<=[.!?;])\s+", command_words(text)) if not s.rstrip().endswith("?")
    )
    mode = mode_said(CANARY_STATE.sub(" ", said))
    if len(canaries) != 1 or mode is None or canaries[0].mode == mode:
        return parts
    return [
        part.model_copy(update={"mode": mode}) if part is canaries[0] else part for part in parts
    ]


def _as_sentences(text: str, ctx: ParseContext) -> str:
    """A request written as a list of two items ("Two things, please:\n- show x\n- the
    audit for it", "1. list Production\n2. then pending for x"), as two sentences; a heading
    that names a model stays in front of them, one that only introduces them (and a sign-off
    after them) goes."""
    items = _LIST_ITEM.findall(text)
    if len(items) != 2:
        return text
    first = _LIST_ITEM.search(text)
    heading = text[: first.start()].strip() if first is not None else ""
    last = list(_LIST_ITEM.finditer(text))[-1]
    trailer = text[last.end() :].strip()
    if (
        (heading and not _LIST_INTRO.match(heading))
        or (trailer and not _SIGN_OFF.match(trailer))
        or any(_ITEM_HELD.search(item) for item in items)
        or any(
            # "- roll back x?": asked about (unless the heading asks politely: "Could you:")
            item.rstrip().endswith("?")
            and not re.match(r"\W*(?:could|can|would)\s+you\b|\W*please\b", heading, re.I)
            and any(has(p, item) for p in (P.PROMOTE, P.ROLLBACK, P.STOP, P.CANARY))
            for item in items
        )
    ):
        return text  # a plan, a refusal, options, a question, items done: read as written
    said = [_ITEM_TAIL.sub("", item.strip()) for item in items]
    lead = heading if heading and _Reader(heading, ctx).found else ""
    stop = "" if said[0].endswith("?") else "."
    return f"{lead} {said[0]}{stop} {said[1]}".strip()


#: A heading that only introduces the requests below it: "Two things, please:", "Could you
#: please:", "Release checklist for today:" (never "Plan for tomorrow:", "Don't do these:",
#: "Options:", "Compare:").
_LIST_INTRO = re.compile(
    r"^\W*(?:(?:hi|hello|hey|ok|okay)\W+)?(?:(?:please|pls|could\s+you|can\s+you|would\s+you|"
    r"kindly)(?:\s+(?:please|also))?|(?:two|2|a\s+couple\s+of|some)\s+(?:quick\s+)?(?:things|asks|"
    r"requests|items)(?:,?\s+please)?|(?:release\s+)?checklist(?:\s+for\s+today)?|today|now|"
    r"for\s+[\w.]+-[\w.\-]+)\W*$",
    re.I,
)
#: What may follow a list's items: a thanks and a name.
_SIGN_OFF = re.compile(
    r"^\W*(?i:thanks?|thank\s+you|cheers|ty|thx|regards|best)(?i:\s+(?:a\s+lot|so\s+much))?[\s,.!]*"
    r"(?:\n?\s*[A-Z][a-z]+[\s.!]*)?$"
)
#: An item not asked now: asked about, done, struck, for later or under a condition.
_ITEM_HELD = re.compile(
    r"\((?:done|tomorrow|later|maybe)\)|~~|\[[ xX]\]|\b(?:if|once|after|unless|tomorrow|"
    r"later|next\s+\w+|or|when|before|rolled|promoted|stopped|reverted|started|shipped|no|not)\b"
    r"|[(\[:\-]\s*(?:done|postponed|cancell?ed|blocked|waiting|pending|skip(?:ped)?|wip)\b"
    r"|\b(?:done|postponed|cancell?ed|blocked|skip(?:ped)?|wip)\W*$|[\u2705\u2714\u2611]"
    r"|^\s*[A-Z][a-z]+\s*:",
    re.I,
)
#: One item of a list, on a line of its own: "- show x", "* audit", "1. list", "2) then ...".
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*\u2022]|\d+[.)])[ \t]+(.+)$", re.M)
#: What ends an item but not its request: ", and", "and", a full stop.
_ITEM_TAIL = re.compile(r"(?:[,;]?\s*\band\b)?[\s,.;]*$|(?<=\?)[\s,.;]*$", re.I)


def _guard_kept(text: str, parts: list[Intent]) -> list[Intent]:
    """A promotion read from one part of a message keeps the guard another part asks for:
    "promote x v2 to production, and have it roll back automatically if p99 goes over 50ms"."""
    promotions = [part for part in parts if isinstance(part, Promote)]
    if len(promotions) != 1 or not P.wants_guard(command_words(text)):
        return parts
    guarded = promotions[0].model_copy(update={"guard": True})
    # "... and have it roll back automatically if p99 > 50ms": the guard, no rollback (unless
    # a rollback is asked beside the guard's words: "roll back x now, then promote v4 ...")
    only_guard = not has(P.ROLLBACK, P.GUARD.sub(" ", command_words(text)))
    return [
        guarded if part is promotions[0] else part
        for part in parts
        if not (only_guard and isinstance(part, Rollback) and part.model == guarded.model)
    ]


def _parts_of(text: str, ctx: ParseContext) -> list[Intent]:
    """``parse_parts`` of a message in English."""
    text = _as_sentences(text, ctx)
    preface = _PREFACE.match(text)
    if preface and not _Reader(preface.group(0), ctx).found:
        text = text[preface.end() :] or text  # "three questions about x:" keeps x
    text = _DISMISSED.sub("", text)
    later = ASK_LATER.match(text)
    if later is not None and text[later.end() :].strip():
        text = text[later.end() :]  # "Before I ask for v4 to go to prod: is its card complete?"
    cancelled = CANCELLED.match(text.lstrip())
    if cancelled is not None:
        rest = _LEADING_JOIN.sub("", text.lstrip()[cancelled.end() :])
        if any(has(verb, rest) for verb in (P.PROMOTE, P.ROLLBACK, P.STOP, P.CANARY)):
            text = rest  # "cancel the rollback, promote v3 instead": the change asked after it
    if (clause := _KEPT_CANARY.search(text)) is not None:
        kept = (text[: clause.start()] + text[clause.end() :]).strip()
        if (has(P.ROLLBACK, kept) or has(P.PROMOTE, kept)) and not _Reader(
            clause.group(0), ctx
        ).found:
            text = kept  # "roll back x to v1, but leave the canary alone": the canary stays out
    text = _canary_state_left_out(text, ctx)
    alert = _ALERT_LINE.match(text)
    if alert is not None and text[alert.end() :].strip():
        # "FIRING: AccuracyDrop model=x acc=0.79\nRoll back x. Then audit it": the alert is
        # evidence; what follows it asks. A question naming no model is about the one model
        # the alert names ("...\nWhat's waiting?"); anything else is read with the alert.
        rest = text[alert.end() :].strip()
        named = {f.model for f in _Reader(alert.group(0), ctx).found}
        if _Reader(rest, ctx).found:
            text = rest
        elif (
            len(named) == 1
            and "?" in rest
            and not any(has(p, rest) for p in (P.PROMOTE, P.ROLLBACK, P.STOP, P.CANARY))
        ):
            text = f"{named.pop()}: {rest}"
    wanted = _UNWANTED.sub(" ", text).strip()
    if wanted and wanted != text.strip() and _Reader(wanted, ctx).found:
        text = wanted  # "Comparison with x is not needed. Only show y's card."
    asked = _asked_after(text, ctx)
    if asked != text:
        # "No canary, no promotion - just the card for x", "... but what I actually need is
        # the card for y": the question after the words around it. Words taken out of a
        # message never let what is left propose a change ("don't promote anything. Not even
        # x v3 to production"): then the whole message is read.
        parts = _checked_parts(asked, ctx)
        if not any(part.kind in CHANGE_KINDS for part in parts):
            return parts
        if _BUT_FIRST.search(text) and not _BUT_FIRST.search(asked):
            # "I want to promote x v4 but first, can you promote v3 to staging?": what is
            # asked first is asked now; the change meant for later is not
            return parts
    parts = _checked_parts(text, ctx)
    if asked == text and _BUT_FIRST.search(text) and any(p.kind in CHANGE_KINDS for p in parts):
        # "we're going to promote x v4 but first Ana needs to promote v3": nothing asked now
        return [not_asked_answer("tells of a change meant for later, after something else")]
    return _unconditioned(text, parts, ctx)


#: A word that can be a model's name or a version ("mnist-cnn", "v3"), kept from a canary's state.
_NAME_OR_VERSION = re.compile(r"\b(?:[a-z][\w.]*-[\w.\-]+|v\d+)\b", re.I)


#: A pasted alert on a line of its own, before what the message asks: "FIRING: ...", "[FIRING:1]
#: ...", "ALERT ...", "RESOLVED: ...".
_ALERT_LINE = re.compile(
    r"^(?:\W*(?:\[?(?:FIRING|RESOLVED)\b|ALERT\b|PagerDuty\b|PD\s+alert\b)[^\n]*\n)+", re.I
)


def _canary_state_left_out(text: str, ctx: ParseContext) -> str:
    """ "the canary on x is at 10%, stop it", "the canary is at 10%, bump it to 50%": how a
    canary stands is no share or change of its own; the change asked after it is read, on
    the canary (or, for a promotion or rollback asked after it, on the model it names)."""
    state = CANARY_STATE.search(text)
    if state is None:
        return text
    rest = text[state.end() :]
    if not any(has(verb, rest) for verb in (P.PROMOTE, P.ROLLBACK, P.STOP, P.CANARY, P.RESHARE)):
        return text
    # a promotion (to a stage it says) or a rollback, not a share ("bump it to 50")
    promoted = has(P.PROMOTE, rest) and (
        has(P.STAGE_WORD, rest)
        or re.search(r"\b(?:promote|ship|deploy|release|graduate)\b", rest, re.I) is not None
    )
    other_change = not has(P.CANARY, rest) and (promoted or has(P.ROLLBACK, rest))
    subject = "" if other_change else state.group(1)
    # "canary is live on x v3 at 5%": the names and versions it says stay, the share goes
    # ("canary is running behind the digits route - stop it": the route's model)
    said = [found.said for found in _Reader(state.group(3), ctx).found]
    named = " ".join(
        [*said, *(v for v in _NAME_OR_VERSION.findall(state.group(3)) if v not in said)]
    )
    return f"{text[: state.start()]}{subject}{state.group(2)} {named}{rest}"


def _unconditioned(text: str, parts: list[Intent], ctx: ParseContext) -> list[Intent]:
    """ "promote x v3 to production once the canary looks good": a change said with a
    condition is the change the rest of the message says, not what the condition mentions
    (the canary); "don't roll back x if the canary is fine" refuses. Only where the whole
    message reads as a change (taking the condition out never makes one), and never where
    the rest leans on what the condition names ("if mnist-cnn fails, roll it back")."""
    span = condition_span(text)
    changes = [p for p in parts if p.kind in CHANGE_KINDS or getattr(p, "partial", None)]
    if span is None or not changes:
        return parts
    condition = text[span[0] : span[1]]
    rest = f"{text[: span[0]].rstrip()} {text[span[1] :].lstrip(' ,')}".strip()
    if not rest:
        return parts
    again = _checked_parts(rest, ctx)
    kinds: list[str] = [part.kind for part in again if part.kind in CHANGE_KINDS]
    why = not_asked_for(kinds or list(CHANGE_KINDS), text if kinds else rest)
    if why is not None:
        return [not_asked_answer(why)]  # "don't roll back x if the canary is fine"
    if not any(has(p, rest) for p in (P.PROMOTE, P.ROLLBACK, P.STOP, P.CANARY)):
        return again  # "once we promote x v3, what serves?": the change is only supposed
    if _leans_on(condition, rest, again, ctx):
        return parts
    if kinds or any(getattr(part, "partial", None) for part in again):
        return again
    if _COMPARED_VERSION.search(condition):
        return again  # "retrain x and promote it if it beats v1": v1 is only the baseline
    # "if there's a canary on x, kill it": the condition says what the change is about.
    return parts


def _leans_on(condition: str, rest: str, again: list[Intent], ctx: ParseContext) -> bool:
    """Whether the rest of a message needs what its condition names: a model ("if mnist-cnn
    fails, roll it back"), a version ("if v4 is better, promote that"), a share or the
    critical requests of a route ("roll back whatever serves digits if it is critical")."""
    if _CONDITION_QUALIFIES.search(condition) or has(P.GUARD, condition):
        return True  # "..., and I'd feel better if it rolled itself back automatically"
    if (
        has(P.VERSION, _COMPARED_VERSION.sub(" ", condition))
        and not has(P.VERSION, rest)
        and _takes_a_version(again)
    ):
        return True  # "if v4 is better, promote that" (never "... if it beats v1": the baseline)
    if (
        has(P.PERCENT, condition)
        and not has(P.PERCENT, rest)
        and not (has(P.PROMOTE, rest) and has(P.STAGE_WORD, rest))
    ):
        # "if 10% holds, bump it": the share of the canary (never "..., promote v3 to
        # production", a promotion)
        return True
    if not _Reader(condition, ctx).found:
        return False
    return not _Reader(rest, ctx).found or _POINTS_BACK.search(rest) is not None


def _canary_only_supposed(text: str) -> bool:
    """Whether the canary of ``text`` is only in its condition, before a promotion: "if the
    shadow canary v3 is fine, promote it to production" promotes v3."""
    span = condition_span(text)
    if span is None:
        return False
    rest = f"{text[: span[0]]} {text[span[1] :]}"
    promoted = has(P.PROMOTE, rest) and (has(P.STAGE_WORD, rest) or _PROMOTE_WORD.search(rest))
    return not has(P.CANARY, rest) and not has(P.STOP, rest) and bool(promoted)


#: The verb itself (not "bump it", "push it further", which raise a canary's share).
_PROMOTE_WORD = re.compile(r"\bpromot", re.I)


def _takes_a_version(parts: list[Intent]) -> bool:
    """A promotion or a canary (read or half read): the version is part of the change."""
    kinds = ("promote", "canary")
    return any(
        part.kind in kinds or (isinstance(part, Unclear) and part.partial is not None)
        for part in parts
    )


#: The model under discussion, pointed at: "the audit for it", "anything change on it".
_ABOUT_IT = re.compile(
    r"\b(?:for|on|to|of|about|with|touched|changed)\s+(?:it|that\s+(?:one|model)|this\s+(?:one|model))\b",
    re.I,
)
#: A message that only adds the guard: "with the auto rollback thing on", "add the guard".
_GUARD_ADDED = re.compile(
    r"^\W*(?:(?:wait|ok|okay|actually|and|also|oh|pls|please|yes|yeah|but|sorry)\W+)*"
    r"(?:add|put|turn\s+on|enable|include|attach|set|with|plus)\b",
    re.I,
)
#: Words that take the change back or doubt it: never a guard added to it.
_NOT_ADDED = re.compile(
    r"\b(?:cancel|forget|never\s*mind|reject|rejected|nervous|wrong|not|no|don'?t|instead)\b", re.I
)
#: The guard said as a thing ("the rollback guard", "the auto-rollback feature"): its words
#: are no rollback verb.
_GUARD_NOUN = re.compile(
    r"\b(?:auto(?:matic)?[\s-]*)?roll[\s-]*back\s+(?:guard|thing|feature|option|protection|"
    r"safety\s+net)s?\b|\bguard(?:ed|s)?\b"
    # "does mnist-cnn have auto-rollback?", "is it on automatic rollback": the guard
    r"|\b(?:have|has|had|on|with|without|enable[sd]?)\s+(?:an?\s+|the\s+)?auto(?:matic)?[\s-]*"
    r"roll[\s-]*backs?\b",
    re.I,
)
#: A request by habit, not by its words: "do the usual for the classifier".
_THE_USUAL = re.compile(r"\b(?:do|run|same\s+as)\s+(?:the\s+)?usual\b", re.I)
#: Nothing but a window's filler words: "now 7d", "and the last 2 hours?", "ok, past week".
_ONLY_FILLER = re.compile(
    r"^\W*(?:(?:and|now|then|ok|okay|so|what|how|about|for|over|in|the|make|it|try|instead)\W+)*"
    r"(?:and|now|then|ok|okay|instead|it|that|the)?\W*$",
    re.I,
)
#: A version a condition compares with: "if it beats v1", "if it is better than v2".
_COMPARED_VERSION = re.compile(
    r"\b(?:beats?|than|outperforms?|over|against|vs\.?|versus)\s+(?:the\s+)?(?:v|version\s*)\d+\b",
    re.I,
)
#: Words in a condition that choose among what a route serves.
_CONDITION_QUALIFIES = re.compile(r"\b(?:critical|priority|header)\b", re.I)
#: Words in the rest of a message that point at something said elsewhere.
_POINTS_BACK = re.compile(r"\b(?:it|its|that|this|them|those|these|instead|same)\b", re.I)


#: A change the speaker means to make, after a question: "I want to promote x v4 but first,
#: how does it compare to prod?", "we'd like to roll back x - but first: who promoted v2?".
_BUT_FIRST = re.compile(
    r"^\W*(?:(?:i|we)\s*(?:want|'d\s+like|would\s+like|need|plan|intend|am\s+going|'m\s+going|are\s+going|"
    r"'re\s+going)\s+to\b[^.?!]*?)\bbut\s+(?:first|1st|before\s+that)\b\W*",
    re.I,
)


def _refusal_left_out(text: str, ctx: ParseContext) -> str:
    """ "How does x v3 compare with Production? Please do NOT promote it.", "Please do not roll
    back x. I only need to know whether it is up": a sentence that only refuses a change, beside
    a question that asks for none, is said so that nothing moves; the question is read (about
    the model the refusal names, if it names none)."""
    refusal = _REFUSAL_SENTENCE.search(text)
    if refusal is None:
        return text
    rest = (text[: refusal.start()] + " " + text[refusal.end() :]).strip()
    if not rest or any(has(p, rest) for p in (P.PROMOTE, P.ROLLBACK, P.STOP, P.CANARY)):
        return text
    sentences = [re.sub(r"^\W*step\s*\d+\W*", "", s, flags=re.I) for s in _SENTENCE.split(rest)]
    asks = "?" in rest or any(OPENS_ASK.match(s) for s in sentences)
    if not asks or ("?" not in rest and any(has(p, rest) for p in (P.STOP, P.CANARY))):
        return text  # "Test results ...: it fails. Do NOT promote it.": nothing else asked
    named = _Reader(refusal.group(0), ctx).named_model()
    if named is not None and not _Reader(rest, ctx).found:
        return f"{named}: {rest}"
    return rest


_SENTENCE = re.compile(r"(?<=[.!?])\s+")
#: A sentence that only refuses a change: "Please do NOT promote it.", "Don't approve them."
_REFUSAL_SENTENCE = re.compile(
    r"(?:^|(?<=[.!?])\s+)\W*(?:please\s+)?(?:do\s+not|don'?t|never)\s+(?:promote|roll|revert|stop|"
    r"approve|change|touch|start|proceed|canary|ship|deploy|move|do)\b[^.!?,;]*(?:[.!]+|$)",
    re.I,
)


def _asked_after(text: str, ctx: ParseContext) -> str:
    """The message after changes refused first, a remark before "what I need is", or context
    before a colon that asks ("Before the forms come through this week I should like to know
    where we stand: could you list the models in Production?")."""
    if (refused := _REFUSED_FIRST.match(text)) is not None:
        text = text[refused.end() :]
    colon = _CONTEXT_THEN_ASK.match(text)
    if (
        colon is not None
        and not _Reader(colon.group(1), ctx).found
        and not any(has(p, colon.group(1)) for p in (P.PROMOTE, P.ROLLBACK, P.STOP, P.CANARY))
        and not re.search(r"\d|percent|\bprod|\bstag|\bversion|\bnot\b|n't\b", colon.group(1), re.I)
    ):
        text = text[colon.end(1) + 1 :].strip()
    need = _WHAT_I_NEED.search(text)
    before = text[: need.start()] if need is not None else ""
    if (
        need is not None
        and (
            not any(has(p, before) for p in (P.PROMOTE, P.ROLLBACK, P.STOP))
            # "I was going to promote x v3 but what I actually need is ..."
            or _ONLY_MEANT.search(before) is not None
        )
        and _Reader(text[need.end() :], ctx).found
    ):
        text = text[need.end() :]
    text = _refusal_left_out(text, ctx)
    first = _BUT_FIRST.search(text)
    after = text[first.end() :] if first is not None else ""
    if first is not None and ("?" in after or OPENS_ASK.match(after)):
        # "I want to promote x v4 but first, how does it compare to prod?": the question is
        # asked now, about what the change names (unless it names its own); the change waits.
        said, own = _Reader(text[: first.end()], ctx), _Reader(after, ctx)
        named = [] if own.found else [said.named_model() or ""]
        if not own.versions():
            named += [f"v{v}" for v in said.versions()[:1]]
        text = f"{' '.join(named).strip()}: {after}".lstrip(": ")
    return text


def _checked_parts(text: str, ctx: ParseContext) -> list[Intent]:
    """The parts of ``text``, a change among them only when the message asks for it."""
    corrected = _said_again(text, ctx)
    parts = _parts(corrected, ctx)
    kinds: list[str] = [str(part.kind) for part in parts if part.kind in CHANGE_KINDS]
    kinds += [part.partial.kind for part in parts if isinstance(part, Unclear) and part.partial]
    if kinds and (why := not_asked_for(kinds, text)) is not None:
        # Whatever part read the change: the whole message refuses, holds, asks about it,
        # reports someone else's words or leaves the choice to the chat.
        return [not_asked_answer(why)]
    if (
        corrected == text
        and any(part.kind in CHANGE_KINDS for part in parts)
        and (again := _SAID_AGAIN.search(text)) is not None
        and not re.match(r"\s*it\b", text[again.end() :], re.I)
        # the words before the correction name a change and its model (not "to v1 i mean"
        # after a rollback: that corrects the message before)
        and _Reader(text[: again.start()], ctx).found
        and any(has(p, text[: again.start()]) for p in (P.PROMOTE, P.ROLLBACK, P.CANARY, P.STOP))
    ):
        # "canary 10% of x v1... no wait, y v3 at 50%", "promote x to staging, no wait, to
        # prod": a change corrected in a way not read with certainty is asked about, never
        # proposed as first said.
        return [
            Unclear(
                reason="That message corrects itself; say the change once as you mean it, "
                "e.g. 'promote mnist-cnn v3 to production'."
            )
        ]
    return parts


#: "promote x v2 to Production and v3 to Staging": one model, two versions each to a stage.
_TWO_PROMOTIONS = re.compile(
    r"^(?P<first>.*\bv\d+\s+(?:to|into)\s+(?:prod(?:uction)?|staging))\s*,?\s+and\s+"
    r"(?P<second>v\d+\s+(?:to|into)\s+(?:prod(?:uction)?|staging))\W*$",
    re.I,
)


#: A message that opens with the move it asks for ("promote ...", "please move ...").
_PROMOTE_FIRST = re.compile(
    r"^\W*(?:(?:please|pls|can\s+you|could\s+you|ok|so)\W+)*(?:promote|move|push|ship|deploy|put)\b",
    re.I,
)


def _two_promotions(text: str, ctx: ParseContext, whole: Intent) -> list[Intent] | None:
    """ "promote x v2 to Production and v3 to Staging": two promotions of the model the first
    names (None when the message is not one promotion followed by another version's)."""
    said = _TWO_PROMOTIONS.match(text.strip())
    if (
        said is None
        or not isinstance(whole, Promote)
        or len(re.findall(r"\bv\d+\b", text, re.I)) != 2
        or not _PROMOTE_FIRST.match(text)
        or not plainly_said(text)
    ):
        return None
    first = parse_intent(said.group("first"), ctx)
    if not isinstance(first, Promote) or first.model != whole.model:
        return None
    focus = ctx.focus.on(first.model, first.version).read(topic_of(first, said.group("first")))
    second = parse_intent(
        f"promote {said.group('second')}", ctx.model_copy(update={"focus": focus})
    )
    if not isinstance(second, Promote) or second.model != first.model:
        return None
    return [first, second]


def _parts(text: str, ctx: ParseContext) -> list[Intent]:
    topic = ctx.focus.topic
    if (
        topic.partial is not None
        and len([p for p in _SECOND_PART.split(text) if p.strip(" ,?")]) > 1
    ):
        # "never mind. mnist-cnn": only a message that is nothing but the missing piece
        # completes a change; one in parts is read as its own request.
        focus = ctx.focus.model_copy(update={"topic": topic.model_copy(update={"partial": None})})
        ctx = ctx.model_copy(update={"focus": focus})
    whole = parse_intent(text, ctx)
    if whole.kind != "unclear" and CORRECTION.match(text.strip()):
        return [whole]  # "sorry, wrong model. x, not y": one correction, not two parts
    if (both := _each_model(text, ctx, whole)) is not None:
        return both
    if (both := _two_models_compared(text, ctx, whole)) is not None:
        return both
    if (both := _two_promotions(text, ctx, whole)) is not None:
        return both
    pieces = [p.strip(" ,") for p in _SECOND_PART.split(text) if p.strip(" ,?")]
    pieces = [re.sub(r"^\W*(?:\(1\)|1\))\s*", "", p) or p for p in pieces]
    # "is x up? what version is it serving": a piece asked as a question keeps its "?".
    pieces = _asked(pieces, text)
    # "route digits -> mnist-classifier. compare v2 with v1 of that model": a pasted line,
    # whose model "that model" may be.
    lines = [p for p in pieces if _ROUTE_LINE.match(p)]
    if lines and len(lines) < len(pieces):
        pieces = [p for p in pieces if p not in lines]
        line = _ROUTE_LINE.match(lines[-1])
        # The route's model as the registry has it, not as the pasted line says.
        ctx = _leaning(line.group(1), ctx) if line else ctx
    # "ok, and which version is it serving": an acknowledgement is not a part; nor is an
    # urge after a request ("Restart x's worker. Do it.", "... Now!!").
    pieces = [p for p in pieces if not (S.GREETING.match(p) or _URGE.match(p))] or pieces
    if isinstance(whole, Unclear) and whole.needs in (None, "model"):
        # "This is my first time here, my lead told me to use it. What can you do for me?":
        # sentences of context around the one that asks.
        asking = [piece for piece in pieces if not remark(piece, text)]
        if (
            len(pieces) > 1
            and len(asking) == 1
            and (not whole.unknown or whole.unknown not in asking[0])
        ):
            alone = parse_intent(asking[0], ctx)
            if isinstance(alone, SelectModel):
                alone = _Reader(text, ctx).select()  # the context says the task and the goal
            if alone.kind != "unclear":
                return [alone]
    rest = pieces
    while len(rest) > 2 and remark(rest[0], text):
        rest = rest[1:]
    while len(rest) > 2 and remark(rest[-1], text) and not _Reader(rest[-1], ctx).found:
        rest = rest[:-1]  # "..., and then promote v4 instead? Sorry for the back and forth."
    if len(rest) == 2 and len(pieces) > 2:
        # "PAGER: p99 > 50ms. what's x serving + any changes?": context, then two requests
        # of different kinds (else the whole message is one request said in several parts).
        # (the second may lean on a model the first names: "... x went through. Which
        # version is serving it now?")
        one, other = parse_intent(rest[0], ctx), parse_intent(rest[1], _leaning(rest[0], ctx))
        kinds = {one.kind, other.kind}
        if len(kinds) == 2 and "unclear" not in kinds:
            pieces = rest
        elif one == other and isinstance(one, ServingStatus) and one.model is not None:
            # "don't roll back yet. first tell me what x is serving and whether a canary is
            # on": context, then one question asked twice
            return [one]
    if len(pieces) == 1 and len(pieces[0]) < len(text.strip(" ,?")):
        return [parse_intent(pieces[0], ctx)]
    if len(pieces) != 2:
        return [whole]
    first = parse_intent(pieces[0], ctx)
    if first.kind in ("list_models", "audit", "pending") and _ASKS_FOR_THOSE.match(pieces[1]):
        return [first]  # "... need everything that does feature extraction. Can you list those?"
    if _NUMBERED.search(text) and "unclear" not in (
        first.kind,
        (second := parse_intent(pieces[1], ctx)).kind,
    ):
        return [first, second]  # "(1) all models in production, (2) every change to x"
    model, version = getattr(first, "model", None), getattr(first, "version", None)
    if first.kind == "unclear":
        # "The canary for x v3 went well. Promote it to production": "it" is what the first
        # part names (a registry name only), even when that part asks nothing.
        said = _Reader(pieces[0], ctx)
        model, versions = said.named_model(), said.versions()
        version = versions[0] if len(versions) == 1 else None
    focus = ctx.focus.on(
        model if isinstance(model, str) else None, version if isinstance(version, int) else None
    )
    if not remark(pieces[0], text) or _Reader(pieces[0], ctx).found:
        # "is x live, and what about y?": the second part may be a follow-up of the first.
        # ("latency is worse. end it" after a canary question: a remark answers nothing,
        # and "it" is still the canary; a remark naming a model still moves the focus to it.)
        focus = focus.answered(first.kind).read(topic_of(first, pieces[0]))
    if SAME_FOR.search(pieces[1]) and (pasted := _pasted_change(pieces[0], ctx)) is not None:
        # "log: `promote x v1 -> Production by alice`. do the same for y v2": the change
        # the pasted line shows is what "the same" repeats (for the model the user names);
        # the line itself is evidence, not a request.
        focus = focus.read(topic_of(pasted, pieces[0]))
        repeated = parse_intent(pieces[1], ctx.model_copy(update={"focus": focus}))
        return [repeated]
    second = parse_intent(pieces[1], ctx.model_copy(update={"focus": focus}))
    if second.kind in CHANGE_KINDS and (why := not_asked_for([second.kind], pieces[1])):
        second = not_asked_answer(why)  # "ship x v2. is y on auto rollback?": asked about
    if (
        second.kind in CHANGE_KINDS
        and not _Reader(pieces[1], ctx).found
        and len({f.model for f in _Reader(pieces[0], ctx).found}) > 1
    ):
        # "compare x v3 with y v2 and if it looks ok promote it": "it" is either model.
        second = Unclear(
            reason="The first part names two models; which one should the change be for?",
            needs="model",
        )
    if (
        isinstance(second, Unclear)
        and second.partial is not None
        and second.partial.missing == "model"
        and first.kind != "unclear"
        and isinstance(model, str)
    ):
        # "promote x v2 to production, then start a 10% canary of v3": x's canary.
        partial = second.partial.model_copy(update={"model": model})
        second = _Reader(pieces[1], ctx).finish(partial)
    if (
        isinstance(whole, StartCanary)
        and isinstance(first, StartCanary)
        and whole.percent != first.percent
        and P.PERCENT.search(pieces[1])
        and second.kind not in CHANGE_KINDS
    ):
        # "... v4 in shadow mode, so it gets a copy of the traffic. Is possible with 25
        # percent?": the share said after the change is its share.
        return [whole]
    if (
        isinstance(first, ModelDetails)
        and isinstance(second, CompareVersions)
        and first.model == second.model
        and first.version in (second.version, second.against)
        and _IS_IT_GOOD.search(pieces[0])
    ):
        return [second]  # "x v2 is good? compare with v1 please": one comparison
    if (
        isinstance(first, CompareVersions)
        and isinstance(second, ModelDetails)
        and first.model == second.model
        and second.version in (first.version, first.against)
        and _IS_IT_GOOD.search(pieces[1])
    ):
        return [first]  # "difference between v4 and v2 of x? v4 is better?": one comparison
    if (
        _RESTATED.match(pieces[1])
        and first.kind not in ("unclear", *CHANGE_KINDS)
        and second.kind in ("serving", "model_info", "list_models", "select_model")
        and getattr(second, "model", None) in (None, getattr(first, "model", None))
    ):
        return [first]  # "which version of x serves? I mean, which one do requests go to?"
    if first == second and whole.kind == "unclear":
        return [first]  # "what is x serving, and is anything else loaded next to it?"
    for piece, part, other in ((pieces[0], first, second), (pieces[1], second, first)):
        if (
            part.kind == "unclear"
            and other.kind not in ("unclear", "out_of_scope", "help")
            and remark(piece, text)
        ):
            if whole.kind == other.kind and _within(other, whole):
                return [whole]  # "... batch scoring? it's classification": the task said after
            return [other]  # "x v4 failed its canary, we stopped it. what versions ...?"
    if (
        isinstance(first, Promote)
        and second.kind not in CHANGE_KINDS
        and P.wants_guard(pieces[1])
        and not _Reader(pieces[1], ctx).found
        and "?" not in pieces[1]
        and not re.search(
            r"\b(?:if|whether|remove|drop|disable|what|does|is|tell|how|why)\b", pieces[1], re.I
        )
    ):
        # "put v2 of x into production and set the auto rollback guard thing on it"
        return [first.model_copy(update={"guard": True})]
    if (
        isinstance(first, Unclear)
        and first.partial is not None
        and first.partial.missing == "model"
        and second.kind in CHANGE_KINDS
        and isinstance(second_model := getattr(second, "model", None), str)
        and not _Reader(pieces[0], ctx).found
    ):
        # "stop canary and roll back x to 1": the first change is on the model the second names
        first = _Reader(pieces[0], ctx).finish(
            first.partial.model_copy(update={"model": second_model})
        )
    if "unclear" in (first.kind, second.kind) or first == second:
        return [whole]
    if first.kind == "out_of_scope" and second.kind != "out_of_scope" and remark(pieces[0], text):
        return [second]  # "Hello, I am new in the team. Which questions can I ask you?"
    for part, other in ((first, second), (second, first)):
        if (
            isinstance(part, Unsupported)
            and part.action == "other"
            and other.kind in ("help", "out_of_scope")
        ):
            # "I'm new to this tool. What kinds of things can I ask you?", "draft a tweet
            # about the demo? Something upbeat.": a remark around the one request
            return [other]
    if _ANYTHING_AT_ALL.match(pieces[1]) and first.kind in ("audit", "list_models", "pending"):
        return [first]  # "What changed over the weekend? Anything at all."
    named = {f.model for f in _Reader(text, ctx).found}
    if isinstance(first, Unsupported) and first.model is None and len(named) == 1:
        # "delete v3 and canary v4 at 10% on x": the one model the message names.
        first = first.model_copy(update={"model": named.pop()})
    if (
        isinstance(second, ListModels)
        and second.stage == "Production"
        and second.task is None
        and isinstance(model, str)
        and has(P.SERVING, pieces[1])
        and not re.search(
            r"\b(?:models|all|every\w*|each|anything)\b|\bin\s+prod(?:uction)?\b", pieces[1], re.I
        )
        and not _WHOLE_STAGE.match(pieces[1])
    ):
        # "stop the canary on x, then show me what's serving": what serves x now.
        second = ServingStatus(model=model)
    if isinstance(first, ListModels) and isinstance(second, SelectModel) and second.task is None:
        # "list the feature extraction models and recommend one": one of those.
        second = second.model_copy(update={"task": first.task})
    if isinstance(second, AuditLog) and second.model is None and _BARE_AUDIT.match(pieces[1]):
        # "x card and history": the history of the model the first part names.
        second = second.model_copy(update={"model": focus.model})
    elif (
        isinstance(second, AuditLog)
        and second.model is None
        and isinstance(model, str)
        and first.kind in (*CHANGE_KINDS, "serving", "model_info")
        and not _Reader(pieces[1], ctx).found
        and not _EVERY_MODEL.search(pieces[1])
    ):
        # "roll x back to v1 and then show me the audit from the last 30 min", "x up? + audit
        # last 30m": the history of the model the first part is about
        second = second.model_copy(update={"model": model})
    if (
        isinstance(first, ServingStatus)
        and isinstance(second, ModelDetails)
        and (second.model, second.version) == (first.model, None)
        and _WHICH_VERSION.search(pieces[1])
    ):
        return [first]  # "which model answers digits requests, and which version of it?"
    if (
        isinstance(first, ServingStatus)
        and first.model is not None
        and isinstance(second, ListModels)
        and second.task is None
        and not re.search(r"\bmodels\b", pieces[1], re.I)
        and not _WHOLE_STAGE.match(pieces[1])
    ):
        return [first]  # "which version is prod for x and which is stg": one serving view
    if (
        isinstance(first, ServingStatus)
        and isinstance(second, ModelDetails)
        and (second.model, second.version) == (first.model, None)
        and _HOW_IT_GOES.search(pieces[1])
    ):
        return [first]  # "is there a canary on x? how's it looking": one serving answer
    if first.kind == "model_info" and _OF_EACH.search(pieces[1]):
        return [first]  # "x - which versions exist and which stage is each in": one view
    for piece, part, other in ((pieces[0], first, second), (pieces[1], second, first)):
        # "x v4 is junk, delete it and promote v3": a refused action is still asked for.
        if (
            remark(piece, text)
            and not (part.kind == "unsupported" and _asks_in_a_clause(piece))
            and other.kind not in ("out_of_scope", "help")
        ):
            # "... I just joined the team.", "alerts firing on everything", "nobody uses it":
            # said around the request, asking nothing; the request is the other part.
            if getattr(other, "model", None) is None and getattr(whole, "model", None) is not None:
                # "critical traffic goes where right now? X-Priority: critical on digits":
                # the remark names what the request is about.
                return [whole]
            return [whole] if whole.kind == other.kind else [other]
    for part, piece, other in ((first, pieces[0], second), (second, pieces[1], first)):
        if (
            part.kind == "rollback"
            and not has(P.ROLLBACK, piece)
            and other.kind not in CHANGE_KINDS
        ):
            # "paged for x p99 alerts. who touched x?": the incident is context, the ask a question.
            return [other]
    if (
        isinstance(first, ListModels)
        and isinstance(second, ListModels)
        and None not in (first.stage, second.stage)
        and first.stage != second.stage
        and first.task == second.task
    ):
        return [first, second]  # "what's in prod and what's in staging?": both lists
    if first.kind == second.kind and first.kind in ("select_model", "list_models", "help"):
        # "I need a fast model. suggestions?" is one request ("... batch scoring? it's
        # classification": the whole message says the task)
        return [whole]
    if first.kind == second.kind and _within(second, first):
        return [first]  # "is v3's card complete? heard prod needs one": a remark, one ask
    if first.kind == second.kind and _within(first, second):
        return [second]  # "every promotion and rollback made this week": one history
    if whole.kind in CHANGE_KINDS and whole in (first, second):
        other = second if whole == first else first
        asked = pieces[1] if whole == first else pieces[0]
        if (
            other.kind in ("model_info", "serving")
            and not _SHOW_FIRST.match(asked)
            # "is the canary on x still on? if so turn it off": a question, then the change
            and not (
                whole == second
                and isinstance(second, StopCanary)
                and _IF_SO.match(pieces[1])
                and asked.rstrip().endswith("?")
                and has(P.CANARY, asked)
            )
            # "kill the canary on x, then tell me what's live": a question asked after
            and not (
                whole == first
                and other.kind == "serving"
                and re.match(r"^\W*(?:(?:and|then)\W+)?(?:tell|show|what|which)\b", asked, re.I)
            )
        ):
            return [whole]  # "x is throwing 500s. rollback!!!": the incident, then the ask
    return [first, second]


def _leaning(piece: str, ctx: ParseContext) -> ParseContext:
    """The context for the part after ``piece``: "it" may be the one model ``piece`` names."""
    model = _Reader(piece, ctx).named_model()
    return ctx.model_copy(update={"focus": ctx.focus.on(model)}) if model else ctx


def _asks_in_a_clause(piece: str) -> bool:
    """A clause of ``piece`` opens with a request ("x is junk, delete it")."""
    return any(OPENS_ASK.match(clause) for clause in re.split(r",\s*", piece)[1:])


#: "Anything at all." after a question: the same question, said wider.
_ANYTHING_AT_ALL = re.compile(
    r"^\W*(?:anything|something|any\s+changes?)\s+at\s+all\b(?:\s+in\s+the\s+registry)?\W*$", re.I
)

#: A change asked for on the answer to the question before it: "if so, turn it off".
_IF_SO = re.compile(r"^\W*if\s+(?:so|yes|it\s+is|they\s+are)\b", re.I)

#: "show me x v2's card and then put it in Production": a view asked for before the change.
_SHOW_FIRST = re.compile(
    r"^\W*(?:(?:please|pls|first|can you|could you)\s+)*(?:show|display|open|pull up|give)\b",
    re.I,
)

#: "how's it looking", "how is that doing", "how are things going": how it serves.
_HOW_IT_GOES = re.compile(
    r"^\W*(?:and\s+|so\s+)?how\W*s?\s+(?:is\s+|are\s+)?(?:it|that|this|things?|they)\s+"
    r"(?:look|do|go|hold|behav|perform)\w*\W*$",
    re.I,
)


#: A part that only names the history ("and history", "the audit log please").
#: Words that ask about every model: "the whole registry", "all models", "anything".
_EVERY_MODEL = re.compile(
    r"\b(?:all|every\w*|each|whole|registry|any\s+model|other\s+models?|across|else|elsewhere|"
    r"anywhere|team|anyone|everyone|people|promotions)\b",
    re.I,
)
_BARE_AUDIT = re.compile(
    r"^\W*(?:the\s+)?(?:history|audit(?:\s+log|\s+trail)?|changelog)\W*(?:please|pls|too)?\W*$",
    re.I,
)

#: "... and which version of it?": the version a serving answer gives.
_WHICH_VERSION = re.compile(r"^\W*(?:and\s+)?(?:which|what)\s+version\b", re.I)

#: "... and which stage is each in": the stages of the versions just asked for.
_OF_EACH = re.compile(r"\b(?:stage|stages)\b.*\b(?:each|them|they|those)\b", re.I)


def _each_model(text: str, ctx: ParseContext, whole: Intent) -> list[Intent] | None:
    """ "metrics for mnist-cnn and digits-encoder please": the same question about each of
    two models the message joins with "and" (None when it is not that)."""
    if whole.kind not in ("model_info", "serving", "audit") or getattr(whole, "version", None):
        return None
    reader = _Reader(text, ctx)
    found = list({f.model: f for f in reader.found}.values())
    if len(found) != 2 or getattr(whole, "model", None) != found[0].model:
        return None
    between = reader.text[found[0].start + len(found[0].said) : found[1].start]
    words = [w.lower() for w in re.findall(r"[A-Za-z]+|&", between)]
    # "x's card and also the y one", "metrics for x, then y too": the same ask, joined.
    if words and not (set(words) <= _JOINING and _JOINED.intersection(words)):
        return None
    return [whole, whole.model_copy(update={"model": found[1].model})]


#: Words that join a second model to the same ask ("and", "also", "as well as", "then").
_JOINED = frozenset(["and", "&", "plus", "also", "then", "well"])
#: ... and the words of the ask itself, repeated or implied, between the two names.
_JOINING = _JOINED | frozenset(
    [
        *("s", "as", "the", "for", "of", "on", "about", "too", "card", "cards", "model"),
        *("details", "info", "information", "metrics", "history", "audit", "versions"),
        *("status", "please", "pls"),
    ]
)


def _two_models_compared(text: str, ctx: ParseContext, whole: Intent) -> list[Intent] | None:
    """ "compare mnist-cnn with digits-encoder", "which is more accurate, x or y?": two models
    (not two versions of one) side by side: each one's details, whose metrics answer it."""
    if whole.kind not in ("model_info", "compare", "select_model") or P.VERSION.search(text):
        return None
    if not (has(P.COMPARE, text) or _WHICH_OF.search(text)) or _OWN_CHECK.search(text):
        return None
    found = list({f.model: f for f in _Reader(text, ctx).found}.values())
    if len(found) != 2:
        return None
    return [ModelDetails(model=found[0].model), ModelDetails(model=found[1].model)]


#: A comparison the asker will make ("I'll check it against y myself"): not asked for.
_OWN_CHECK = re.compile(
    r"\b(?:i'll|i\s+will|i'm\s+going\s+to|i\s+am\s+going\s+to|we'll|we\s+will)\s+"
    r"(?:\w+\s+){0,2}?(?:check|compare|diff|look|verify|test)\b",
    re.I,
)
#: "which is more accurate, x or y?", "x or y - which one is faster?"
_WHICH_OF = re.compile(
    r"\b(?:which|what)\b.*\b(?:more|less|better|worse|faster|slower|bigger|smaller)\b.*\bor\b"
    r"|\bor\b.*\b(?:which|what)\s+(?:one\s+)?(?:is|has)\b",
    re.I,
)


def _pasted_change(piece: str, ctx: ParseContext) -> Intent | None:
    """The change a pasted fragment of ``piece`` shows, read as words; None without one."""
    if not CODE.search(piece):
        return None
    shown = parse_intent(CODE.sub(lambda m: f" {m.group(1)} ", piece), ctx)
    return shown if shown.kind in CHANGE_KINDS else None


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

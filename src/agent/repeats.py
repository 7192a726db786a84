"""Follow-ups that repeat the request before with one thing changed: "do the same for
mnist-cnn v2" (that request, for another model), "what about v4?" right after a comparison
(v4 against the same baseline), "to v1 specifically" right after a rollback (its target),
"no sorry, I meant mnist-classifier" (the request before, for the model meant).
A change read here is still only proposed; a human approves it."""

from __future__ import annotations

import re

from agent import phrases as P
from agent.follow_ups import FollowUpReading
from agent.intents import (
    CHANGE_KINDS,
    AuditLog,
    CompareVersions,
    Intent,
    ModelDetails,
    PendingApprovals,
    Promote,
    Rollback,
    ServingStatus,
    StartCanary,
    StopCanary,
    Unclear,
)
from agent.slots import stage_of

#: "do the same for x", "same thing with x", "likewise for x", "repeat that for x".
SAME_FOR = re.compile(
    r"\b(?:(?:do|repeat|apply)\s+(?:the\s+same|that|this|it)(?:\s+thing)?|(?:the\s+)?same\s+thing"
    r"|(?:the\s+)?same|likewise|ditto)\s+(?:for|with|on|to)\b"
    # "and for digits-encoder same", "for mnist-cnn the same pls"
    r"|^\W*(?:and\s+)?(?:for|with)\s+[\w.\-]+\s+(?:the\s+)?same(?:\s+(?:please|pls))?[\s.!]*$",
    re.I,
)
#: "see the same information for x", "the same report about x": the reading before (never a
#: change) for another model.
SAME_INFO_FOR = re.compile(
    r"\b(?:the\s+)?same\s+(?:info(?:rmation)?|details|report|overview|request|query|question)\s+"
    r"(?:for|on|about)\b",
    re.I,
)
#: A read narrowed to one model, said alone: "only mnist-classifier" after "audit --since 24h".
_ONLY_FOR = re.compile(r"^\W*(?:only|just)\s+(?:for\s+|on\s+)?(?:the\s+)?[\w.\-]+\W*$", re.I)
#: What takes back the name just said: "cancel that", "scratch that", "wrong model".
_TAKE_BACK = r"(?:cancel|scratch|ignore|forget)\s+that|wrong\s+(?:model|one|name)"
#: A correction of the model just named: "no sorry, I meant x", "oops, x", "I mean x v2",
#: "wait no, cancel that -- wrong model, I meant x", "scratch that, x".
CORRECTION = re.compile(
    rf"^\W*(?:(?:no|nope|sorry|oops|wait|actually|my bad|err?m?|{_TAKE_BACK})\W+)*"
    rf"(?:(?:i\s+)?(?:meant|mean)\s+|(?:sorry|oops|my bad|{_TAKE_BACK})\W+)"
    r"(?:the\s+)?[\w.\-]+(?:\s+(?:v|version\s*)\d+)?(?:\s+(?:instead|please|pls))*"
    # "..., mnist-classifier, not encoder": the one meant, then the one not meant.
    r"(?:\W+not\s+(?:the\s+)?[\w.\-]+)?\W*$",
    re.I,
)
_FILLER = r"(?:(?:and|but|no|ok|okay|so|then|actually|please|pls|now|hmm+|uh|um|wait)\W+)*"
_AFTER = (
    r"(?:\s+(?:specifically|exactly|only|instead|please|pls|then|though|rather|too|"
    r"i\s+mean|i\s+meant))*"
    # "to version 1 specifically, not whatever the default target is"
    r"(?:\s*[,;-]+\s*not\s+[^,.;!?]{1,60})?\W*$"
)
_VERSION = r"(?:the\s+)?(?:v|version\s*|ver\.?\s*)\d+\b"
#: Only a rollback's target: "to v1 specifically", "back to version 2 please".
_TARGET_ONLY = re.compile(rf"^\W*{_FILLER}(?:back\s+)?(?:to|onto)\s+{_VERSION}{_AFTER}", re.I)
#: Only another version: "what about v4?", "and version 5?", "v6 then?".
_VERSION_ONLY = re.compile(
    rf"^\W*{_FILLER}(?:(?:what|how)\s+about\s+|same\s+(?:(?:comparison|check|thing)\s+)?(?:with|for)\s+|"
    r"with\s+|try\s+|"
    # "and how does v4 look against the same baseline?"
    r"how\s+(?:does|do|did|would)\s+)?"
    rf"{_VERSION}(?:\s+(?:look|do|fare|compare)s?)?"
    # "now v4 against the same": the baseline kept
    r"(?:\s+(?:against|vs\.?|versus|with|to|compared\s+(?:to|with))\s+the\s+same"
    r"(?:\s+(?:one|baseline|version|thing))?)?"
    rf"{_AFTER}",
    re.I,
)
#: Only another baseline: "against v1?", "what about vs version 2?".
_AGAINST_ONLY = re.compile(
    rf"^\W*{_FILLER}(?:(?:what|how)\s+about\s+)?(?:against|vs\.?|versus|with|compared\s+(?:to|with))"
    rf"\s+(?:{_VERSION}|(?:the\s+)?(prod(?:uction)?|staging)(?:\s+(?:one|version))?\b){_AFTER}",
    re.I,
)

#: Only whether it serves: "serving?", "and is it live?", "up?".
_SERVING_ONLY = re.compile(
    r"^\W*(?:and\s+|but\s+)?(?:is\s+it\s+|is\s+that\s+|it'?s\s+)?(?:serving|live|up|deployed)\W*$",
    re.I,
)
#: Another stage for the promotion just asked: "Wait. Not Production, Staging.", "not to prod,
#: staging please".
_STAGE_CORRECTED = re.compile(
    r"^\W*(?:(?:wait|sorry|oops|no|nope|actually|hmm+|err?m?)\W+)*not\s+(?:to\s+)?"
    r"(prod(?:uction)?|staging)\W+(?:(?:but|i\s+mean|rather)\s+)?(?:to\s+|in\s+|into\s+)?"
    r"(prod(?:uction)?|staging)(?:\s+(?:please|pls|instead))*[\s.!]*$",
    re.I,
)
#: Another version for the change just asked: "no wait v3", "sorry v1!! not v2", "make
#: that version 5".
_VERSION_CORRECTED = re.compile(
    # a bare "no v3 please" refuses v3: a correction word must say it is one
    r"^\W*(?:(?:no|nope)\W+)?(?:(?:wait|sorry|oops|actually|err?m?|hmm+|i\s+mean|i\s+meant|on\s+reflection|"
    r"make\s+(?:that|it)|correction|typo)\W+)+(?:the\s+)?(?:v|version\s*)(\d+)\b"
    r"(?:\W+not\s+(?:the\s+)?(?:v|version\s*)\d+\b)?(?:\W+(?:instead|please|pls|sorry))*[\s.!,]*$",
    re.I,
)

#: Another measure of the comparison just made: "what about latency, is it slower?".
_MEASURE_ONLY = re.compile(
    rf"^\W*{_FILLER}(?:(?:what|how)\s+about\s+(?:the\s+)?(?:latency|accuracy|speed|p\d+|loss|f1|"
    r"size|memory|throughput)\b|(?:is|was)\s+it\s+(?:any\s+)?(?:slower|faster|better|worse|"
    r"more accurate|less accurate|bigger|smaller)\b)",
    re.I,
)


class RepeatReading(FollowUpReading):
    """The request before, repeated with what this message changes."""

    def repeated(self) -> Intent | None:
        """None when the message is not such a follow-up."""
        topic = self.focus.topic
        if topic.kind is None or self.unknown is not None:
            return None
        if (
            _SERVING_ONLY.match(self.text)
            and not self.found
            and topic.model is not None
            and topic.kind not in CHANGE_KINDS
        ):
            return ServingStatus(model=topic.model)  # "serving?" after x's card: what serves x
        if (
            topic.kind == "promote"
            and topic.model is not None
            and not self.found
            and (stage := _STAGE_CORRECTED.match(self.text)) is not None
        ):
            ref = self.focus.proposal
            version = ref.version if ref is not None and ref.model == topic.model else None
            if stage_of(stage.group(1)) != stage_of(topic.stage or "Production"):
                return None  # "no, not staging, production" after a move to Production: no news
            if version is None:
                return Unclear(
                    reason=f"Which version of {topic.model}? e.g. 'promote "
                    f"{topic.model} v3 to {stage_of(stage.group(2))}'."
                )
            return Promote(
                model=topic.model,
                version=version,
                stage=stage_of(stage.group(2)),
                guard=ref is not None and ref.guard,
            )
        if (
            topic.kind in ("promote", "canary", "rollback")
            and topic.model is not None
            and not self.found
            and (other := _VERSION_CORRECTED.match(self.text)) is not None
        ):
            return self.corrected_version(topic.kind, topic.model, int(other.group(1)))
        versions = [int(m.group(1)) for m in P.VERSION.finditer(self.text)]
        corrected = CORRECTION.match(self.text) is not None
        same_info = (
            SAME_INFO_FOR.search(self.text) or _ONLY_FOR.match(self.text)
        ) and topic.kind not in CHANGE_KINDS
        if (SAME_FOR.search(self.text) or same_info or corrected) and len(
            {f.model for f in self.found}
        ) == 1:
            return self.same_for(self.found[0].model, versions[0] if versions else None)
        against = _AGAINST_ONLY.match(self.text)
        if (
            topic.kind == "compare"
            and topic.model
            and against
            and against.group(1)
            and not versions
        ):
            # "against production instead": the version shown against that stage's.
            staged = self.ctx.stage_version(topic.model, stage_of(against.group(1)))
            versions = [staged] if staged is not None else []
        if (
            topic.kind == "compare"
            and topic.model
            and not self.found
            and not versions
            and self.focus.model == topic.model
            and self.focus.version is not None
            and _MEASURE_ONLY.match(self.text)
        ):
            # "what about latency, is it slower?": the same two versions, read again.
            return CompareVersions(
                model=topic.model, version=self.focus.version, against=topic.against
            )
        if self.found or topic.model is None or len(versions) != 1:
            return None
        version = versions[0]
        if topic.kind == "rollback" and _TARGET_ONLY.match(self.text):
            return Rollback(model=topic.model, to_version=version)
        if topic.kind == "model_info" and against and self.focus.model == topic.model:
            # "and compared with v2?" right after v4's card: v4 against v2.
            shown = self.focus.version
            if shown is not None and shown != version:
                return CompareVersions(model=topic.model, version=shown, against=version)
        if topic.kind == "compare" and against:
            shown = self.focus.version if self.focus.model == topic.model else None
            if shown is not None and shown != version:
                return CompareVersions(model=topic.model, version=shown, against=version)
        if topic.kind == "compare" and _VERSION_ONLY.match(self.text):
            baseline = topic.against if topic.against != version else None
            return CompareVersions(model=topic.model, version=version, against=baseline)
        return None

    def corrected_version(self, kind: str, model: str, version: int) -> Intent:
        """The change just asked, with the version this message says instead ("no wait v3"
        after "canary x v4 at 10%": v3 at 10%)."""
        topic = self.focus.topic
        if kind == "rollback":
            held = self.ctx.stage_version(model, "Production")
            if held is not None and version > held:
                return Unclear(
                    reason=f"v{version} of {model} is newer than Production's v{held}: a "
                    f"rollback goes back to an earlier version: say 'roll back {model}' for "
                    "the version before it, or 'promote "
                    f"{model} v{version} to production' to move forward."
                )
            return Rollback(model=model, to_version=version)
        if kind == "promote":
            ref = self.focus.proposal
            return Promote(
                model=model,
                version=version,
                stage=stage_of(topic.stage) if topic.stage else "Production",
                guard=ref is not None and ref.kind == "promote" and ref.guard,
            )
        if topic.percent is None:
            return Unclear(
                reason=f"What share of traffic? e.g. 'canary {model} v{version} at 10%'."
            )
        mode = self.focus.proposal.mode if self.focus.proposal is not None else None
        return StartCanary(
            model=model, version=version, percent=topic.percent, mode=mode or "split"
        )

    def same_for(self, model: str, version: int | None) -> Intent | None:
        """ "do the same for x v2": the request before (its kind, stage, share, time window),
        for the model and version this message names."""
        topic = self.focus.topic
        match topic.kind:
            case "promote":
                if version is None:
                    return Unclear(reason=f"Which version of {model}? e.g. 'promote {model} v3'.")
                stage = stage_of(topic.stage) if topic.stage else "Production"
                return Promote(model=model, version=version, stage=stage)
            case "rollback":
                return Rollback(model=model, to_version=version)
            case "canary":
                if version is None or topic.percent is None:
                    return Unclear(
                        reason=f"Which version of {model}? e.g. 'canary {model} v3 at 10%'."
                    )
                return StartCanary(model=model, version=version, percent=topic.percent)
            case "stop_canary":
                return StopCanary(model=model)
            case "audit":
                return AuditLog(model=model, since_minutes=self.since or topic.since_minutes)
            case "serving":
                return ServingStatus(model=model)
            case "model_info":
                return ModelDetails(model=model, version=version)
            case "pending":
                return PendingApprovals(model=model)
        return None

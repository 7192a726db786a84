"""Reading a request for a change (promote, roll back, start or stop a canary): the slots
each needs, or a question back when one is missing. A change read here only ever becomes a
proposal that a human approves."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import ValidationError

from agent import phrases as P
from agent.entities import Found
from agent.focus import PartialChange
from agent.intents import (
    Intent,
    Promote,
    Rollback,
    ServingStatus,
    StartCanary,
    StopCanary,
    Unclear,
    Unsupported,
)
from agent.slots import Slots, default_stage, has, split_why, stage_of
from agent.tool_results import StageName


class ChangeReading(Slots):
    """Changes, on top of the message's slots."""

    def oncall(self) -> bool:
        """ "URGENT x is returning garbage, roll back!!!", "prod is broken, revert digits now"."""
        t = self.text
        if has(P.ROLLBACK, t) or has(P.PENDING, t) or has(P.HISTORY_QUESTION, t):
            return False
        if has(P.AUDIT, t):
            return False  # "change history of x for the incident report": history asked
        if has(P.CANARY, t) or has(P.PROMOTE, t):
            # "kill the canary, it is throwing 500s", "make staging the new production
            # asap": the change it names
            return False
        if not has(P.ONCALL, t):
            return False
        said = {int(v) for v in re.findall(r"\b(?:v|version\s*)(\d+)\b", t, re.I)}
        live = {version for _, stage, version in self.ctx.stages if stage == "Production"}
        if said and not said & live:
            return False  # "no, v4 is broken": a version not serving, nothing to roll back
        question = re.match(r"^\s*(?:is|are|was|did|what|which|why|who|when|how)\b", t, re.I)
        if _ASKS_LAST.search(t) or _ASKS_SERVING_LAST.search(t):
            return False  # "PROD IS BROKEN!!! what version is serving??": asked in a panic
        if t.rstrip().endswith("?") and not has(P.ACT_NOW, t):
            return False  # "mnist-cnn is down?": asked, not a plea to act
        return not question or has(P.ACT_NOW, t) is not None

    def completed(self) -> Intent | None:
        """ "mnist-cnn" after "promote v4" was answered with "which model?", "20 percent,
        real traffic" after "what share?": the change asked for, with what was missing (None
        unless the message gives only that: a question, a negation or any other word makes
        it a message of its own)."""
        partial = self.focus.topic.partial
        t = self.text
        if partial is None or "?" in t or _LEFT_OVER.search(_slots_removed(t, self.found)):
            return None
        if re.search(
            r"\b(?:not|no|never|don'?t)\b(?!\s+(?:in\s+|as\s+)?(?:a\s+)?(?:shadow|mirror))", t, re.I
        ):
            return None  # "not mnist-cnn", "no": not an answer (only "not shadow" is a mode)
        versions = [int(m.group(1)) for m in P.VERSION.finditer(t)]
        number = re.fullmatch(r"\W*(\d+(?:\.\d+)?)\W*", t)
        percent = P.PERCENT.search(t)
        staged = _STAGE_SAID.search(t)
        update: dict[str, object] = {}
        match partial.missing:
            case "model":
                if len({found.model for found in self.found}) != 1 or len(versions) > 1:
                    return None
                update["model"] = self.found[0].model
                if versions:
                    # "mnist-cnn v1" after "roll back": its target
                    update["to_version" if partial.kind == "rollback" else "version"] = versions[0]
            case "version":
                said = versions
                if number is not None and "." not in number.group(1):
                    said = [*said, int(number.group(1))]
                if not said and staged and partial.model is not None and partial.stage != "Staging":
                    # "the staging one" for Production: the version the registry (as last
                    # read) holds there; never the target stage's own version
                    held = self.ctx.stage_version(partial.model, stage_of(staged.group(1)))
                    if stage_of(staged.group(1)) == "Staging" and held is not None:
                        said = [held]
                    staged = None
                if self.found or percent or len(said) != 1:
                    return None
                update["version"] = said[0]
            case "percent":
                share = percent or number
                if self.found or versions or share is None:
                    return None
                update["percent"] = float(share.group(1))
        if staged is not None and partial.kind == "promote":
            target = stage_of(staged.group(1))
            if target in ("Production", "Staging"):
                update["stage"] = target  # "mnist-cnn to staging"
        if (mode := mode_said(t)) is not None:
            update["mode"] = mode
        return self.finish(partial.model_copy(update=update))

    def finish(self, partial: PartialChange) -> Intent:
        """The change, once every slot it needs is there; else the next question back."""
        try:
            return self._finished(partial)
        except ValidationError:
            return Unclear(reason="That names a version or share I cannot use.")

    def _finished(self, partial: PartialChange) -> Intent:
        model = partial.model
        if model is None:
            return Unclear(reason="Which model?", needs="model", partial=partial)
        match partial.kind:
            case "stop_canary":
                return StopCanary(model=model)
            case "rollback":
                return Rollback(model=model, to_version=partial.to_version)
            case "promote":
                stage = partial.stage or "Production"
                if partial.version is None:
                    return self.which_version(model, stage)
                return Promote(model=model, version=partial.version, stage=stage)
        if partial.version is None or partial.percent is None or not 0 < partial.percent <= 100:
            missing = "version" if partial.version is None else "percent"
            question = (
                f"Which version of {model}" if missing == "version" else "What share of traffic"
            )
            return Unclear(
                reason=f"{question}? e.g. 'canary {model} v{partial.version or 3} at 10%'.",
                partial=partial.model_copy(update={"missing": missing, "percent": None}),
            )
        return StartCanary(
            model=model,
            version=partial.version,
            percent=partial.percent,
            mode=partial.mode or "split",
        )

    def reshare(self) -> StartCanary | None:
        """ "looks fine so far, bump it to 50" right after a canary was proposed: that
        canary's new share, not a promotion (None when the message is not that)."""
        ref = self.focus.proposal
        topic = self.focus.topic
        if (
            ref is not None
            and ref.kind == "canary"
            and ref.status == "waiting"
            and topic.kind == "canary"
            and topic.model == ref.model
            and (fixed := _SHARE_CORRECTED.match(self.text)) is not None
            and topic.percent is not None
            and float(fixed.group(2)) == topic.percent
            and 0 < float(fixed.group(1)) < 100
        ):
            # "sorry, 15 not 20" right after "bump it to 20%": the share meant
            return StartCanary(
                model=ref.model, version=ref.version, percent=float(fixed.group(1)), mode=ref.mode
            )
        if (
            ref is not None
            and ref.kind == "canary"
            and ref.status == "waiting"
            and (same := _SAME_BUT_MODE.match(self.text)) is not None
            and topic.kind == "canary"
            and topic.model == ref.model
            and topic.percent is not None
            and (same.group(1).lower() != "split" or topic.percent < 100)
        ):
            # "same but shadow" right after a 15% split canary: 15%, shadowed
            mode: Literal["split", "shadow"] = (
                "split" if same.group(1).lower() == "split" else "shadow"
            )
            return StartCanary(
                model=ref.model, version=ref.version, percent=self.focus.topic.percent, mode=mode
            )
        if ref is None or ref.kind != "canary" or has(P.RESHARE, self.text) is None:
            return None
        if P.STAGE_WORD.search(self.text) or (self.found and self.named_model() != ref.model):
            return None  # "bump it to production", or another model
        if _SHADOW_SAID.search(self.text):
            return None  # "make it shadow mode, same 10%": another mode (canary() reads it)
        asked = "?" in self.text and not P.polite_ask(self.text)
        if asked or P.HELD.search(self.text) or _NEGATED_WORD.search(self.text):
            # "make it 50%?", "don't make it 50%", "make it 50%, not real traffic", "50 no
            # 30": asked about, refused or corrected, not read as one share and mode
            return None
        head, why = split_why(self.text)
        # "bump it to 50", "make it 30": a bare number at the end is the new share.
        share = P.PERCENT.search(head) or re.search(
            r"\b(?:to|it|that|this)\s+(\d+(?:\.\d+)?)\s*\W*$", head
        )
        if P.VERSION.search(head):
            return None
        if share is not None:
            percent = float(share.group(1))
        elif (
            (scaled := _HALVE_OR_DOUBLE.match(head))
            and self.focus.topic.kind == "canary"
            and self.focus.topic.percent is not None
        ):
            # "halve it" right after a 20 % canary: 10 % (doubled, never all the traffic)
            factor = 0.5 if scaled.group(1).lower() == "halve" else 2.0
            percent = self.focus.topic.percent * factor
            if percent >= 100:
                return None
        else:
            return None
        if not 0 < percent <= 100:
            return None
        return StartCanary(
            model=ref.model,
            version=ref.version,
            percent=percent,
            # "make it 50%" after a shadow canary: still a shadow; "50% real traffic": a split
            mode="split" if _SPLIT_SAID.search(self.text) else (ref.mode or "split"),
            rationale=why,
        )

    def asked_and_why(self, found: re.Match[str] | None) -> tuple[str, str | None]:
        """The request's words and the reason given for it ("... because v3 is bad"); no
        reason when the change is asked after the words that looked like one ("odd
        predictions since the switch. Could you roll x back to v1?")."""
        head, why = split_why(self.text)
        if found is not None and found.start() >= len(head):
            return self.text, None
        return head, why

    def rollback(self, found: re.Match[str] | None) -> Intent:
        head, why = self.asked_and_why(found)
        after = found.start() if found is not None else 0
        model = self.named_model(after, len(head)) or self.named_model(0, len(head))
        model = model or self.model(0, 0)
        rest = head[found.end() :] if found is not None else head
        # "to v1", "to the version 1", "back to ver. 1"
        target = re.search(
            r"\bto\s+(?:the\s+)?(?:v|ver\.?\s*|version\s*|release\s*)?(\d+)\b", rest, re.I
        ) or re.search(r"\bback\s+(?:on|to)\s+(?:v|version\s*)(\d+)\b", head[after:], re.I)
        # No version named ("roll back", "to the previous one"): the registry's rollback target.
        version = int(target.group(1)) if target else None
        if model is None:
            return self.needs_model(
                "roll back digits",
                PartialChange(kind="rollback", missing="model", to_version=version),
            )
        if version is None and P.PREVIOUS.search(head[after:]):
            version = self.replaced_version(model)
        held = self.ctx.stage_version(model, "Production")
        if (
            found is not None
            and re.search(r"\bback\s+to\b", found.group(0), re.I)
            and not re.search(r"\broll", found.group(0), re.I)
            and version is not None
            and held is not None
            and version > held
        ):
            # "ok back to v2" with v1 in Production: going forward is no rollback
            return Unclear(
                reason=f"v{version} of {model} is newer than Production's v{held}; to move "
                f"Production to it, say 'promote {model} v{version} to production'."
            )
        if found is not None and _DEMOTED.match(found.group(0)):
            # "demote x v2": the version said is the one to take out of Production
            clause = re.split(r"[,;.!?]", head[found.start() :])[0]  # not "..., v3 was worse"
            said = [int(m.group(1)) for m in P.VERSION.finditer(clause)]
            held = self.ctx.stage_version(model, "Production")
            if said and held is not None and said[0] != held:
                return Unclear(
                    reason=f"{model} v{said[0]} is not in Production (v{held} is), so there is "
                    f"nothing of it to take out of Production. Say 'roll back {model}' to put "
                    "Production back on its previous version."
                )
        return Rollback(model=model, to_version=version, rationale=why)

    def replaced_version(self, model: str) -> int | None:
        """ "go back to the old one" right after a promotion of ``model`` to Production was
        proposed: the version the registry (as last read) still shows in Production, when it
        is another one; else None (the registry's own rollback target)."""
        ref = self.focus.proposal
        if ref is None or ref.kind != "promote" or ref.model != model:
            return None
        held = self.ctx.stage_version(model, "Production")
        return held if held is not None and held != ref.version else None

    def promote(self, found: re.Match[str]) -> Intent:
        head, why = self.asked_and_why(found)
        # "promote x v2 (currently in Staging, I checked) to Production": where it is now;
        # "put v2 on hold and promote v3": the version held is not the one moved
        head = _WHERE_IT_IS.sub(lambda m: " " * len(m.group(0)), head)
        head = _ON_HOLD.sub(lambda m: " " * len(m.group(0)), head)
        model = None
        for match in P.NAME_THEN_VERSION.finditer(head):
            if match.group(1).lower() not in P.STOPWORDS:
                model = self.named_model(match.start(), match.end())
                break
        model = model or self.named_model(found.start(), len(head))
        # "the staging one of digits - promote it": named before the verb.
        model = model or self.named_model(0, len(head)) or self.model(0, 0)
        bare = _NO_OBJECT.search(head) is not None and not self.found
        if model is None and bare and self.focus.version is not None:
            model = self.focus.model  # "promote to production then" right after a version
        if model is None:
            return self.needs_model("promote digits v3", self._promote_of_no_model(head, found))
        explicit = [int(m.group(1)) for m in P.VERSION.finditer(head)]
        explicit = explicit or self.bare_versions(len(head))
        explicit = [v for v in explicit if v > 0]  # "10:00:00Z" in a pasted record is no v0
        version = explicit[0] if explicit else self.referenced_version(model)
        if version is None and bare and model == self.focus.model:
            version = self.focus.version
        # "make the staging digits the production one": the stage it ends on is the target,
        # the stage before the model's name is where the version comes from.
        target = _MAKE_TARGET.search(head)
        target_said = None
        if target is not None:
            group = 1 if target.group(1) else 2
            target_said = target.group(group)
            head = head[: target.start(group)]
            of_model = _STAGE_OF_MODEL.search(head)
            if version is None and of_model and self.named_model(of_model.end(1), len(head)):
                version = self.ctx.stage_version(model, stage_of(of_model.group(1)))
        # "promote whatever is in staging to prod": the source stage names the version and
        # is not the target.
        source = P.STAGE_SOURCE.search(head)
        if version is None and source:
            said = next(stage for stage in source.groups() if stage)
            version = self.ctx.stage_version(model, stage_of(said))
        rest = head[found.end() :]
        if source is not None and source.start() >= found.end():
            rest = head[found.end() : source.start()] + " " + head[source.end() :]
        stage = P.TO_STAGE.search(found.group(0)) or P.TO_STAGE.search(rest)
        stage = stage or P.MAKE_STAGE.search(head)
        # "mnist-classifier v2 nach staging promoten": the stage before a verb said last.
        stage = stage or _STAGE_BEFORE_VERB.search(head[: found.start()])
        said_stage = target_said or (stage.group(1) if stage else None)
        said_stage = said_stage or _stage_after(rest, version, model)
        if said_stage is not None and stage_of(said_stage) == "Archived":
            return Unsupported(action="archive", model=model, version=version)
        moved_to = stage_of(said_stage) if said_stage else default_stage(head)
        if version is None:
            return self.which_version(model, moved_to)
        return Promote(
            model=model,
            version=version,
            stage=moved_to,
            rationale=why,
            guard=P.wants_guard(head),
        )

    def which_version(self, model: str, stage: StageName) -> Unclear:
        """Ask which version to move; the version a promotion usually takes (Staging's, to
        Production) is named as a hint, never proposed unasked."""
        staged = self.ctx.stage_version(model, "Staging") if stage == "Production" else None
        hint = f" v{staged} is in Staging." if staged is not None else ""
        return Unclear(
            reason=f"Which version of {model}? e.g. 'promote {model} v3'.{hint}",
            partial=PartialChange(
                kind="promote",
                missing="version",
                model=model,
                stage=stage if stage in ("Production", "Staging") else None,
            ),
        )

    def _promote_of_no_model(self, head: str, found: re.Match[str]) -> PartialChange:
        """ "promote v4 to staging": what a promotion naming no model says (its version and
        target stage), kept while the chat asks which model."""
        versions = [int(m.group(1)) for m in P.VERSION.finditer(head)]
        said = P.TO_STAGE.search(head[found.start() :]) or P.MAKE_STAGE.search(head)
        after = _stage_after(head[found.start() :], versions[0] if versions else None)
        named = said.group(1) if said else after
        stage = stage_of(named) if named else default_stage(head)
        return PartialChange(
            kind="promote",
            missing="model",
            version=versions[0] if versions else None,
            stage=stage if stage in ("Production", "Staging") else None,
        )

    def mode_switch(self, model: str, head: str) -> StartCanary | None:
        """ "switch it to a real split at the same percentage" right after a canary: that
        canary (version and share) in the other mode."""
        said = _MODE_SWITCH.search(head)
        topic = self.focus.topic
        if said is None or not topic.canary or topic.percent is None:
            return None
        if self.focus.model != model or self.focus.version is None:
            return None
        mode = "split" if said.group(1).lower() == "split" else "shadow"
        # "make it shadow instead, mirror everything": a copy of all the traffic.
        whole = (
            mode == "shadow"
            and _ALL_TRAFFIC.search(head) is not None
            and not _SHARE_KEPT.search(head)
        )
        return StartCanary(
            model=model,
            version=self.focus.version,
            percent=100 if whole else topic.percent,
            mode=mode,
        )

    def canary(self) -> Intent:
        """ "canary digits v3 at 10%", "send 5% of digits traffic to v3", "stop the canary",
        "how is the canary of digits doing?" (a status question)."""
        head, why = split_why(self.text)
        model = self.named_model() or self.model(0, 0)
        stop = has(P.STOP, head) is not None
        if stop and (lower := _NEW_SHARE.search(head)) and 0 < float(lower.group(1)) < 100:
            stop = False  # "drop the canary share to 2%": a smaller canary, not none
        if model is None:
            return self.needs_model(
                "stop the canary of digits" if stop else "canary digits v3 at 10%",
                self._canary_of_no_model(head, stop),
            )
        if stop:
            return StopCanary(model=model, rationale=why)
        percent = P.PERCENT.search(head)
        if (raised := _RAISED_TO.search(head)) is not None and not _LATER_OR_NOT.search(
            _sentence_around(head, raised)
        ):
            percent = raised  # "the canary ran at 10% overnight. Bump it to 50%": the new share
        explicit = [int(m.group(1)) for m in P.VERSION.finditer(head)]
        explicit = explicit or self.bare_versions(len(head))  # "canary digits 3 at 50%"
        # "a real split, not shadow": a mode said not to be wanted is not the mode.
        shadow = _shadow_said(head)
        version = explicit[0] if explicit else self.referenced_version(model)
        if len(explicit) > 1 and (after := _VERSION_AFTER_VERB.search(head)) is not None:
            version = int(after.group(1))  # "while v2 is in staging, shadow v4 next to prod"
        if (
            version is None
            and percent is not None
            and (has(P.RESHARE, head) or has(P.INSTEAD, head) or P.FOLLOW_UP.search(head))
        ):
            # "bump the canary to 50%", "how about a 10% canary instead": the version
            # under discussion.
            version = self.focus.version if self.focus.model == model else None
            if version is None and has(P.RESHARE, head):
                # "set the canary percentage for digits to 30%": the running canary's share
                # (its version is read from serving when the change is drafted).
                share = float(percent.group(1))
                if 0 < share <= 100:
                    return StartCanary(model=model, percent=share, rationale=why)
        if percent is None and not explicit and (switched := self.mode_switch(model, head)):
            return switched
        if percent is None and _CANARY_STATUS.search(head):
            return ServingStatus(model=model)  # "how's the canary going, what share is v2 getting?"
        if percent is None and not explicit:
            if (found := has(P.PROMOTE, head)) is not None and not shadow:
                return self.promote(found)  # "promote the canary to production"
            return ServingStatus(model=model)  # "how is the canary doing?"
        if percent is None and shadow and version is not None:
            # A shadow copy answers no user: mirroring all of Production's traffic is the
            # plain reading of "shadow v2" (the proposal shows the share; a human approves).
            return StartCanary(model=model, version=version, percent=100, mode="shadow")
        mode = "shadow" if shadow else "split"
        production = self.ctx.stage_version(model, "Production")
        if (split := _split_of(head, explicit, production)) is not None:
            version, share = split  # "split traffic 90/10 between v1 and v2": v2 gets 10 %
            return StartCanary(
                model=model, version=version, percent=share, mode=mode, rationale=why
            )
        if version is None or percent is None:
            example = f"canary {model} v{version or 3} at 10%"
            question = f"Which version of {model}" if version is None else "What share of traffic"
            said = float(percent.group(1)) if percent is not None else None
            return Unclear(
                reason=f"{question}? e.g. '{example}'.",
                partial=PartialChange(
                    kind="canary",
                    missing="version" if version is None else "percent",
                    model=model,
                    version=version,
                    percent=said if said is not None and 0 < said <= 100 else None,
                    mode="shadow" if shadow else None,
                ),
            )
        share = float(percent.group(1))
        if not 0 < share <= 100:
            return Unclear(reason=f"A canary share is above 0 and at most 100 %, not {share:g}.")
        return StartCanary(model=model, version=version, percent=share, mode=mode, rationale=why)

    def _canary_of_no_model(self, head: str, stop: bool) -> PartialChange:
        """What a canary request naming no model says, kept while the chat asks which."""
        if stop:
            return PartialChange(kind="stop_canary", missing="model")
        versions = [int(m.group(1)) for m in P.VERSION.finditer(head)]
        percent = P.PERCENT.search(head)
        share = float(percent.group(1)) if percent is not None else None
        shadow = _shadow_said(head)
        return PartialChange(
            kind="canary",
            missing="model",
            version=versions[0] if versions else None,
            percent=share if share is not None and 0 < share <= 100 else None,
            mode="shadow" if shadow else None,
        )


#: A move with no object, only its target: "promote to production then", "ship to staging".
_NO_OBJECT = re.compile(
    r"\b(?:promote|ship|move|push|deploy|release|graduate)\s+(?:(?:it|that|this)\s+)?(?:to|into|onto)\s+"
    r"(?:the\s+)?(?:prod(?:uction)?|staging)\b",
    re.I,
)

#: The version a canary verb names ("shadow v4", "canary version 3", "try v2 on a quarter").
_VERSION_AFTER_VERB = re.compile(
    r"\b(?:canary|shadow|mirror|try|send|route)\b(?:\s+(?:the|to|of|traffic|it|them|out|on))*\s+"
    r"(?:v|version\s*)(\d+)\b",
    re.I,
)

#: Two shares that make up all traffic ("90/10", "95-5", "80:20").
_SHARES = re.compile(r"(?<![\w.])(\d{1,2}(?:\.\d+)?)\s*[/:-]\s*(\d{1,2}(?:\.\d+)?)\s*%?(?![\w.])")


def _split_of(head: str, versions: list[int], production: int | None) -> tuple[int, float] | None:
    """ "split traffic 90/10 between v1 and v2": the shares go to the versions in the order
    named, and the canary is the version with the smaller share (v2 at 10 %); with equal
    shares, the one not in Production. None unless two versions (or one and Production) and
    two shares adding up to 100 are said."""
    shares = _SHARES.search(head)
    if shares is None or not 1 <= len(versions) <= 2:
        return None
    first, second = float(shares.group(1)), float(shares.group(2))
    if first + second != 100:
        return None
    if first == second and len(versions) == 2:
        others = [v for v in versions if v != production]
        if production in versions and len(others) == 1:
            return others[0], first  # "50/50 between v1 and v2" with v1 in Production
        return None
    if len(versions) == 1:
        # "90/10 between prod and v2": Production keeps one share, the version named gets the
        # other, in the order the two are said.
        said = re.search(rf"\bv(?:ersion)?\s*{versions[0]}\b", head[shares.end() :], re.I)
        stage = _PRODUCTION_SIDE.search(head, shares.end())
        if said is None or stage is None:
            return None
        return (versions[0], second if stage.start() < shares.end() + said.start() else first)
    return (versions[1], second) if second < first else (versions[0], first)


#: Production as one side of a split ("between prod and v2", "v3 and the live one").
_PRODUCTION_SIDE = re.compile(
    r"\b(?:prod(?:uction)?|live|current)(?:\s+(?:one|version|model))?\b", re.I
)


#: A message whose last clause is a question ("..., what version is serving??"): urgency
#: around it does not turn it into a change.
_ASKS_LAST = re.compile(
    r"(?:^|[.!?,;:]\s*|\s[-\u2013\u2014]{1,2}\s*|\bbut\s+)(?:so\s+|and\s+|but\s+)?(?:is|are|was|were|did|does|do|what|which|"
    r"who|when|where|why|how)\b[^.!?,;]*\?+\W*$",
    re.I,
)

#: A last clause asking what serves, question mark or not ("5xx on route digits!!! what is
#: serving there right now").
_ASKS_SERVING_LAST = re.compile(
    # "... what is it actually serving right now", "... what's x serving"
    r"(?:^|[.!?,;:]\s*|\s[-\u2013\u2014]{1,2}\s*)(?:so\s+|and\s+|but\s+)?(?:what|which)\b"
    r"[^.!?,;+]{0,40}?\b(?:serving|deployed|running|live)\b[^.!?,;+]*\W*$"
    r"|(?:^|[.!?,;:]\s*|\s[-\u2013\u2014]{1,2}\s*)(?:so\s+|and\s+|but\s+)?(?:what|which)"
    r"(?:\s+(?:version|model|build|one))?(?:'s|s|\s+is|\s+are)\s+(?:currently\s+|actually\s+)?"
    r"(?:serving|live|deployed|running|up|in\s+prod(?:uction)?)\b[^.!?,;]*\W*$"
    # "... what version is it on", "which build is it running"
    r"|(?:^|[.!?,;:]\s*|\s[-\u2013\u2014]{1,2}\s*)(?:so\s+|and\s+|but\s+)?(?:what|which)\s+"
    r"(?:version|model|build|release)\s+(?:is|'s|are)\s+(?:it|that|this|they|we)\s+"
    r"(?:on|running|serving|at|using)\W*$",
    re.I,
)

#: Changing a canary's mode only ("switch it to a real split", "make it a mirror instead").
_MODE_SWITCH = re.compile(
    r"\b(?:switch|change|turn|make|convert|flip|move)\b.{0,30}?\b(?:to|into|it|that)\s+"
    r"(?:a\s+|an\s+)?(?:real\s+|proper\s+|live\s+|full\s+)?(split|shadow|mirror)\b",
    re.I,
)

#: The target stage before a verb said last ("nach staging promoten", "to Staging put").
_STAGE_BEFORE_VERB = re.compile(
    r"\b(?:nach|auf|in|to|into|onto)\s+(prod(?:uction)?|staging)\s*$", re.I
)

#: A share changed to a new one, asked in a sentence of its own: "... Bump it to 50%",
#: "...; please raise the canary up to 25 percent".
_RAISED_TO = re.compile(
    r"(?:^|(?<=[.!;:])\s*)(?:(?:please|pls|now|ok|okay|so|and|then|just)\s+)?(?:bump|raise|increase|lower|reduce|decrease|ramp|take|dial|drop|cut|bring|set|scale)\s+"
    r"(?:(?:it|that|this|the\s+canary|the\s+share|traffic|the\s+traffic)\s+)?(?:(?:up|down)\s+)?"
    r"to\s+(\d+(?:\.\d+)?)\s*(?:%|percent\b|per\s*cent\b|pct\b)",
    re.I,
)
#: Words that make a share a plan, a condition, a past event or a refusal, not the new one.
_LATER_OR_NOT = re.compile(
    r"\b(?:tomorrow|later|after|if|until|unless|once|when|by|next|last|had\s+to|don'?t|do\s+not|"
    r"not|never|we'?ll|will|going\s+to|could|can)\b",
    re.I,
)


def _sentence_around(text: str, match: re.Match[str]) -> str:
    """The sentence ``match`` is in."""
    start = max(text.rfind(mark, 0, match.end()) for mark in ".!?;")
    ends = [i for i in (text.find(mark, match.end()) for mark in ".!?;") if i != -1]
    return text[start + 1 : min(ends) if ends else len(text)]


#: The share a canary is changed to ("down to 2%", "to 5 percent", "at 1%").
_NEW_SHARE = re.compile(
    r"\b(?:to|at|down\s+to|back\s+to|by)\s+(?:just\s+|only\s+)?(\d+(?:\.\d+)?)\s*"
    r"(?:%|percent\b|per\s*cent\b|pct\b)",
    re.I,
)

#: "make X the production one": the stage the message ends on is where X goes.
_MAKE_TARGET = re.compile(
    # "make staging the new production for x tomorrow": the stage after "the new"
    r"\bmake\b.{1,80}\bthe\s+new\s+(prod(?:uction)?|staging)\b"
    r"|\bmake\b.{1,80}\bthe\s+(prod(?:uction)?|staging)"
    r"(?:\s+(?:one|version|build|model|release))?(?:\s+(?:for|of)\s+[\w.\-]+)?"
    r"\W*(?:please|pls|now|thanks)?(?:\W*$"
    # (or how long it has been tested: "... of x - it's been in staging for two weeks")
    r"|(?:\s+[-\u2013\u2014]\s+|[,;]\s+)(?:it'?s|its|it\s+has|having)\s+been\b"
    r"(?![^?]*(?:\?|\b(?:but|first|actually|leave|instead|rather|not|so\s+no)\b)))",
    re.I,
)
#: "halve it", "double the share": the canary's share, scaled.
_HALVE_OR_DOUBLE = re.compile(
    r"^\W*(?:(?:ok|okay|so|then|and|now)\W+)*(halve|double)\s+(?:it|that|the\s+(?:share|canary|"
    r"traffic|percentage))(?:\s+(?:please|pls|now))?\W*$",
    re.I,
)
#: All of the traffic: "mirror everything", "a copy of all requests".
_ALL_TRAFFIC = re.compile(
    r"\b(?:mirror|copy|shadow)\s+(?:of\s+)?(?:everything|all(?:\s+(?:the\s+|of\s+the\s+)?"
    r"(?:traffic|requests|calls))?)\b|\ball\s+(?:the\s+|of\s+the\s+)?(?:traffic|requests)\b",
    re.I,
)
#: Words that keep or limit the share, or ask: "but do not copy all requests", "only half".
_SHARE_KEPT = re.compile(
    r"\?|\b(?:not|no|don'?t|never|except|but|only|half|keep|same|still|anyway)\b", re.I
)
#: "the staging digits": a model named by the stage its version is in.
_STAGE_OF_MODEL = re.compile(r"\bthe\s+(?:current\s+)?(staging|prod(?:uction)?)\s+(?=\S)", re.I)
#: A question about how the running canary does ("how's the digits canary going?",
#: "what share is v2 getting?").
_CANARY_STATUS = re.compile(
    r"\bhow(?:'s|\s+is|\s+are|\s+does|\s+did)\b|\b(?:going|doing)\b"
    r"|\b(?:what|which|how much)\s+(?:share|percent(?:age)?|traffic|split|portion)\b",
    re.I,
)


#: What may stand around the one thing a question back asked for ("for mnist-cnn please",
#: "20 percent, real traffic, not shadow", "v3 i mean").
_FILL = (
    r"the|a|an|as|for|on|of|to|at|with|in|one|model|version|ver|please|pls|plz|i|mean|meant|"
    r"ok|okay|yes|yeah|yep|sure|then|just|that|sorry|oh|ah|oops|whoops|and|"
    r"real|traffic|not|shadow|split|mirror|mode|live|users?|percent|pct|per|cent|share|"
    r"thanks|thank|you|thx|instead|only|"
    r"staging|stg|prod|production|current|build"
)
_STAGE_SAID = re.compile(r"\b(staging|stg|prod(?:uction)?)\b", re.I)
#: A word outside those, once the model names, versions and numbers are gone.
_LEFT_OVER = re.compile(rf"(?!\b(?:{_FILL})\b)\b[a-z']+", re.I)


def _stage_after(text: str, version: int | None, model: str | None = None) -> str | None:
    """ "promote x v3 staging": a stage said right after the version moved, where the request
    ends (never one after another version: "promote x v3 over v2 staging"); "promote v3
    classifier staging": after a part of the model's name."""
    said = P.VERSION_THEN_STAGE.search(text)
    if said is None and model is not None:
        named = _VERSION_PART_STAGE.search(text)
        if named is not None and named.group(2).lower() in model.lower().split("-"):
            return named.group(3) if int(named.group(1)) == version else None
    if said is None or version is None or int(said.group(1)) != version:
        return None
    return said.group(2)


#: "v3 classifier staging" at a request's end: a version, a part of a name, a stage.
_VERSION_PART_STAGE = re.compile(
    r"\bv(\d+)\s+([a-z]+)\s+(prod(?:uction)?|staging)\W*(?:please|pls|now)?\W*$", re.I
)


#: A version put on hold: "put v2 on hold and", "keep mnist-classifier v2 on ice,".
_ON_HOLD = re.compile(
    r"\b(?:put|keep|leave)\s+(?:\S+\s+){0,3}?on\s+(?:hold|ice|pause)\b(?:\s*,|\s+and)?", re.I
)
#: An aside that says where a version is now: "(currently in Staging, I checked twice)".
_WHERE_IT_IS = re.compile(
    r"\((?=[^()]*\b(?:currently|now|already|still|is|it'?s|sits|checked)\b)"
    r"(?![^()]*\b(?:put|want|target|to|for|first|only|just)\b)[^()]*\bin\s+(?:staging|prod(?:uction)?)\b[^()]*\)",
    re.I,
)
#: The canary just asked, in the other mode: "same but shadow", "the same, but as a split".
_SAME_BUT_MODE = re.compile(
    r"^\W*(?:the\s+)?same(?:\s+thing)?\W+but\s+(?:in\s+|as\s+(?:a\s+)?)?(shadow|split|mirror)"
    r"(?:\s+mode)?[.!\s]*$",
    re.I,
)
#: A share said instead of the one just asked: "sorry, 15 not 20", "10%, not 25%".
_SHARE_CORRECTED = re.compile(
    r"^\W*(?:(?:sorry|oops|no|wait|actually|ah)\W+)*(\d+(?:\.\d+)?)\s*(?:%|percent)?\s*,?\s*"
    r"(?:not|instead\s+of|rather\s+than)\s+(\d+(?:\.\d+)?)\s*(?:%|percent)?[.!\s]*$",
    re.I,
)
_SHADOW_SAID = re.compile(
    r"\b(?:shadow|mirror)"
    # "copy the requests over to it": v4 sees them, the users never see its answers
    r"|(?<!\bwere\s)(?<!\bwas\s)(?<!\bbeen\s)(?<!\bnot\s)(?<!\bstop\s)(?<!\bquit\s)"
    r"\b(?:copy|copies|copying|duplicate|duplicating|clone|cloning|tee)\s+(?:the\s+|all\s+|our\s+)?"
    r"(?:(?:real|live|incoming|production|prod)\s+)?(?:requests|traffic|calls)\b",
    re.I,
)
#: A shadow described by what users never get, only where no share is said (a share is a
#: split's): "on real traffic, but without it actually answering", "so no customers ever see
#: its answers".
_SHADOW_DESCRIBED = re.compile(
    r"\bwithout\s+(?:it|v\d+|the\s+new\s+(?:one|version))\s+(?:actually\s+|really\s+)?"
    r"(?:answering|responding|replying)\s*(?:$|[.!?,;]|(?:any|anyone|anybody|customers?|users?|"
    r"stores?|requests?|yet|in\s+prod\w*)\b)"
    r"|\bno\s+(?:customers?|users?|stores?|one)\s+(?:ever\s+|actually\s+)?(?:sees?|gets?)\s+"
    r"(?:its|the\s+new)\s+(?:answers?|responses?|predictions?|results?|replies)\b",
    re.I,
)
#: A word that negates or corrects part of a follow-up ("not real traffic", "50 no 30").
_NEGATED_WORD = re.compile(r"\b(?:not|no|nothing|without|never|can\s+wait|hold\s+on)\b", re.I)
#: Taking a version out of Production: "demote x v1", "unpromote x", "take x v1 out of prod".
_DEMOTED = re.compile(r"(?:de-?mote|un-?promote|take\b|back\s+out)", re.I)
_SPLIT_SAID = re.compile(
    r"\b(?:real|live)\s+(?:traffic|users?|split|requests|canary)|\bsplit\b|\bfor\s+real\b"
    r"|\busers\s+(?:actually\s+|should\s+|can\s+|will\s+)?see\b",
    re.I,
)
#: A mode said not to be wanted: "not shadow", "not in shadow mode", "not a split", "no
#: shadow", "instead of mirroring" (never "no shadow risk").
_MODE_NEGATED = re.compile(
    r"\b(?:not|no|without|never|instead\s+of|rather\s+than)\s+(?:in\s+|as\s+)?(?:an?\s+|the\s+)?"
    r"(shadow|mirror|split|real)\w*(?!\s+(?:risk|impact|effect))",
    re.I,
)


def mode_said(text: str) -> Literal["split", "shadow"] | None:
    """The canary mode ``text`` asks for: a mode said not to be wanted is the other one ("a
    real split, not shadow", "no shadow"); None when it names none."""
    negated = _MODE_NEGATED.search(text)
    if negated is not None:
        return "split" if negated.group(1).lower() in ("shadow", "mirror") else "shadow"
    if _SHADOW_SAID.search(text) and not (
        _SPLIT_WORD.search(text) and not _SHADOW_WORD.search(text)
    ):
        return "shadow"
    if (
        _SHADOW_DESCRIBED.search(text)
        and not _WAIT_NO.search(text)
        and not _SPLIT_WORD.search(text)
    ):
        return "shadow"
    if _SPLIT_SAID.search(text):
        return "split"
    return None


#: The modes said by name: "split canary ...", "a shadow of ...".
_SPLIT_WORD = re.compile(r"\bsplit\b(?!\s+(?:the|by|it|them|this|that|up|out|into)\b)", re.I)
_SHADOW_WORD = re.compile(r"\b(?:shadow|mirror)", re.I)
#: A correction after the words it takes back: "..., wait no, let it answer".
_WAIT_NO = re.compile(r"\b(?:wait|actually|scratch\s+that)\W+(?:no\b|let\s+it)", re.I)


def _shadow_said(text: str) -> bool:
    """A shadow (mirror) asked for, not one said not to be wanted ("a real split, not shadow")."""
    return mode_said(_MODE_NEGATED.sub(" ", text)) == "shadow"


def says_only_slots(text: str, found: list[Found]) -> bool:
    """ "to mnist-cnn v3, shadow only", "mnist-cnn please": names, versions, shares and
    modes, and nothing else ("mnist-cnn is fine" says more)."""
    return _LEFT_OVER.search(_slots_removed(text, found)) is None


def _slots_removed(text: str, found: list[Found]) -> str:
    """The text without the model names it names, versions and numbers."""
    for entity in sorted(found, key=lambda f: f.start, reverse=True):
        text = text[: entity.start] + " " + text[entity.start + len(entity.said) :]
    text = P.VERSION.sub(" ", text)
    return re.sub(r"\d+(?:\.\d+)?\s*%?", " ", text)

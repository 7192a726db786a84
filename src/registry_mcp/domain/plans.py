"""Change plans: exactly what a stage change would move, computed once and bound by a digest.

A plan is what a human is shown and what an approval binds to. It is computed by one pure
function (:func:`compute_plan`) from the model's three aliases and the versions' tags, both
for the preview (from a catalog snapshot) and again under the model lock just before the
change is applied (from MLflow's alias API). The change is applied only if both computations
give the same digest: if anything that moves, or the card the human judged, changed in
between, nothing moves and the caller is told so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, computed_field

from registry_mcp.domain.cards import CARD_TAG, CardView, card_from_tag
from registry_mcp.domain.compact_schema import CompactModel
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.releases import CanaryState, GuardSpec
from registry_mcp.domain.schemas import AliasState, ExpectedVersion, Stage, VersionInfo
from registry_mcp.domain.stages import SERVED_TAG, STAGE_TAG, refusal, version_stage

DIGEST_SHOWN = 12
"""Hex characters of the digest shown to humans ("plan 3f9a0c1d2b4e")."""


class ChangeKind(StrEnum):
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    CANARY = "canary"  # start, change or stop a canary: no stage moves, traffic does


def _inline(model: type[BaseModel]) -> WithJsonSchema:
    """``model | None`` as an inline schema: pydantic 2 fails to build the schema of a
    subclass with ``json_schema_mode_override`` (the MCP preview result) when nested models
    are referenced (KeyError on their "-Output" definition)."""
    return WithJsonSchema({"anyOf": [model.model_json_schema(), {"type": "null"}]})


class ChangePlan(CompactModel):
    """What one stage change moves. Everything here is covered by ``digest``."""

    model_config = ConfigDict(frozen=True)

    kind: ChangeKind
    model: str
    version: int = Field(description="The version that moves.")
    from_stage: Stage
    to_stage: Stage
    replaced_version: int | None = Field(
        default=None, description="The version that leaves the target stage, if any."
    )
    replaced_to_stage: Stage | None = None
    rollback_target_after: int | None = Field(
        default=None, description="The rollback target once the change is applied."
    )
    card_complete: bool
    missing_card_fields: list[str] = Field(default_factory=list)
    card_sha: str = Field(description="sha256 of the moving version's model card as judged.")
    canary_before: Annotated[CanaryState | None, _inline(CanaryState)] = Field(
        default=None, description="The model's canary before the change."
    )
    canary_after: Annotated[CanaryState | None, _inline(CanaryState)] = Field(
        default=None, description="The canary once applied (canary plans; None: stopped)."
    )
    ends_canary: bool = Field(
        default=False, description="A stage change that ends the running canary."
    )
    guard: Annotated[GuardSpec | None, _inline(GuardSpec)] = Field(
        default=None,
        description="Promotions: when the new Production version is rolled back "
        "automatically to rollback_target_after, under this approval.",
    )
    accepts: Annotated[AliasState | None, _inline(AliasState)] = Field(
        default=None,
        description="Set when the change approves aliases moved outside modelreg: MLflow's "
        "aliases as the approver was shown them (the plan is computed from the approved ones).",
    )

    @computed_field(description="sha256 over every field above; an approval binds to it.")  # type: ignore[prop-decorator]
    @property
    def digest(self) -> str:
        body = self.model_dump(mode="json", exclude={"digest"})
        if body["accepts"] is None:
            del body["accepts"]  # plans that accept nothing keep the digests they had
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def short_digest(self) -> str:
        return self.digest[:DIGEST_SHOWN]

    @property
    def moves_production_traffic(self) -> bool:
        """Production changes and canaries: what four-eyes asks a second person for."""
        return self.to_stage is Stage.PRODUCTION or self.kind is ChangeKind.CANARY

    def describe(self) -> str:
        """One line a human reads before approving; it names the plan's digest."""
        if self.kind is ChangeKind.CANARY:
            return f"{self._describe_canary()} [plan {self.short_digest}]"
        verb = "Roll back" if self.kind is ChangeKind.ROLLBACK else "Move"
        if self.accepts is not None:
            verb = f"Accept the change made outside modelreg: {verb.lower()}"
        text = f"{verb} {self.model} v{self.version}: {self.from_stage.value} -> "
        text += self.to_stage.value
        if self.replaced_version is not None and self.replaced_to_stage is not None:
            text += f"; v{self.replaced_version} leaves {self.to_stage.value} -> "
            text += self.replaced_to_stage.value
        if self.to_stage is Stage.PRODUCTION:
            after = self.rollback_target_after
            text += f"; rollback target becomes {'v' + str(after) if after else 'none'}"
        if self.ends_canary and self.canary_before is not None:
            text += f"; ends the canary ({self.canary_before.describe()})"
        if self.guard is not None:
            text += f"; {self.guard.describe()}, back to v{self.rollback_target_after}"
        if not self.card_complete:
            text += f" (card incomplete: {', '.join(self.missing_card_fields)})"
        return f"{text} [plan {self.short_digest}]"

    def _describe_canary(self) -> str:
        before, after = self.canary_before, self.canary_after
        if after is None:
            assert before is not None
            return f"Stop the canary of {self.model}: {before.describe()} -> 0 %"
        text = f"Canary of {self.model}: {after.describe()} ({self.from_stage.value} version)"
        if before is not None:
            text += f", was: {before.describe()}"
        return text

    def check_expected(self, expected: ExpectedVersion) -> None:
        """The one expected-version check: raise STALE_VERSION unless the version this plan
        displaces from Staging/Production is ``expected`` ('none' = the stage is empty)."""
        if expected is None or self.to_stage not in (Stage.STAGING, Stage.PRODUCTION):
            return
        holder = self.replaced_version if self.replaced_version is not None else "none"
        if holder != expected:
            raise RegistryError(
                ErrorCode.STALE_VERSION,
                f"{self.to_stage.value} of {self.model!r} is now {_v(holder)}, not "
                f"{_v(expected)} as expected; review the current state and retry with the new "
                "expected version.",
            )

    def refusal(self, *, require_complete_card: bool) -> RegistryError | None:
        """Why the registry would refuse this plan by policy; None if it may be applied."""
        # A rollback returns a version that has served before: the card rule is for promotions.
        promoting = self.kind is ChangeKind.PROMOTE and self.to_stage is Stage.PRODUCTION
        if require_complete_card and promoting and not self.card_complete:
            return RegistryError(
                ErrorCode.CARD_INCOMPLETE,
                f"v{self.version} cannot go to Production: its model card lacks "
                f"{', '.join(self.missing_card_fields)}. Complete it with `modelreg models card`.",
            )
        return None


def _card_of(info: VersionInfo, primary_metric: str) -> tuple[CardView, str]:
    raw = info.system_tags.get(CARD_TAG) or ""
    card = CardView.of(card_from_tag(raw or None), primary_metric)
    return card, hashlib.sha256(raw.encode()).hexdigest()


def compute_plan(
    kind: ChangeKind,
    model: str,
    version: int | None,
    stage: Stage,
    aliases: AliasState,
    version_info: Callable[[int], VersionInfo],
    primary_metric: str = "accuracy",
    *,
    canary: CanaryState | None = None,
    canary_after: CanaryState | None = None,
    guard: GuardSpec | None = None,
) -> ChangePlan:
    """The one stage machine: what the change would do from ``aliases``, or the refusal.

    ``version_info`` returns a version's tags (it raises NOT_FOUND for a missing version);
    a version's stage is derived here from ``aliases`` and its stage tag, never from the
    caller's copy, so previews and the locked re-check agree on the same inputs.
    ``canary`` is the model's running canary; ``canary_after`` the one a CANARY plan sets
    (None stops it); ``guard`` the thresholds of a guarded promotion to Production.
    """
    if kind is ChangeKind.CANARY:
        return _canary(model, aliases, version_info, primary_metric, canary, canary_after)
    plan = _stage_plan(kind, model, version, stage, aliases, version_info, primary_metric)
    if canary is not None and (
        plan.to_stage is Stage.PRODUCTION or canary.version in (plan.version, plan.replaced_version)
    ):
        # Its baseline or its candidate moves: the canary ends with the change.
        plan = plan.model_copy(update={"canary_before": canary, "ends_canary": True})
    if guard is not None:
        if kind is not ChangeKind.PROMOTE or plan.to_stage is not Stage.PRODUCTION:
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                "--guard applies to promotions to Production only; leave it out here.",
            )
        if plan.rollback_target_after is None:
            raise RegistryError(
                ErrorCode.INVALID_TRANSITION,
                f"{model!r} has no Production version before v{plan.version}, so a guard "
                "would have nothing to roll back to; promote without --guard.",
            )
        plan = plan.model_copy(update={"guard": guard})
    return plan


def _stage_plan(
    kind: ChangeKind,
    model: str,
    version: int | None,
    stage: Stage,
    aliases: AliasState,
    version_info: Callable[[int], VersionInfo],
    primary_metric: str,
) -> ChangePlan:
    if kind is ChangeKind.ROLLBACK:
        return _rollback(model, version, aliases, version_info, primary_metric)
    if version is None:
        raise RegistryError(ErrorCode.INVALID_INPUT, "A version to promote is required.")
    info = version_info(version)
    current = version_stage(aliases.aliases_of(version), info.system_tags.get(STAGE_TAG))
    reason = refusal(version, current, stage)
    if reason:
        raise RegistryError(ErrorCode.INVALID_TRANSITION, reason)
    holder = aliases.holder(stage)
    replaced = holder if holder is not None and holder != version else None
    replaced_to = None
    if replaced is not None:
        replaced_to = Stage.ARCHIVED if stage is Stage.PRODUCTION else Stage.NONE
    previous_after = aliases.previous
    if stage is Stage.PRODUCTION and replaced is not None:
        previous_after = replaced
    card, card_sha = _card_of(info, primary_metric)
    return ChangePlan(
        kind=kind,
        model=model,
        version=version,
        from_stage=current,
        to_stage=stage,
        replaced_version=replaced,
        replaced_to_stage=replaced_to,
        rollback_target_after=previous_after,
        card_complete=card.complete,
        missing_card_fields=card.missing_fields,
        card_sha=card_sha,
    )


def _rollback(
    model: str,
    version: int | None,
    aliases: AliasState,
    version_info: Callable[[int], VersionInfo],
    primary_metric: str,
) -> ChangePlan:
    current = aliases.production
    if current is None:
        raise RegistryError(
            ErrorCode.INVALID_TRANSITION,
            f"{model!r} has no Production version to roll back; promote one instead.",
        )
    target = version if version is not None else aliases.previous
    if target is None:
        raise RegistryError(
            ErrorCode.INVALID_TRANSITION,
            f"{model!r} has no previous Production version recorded; name the version "
            "to roll back to (--to V).",
        )
    if target == current:
        raise RegistryError(
            ErrorCode.INVALID_TRANSITION, f"v{target} is already in Production; nothing to do."
        )
    info = version_info(target)
    if SERVED_TAG not in info.system_tags:
        raise RegistryError(
            ErrorCode.INVALID_TRANSITION,
            f"v{target} has never been in Production, so it is not a rollback target; "
            "promote it through Staging instead.",
        )
    card, card_sha = _card_of(info, primary_metric)
    return ChangePlan(
        kind=ChangeKind.ROLLBACK,
        model=model,
        version=target,
        from_stage=version_stage(aliases.aliases_of(target), info.system_tags.get(STAGE_TAG)),
        to_stage=Stage.PRODUCTION,
        replaced_version=current,
        replaced_to_stage=Stage.ARCHIVED,
        rollback_target_after=current,
        card_complete=card.complete,
        missing_card_fields=card.missing_fields,
        card_sha=card_sha,
    )


def _canary(
    model: str,
    aliases: AliasState,
    version_info: Callable[[int], VersionInfo],
    primary_metric: str,
    before: CanaryState | None,
    after: CanaryState | None,
) -> ChangePlan:
    if after is None:
        if before is None:
            raise RegistryError(
                ErrorCode.INVALID_TRANSITION, f"{model!r} has no canary running; nothing to stop."
            )
        number = before.version
    else:
        number = after.version
        if aliases.production is None:
            raise RegistryError(
                ErrorCode.INVALID_TRANSITION,
                f"{model!r} has no Production version, so there is no traffic to share with "
                "a canary; promote a version first.",
            )
        if number == aliases.production:
            raise RegistryError(
                ErrorCode.INVALID_TRANSITION,
                f"v{number} is the Production version of {model!r}; a canary is another "
                "version (its Staging version, or the previous Production version).",
            )
        if number not in (aliases.staging, aliases.previous):
            warm = [f"v{v}" for v in (aliases.staging, aliases.previous) if v is not None]
            raise RegistryError(
                ErrorCode.INVALID_TRANSITION,
                f"v{number} of {model!r} is not loaded for serving: a canary runs on the "
                "Staging version or the previous Production version (warm now: "
                f"{', '.join(warm) or 'none'}). Promote v{number} to Staging first.",
            )
        if after == before:
            raise RegistryError(
                ErrorCode.INVALID_TRANSITION,
                f"The canary of {model!r} already runs like that ({after.describe()}).",
            )
    info = version_info(number)
    stage = version_stage(aliases.aliases_of(number), info.system_tags.get(STAGE_TAG))
    card, card_sha = _card_of(info, primary_metric)
    return ChangePlan(
        kind=ChangeKind.CANARY,
        model=model,
        version=number,
        from_stage=stage,
        to_stage=stage,
        card_complete=card.complete,
        missing_card_fields=card.missing_fields,
        card_sha=card_sha,
        canary_before=before,
        canary_after=after,
    )


def after_state(plan: ChangePlan, before: AliasState) -> AliasState:
    """The aliases once ``plan`` is applied to ``before``."""
    staging = None if before.staging == plan.version else before.staging
    production = None if before.production == plan.version else before.production
    if plan.to_stage is Stage.PRODUCTION:
        return AliasState(
            production=plan.version, staging=staging, previous=plan.rollback_target_after
        )
    if plan.to_stage is Stage.STAGING:
        return AliasState(production=production, staging=plan.version, previous=before.previous)
    return AliasState(production=production, staging=staging, previous=before.previous)


def accept_plan(
    model: str,
    approved: AliasState,
    found: AliasState,
    version_info: Callable[[int], VersionInfo],
    primary_metric: str = "accuracy",
    *,
    canary: CanaryState | None = None,
) -> ChangePlan:
    """The one ordinary stage change that turns the approved aliases into ``found`` (what
    MLflow shows after a change made outside modelreg), as a plan with the same rules as a
    promotion or rollback; raises when ``found`` is not one such change."""
    revert = (
        f"Restore the approved aliases with `modelreg approvals revert-unapproved {model}` "
        "and make the change through modelreg (`modelreg promote` / `modelreg rollback`)."
    )
    if found == approved:
        raise RegistryError(
            ErrorCode.INVALID_TRANSITION, f"{model!r} has no unapproved change; nothing to do."
        )
    kind, stage = ChangeKind.PROMOTE, Stage.PRODUCTION
    if found.production != approved.production:
        version = found.production
        if version is not None:
            tags = version_info(version).system_tags
            current = version_stage(approved.aliases_of(version), tags.get(STAGE_TAG))
            if current is Stage.ARCHIVED and SERVED_TAG in tags:
                kind = ChangeKind.ROLLBACK
    elif found.staging != approved.staging:
        version, stage = found.staging, Stage.STAGING
    else:
        raise RegistryError(
            ErrorCode.INVALID_TRANSITION,
            f"Only the rollback target of {model!r} moved outside modelreg; it is not a stage "
            f"change to approve. {revert}",
        )
    if version is None:
        raise RegistryError(
            ErrorCode.INVALID_TRANSITION,
            f"The {stage.value} alias of {model!r} was removed outside modelreg; accepting "
            f"approves a version moving into a stage, not an empty stage. {revert}",
        )
    try:
        plan = compute_plan(
            kind, model, version, stage, approved, version_info, primary_metric, canary=canary
        )
    except RegistryError as exc:
        raise RegistryError(
            exc.code, f"The change made outside modelreg is not allowed: {exc.message} {revert}"
        ) from None
    expected = after_state(plan, approved)
    staging_ok = {expected.staging}
    if plan.to_stage is Stage.PRODUCTION and approved.staging == plan.version:
        staging_ok.add(plan.version)  # MLflow's UI leaves the staging alias on it
    if (
        found.production != expected.production
        or found.staging not in staging_ok
        or found.previous not in (expected.previous, approved.previous)
    ):
        raise RegistryError(
            ErrorCode.INVALID_TRANSITION,
            f"MLflow's aliases of {model!r} (Production {_v(found.production)}, Staging "
            f"{_v(found.staging)}) are more than one stage change away from the approved ones "
            f"(Production {_v(approved.production)}, Staging {_v(approved.staging)}). {revert}",
        )
    return plan.model_copy(update={"accepts": found})


def _v(value: int | str | None) -> str:
    if value is None or value == "none":
        return "no version"
    return f"v{value}"

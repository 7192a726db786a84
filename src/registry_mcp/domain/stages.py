"""Stage vocabulary and rules: the aliases and tags that hold a version's stage, which
transitions are allowed, and why a refused one is refused."""

from __future__ import annotations

from collections.abc import Iterable

from registry_mcp.domain.schemas import Stage

RESERVED_PREFIX = "modelreg."
STAGE_TAG = "modelreg.stage"
SERVED_TAG = "modelreg.served_production_at"
"""Set on a version when it becomes Production: only such versions are rollback targets."""
PRODUCTION_ALIAS = "production"
STAGING_ALIAS = "staging"
PREVIOUS_ALIAS = "previous_production"
DELETED_STAGE = "Deleted_Internal"  # MLflow soft-deletes versions by setting this stage

ALLOWED: dict[Stage, frozenset[Stage]] = {
    Stage.NONE: frozenset({Stage.STAGING, Stage.ARCHIVED}),
    Stage.STAGING: frozenset({Stage.PRODUCTION, Stage.NONE, Stage.ARCHIVED}),
    Stage.PRODUCTION: frozenset({Stage.ARCHIVED}),
    Stage.ARCHIVED: frozenset({Stage.STAGING, Stage.NONE}),
}


def refusal(version: int, current: Stage, target: Stage) -> str | None:
    """Why ``version`` may not move from ``current`` to ``target``; None if it may."""
    if current is target:
        return f"v{version} is already in {target.value}; nothing to do."
    if target in ALLOWED[current]:
        return None
    if target is Stage.PRODUCTION and current is Stage.NONE:
        return f"v{version} is not in Staging; promote it to Staging first, then to Production."
    if target is Stage.PRODUCTION and current is Stage.ARCHIVED:
        return (
            f"v{version} is Archived; use rollback to return a former Production version, "
            "or promote it to Staging first."
        )
    if current is Stage.PRODUCTION:
        return (
            f"v{version} is in Production; promote another version to replace it, roll back, "
            "or archive it explicitly."
        )
    allowed = ", ".join(sorted(s.value for s in ALLOWED[current]))
    return f"v{version} cannot move from {current.value} to {target.value}; allowed: {allowed}."


def version_stage(aliases: Iterable[str], stage_tag: str | None) -> Stage:
    """A version's stage: aliases are the truth; Archived comes from the version tag."""
    alias_set = set(aliases)
    if PRODUCTION_ALIAS in alias_set:
        return Stage.PRODUCTION
    if STAGING_ALIAS in alias_set:
        return Stage.STAGING
    if stage_tag == Stage.ARCHIVED.value:
        return Stage.ARCHIVED
    return Stage.NONE

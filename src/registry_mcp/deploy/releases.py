"""Serving-side checks and reports of canaries and guards (the registry side is in core).

- :func:`router_stats`: the router's per-version window (``GET /admin/stats``);
- :func:`canary_report`: canary vs Production over the same window, with sample sizes.
"""

from __future__ import annotations

import time
from datetime import datetime
from shlex import quote
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.core.registry import Registry
from registry_mcp.deploy.controller_process import ControllerStatus
from registry_mcp.deploy.deployment import Deployment
from registry_mcp.deploy.router_client import RouterCallError
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.releases import CanaryState
from registry_mcp.store.releases import Guard
from serving.router.window import StatsReply, VersionStats


def router_stats(deployment: Deployment, since: float, until: float | None = None) -> StatsReply:
    if deployment.router is None:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            deployment.router_problem
            or "no router is configured; start serving with `modelreg serve up`",
        )
    try:
        return deployment.router.admin.stats(since, until)
    except RouterCallError as exc:
        raise RegistryError(ErrorCode.BACKEND, str(exc)) from None


class ArmStats(BaseModel):
    """One side of a canary comparison, over the canary's window."""

    model_config = ConfigDict(frozen=True)

    role: Literal["production", "canary"]
    version: int
    requests: int
    errors: int
    error_ratio: float | None
    p50_ms: float | None
    p99_ms: float | None
    feedback_rows: int = Field(description="Sample size of accuracy.")
    accuracy: float | None


class CanaryReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    canary: CanaryState | None
    started_at: datetime | None = None
    window_s: float | None = None
    production_version: int | None
    arms: list[ArmStats] = Field(default_factory=list)
    detail: str


def canary_report(registry: Registry, deployment: Deployment, model: str) -> CanaryReport:
    summary = registry.get_model(model, limit=1).model
    production = summary.approved.production
    running = registry.releases.canary(summary.name)
    if running is None:
        staging = summary.approved.staging
        how = (
            f"start one on its Staging version with `modelreg canary start {quote(summary.name)} "
            f"{staging} --percent 10 -r 'why'`"
            if staging is not None
            else "promote a version to Staging first, then start a canary on it"
        )
        return CanaryReport(
            model=summary.name,
            canary=None,
            production_version=production,
            detail=f"No canary is running for {summary.name}; {how}.",
        )
    since = running.started_at.timestamp()
    try:
        reply: StatsReply | None = router_stats(deployment, since)
        detail = "Same window for both versions: since the canary started."
    except RegistryError as exc:
        reply, detail = None, f"No router statistics: {exc.message}"
    versions = reply.models.get(summary.name, {}) if reply is not None else {}
    arms = []
    pairs = [("production", production), ("canary", running.canary.version)]
    for role, version in pairs:
        if version is not None:
            arms.append(_arm(role, version, versions.get(str(version))))  # type: ignore[arg-type]
    return CanaryReport(
        model=summary.name,
        canary=running.canary,
        started_at=running.started_at,
        window_s=round(time.time() - since, 1),
        production_version=production,
        arms=arms,
        detail=detail,
    )


def _arm(role: Literal["production", "canary"], version: int, s: VersionStats | None) -> ArmStats:
    if s is None:
        return ArmStats(
            role=role,
            version=version,
            requests=0,
            errors=0,
            error_ratio=None,
            p50_ms=None,
            p99_ms=None,
            feedback_rows=0,
            accuracy=None,
        )
    return ArmStats(
        role=role,
        version=version,
        requests=s.requests,
        errors=s.errors,
        error_ratio=s.error_ratio,
        p50_ms=s.p50_ms,
        p99_ms=s.p99_ms,
        feedback_rows=s.feedback_rows,
        accuracy=s.accuracy,
    )


class GuardList(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[Guard]
    watcher: ControllerStatus

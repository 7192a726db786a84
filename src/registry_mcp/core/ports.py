"""What the registry needs from serving, and what serving reports back (the serving port).

``deploy.Deployment`` implements :class:`ServingSide`; the registry's approval path and the
MCP tools call it through this protocol and never import the serving runtime.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import ConfigDict, Field

from registry_mcp.domain.compact_schema import CompactModel
from serving.rollout import ReconcileReport, SwitchResult


class _Result(CompactModel):
    model_config = ConfigDict(frozen=True)


class ServingState(_Result):
    configured: bool
    default_version: int | None = None
    loaded_versions: list[int] = Field(default_factory=list)
    in_sync: bool | None = Field(
        default=None, description="Serving default equals registry Production; null if unknown."
    )
    detail: str


class ServingUpdate(_Result):
    """What serving did after a registry change."""

    model: str
    switched_to: int | None = Field(description="The version made default, if a switch ran.")
    switch: SwitchResult | None = None
    reconcile: ReconcileReport | None = None
    in_sync: bool | None = None
    detail: str


class ServingSide(Protocol):
    """The serving side as the registry's tools see it."""

    def probe(self, model: str, production_version: int | None) -> ServingState:
        """What serves ``model`` now, compared with the registry's Production version."""
        ...

    def follow(self, model: str) -> ServingUpdate:
        """Make serving follow the registry after a stage change of ``model``."""
        ...

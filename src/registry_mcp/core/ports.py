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


class RouterUpdate(_Result):
    """What the prediction router did with the routing table computed from the registry."""

    updated: bool = Field(
        description="The router holds the table computed now (written, or already equal)."
    )
    verified: bool = Field(default=False, description="Read back from the router and equal.")
    url: str
    generation: int | None = Field(default=None, description="The router's table generation.")
    changed: bool = Field(default=False, description="A new generation was written.")
    routes: dict[str, str] = Field(
        default_factory=dict, description="Route -> the model its default resolved to."
    )
    omitted: list[str] = Field(
        default_factory=list, description="Versions and routes left out of the table, and why."
    )
    detail: str


class ServingUpdate(_Result):
    """What serving did after a registry change."""

    model: str
    switched_to: int | None = Field(description="The version made default, if a switch ran.")
    switch: SwitchResult | None = None
    reconcile: ReconcileReport | None = None
    in_sync: bool | None = None
    router: RouterUpdate | None = Field(
        default=None, description="The prediction router's table; null if no router is set up."
    )
    detail: str


class ServingSide(Protocol):
    """The serving side as the registry's tools see it."""

    def probe(self, model: str, production_version: int | None) -> ServingState:
        """What serves ``model`` now, compared with the registry's Production version."""
        ...

    def follow(self, model: str) -> ServingUpdate:
        """Make serving follow the registry after a stage change of ``model``."""
        ...

    def check_warm(self, model: str, version: int) -> None:
        """Raise unless ``version`` of ``model`` is loaded and ready (before a canary)."""
        ...

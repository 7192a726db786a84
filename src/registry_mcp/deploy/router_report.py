"""The router as ``serve status`` reports it: its process, and its table against the registry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.deploy.router_process import RouterProcess, RouterProcessStatus
from registry_mcp.deploy.router_sync import RouterSync, RouterTableStatus


class RouterReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    configured: bool = Field(description="False when the router settings are invalid.")
    process: RouterProcessStatus | None = None
    table: RouterTableStatus | None = Field(
        default=None, description="The router's table; null when the router is not running."
    )
    detail: str | None = None


def router_report(
    process: RouterProcess | None,
    sync: RouterSync | None,
    *,
    problem: str | None,
    torchserve_running: bool,
) -> RouterReport:
    if process is None or sync is None:
        return RouterReport(configured=False, detail=problem)
    status = process.status()
    if not status.running:
        return RouterReport(
            configured=True,
            process=status,
            detail="The router is not running; start it with `modelreg serve up`.",
        )
    return RouterReport(
        configured=True, process=status, table=sync.status(compare=torchserve_running)
    )

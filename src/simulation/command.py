"""`modelreg demo` and `modelreg chat` entry points (the CLI imports these lazily)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from rich.console import Console
from rich.prompt import Prompt

from agent.chat import chat_command
from agent.decisions import Approve, Deny
from agent.state import ApprovalRequest
from registry_mcp.domain.errors import ErrorCode, RegistryError

if TYPE_CHECKING:
    from registry_mcp.core.registry import Registry
    from simulation.run import SimulationReport

__all__ = ["chat_command", "demo_command"]


def _approver(console: Console, yes: bool) -> object:
    async def approve(request: ApprovalRequest) -> Approve | Deny:
        if yes:
            console.print("  Approved non-interactively (--yes).")
            return Approve(rationale="approved with --yes in the simulation run")
        answer = await anyio.to_thread.run_sync(
            lambda: Prompt.ask(
                "Approve this change?", choices=["approve", "deny"], default="deny", console=console
            )
        )
        why = await anyio.to_thread.run_sync(
            lambda: Prompt.ask("Rationale", default="", console=console)
        )
        return Approve(rationale=why) if answer == "approve" else Deny(rationale=why)

    return approve


def demo_command(
    registry: Registry, console: Console, *, yes: bool, keep: bool, actor: str
) -> SimulationReport:
    """Run the simulation; stop clearly (before changing anything) if nobody can approve."""
    # Here, not at the top: `modelreg chat` shares this module but needs neither training
    # (torch, scikit-learn) nor TorchServe.
    from registry_mcp.deploy.deployment import Deployment
    from simulation.monitoring import DemoMonitoring
    from simulation.run import print_summary, run_simulation

    if not yes and not sys.stdin.isatty():
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            "The demo stops for a human to approve a promotion, but no terminal is attached. "
            "Run it in a terminal, or pass --yes to approve non-interactively.",
        )
    deployment = Deployment.open(registry)
    home: Path = registry.settings.home
    router_url = (
        deployment.router_process.place.url if deployment.router_process is not None else ""
    )
    monitoring = DemoMonitoring(registry, router_url, registry.settings.serving_metrics_port)
    try:
        with monitoring:
            report = anyio.run(
                lambda: run_simulation(
                    registry,
                    deployment,
                    console,
                    approve=_approver(console, yes),  # type: ignore[arg-type]
                    actor=actor,
                    home=home,
                    monitoring=monitoring,
                )
            )
        print_summary(console, report, registry)
        if report.continuity is not None:
            console.print(
                f"Service continuity: {report.continuity.sent} requests during the rollback, "
                f"{report.continuity.failed} failed."
            )
    finally:
        if keep:
            console.print(
                "TorchServe and the router keep running (--keep); stop them with "
                "`modelreg serve down`."
            )
        else:
            with console.status("Stopping the router and TorchServe..."):
                if deployment.router_process is not None:
                    deployment.router_process.down()
                deployment.server.down()
        deployment.close()
    return report

"""`modelreg demo` and `modelreg chat` entry points (the CLI imports these lazily)."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import anyio
from rich.console import Console
from rich.prompt import Prompt

from agent.chat import chat_command
from agent.decisions import Approve, Deny
from agent.state import ApprovalRequest
from registry_mcp.cli.support import cli_console
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
        # Asked on the main thread, on purpose: Ctrl-C at the prompt stops the demo at once
        # (a prompt in a worker thread would keep the process waiting for Enter).
        answer = ""
        while answer not in ("approve", "deny"):
            answer = Prompt.ask("Decision (approve/deny)", console=console).strip().lower()
            if answer not in ("approve", "deny"):
                console.print("  Answer approve or deny (only approve approves).")
        if answer == "approve":
            return Approve(
                rationale=Prompt.ask("Approval note (optional)", default="", console=console)
            )
        return Deny(rationale=Prompt.ask("Reason for denying", default="", console=console))

    return approve


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _ctrl_c_stops_at_once() -> Iterator[None]:
    """Ctrl-C raises where the demo is, training included. Left to the event loop's own
    handler it would only cancel the run at its next await (after training, so the demo went
    on to deploy and promote) and be ignored until then."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def demo_command(
    registry: Registry, console: Console, *, yes: bool, keep: bool, actor: str
) -> SimulationReport:
    """Run the simulation; stop clearly (before changing anything) if nobody can approve,
    and at once on Ctrl-C."""
    if not yes and not sys.stdin.isatty():
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            "The demo stops for a human to approve a promotion, but no terminal is attached. "
            "Run it in a terminal, or pass --yes to approve non-interactively.",
        )
    with _ctrl_c_stops_at_once():
        try:
            return _run_demo(registry, console, yes=yes, keep=keep, actor=actor)
        except KeyboardInterrupt:
            cli_console(stderr=True).print(
                "Interrupted (Ctrl-C): the demo stopped there. What it registered or moved so "
                "far stays in the registry (see `modelreg audit`); "
                + (
                    "the router and TorchServe keep running (--keep)."
                    if keep
                    else "the router and TorchServe it started are stopped."
                ),
                highlight=False,
            )
            raise


def _run_demo(
    registry: Registry, console: Console, *, yes: bool, keep: bool, actor: str
) -> SimulationReport:
    # Here, not at the top: `modelreg chat` shares this module but needs neither training
    # (torch, scikit-learn) nor TorchServe.
    from registry_mcp.deploy.deployment import Deployment
    from simulation.monitoring import DemoMonitoring
    from simulation.run import print_summary, run_simulation

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
        # A second Ctrl-C must not leave TorchServe or the router behind half-stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
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

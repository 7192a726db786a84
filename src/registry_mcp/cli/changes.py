"""The CLI's one way to change what serves: show the plan, ask, apply through ``Approvals``.

Promotions, rollbacks and canaries all come here: the plan is shown, the human confirms at
the terminal (or passes ``--yes``), and exactly that plan is applied through the one apply
path the MCP tools use (re-checked under the lock; serving follows; one audit row).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from registry_mcp.cli.support import CLI_CLIENT, Ctx, ask_confirmation
from registry_mcp.domain.errors import RegistryError

if TYPE_CHECKING:
    from registry_mcp.domain.plans import ChangeKind


def apply_change(
    state: Ctx,
    kind: ChangeKind,
    name: str,
    *,
    version: str | None,
    rationale: str,
    expected: str | None,
    yes: bool,
    as_json: bool,
    stage: str = "Production",
    percent: object = None,
    mode: str = "split",
    guard: bool = False,
) -> None:
    from registry_mcp.cli import render
    from registry_mcp.core.approvals import Approvals
    from registry_mcp.core.change_requests import Approval
    from registry_mcp.deploy.deployment import Deployment

    registry = state.registry()
    actor = state.actor()
    deployment = Deployment.open(registry)
    try:
        approvals = Approvals.for_registry(
            registry, after_change=deployment.follow, check_warm=deployment.check_warm
        )
        req = approvals.request(
            kind,
            name,
            version=version,
            stage=stage,
            rationale=rationale,
            expected_current=expected,
            requested_by=actor,
            client=CLI_CLIENT,
            percent=percent,
            mode=mode,
            guard=guard,
        )
        try:
            plan = approvals.plan(req)
        except RegistryError as exc:
            raise approvals.refuse(req, exc) from None
        if approvals.needs_other_approver(plan):
            outcome = approvals.propose(req, plan)
        else:
            if not as_json:
                state.console.print(render.plan_panel(plan))
            try:
                confirmed = ask_confirmation(state, yes)
            except RegistryError as exc:
                raise approvals.refuse(req, exc) from None
            if not confirmed:
                approvals.decline(
                    req, plan, status="cancelled", approver=actor, client=CLI_CLIENT, note=None
                )
                state.err_console.print("Cancelled; nothing was changed.")
                raise typer.Exit(1)
            via = "--yes" if yes else "terminal confirmation"
            outcome = approvals.apply(
                req, plan, Approval(approver=actor, client=CLI_CLIENT, via=via)
            )
    finally:
        deployment.close()
    if as_json:
        render.print_json(state.console, outcome)
        return
    if outcome.transition is None:
        # Four-eyes: the change waits for someone else.
        state.console.print(render.escape(outcome.message))
        return
    if outcome.plan is not None and outcome.plan.kind.value == "canary":
        state.console.print(
            f"{render.escape(outcome.message)} (audit #{outcome.transition.audit_id})"
        )
    else:
        state.console.print(render.transition_line(outcome.transition))
        applied = outcome.plan
        if applied is not None and applied.guard is not None:
            from registry_mcp.deploy.controller_process import ControllerProcess

            state.console.print(
                f"Guarded for {applied.guard.window_s:g} s: the controller rolls it back "
                f"to v{applied.rollback_target_after} on breach; see `modelreg guard status`."
            )
            watcher = ControllerProcess(registry.settings.home).status()
            if not watcher.watching:
                state.console.print(
                    "[yellow]No controller is checking right now: start one with "
                    "`modelreg serve up` (it starts the controller) or `modelreg controller "
                    "run`. A guard whose window ends unwatched is judged late on its evidence, "
                    "or ends unjudged.[/]"
                )
    if outcome.serving is not None:
        state.console.print(f"Serving: {render.escape(outcome.serving.detail)}")

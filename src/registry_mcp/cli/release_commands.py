"""`modelreg canary start|stop|status|promote` and `modelreg guard status|watch`.

Starting, changing, stopping and promoting a canary change what serves Production traffic,
so each goes through the same plan -> human -> apply path as a stage change
(:func:`registry_mcp.cli.changes.apply_change`). The controller (`serve up` starts it) is
the process that rolls a guarded promotion back on breach, under the human's approval of that
promotion.
"""

from __future__ import annotations

from typing import Annotated

import typer

from registry_mcp.cli.changes import apply_change
from registry_mcp.cli.controller_commands import PrometheusUrlOpt, StatsFromOpt
from registry_mcp.cli.support import JsonOpt, RationaleOpt, YesOpt, get_ctx

canary_app = typer.Typer(
    help="Send a share of a model's Production traffic to a warm candidate version.",
    no_args_is_help=True,
)
guard_app = typer.Typer(
    help="Guarded promotions: rolled back automatically on breach (the controller judges them).",
    no_args_is_help=True,
)

ModelArg = Annotated[str, typer.Argument(help="Registered model name.")]


@canary_app.command("start")
def canary_start(
    ctx: typer.Context,
    name: ModelArg,
    version: Annotated[str, typer.Argument(help="Its Staging (or previous Production) version.")],
    percent: Annotated[
        str, typer.Option("--percent", "-p", help="Share of Production traffic, above 0 to 100.")
    ],
    rationale: RationaleOpt,
    mode: Annotated[
        str,
        typer.Option(help="split: the candidate answers its share; shadow: it gets a copy only."),
    ] = "split",
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Start (or change) a canary, after showing the plan and asking for confirmation.

    Requests that send `X-Routing-Key` always land on the same side for the same key."""
    from registry_mcp.domain.plans import ChangeKind

    apply_change(
        get_ctx(ctx),
        ChangeKind.CANARY,
        name,
        version=version,
        percent=percent,
        mode=mode,
        rationale=rationale,
        expected=None,
        yes=yes,
        as_json=as_json,
    )


@canary_app.command("stop")
def canary_stop(
    ctx: typer.Context,
    name: ModelArg,
    rationale: RationaleOpt,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Stop the canary: all Production traffic returns to the Production version."""
    from registry_mcp.domain.plans import ChangeKind

    apply_change(
        get_ctx(ctx),
        ChangeKind.CANARY,
        name,
        version=None,
        rationale=rationale,
        expected=None,
        yes=yes,
        as_json=as_json,
    )


@canary_app.command("promote")
def canary_promote(
    ctx: typer.Context,
    name: ModelArg,
    rationale: RationaleOpt,
    guard: Annotated[
        bool, typer.Option("--guard", help="Guard the promotion (see `modelreg promote --guard`).")
    ] = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Promote the canary's version to Production (this ends the canary)."""
    from registry_mcp.domain.errors import ErrorCode, RegistryError
    from registry_mcp.domain.plans import ChangeKind

    state = get_ctx(ctx)
    running = state.registry().releases.canary(name)
    if running is None:
        raise RegistryError(
            ErrorCode.INVALID_TRANSITION,
            f"{name!r} has no canary running; promote a version with `modelreg promote`.",
        )
    apply_change(
        state,
        ChangeKind.PROMOTE,
        name,
        version=str(running.canary.version),
        stage="Production",
        rationale=rationale,
        expected=None,
        yes=yes,
        as_json=as_json,
        guard=guard,
    )


@canary_app.command("status")
def canary_status(ctx: typer.Context, name: ModelArg, as_json: JsonOpt = False) -> None:
    """Canary vs Production over the same window: requests, errors, p50/p99, accuracy."""
    from registry_mcp.cli import render
    from registry_mcp.deploy.deployment import Deployment
    from registry_mcp.deploy.releases import canary_report

    state = get_ctx(ctx)
    registry = state.registry()
    deployment = Deployment.open(registry)
    try:
        report = canary_report(registry, deployment, name)
    finally:
        deployment.close()
    if as_json:
        render.print_json(state.console, report)
        return
    state.console.print(render.canary_table(report))


@guard_app.command("status")
def guard_status(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    limit: Annotated[int, typer.Option(help="Newest guards to show (1-500).", min=1, max=500)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Guarded promotions: watching, rolled back, passed or superseded, with evidence; and
    whether a watcher is checking them."""
    from registry_mcp.cli import render
    from registry_mcp.deploy.controller_process import ControllerProcess
    from registry_mcp.deploy.releases import GuardList
    from registry_mcp.domain import validation

    state = get_ctx(ctx)
    model = None if name is None else validation.model_name(name)
    registry = state.registry()
    guards = registry.releases.guards(model=model, limit=limit)
    watcher = ControllerProcess(registry.settings.home).status()
    if as_json:
        render.print_json(state.console, GuardList(items=guards, watcher=watcher))
        return
    state.console.print(render.guard_table(guards))
    state.console.print(render.escape(watcher.describe()))


@guard_app.command("watch")
def guard_watch(
    ctx: typer.Context,
    interval: Annotated[
        float, typer.Option(help="Seconds between checks.", min=0.05, max=60.0)
    ] = 0.5,
    once: Annotated[bool, typer.Option("--once", help="Check once and exit.")] = False,
    stats_from: StatsFromOpt = None,
    prometheus_url: PrometheusUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Judge guarded Production versions against the router's numbers (rolling back on
    breach) and keep serving on the approved state, in the foreground.

    `modelreg controller run --no-supervise`: it never starts or restarts TorchServe or the
    router. `serve up` already runs a controller in the background."""
    from registry_mcp.cli.controller_commands import _run_loop

    _run_loop(
        get_ctx(ctx),
        interval=interval,
        once=once,
        supervise=False,
        with_watchdog=False,
        as_json=as_json,
        stats_from=stats_from,
        prometheus_url=prometheus_url,
    )

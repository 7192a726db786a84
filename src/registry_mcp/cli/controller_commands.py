"""`modelreg controller run|status`: the loop that keeps serving equal to the approved registry
state and judges guards (``serve up`` starts it in the background with a watchdog)."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Annotated

import typer

from registry_mcp.cli.support import Ctx, JsonOpt, get_ctx

if TYPE_CHECKING:
    from registry_mcp.deploy.controller import TickReport

controller_app = typer.Typer(
    help="Keep serving equal to the approved registry state (load, switch, unload, router "
    "table, restarts) and judge guarded promotions.",
    no_args_is_help=True,
)

IntervalOpt = Annotated[
    float, typer.Option(help="Seconds between ticks (0.05-60).", min=0.05, max=60.0)
]
OnceOpt = Annotated[bool, typer.Option("--once", help="One tick, print it, and exit.")]
StatsFromOpt = Annotated[
    str | None,
    typer.Option(
        "--stats-from",
        help="Where guards read a version's requests: router (its own window) or prometheus "
        "(every router replica summed). Default: MODELREG_GUARD_STATS_FROM, else router.",
    ),
]
PrometheusUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--prometheus-url",
        help="Prometheus for --stats-from prometheus (default: MODELREG_PROMETHEUS_URL).",
    ),
]
_WATCHDOG_PAUSE_S = 0.5


@controller_app.command("run")
def run(
    ctx: typer.Context,
    interval: IntervalOpt = 0.5,
    once: OnceOpt = False,
    supervise: Annotated[
        bool,
        typer.Option(
            "--supervise/--no-supervise",
            help="Restart a dead TorchServe, KServe server or router (on by default).",
        ),
    ] = True,
    with_watchdog: Annotated[
        bool,
        typer.Option(
            "--with-watchdog",
            hidden=True,
            help="Keep a watchdog process that restarts this one (how `serve up` runs it).",
        ),
    ] = False,
    stats_from: StatsFromOpt = None,
    prometheus_url: PrometheusUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the controller in the foreground until interrupted (Ctrl-C stops it)."""
    state = get_ctx(ctx)
    _run_loop(
        state,
        interval=interval,
        once=once,
        supervise=supervise,
        with_watchdog=with_watchdog,
        as_json=as_json,
        stats_from=stats_from,
        prometheus_url=prometheus_url,
    )


def _run_loop(
    state: Ctx,
    *,
    interval: float,
    once: bool,
    supervise: bool,
    with_watchdog: bool,
    as_json: bool,
    stats_from: str | None = None,
    prometheus_url: str | None = None,
) -> None:
    import httpx

    from registry_mcp.cli import render
    from registry_mcp.core.approvals import Approvals
    from registry_mcp.deploy.controller import Controller, ControllerConfig
    from registry_mcp.deploy.controller_process import ControllerProcess
    from registry_mcp.deploy.deployment import Deployment
    from registry_mcp.deploy.guard_watch import GuardWatcher
    from registry_mcp.deploy.stats_source import guard_stats, parse_stats_from, prometheus_url_of

    prometheus = prometheus_url_of(state.settings(), parse_stats_from(stats_from), prometheus_url)
    registry = state.registry()
    process = ControllerProcess(registry.settings.home)
    if with_watchdog and not process.claim("run"):
        state.err_console.print(
            f"Another controller of this data home runs (pid {process.pid('run')}); exiting."
        )
        return
    deployment = Deployment.open(registry)
    http = httpx.Client(timeout=10.0, trust_env=False)
    try:
        approvals = Approvals.for_registry(
            registry, after_change=deployment.follow, check_warm=deployment.check_warm
        )
        watcher = GuardWatcher(
            registry,
            approvals,
            guard_stats(
                prometheus,
                http,
                scrape_interval_s=registry.settings.prometheus_scrape_interval_s,
                deployment=deployment,
            ),
            interval_hint_s=interval,
        )
        controller = Controller(
            registry,
            deployment,
            watcher,
            config=ControllerConfig(interval_s=interval),
            supervise=supervise,
        )
        if once:
            report = controller.tick()
            process.beat(_status_of(report))
            if as_json:
                render.print_json(state.console, report)
            else:
                _print_tick(state, report, quiet_when_idle=False)
            return
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        state.err_console.print(
            f"Controller: checking serving and guards every {interval:g} s (Ctrl-C stops)."
        )
        while not stop.is_set() and not (with_watchdog and process.stopping()):
            if with_watchdog:
                process.ensure("watchdog")
            report = controller.tick()
            process.beat(_status_of(report))
            _print_tick(state, report, quiet_when_idle=True)
            stop.wait(max(0.0, interval - report.elapsed_ms / 1000))
    finally:
        http.close()
        deployment.close()


def _status_of(report: TickReport) -> dict[str, object]:
    data: dict[str, object] = report.model_dump(mode="json")
    data["in_sync"] = report.in_sync
    return data


def _print_tick(state: Ctx, report: TickReport, *, quiet_when_idle: bool) -> None:
    from registry_mcp.cli import render

    for repair in report.repairs:
        where = repair.target + ("" if repair.model is None else f" {repair.model}")
        mark = "repaired" if repair.ok else "[yellow]not repaired[/]"
        state.console.print(
            f"{time.strftime('%H:%M:%S')} {mark} {render.escape(where)}: "
            f"{render.escape(repair.differed)} -> "
            f"{render.escape(repair.did)}",
            soft_wrap=True,
        )
    for verdict in report.guards:
        if verdict.action not in ("watching", "no_data") or not quiet_when_idle:
            state.console.print(render.guard_verdict(verdict), soft_wrap=True)
    if not quiet_when_idle:
        for problem in report.problems:
            state.console.print(f"[yellow]{render.escape(problem)}[/]", soft_wrap=True)
        state.console.print(
            ("In sync" if report.in_sync else "Converging")
            + f": TorchServe {report.torchserve}, "
            + ("" if report.kserve == "not_managed" else f"KServe {report.kserve}, ")
            + f"router {report.router}, "
            + f"{sum(m.in_sync for m in report.models)}/{len(report.models)} model(s) in sync "
            + f"({report.elapsed_ms:.0f} ms)."
        )


@controller_app.command("watchdog", hidden=True)
def watchdog(ctx: typer.Context) -> None:
    """Restart the controller whenever it dies, until `serve down` writes the stop mark."""
    from registry_mcp.deploy.controller_process import ControllerProcess

    state = get_ctx(ctx)
    process = ControllerProcess(state.settings().home)
    if not process.claim("watchdog"):
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    pause = _WATCHDOG_PAUSE_S
    while not stop.is_set() and not process.stopping():
        if process.pid("run") is None:
            state.err_console.print(
                f"{time.strftime('%H:%M:%S')} watchdog: the controller is not running; "
                "restarting it"
            )
            process.ensure("run")
            pause = min(pause * 2, 10.0)  # a controller that keeps dying is not hammered
        else:
            pause = _WATCHDOG_PAUSE_S
        stop.wait(pause)


@controller_app.command("status")
def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Whether the controller runs, when it last checked, and what it last saw."""
    from registry_mcp.cli import render
    from registry_mcp.deploy.controller_process import ControllerProcess

    state = get_ctx(ctx)
    found = ControllerProcess(state.settings().home).status()
    if as_json:
        render.print_json(state.console, found)
        return
    state.console.print(render.escape(found.describe()), soft_wrap=True)

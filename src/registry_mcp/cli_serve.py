"""`modelreg serve up|down|status|reconcile` and `modelreg predict`: local TorchServe."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from registry_mcp import render
from registry_mcp.cli_support import Ctx, get_ctx
from registry_mcp.deployment import Deployment, serving_error
from registry_mcp.errors import ErrorCode, RegistryError
from serving.errors import ServingError

serve_app = typer.Typer(help="Run and inspect the local TorchServe.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@contextmanager
def _deployment(state: Ctx) -> Iterator[Deployment]:
    """The deployment for one command; serving errors become registry errors."""
    deployment = Deployment.open(state.registry())
    try:
        yield deployment
    except ServingError as exc:
        raise serving_error(exc) from None
    finally:
        deployment.close()


@serve_app.command("up")
def up(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Start TorchServe (hardened: loopback, token auth) and load what the registry wants."""
    state = get_ctx(ctx)
    with _deployment(state) as deployment, state.err_console.status("Starting...") as spinner:
        status = deployment.server.up(progress=lambda msg: spinner.update(msg))
        spinner.update("Loading the registry's Production, previous and Staging versions...")
        reports = deployment.reconcile()
    if as_json:
        render.print_json(state.console, {"status": status, "reconcile": reports})
        return
    state.console.print(f"TorchServe up (pid {status.pid}): inference {status.inference_url}")
    for report in reports:
        state.console.print(
            f"  {render.escape(report.model)}: {len(report.actions)} action(s), "
            f"{'in sync' if report.in_sync else 'drift: ' + '; '.join(report.remaining)}"
        )


@serve_app.command("down")
def down(ctx: typer.Context) -> None:
    """Stop TorchServe; no process is left behind."""
    state = get_ctx(ctx)
    with _deployment(state) as deployment, state.err_console.status("Stopping...") as spinner:
        status = deployment.server.down(progress=lambda msg: spinner.update(msg))
    state.console.print("TorchServe stopped." if not status.running else "TorchServe still runs!")


@serve_app.command("status")
def status(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Per model: registry Production, serving default, loaded versions, in sync or drift."""
    state = get_ctx(ctx)
    with _deployment(state) as deployment:
        server = deployment.server.status()
        models = [model] if model else deployment.managed_models()
        rows = [deployment.status(name) for name in models] if server.running else []
    if as_json:
        render.print_json(state.console, {"server": server, "models": rows})
        return
    state.console.print(
        f"TorchServe: {'running' if server.running else 'stopped'}"
        f"{'' if server.pid is None else f' (pid {server.pid})'}\n"
        f"  inference  {server.inference_url}\n  management {server.management_url}\n"
        f"  metrics    {server.metrics_url}/metrics\n  key file   {server.key_file} (not shown)"
    )
    if not server.running:
        state.console.print("Start it with `modelreg serve up`.")
        return
    table = Table(title="Serving vs registry")
    for column in ("Model", "Registry Production", "Serving default", "Loaded", "State"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            render.escape(row.model),
            "-" if row.registry_production is None else f"v{row.registry_production}",
            "-" if row.serving_default is None else f"v{row.serving_default}",
            ", ".join(f"v{v}" for v in row.loaded_versions) or "-",
            "in sync" if row.in_sync else "[yellow]drift[/]: " + "; ".join(row.drift_reasons),
        )
    state.console.print(table)


@serve_app.command("reconcile")
def reconcile_cmd(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make serving match the registry (load, switch default, unload) and report drift left."""
    state = get_ctx(ctx)
    with _deployment(state) as deployment:
        if not deployment.running():
            raise RegistryError(
                ErrorCode.BACKEND, "TorchServe is not running; start it with `modelreg serve up`."
            )
        reports = deployment.reconcile([model] if model else None)
    if as_json:
        render.print_json(state.console, reports)
        return
    for report in reports:
        state.console.print(
            f"{render.escape(report.model)}: "
            + (", ".join(f"{a.kind} v{a.ts_version}" for a in report.actions) or "no changes")
            + (" -> in sync" if report.in_sync else " -> drift: " + "; ".join(report.remaining))
        )


def predict(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    input_file: Annotated[
        Path | None,
        typer.Option("--input", "-i", help='JSON file ({"inputs": [[...]]}); default stdin.'),
    ] = None,
    version: Annotated[int | None, typer.Option(help="A specific loaded version.")] = None,
) -> None:
    """Send one prediction request to the served model."""
    from serving.naming import served_name

    state = get_ctx(ctx)
    try:
        text = input_file.read_text() if input_file else sys.stdin.read()
        payload = json.loads(text)
    except OSError as exc:
        raise RegistryError(ErrorCode.INVALID_INPUT, f"Cannot read {input_file}: {exc}") from None
    except ValueError as exc:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f'Input is not JSON ({exc}); send {{"inputs": [[64 numbers], ...]}}.',
        ) from None
    with _deployment(state) as deployment:
        result = deployment.client.predict(served_name(model), payload, version)
    render.print_json(state.console, result)

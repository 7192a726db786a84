"""`modelreg serve up|down|status|reconcile` and `modelreg predict`: local TorchServe."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from registry_mcp.cli.support import Ctx, get_ctx
from registry_mcp.domain.errors import ErrorCode, RegistryError

if TYPE_CHECKING:
    from registry_mcp.deploy.deployment import Deployment
    from registry_mcp.store.models_file import ModelsFile

serve_app = typer.Typer(help="Run and inspect the local TorchServe.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@contextmanager
def _deployment(state: Ctx) -> Iterator[Deployment]:
    """The deployment for one command; serving errors become registry errors."""
    # Imported here, not at the top: the deployment brings the registry and TorchServe's
    # client, which `--help` and the other command groups do not need.
    from registry_mcp.deploy.deployment import Deployment, serving_error
    from serving.errors import ServingError

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
    from registry_mcp.cli import render

    state = get_ctx(ctx)
    with _deployment(state) as deployment, state.err_console.status("Starting...") as spinner:
        status = deployment.server.up(progress=lambda msg: spinner.update(msg))
        spinner.update("Loading the registry's Production, previous and Staging versions...")
        reports = deployment.reconcile()
        models_file = deployment.models_file
    if as_json:
        render.print_json(
            state.console,
            {"status": status, "reconcile": reports, "models_file": _file_info(models_file)},
        )
        return
    state.console.print(f"TorchServe up (pid {status.pid}): inference {status.inference_url}")
    if models_file is not None:
        state.console.print(f"  {render.escape(models_file.describe())}", soft_wrap=True)
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


def _unapproved(state: Ctx, models: list[str]) -> dict[str, str]:
    """Models whose aliases were moved outside modelreg, with what to do about it."""
    registry = state.registry()
    found = {}
    for name in models:
        summary = registry.get_model(name, limit=1).model
        if summary.unapproved_change:
            found[name] = summary.unapproved_change
    return found


def _file_info(models_file: ModelsFile | None) -> dict[str, str] | None:
    if models_file is None:
        return None
    return {"path": str(models_file.path), "origin": models_file.origin}


@serve_app.command("status")
def status(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Per model: registry Production, serving default, loaded versions, in sync or drift."""
    from rich.table import Table

    from registry_mcp.cli import render

    state = get_ctx(ctx)
    with _deployment(state) as deployment:
        if model is not None:  # checked even when nothing runs: a typo is reported either way
            model = state.registry().get_model(model, limit=1).model.name
        server = deployment.server.status()
        models = [model] if model is not None else deployment.managed_models()
        rows = [deployment.status(name) for name in models] if server.running else []
        alarms = _unapproved(state, models)
        models_file = deployment.models_file
    if as_json:
        render.print_json(
            state.console,
            {
                "server": server,
                "models": rows,
                "unapproved_changes": alarms,
                "models_file": _file_info(models_file),
            },
        )
        return
    for text in alarms.values():
        state.console.print(f"[bold red]{render.escape(text)}[/]")
    state.console.print(
        f"TorchServe: {'running' if server.running else 'stopped'}"
        f"{'' if server.pid is None else f' (pid {server.pid})'}\n"
        f"  inference  {server.inference_url}\n  management {server.management_url}\n"
        f"  metrics    {server.metrics_url}/metrics\n  key file   {server.key_file} (not shown)"
        + ("" if models_file is None else f"\n  {render.escape(models_file.describe())}"),
        soft_wrap=True,
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
    from registry_mcp.cli import render

    state = get_ctx(ctx)
    with _deployment(state) as deployment:
        if model is not None:  # the user's mistake first, then the server's state
            model = state.registry().get_model(model, limit=1).model.name
        if not deployment.running():
            raise RegistryError(
                ErrorCode.BACKEND, "TorchServe is not running; start it with `modelreg serve up`."
            )
        reports = deployment.reconcile([model] if model is not None else None)
        alarms = _unapproved(state, [report.model for report in reports])
    if as_json:
        render.print_json(state.console, reports)
        return
    for text in alarms.values():
        # Reconcile follows the approved versions; the moved aliases wait for a human.
        state.console.print(f"[bold red]{render.escape(text)}[/]")
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
        typer.Option(
            "--input", "-i", help='JSON file ({"inputs": [[...]]}); default or "-": stdin.'
        ),
    ] = None,
    version: Annotated[str | None, typer.Option(help="A specific loaded version.")] = None,
) -> None:
    """Send one prediction request to the served model."""
    from registry_mcp.cli import render
    from registry_mcp.domain import validation
    from registry_mcp.store import files
    from serving.naming import served_name

    state = get_ctx(ctx)
    # Everything the user typed is checked before TorchServe is contacted.
    name = validation.model_name(model)
    wanted = None if version is None else validation.version(version)
    text = files.read_input(input_file, what="input file")
    source = f"The {files.source_name(input_file, 'input file')}"
    payload = validation.json_document(text, what=source)
    if not isinstance(payload, dict | list):
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f'{source} must hold a JSON object like {{"inputs": [[64 numbers], ...]}} or a '
            "list of rows.",
        )
    with _deployment(state) as deployment:
        state.registry().get_model(name, limit=1)  # NOT_FOUND names the model and what to do
        if not deployment.running():
            raise RegistryError(
                ErrorCode.BACKEND, "TorchServe is not running; start it with `modelreg serve up`."
            )
        result = deployment.client.predict(served_name(name), payload, wanted)
    render.print_json(state.console, result)

"""`modelreg serve up|down|status|reconcile|plan` and `modelreg predict`: local TorchServe (and
KServe's model server, when a model has backend: kserve) and the prediction router in front."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from registry_mcp.cli.support import Ctx, get_ctx
from registry_mcp.domain.errors import ErrorCode, RegistryError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from registry_mcp.core.ports import RouterUpdate
    from registry_mcp.deploy.controller_process import ControllerProcess
    from registry_mcp.deploy.deployment import Deployment
    from registry_mcp.deploy.router_predict import RoutedPrediction
    from registry_mcp.deploy.router_process import RouterProcess
    from registry_mcp.deploy.router_report import RouterReport
    from registry_mcp.store.models_file import ModelsFile
    from serving.kserve.local import KServeStatus

serve_app = typer.Typer(
    help="Run and inspect the local TorchServe (and KServe model server) and the router.",
    no_args_is_help=True,
)
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


def _router_process(deployment: Deployment) -> RouterProcess:
    """The router next to this TorchServe; INVALID_INPUT when its settings are wrong."""
    if deployment.router_process is None:
        raise RegistryError(ErrorCode.INVALID_INPUT, deployment.router_problem or "no router")
    return deployment.router_process


@serve_app.command("up")
def up(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Start TorchServe (hardened: loopback, token auth), KServe's model server when a model
    has backend: kserve, and the router in front of them; load what the registry wants, give
    the router its routing table, and start the controller that keeps serving on the
    approved registry state from then on."""
    from registry_mcp.cli import render

    state = get_ctx(ctx)
    with _deployment(state) as deployment, state.err_console.status("Starting...") as spinner:
        router = _router_process(deployment)
        router.preflight()  # a bad router setting stops `up` before anything starts
        kserve = None
        if deployment.kserve is not None and deployment.kserve_needed():
            spinner.update(f"Starting the KServe model server on {deployment.kserve.server.url}...")
            deployment.kserve.up()  # first: a missing interpreter stops `up` early
            kserve = deployment.kserve.server.status()
        status = deployment.server.up(progress=lambda msg: spinner.update(msg))
        spinner.update(f"Starting the router on {router.place.url}...")
        router_status = router.up()
        spinner.update("Loading the registry's Production, previous and Staging versions...")
        outcome = deployment.reconcile_all()
        models_file = deployment.models_file
        spinner.update("Starting the controller...")
        controller = _controller_process(state).up()
    if as_json:
        render.print_json(
            state.console,
            {
                "status": status,
                "kserve": kserve,
                "reconcile": outcome.reports,
                "router": router_status,
                "router_table": outcome.router,
                "controller": controller,
                "models_file": _file_info(models_file),
            },
        )
        return
    state.console.print(f"TorchServe up (pid {status.pid}): inference {status.inference_url}")
    if kserve is not None:
        state.console.print(f"KServe model server up (pid {kserve.pid}): {kserve.url}")
    state.console.print(f"Router up (pid {router_status.pid}): {router_status.url}")
    state.console.print(
        f"Controller up (pid {controller.pid}): keeps serving on the approved registry state "
        f"and judges guards; log {controller.log_file}",
        soft_wrap=True,
    )
    if models_file is not None:
        state.console.print(f"  {render.escape(models_file.describe())}", soft_wrap=True)
    for report in outcome.reports:
        state.console.print(
            f"  {render.escape(report.model)}: {len(report.actions)} action(s), "
            f"{'in sync' if report.in_sync else 'drift: ' + '; '.join(report.remaining)}"
        )
    _print_router_update(state, outcome.router)


def _controller_process(state: Ctx) -> ControllerProcess:
    from registry_mcp.deploy.controller_process import ControllerProcess

    return ControllerProcess(state.settings().home)


def _print_router_update(state: Ctx, update: RouterUpdate | None) -> None:
    from registry_mcp.cli import render

    if update is None:
        return
    style = "" if update.updated else "[yellow]"
    state.console.print(f"  {style}{render.escape(update.detail)}", soft_wrap=True)


@serve_app.command("down")
def down(ctx: typer.Context) -> None:
    """Stop the controller, the router, TorchServe and the KServe model server; no process is
    left behind."""
    state = get_ctx(ctx)
    with _deployment(state) as deployment, state.err_console.status("Stopping...") as spinner:
        # First: a running controller would restart what is being stopped.
        spinner.update("Stopping the controller...")
        controller_running = _controller_process(state).down().running
        router = deployment.router_process
        if router is not None:
            spinner.update("Stopping the router...")
            router_running = router.down().running
        status = deployment.server.down(progress=lambda msg: spinner.update(msg))
        kserve = None
        if deployment.kserve is not None and deployment.kserve.server.pid is not None:
            spinner.update("Stopping the KServe model server...")
            deployment.kserve.server.down()
            kserve = deployment.kserve.server.status()
    state.console.print(
        "Controller stopped." if not controller_running else "The controller still runs!"
    )
    if router is not None:
        state.console.print("Router stopped." if not router_running else "The router still runs!")
    state.console.print("TorchServe stopped." if not status.running else "TorchServe still runs!")
    if kserve is not None:
        state.console.print(
            "KServe model server stopped."
            if not kserve.running
            else "The KServe server still runs!"
        )


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
        kserve = _kserve_info(deployment, models)
        up = {"torchserve": server.running, "kserve": kserve is not None and kserve.running}
        rows = [deployment.status(name) for name in models if up[deployment.backend_kind(name)]]
        alarms = _unapproved(state, models)
        models_file = deployment.models_file
        router = _router_info(deployment, server.running)
        controller = _controller_process(state).status()
    if as_json:
        render.print_json(
            state.console,
            {
                "server": server,
                "kserve": kserve,
                "router": router,
                "controller": controller,
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
    if kserve is not None:
        state.console.print(
            f"KServe model server: {'running' if kserve.running else 'stopped'}"
            f"{'' if kserve.pid is None else f' (pid {kserve.pid})'}\n"
            f"  url        {kserve.url}  (Open Inference Protocol v2; metrics {kserve.url}/metrics)"
            f"\n  python     {kserve.python}\n  token      {kserve.token_file} (not shown)",
            soft_wrap=True,
        )
    _print_router_status(state, router)
    state.console.print(render.escape(controller.describe()), soft_wrap=True)
    if not server.running or (kserve is not None and not kserve.running):
        state.console.print("Start serving with `modelreg serve up`.")
    if not rows:
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


def _kserve_info(deployment: Deployment, models: list[str]) -> KServeStatus | None:
    """The KServe server's status when a model uses it or it runs; None otherwise."""
    side = deployment.kserve
    if side is None:
        return None
    found = side.server.status()
    return found if found.running or deployment.kserve_needed(models) else None


def _router_info(deployment: Deployment, torchserve_running: bool) -> RouterReport:
    from registry_mcp.deploy.router_report import router_report

    return router_report(
        deployment.router_process,
        deployment.router,
        problem=deployment.router_problem,
        torchserve_running=torchserve_running,
    )


def _print_router_status(state: Ctx, report: RouterReport) -> None:
    from registry_mcp.cli import render

    process = report.process
    if process is None:
        state.console.print(f"Router: [yellow]{render.escape(report.detail or '')}[/]")
        return
    state.console.print(
        f"Router: {'running' if process.running else 'stopped'}"
        f"{'' if process.pid is None else f' (pid {process.pid})'}\n"
        f"  url        {process.url}  (POST /predictions/MODEL, POST /routes/ROUTE)\n"
        f"  metrics    {process.url}/metrics\n"
        f"  admin      {process.token_file} (not shown)",
        soft_wrap=True,
    )
    table = report.table
    if table is None:
        return
    if not table.reachable:
        state.console.print(f"  table      [yellow]{render.escape(table.detail)}[/]")
        return
    state.console.print(
        f"  table      generation {table.generation}"
        + ("" if table.updated_at is None else f", updated {table.updated_at}")
        + f"; {render.escape(table.detail)}",
        soft_wrap=True,
    )
    for route, model in sorted(table.routes.items()):
        state.console.print(f"  route      {render.escape(route)} -> {render.escape(model)}")


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
        outcome = deployment.reconcile_all([model] if model is not None else None)
        reports = outcome.reports
        alarms = _unapproved(state, [report.model for report in reports])
    if as_json:
        render.print_json(state.console, {"reconcile": reports, "router": outcome.router})
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
    _print_router_update(state, outcome.router)


@serve_app.command("plan")
def plan(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Per model in models.yaml: local workers and batching, Kubernetes replicas, CPU/memory
    requests and limits, GPUs (read from the models config; no cluster needed)."""
    from rich.table import Table

    from registry_mcp.cli import render
    from registry_mcp.deploy.capacity_plan import capacity_plan
    from registry_mcp.store.models_file import load_models_file

    state = get_ctx(ctx)
    models_file = load_models_file(state.settings())
    result = capacity_plan(models_file.config)
    if as_json:
        render.print_json(state.console, {"plan": result, "models_file": _file_info(models_file)})
        return
    state.console.print(render.escape(models_file.describe()), soft_wrap=True)
    table = Table(title="Capacity plan (local TorchServe | Kubernetes, per pod: request / limit)")
    for column in ("Model", "Workers", "Batch", "Pods", "CPU", "Memory", "GPU"):
        table.add_column(column, no_wrap=True)
    for row in [*result.models, result.defaults]:
        local, k8s = row.local, row.kubernetes
        table.add_row(
            render.escape(row.model),
            f"{local.min_workers}-{local.max_workers}",
            f"{local.batch_size}/{local.max_batch_delay_ms}ms",
            str(k8s.replicas),
            f"{k8s.cpu_request}/{k8s.cpu_limit or '-'}",
            f"{k8s.memory_request}/{k8s.memory_limit or '-'}",
            str(k8s.gpu),
        )
    state.console.print(table)
    totals = result.totals
    state.console.print(
        f"Totals over all replicas: {totals.replicas} pod(s), CPU requests "
        f"{totals.cpu_request_millicores:g}m, memory requests "
        f"{totals.memory_request_bytes / 2**30:.2f} GiB, {totals.gpu} GPU(s); "
        f"local TorchServe: up to {totals.max_local_workers} Production worker(s)."
    )


def predict(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Argument(help="Registered model name (or give --route).")
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input", "-i", help='JSON file ({"inputs": [[...]]}); default or "-": stdin.'
        ),
    ] = None,
    version: Annotated[str | None, typer.Option(help="A specific loaded version.")] = None,
    route: Annotated[
        str | None, typer.Option(help="Send to this route of the router instead of a model.")
    ] = None,
    via_router: Annotated[
        bool, typer.Option("--via-router", help="Send MODEL's request through the router.")
    ] = False,
    header: Annotated[
        list[str] | None,
        typer.Option(help="Request header NAME=VALUE for the router's rules (repeatable)."),
    ] = None,
) -> None:
    """Send one prediction request to the served model, or through the router."""
    from registry_mcp.cli import render
    from registry_mcp.deploy.router_predict import check_route_name, parse_headers
    from registry_mcp.domain import validation
    from registry_mcp.store import files
    from serving.naming import served_name

    state = get_ctx(ctx)
    # Everything the user typed is checked before anything is contacted.
    if (model is None) == (route is None):
        raise RegistryError(
            ErrorCode.INVALID_INPUT, "Give a MODEL, or --route NAME to use a route of the router."
        )
    name = None if model is None else validation.model_name(model)
    wanted = None if version is None else validation.version(version)
    if route is not None and wanted is not None:
        raise RegistryError(ErrorCode.INVALID_INPUT, "--version applies to a MODEL, not a route.")
    routed = route is not None or via_router
    headers = parse_headers(header or [])
    if headers and not routed:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            "--header goes with --route or --via-router (the router's rules).",
        )
    route_name = None if route is None else check_route_name(route)
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
        if name is not None:  # NOT_FOUND names the model and what to do
            name = state.registry().get_model(name, limit=1).model.name
        if routed:
            result: BaseModel = _predict_routed(
                deployment, name, wanted, route_name, payload, headers
            )
        else:
            assert name is not None
            if not deployment.backend_running(name):
                server = deployment.server_name(name)
                raise RegistryError(
                    ErrorCode.BACKEND,
                    f"{server[:1].upper() + server[1:]} is not running; start it with "
                    "`modelreg serve up`.",
                )
            backend = deployment.backend_for(name)
            answered = backend.predict(served_name(name), payload, wanted)
            # `class` as TorchServe and the router answer it (the field is `label` in Python).
            render.print_json(state.console, answered.model_dump(mode="json", by_alias=True))
            return
    render.print_json(state.console, result)


def _predict_routed(
    deployment: Deployment,
    model: str | None,
    version: int | None,
    route: str | None,
    payload: object,
    headers: dict[str, str],
) -> RoutedPrediction:
    import httpx

    from registry_mcp.deploy.router_predict import predict_via_router, router_path

    process = _router_process(deployment)
    if not process.running():
        raise RegistryError(
            ErrorCode.BACKEND,
            f"The router ({process.place.url}) is not running; start it with `modelreg serve up`.",
        )
    from registry_mcp.deploy.router_process import read_admin_token

    path = router_path(model=model, version=version, route=route)
    if version is not None:
        # A pinned version may be for the router's admin only (models.yaml
        # `pinned_versions`); the operator running this command holds its token.
        token = read_admin_token(process.place)
        if token is not None:
            headers = {**headers, "X-Admin-Token": token}
    with httpx.Client(timeout=httpx.Timeout(60.0, connect=2.0), trust_env=False) as http:
        return predict_via_router(http, process.place.url, path, payload, headers)

"""The `modelreg` command line: train, query, promote, roll back and audit models.

Each command imports what it uses when it runs (the registry, MLflow, TorchServe's client,
torch, the agent): importing them all up front made every command, `--help` included, pay
seconds for libraries most commands never touch. tests/test_cli_startup.py guards this.
"""

from __future__ import annotations

import atexit
import gc
import os

# MLflow configures its logging when first imported (by the commands that need it): quiet
# it before then.
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from registry_mcp.cli.changes import apply_change
from registry_mcp.cli.controller_commands import controller_app
from registry_mcp.cli.k8s_commands import k8s_app, tf_app
from registry_mcp.cli.mcp_commands import approvals_app, tokens_app
from registry_mcp.cli.mcp_commands import mcp as mcp_command
from registry_mcp.cli.mcp_config import mcp_config
from registry_mcp.cli.metrics_commands import dashboards_app, monitoring_app
from registry_mcp.cli.metrics_commands import metrics as metrics_command
from registry_mcp.cli.models import models_app
from registry_mcp.cli.release_commands import canary_app, guard_app
from registry_mcp.cli.serve import predict as predict_command
from registry_mcp.cli.serve import serve_app
from registry_mcp.cli.support import (
    Ctx,
    JsonOpt,
    RationaleOpt,
    YesOpt,
    cli_console,
    get_ctx,
)
from registry_mcp.domain.errors import ErrorCode, RegistryError

if TYPE_CHECKING:
    from pydantic import ValidationError


T = TypeVar("T")

app = typer.Typer(
    name="modelreg",
    help="Model registry on MLflow: versions, stages, model cards, tags and an audit trail.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(models_app, name="models")
app.add_typer(approvals_app, name="approvals")
app.add_typer(tokens_app, name="tokens")
mcp_app = typer.Typer(
    help="Run the MCP server (stdio by default), or print a client's entry for it."
)
mcp_app.callback(invoke_without_command=True)(mcp_command)
mcp_app.command(name="config")(mcp_config)
app.add_typer(mcp_app, name="mcp")
app.command(name="metrics")(metrics_command)
app.add_typer(dashboards_app, name="dashboards")
app.add_typer(monitoring_app, name="monitoring")
app.add_typer(serve_app, name="serve")
app.add_typer(canary_app, name="canary")
app.add_typer(guard_app, name="guard")
app.add_typer(controller_app, name="controller")
app.command(name="predict")(predict_command)
app.add_typer(k8s_app, name="k8s")
app.add_typer(tf_app, name="tf")


@app.callback()
def _root(
    ctx: typer.Context,
    actor: Annotated[
        str | None, typer.Option(help="Who acts (default: MODELREG_ACTOR or the OS user).")
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option(help="Data home (default: MODELREG_HOME or ~/.modelreg).", file_okay=False),
    ] = None,
) -> None:
    state = Ctx(actor_override=actor, home_override=home)
    ctx.obj = state
    ctx.call_on_close(state.close)


@app.command()
def init(ctx: typer.Context) -> None:
    """Create or migrate the registry database (also done on first use)."""
    from registry_mcp.core.registry import Registry

    state = get_ctx(ctx)
    # The full initialisation, even when the quick schema check on open would pass.
    registry = Registry.open(state.settings(), initialise=False)
    try:
        registry.initialise()
    finally:
        registry.close()
    state.console.print(
        f"Registry ready: {registry.settings.resolved_registry_uri.split('@')[-1]} "
        f"({registry.dialect})"
    )


@app.command()
def train(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Option(
            help="Registered model name (default: mnist-classifier, mnist-cnn or "
            "digits-encoder, by architecture)."
        ),
    ] = None,
    architecture: Annotated[
        str,
        typer.Option(
            "--architecture",
            "-a",
            help="mlp (fast classifier), cnn (high-accuracy classifier) or encoder (feature "
            "extractor: one 16-value vector per digit).",
        ),
    ] = "mlp",
    hidden: Annotated[int, typer.Option(help="Hidden units.")] = 64,
    embedding_dim: Annotated[
        int, typer.Option(help="encoder: length of the vector it answers with.")
    ] = 16,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 30,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-2,
    batch_size: Annotated[int, typer.Option(help="Mini-batch size.")] = 64,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same model).")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Train a digits model, log it to MLflow and register a new version."""
    from pydantic import ValidationError
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from registry_mcp.cli import render
    from registry_mcp.training.job import train_and_register
    from registry_mcp.training.trainer import TrainConfig

    state = get_ctx(ctx)
    try:
        config = TrainConfig(
            architecture=architecture,
            hidden=hidden,
            embedding_dim=embedding_dim,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            seed=seed,
        )
    except ValidationError as exc:
        raise RegistryError(ErrorCode.INVALID_INPUT, _pydantic_message(exc)) from None
    registry = state.registry()
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} epochs"),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TimeRemainingColumn(),
        console=state.err_console,
        disable=as_json or not state.err_console.is_terminal,
    )
    with progress:
        task = progress.add_task(
            f"Training {name or config.architecture}", total=config.epochs, loss=float("nan")
        )
        outcome = train_and_register(
            registry,
            config,
            name=name,
            actor=state.actor(),
            on_epoch=lambda epoch, loss: progress.update(task, completed=epoch, loss=loss),
        )
    if as_json:
        render.print_json(state.console, outcome)
        return
    state.console.print(
        f"Registered [b]{outcome.version.name}[/] v{outcome.version.version}: "
        f"{outcome.primary_metric} {outcome.accuracy:.2%}, in-process p50 latency "
        f"{outcome.p50_latency_ms:.3f} ms "
        f"(run {outcome.run_id})"
    )


@app.command()
def promote(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Argument(help="Version number, e.g. 3.")],
    stage: Annotated[str, typer.Option("--stage", "-s", help="Staging, Production, ...")],
    rationale: RationaleOpt,
    expect_current: Annotated[
        str | None,
        typer.Option(help="Refuse unless the stage's current version is this (or 'none')."),
    ] = None,
    guard: Annotated[
        bool,
        typer.Option(
            "--guard",
            help="Production only: roll back automatically if the new version breaks the "
            "model's guard (models.yaml) during its window; shown on the plan you approve.",
        ),
    ] = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Move a version to a stage, after showing the change and asking for confirmation."""
    from registry_mcp.domain.plans import ChangeKind

    apply_change(
        get_ctx(ctx),
        ChangeKind.PROMOTE,
        name,
        version=version,
        stage=stage,
        rationale=rationale,
        expected=expect_current,
        yes=yes,
        as_json=as_json,
        guard=guard,
    )


@app.command()
def rollback(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    rationale: RationaleOpt,
    to: Annotated[
        str | None, typer.Option("--to", help="Former Production version (default: previous).")
    ] = None,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Return Production to the previous (or a named former) Production version."""
    from registry_mcp.domain.plans import ChangeKind

    apply_change(
        get_ctx(ctx),
        ChangeKind.ROLLBACK,
        name,
        version=to,
        rationale=rationale,
        expected=None,
        yes=yes,
        as_json=as_json,
    )


@app.command()
def audit(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    since: Annotated[
        datetime | None, typer.Option(help="From this time (ISO 8601, UTC if no zone).")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="Before this time.")] = None,
    limit: Annotated[int, typer.Option(help="Entries per page (1-500).")] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the audit trail: who moved what, when and why."""
    from registry_mcp.cli import render

    state = get_ctx(ctx)
    page = state.registry().audit_log(
        model=name, since=since, until=until, limit=limit, cursor=cursor
    )
    if as_json:
        render.print_json(state.console, page)
        return
    state.console.print(render.audit_table(page))
    if page.next_cursor:
        state.console.print(f"More: --cursor {page.next_cursor}")


@app.command()
def demo(
    ctx: typer.Context,
    yes: YesOpt = False,
    keep: Annotated[bool, typer.Option("--keep", help="Leave TorchServe running.")] = False,
) -> None:
    """Simulation run: train v1 and v2, deploy, ask the agent, approve, verify, roll back."""
    from simulation.command import demo_command

    state = get_ctx(ctx)
    report = demo_command(state.registry(), state.console, yes=yes, keep=keep, actor=state.actor())
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def chat(
    ctx: typer.Context,
    thread: Annotated[
        str | None, typer.Option("--thread", "--resume", help="Resume this conversation.")
    ] = None,
) -> None:
    """Chat with the registry agent in the terminal (approve or deny every change)."""
    from simulation.command import chat_command

    state = get_ctx(ctx)
    raise typer.Exit(
        chat_command(
            state.settings().home, thread, actor=state.actor_override, console=state.console
        )
    )


def _pydantic_message(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return "Invalid option: " + "; ".join(parts) + "."


@contextmanager
def _user_errors(console: Console) -> Iterator[None]:
    try:
        yield
    except RegistryError as exc:
        console.print(
            f"[red]error[/] ({exc.code.value}): {escape(exc.message)}",
            highlight=False,
            soft_wrap=True,
        )
        raise SystemExit(2 if exc.is_user_error else 1) from None
    except KeyboardInterrupt:
        console.print("Interrupted; nothing further was changed.")
        raise SystemExit(130) from None


def run(entry: Callable[[], T]) -> T:
    with _user_errors(cli_console(stderr=True)):
        return entry()


def main() -> None:
    # On exit the interpreter garbage-collects every object still alive: hundreds of
    # thousands once MLflow is loaded, about half a second of a rollback. What must be
    # released is released before that (the registry's connections when the command's
    # context closes, deployments in `finally`), so freeze the survivors instead. Registered
    # first, it runs after every other exit handler.
    atexit.register(gc.freeze)
    run(lambda: app(prog_name="modelreg"))
    sys.exit(0)

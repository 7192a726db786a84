"""`modelreg metrics` serves the registry's state to Prometheus (monitoring/prometheus);
`modelreg dashboards render` writes the Grafana dashboard (monitoring/grafana)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from registry_mcp.cli.support import get_ctx

LOOPBACK = ("127.0.0.1", "::1", "localhost")
dashboards_app = typer.Typer(help="Grafana dashboards.", no_args_is_help=True)


@dashboards_app.command("render")
def render_dashboard(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write here (e.g. monitoring/grafana/dashboards/modelreg.json); default stdout.",
        ),
    ] = None,
) -> None:
    """Render the serving dashboard from the models file in effect (deterministic JSON)."""
    from registry_mcp.domain.errors import ErrorCode, RegistryError
    from registry_mcp.metrics.dashboard import render
    from registry_mcp.store.models_file import load_models_file

    state = get_ctx(ctx)
    models = load_models_file(state.settings())
    text = render(models.config)
    if out is None:
        state.console.out(text, end="")
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RegistryError(
            ErrorCode.INVALID_INPUT, f"cannot write {out}: {exc.strerror or exc}"
        ) from None
    state.err_console.print(f"Wrote {out} (models from {models.path})")


def metrics(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Bind address (loopback unless you mean it).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="HTTP port.", min=1, max=65535)] = 9109,
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="Allow a non-loopback --host: model names and versions become readable "
            "by anyone who can reach the port.",
        ),
    ] = False,
) -> None:
    """Serve /metrics with the registry's versions, change history and per-model SLOs."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client import make_wsgi_app

    from registry_mcp.domain.errors import ErrorCode, RegistryError
    from registry_mcp.metrics.registry_exporter import registry_metrics

    if host not in LOOPBACK and not public:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"--host {host} is not loopback; add --public to expose the registry's model "
            "names and versions there, or bind 127.0.0.1.",
        )
    state = get_ctx(ctx)
    registry = state.registry()

    class _Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

    try:
        server = make_server(
            host, port, make_wsgi_app(registry_metrics(registry)), handler_class=_Quiet
        )
    except OSError as exc:
        raise RegistryError(
            ErrorCode.INVALID_INPUT, f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    state.err_console.print(f"Registry metrics on http://{host}:{port}/metrics (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


monitoring_app = typer.Typer(help="Prometheus for the local stack.", no_args_is_help=True)


@monitoring_app.command("config")
def monitoring_config(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here; default stdout.")
    ] = None,
    exporter_port: Annotated[
        int, typer.Option(help="Port of `modelreg metrics`.", min=1, max=65535)
    ] = 9109,
    rules: Annotated[
        Path | None,
        typer.Option(
            help="Recording and alert rules (default: the checkout's monitoring/prometheus/"
            "rules, when present).",
            file_okay=False,
        ),
    ] = None,
    interval: Annotated[str, typer.Option(help="Scrape and evaluation interval.")] = "15s",
) -> None:
    """A Prometheus config scraping this stack's router, TorchServe and registry exporter
    at the ports in effect (MODELREG_ROUTER_PORT, MODELREG_SERVING_METRICS_PORT)."""
    import re

    from registry_mcp.deploy.router_settings import RouterPlace
    from registry_mcp.domain.errors import ErrorCode, RegistryError
    from registry_mcp.metrics.prometheus_config import RULES, prometheus_config

    if not re.fullmatch(r"[1-9][0-9]*(ms|s|m|h)", interval):
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"--interval {interval!r} is not a Prometheus duration; write e.g. 15s or 1m.",
        )
    if rules is not None and not rules.is_dir():
        raise RegistryError(
            ErrorCode.INVALID_INPUT, f"--rules {rules}: no such directory; give the rules' folder."
        )
    state = get_ctx(ctx)
    settings = state.settings()
    place = RouterPlace.resolve(settings)
    router_host = place.host if place.host in LOOPBACK else "127.0.0.1"
    chosen_rules = rules or (RULES if RULES.is_dir() else None)
    text = prometheus_config(
        router=f"{router_host}:{place.port}",
        exporter=f"127.0.0.1:{exporter_port}",
        torchserve_metrics=f"127.0.0.1:{settings.serving_metrics_port}",
        rules=chosen_rules,
        interval=interval,
    )
    if chosen_rules is None:
        state.err_console.print(
            "No rules folder found (run from a checkout, or pass --rules): the config scrapes "
            "without recording and alert rules."
        )
    if out is None:
        state.console.out(text, end="")
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RegistryError(
            ErrorCode.INVALID_INPUT, f"cannot write {out}: {exc.strerror or exc}"
        ) from None
    state.err_console.print(f"Wrote {out}", highlight=False)

"""`modelreg mcp config`: the MCP client entry that starts this registry's server.

MCP clients start stdio servers with a minimal environment (no shell profile, another working
directory), so the entry carries everything that decides which registry and which serving
stack the server talks to: the absolute command, the data home, the database URI, the
TorchServe and router ports and every other ``MODELREG_*`` / ``MLFLOW_*`` setting of the
shell it was made in. Without them a server started by Claude Desktop looks for TorchServe on
the default ports and tells its user to start a second stack.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from pydantic import BaseModel, ConfigDict

from registry_mcp.cli.support import Ctx, get_ctx
from registry_mcp.domain.errors import ErrorCode, RegistryError

Client = Literal["claude-desktop", "cursor", "vscode", "inspector"]
CLIENTS: tuple[Client, ...] = ("claude-desktop", "cursor", "vscode", "inspector")
SERVER_NAME = "modelreg"

_SECRET_VARIABLES = frozenset({"MODELREG_MCP_TOKEN"})
"""Never copied: the stdio server needs no bearer token, and a config file is no vault."""
_PASSED_PREFIXES = ("MODELREG_", "MLFLOW_")


class ServerLaunch(BaseModel):
    """How a client starts the server: what every client's entry is made of."""

    model_config = ConfigDict(frozen=True)

    command: str
    args: list[str]
    env: dict[str, str]


def server_command() -> tuple[str, list[str]]:
    """The absolute ``modelreg`` beside the running interpreter (the venv's), else that
    interpreter running the CLI module."""
    script = Path(sys.executable).with_name("modelreg")
    if script.is_file() and os.access(script, os.X_OK):
        return str(script), []
    return sys.executable, ["-m", "registry_mcp.cli"]


def launch(state: Ctx) -> ServerLaunch:
    """The server of this shell's registry and serving stack, as a client must start it."""
    from registry_mcp.deploy.router_settings import RouterPlace

    settings = state.settings()
    place = RouterPlace.resolve(settings)
    env = {
        key: value
        for key, value in sorted(os.environ.items())
        if key.startswith(_PASSED_PREFIXES)
        and key not in _SECRET_VARIABLES
        and key != "MODELREG_HOME"  # given as --home
    }
    env.update(
        {
            "MODELREG_ACTOR": state.actor(),
            "MLFLOW_TRACKING_URI": settings.resolved_tracking_uri,
            "MODELREG_SERVING_INFERENCE_PORT": str(settings.serving_inference_port),
            "MODELREG_SERVING_MANAGEMENT_PORT": str(settings.serving_management_port),
            "MODELREG_SERVING_METRICS_PORT": str(settings.serving_metrics_port),
            "MODELREG_SERVING_GRPC_INFERENCE_PORT": str(settings.serving_grpc_inference_port),
            "MODELREG_SERVING_GRPC_MANAGEMENT_PORT": str(settings.serving_grpc_management_port),
            "MODELREG_ROUTER_HOST": place.host,
            "MODELREG_ROUTER_PORT": str(place.port),
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
    )
    if settings.resolved_registry_uri != settings.resolved_tracking_uri:
        env["MLFLOW_REGISTRY_URI"] = settings.resolved_registry_uri
    # A source checkout run without installing (PYTHONPATH=src) must start the same code.
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    command, prefix = server_command()
    return ServerLaunch(
        command=command,
        args=[*prefix, "--home", str(settings.home), "mcp"],
        env=dict(sorted(env.items())),
    )


def client_document(client: Client, server: ServerLaunch) -> dict[str, object]:
    """The client's config file content holding just this server."""
    entry: dict[str, object] = server.model_dump()
    if client == "vscode":
        return {"servers": {SERVER_NAME: {"type": "stdio", **entry}}}
    return {"mcpServers": {SERVER_NAME: entry}}


def inspector_command(server: ServerLaunch) -> str:
    """The MCP Inspector command line (it takes the environment as ``-e KEY=VALUE``)."""
    parts = ["npx", "@modelcontextprotocol/inspector"]
    for key, value in server.env.items():
        parts += ["-e", f"{key}={value}"]
    parts += ["--", server.command, *server.args]
    return shlex.join(parts)


def default_file(client: Client) -> Path:
    """Where the client reads its MCP servers."""
    if client == "claude-desktop":
        if sys.platform == "darwin":
            return Path.home() / "Library/Application Support/Claude/claude_desktop_config.json"
        if sys.platform == "win32":
            return Path(os.environ.get("APPDATA", "~")) / "Claude/claude_desktop_config.json"
        return Path.home() / ".config/Claude/claude_desktop_config.json"
    if client == "cursor":
        return Path.home() / ".cursor/mcp.json"
    if client == "vscode":
        return Path.cwd() / ".vscode/mcp.json"
    raise RegistryError(
        ErrorCode.INVALID_INPUT,
        "MCP Inspector keeps no config file; run the command `modelreg mcp config "
        "--client inspector` prints instead of --write.",
    )


def merge_into(path: Path, client: Client, server: ServerLaunch) -> Path | None:
    """Put this server into the client's file, keeping everything else in it; the old file
    is copied to ``<file>.bak`` first. Returns the backup's path (None for a new file).
    A file that is not a JSON object is refused and left as it was."""
    key = "servers" if client == "vscode" else "mcpServers"
    document: dict[str, object] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8") or "{}")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                f"{path} is not readable JSON ({exc}); fix or move it, then run this again. "
                "Nothing was changed.",
            ) from None
        if not isinstance(loaded, dict) or not isinstance(loaded.get(key, {}), dict):
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                f"{path} must hold a JSON object whose {key!r} is an object; fix or move it, "
                "then run this again. Nothing was changed.",
            )
        document = loaded
    servers = dict(document.get(key, {}))  # type: ignore[call-overload]
    servers[SERVER_NAME] = client_document(client, server)[key][SERVER_NAME]  # type: ignore[index]
    document[key] = servers
    backup: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            backup = path.with_name(path.name + ".bak")
            shutil.copy2(path, backup)
        fresh = path.with_name(path.name + ".tmp")
        # It names the database (a PostgreSQL URI may hold a password): owner only.
        fresh.touch(mode=0o600)
        fresh.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        fresh.replace(path)
    except OSError as exc:
        raise RegistryError(
            ErrorCode.INVALID_INPUT, f"cannot write {path}: {exc.strerror or exc}"
        ) from None
    return backup


def mcp_config(
    ctx: typer.Context,
    client: Annotated[
        str,
        typer.Option(help="claude-desktop, cursor, vscode or inspector (a command line)."),
    ] = "claude-desktop",
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help="Merge the entry into the client's config file (the old one is kept as "
            "<file>.bak) instead of printing it.",
        ),
    ] = False,
    file: Annotated[
        Path | None, typer.Option("--file", help="The client's config file (with --write).")
    ] = None,
) -> None:
    """Print the MCP client entry for this registry (data home, database, serving ports)."""
    if client not in CLIENTS:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"Unknown client {client!r}; use one of {', '.join(CLIENTS)}.",
        )
    chosen: Client = client
    state = get_ctx(ctx)
    if write and chosen == "inspector":
        default_file(chosen)  # raises: the inspector has no file
    server = launch(state)
    if not write:
        if chosen == "inspector":
            state.console.out(inspector_command(server))
        else:
            state.console.out(json.dumps(client_document(chosen, server), indent=2))
        return
    path = file or default_file(chosen)
    backup = merge_into(path, chosen, server)
    state.err_console.print(
        f"Wrote the {SERVER_NAME!r} server into {path}"
        + (f" (the previous file is {backup})" if backup else "")
        + "; restart the client to load it.",
        highlight=False,
        soft_wrap=True,  # a path broken over two lines does not paste
    )

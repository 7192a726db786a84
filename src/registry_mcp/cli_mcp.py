"""`modelreg mcp` (run the MCP server) and `modelreg approvals` (decide pending proposals)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from registry_mcp import render
from registry_mcp.cli_support import confirm_or_abort, get_ctx

approvals_app = typer.Typer(
    help="Pending stage changes proposed by MCP clients that cannot ask a human.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def mcp(
    ctx: typer.Context,
    transport: Annotated[
        str, typer.Option(help="stdio (Claude Desktop, MCP Inspector) or http (streamable HTTP).")
    ] = "stdio",
    host: Annotated[str, typer.Option(help="HTTP bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.", min=1, max=65535)] = 8765,
) -> None:
    """Run the MCP server (stdio by default)."""
    from registry_mcp.errors import ErrorCode, RegistryError
    from registry_mcp.mcp_http import http_app, serve_http
    from registry_mcp.mcp_server import build_server

    chosen: Literal["stdio", "http"]
    if transport in ("stdio", "http"):
        chosen = transport  # type: ignore[assignment]
    else:
        raise RegistryError(
            ErrorCode.INVALID_INPUT, f"Unknown transport {transport!r}; use stdio or http."
        )
    state = get_ctx(ctx)
    settings = state.settings()
    token = settings.mcp_token.get_secret_value() if settings.mcp_token else None
    if chosen == "http":
        # Check the bind policy before touching the database.
        from mcp.server.mcpserver import MCPServer

        http_app(MCPServer("bind-check"), host=host, token=token)
    from registry_mcp.deployment import Deployment

    registry = state.registry()
    server = build_server(
        registry,
        serving=Deployment.open(registry, defer_reconcile=True),
        approver=state.actor(),
    )
    if chosen == "stdio":
        server.run()
    else:
        state.err_console.print(
            f"MCP server on http://{host}:{port}/mcp"
            + (" (bearer token required)" if token else " (loopback only, no token)")
        )
        serve_http(server, host=host, port=port, token=token)


@approvals_app.command("list")
def list_pending(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show proposals waiting for a human."""
    from registry_mcp.approvals import Approvals

    state = get_ctx(ctx)
    pending = Approvals.for_registry(state.registry()).pending(model)
    if as_json:
        render.print_json(state.console, pending)
        return
    if not pending:
        state.console.print("No pending proposals.")
    for proposal in pending:
        state.console.print(
            f"#{proposal.id}  {render.escape(proposal.summary)}\n"
            f"     requested by {render.escape(proposal.requested_by)} at "
            f"{proposal.created_at:%Y-%m-%d %H:%M} UTC, "
            f"expires {proposal.expires_at:%Y-%m-%d %H:%M} UTC\n"
            f"     why: {render.escape(proposal.rationale)}"
        )


def _resolve(
    ctx: typer.Context, proposal_id: int, approve: bool, note: str | None, yes: bool, as_json: bool
) -> None:
    from registry_mcp.approvals import Approvals

    state = get_ctx(ctx)
    approvals = Approvals.for_registry(state.registry())
    proposal = approvals.get(proposal_id)
    if not as_json:
        verb = "Approve" if approve else "Deny"
        state.console.print(f"{verb} proposal #{proposal.id}: {render.escape(proposal.summary)}")
        state.console.print(f"Requested because: {render.escape(proposal.rationale)}")
    confirm_or_abort(state, yes)
    outcome = approvals.resolve(proposal_id, approve=approve, approver=state.actor(), note=note)
    if as_json:
        render.print_json(state.console, outcome)
    else:
        state.console.print(render.escape(outcome.message))


@approvals_app.command("approve")
def approve(
    ctx: typer.Context,
    proposal_id: Annotated[int, typer.Argument(help="Proposal number (see `approvals list`).")],
    rationale: Annotated[
        str | None, typer.Option("--rationale", "-r", help="Why you approve (audited).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Approve a pending proposal: the change is applied now, if the state is unchanged."""
    _resolve(ctx, proposal_id, True, rationale, yes, as_json)


@approvals_app.command("deny")
def deny(
    ctx: typer.Context,
    proposal_id: Annotated[int, typer.Argument(help="Proposal number (see `approvals list`).")],
    rationale: Annotated[str, typer.Option("--rationale", "-r", help="Why you deny (audited).")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Deny a pending proposal: nothing moves."""
    _resolve(ctx, proposal_id, False, rationale, yes, as_json)

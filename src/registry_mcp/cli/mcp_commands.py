"""`modelreg mcp` (run the MCP server) and `modelreg approvals` (decide pending proposals)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from registry_mcp.cli.support import Ctx, confirm_or_abort, get_ctx

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context

    from registry_mcp.core.ports import ServingSide
    from registry_mcp.core.registry import Registry
    from registry_mcp.mcp.tool_errors import RegistryServer

approvals_app = typer.Typer(
    help="Pending stage changes proposed by MCP clients that cannot ask a human, and "
    "stage aliases changed outside modelreg.",
    no_args_is_help=True,
)
tokens_app = typer.Typer(
    help="Bearer tokens of the HTTP MCP server; each names the human it belongs to.",
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
    insecure_no_token: Annotated[
        bool,
        typer.Option(
            "--insecure-no-token",
            help="HTTP on loopback without a bearer token: any local process can then "
            "answer approval forms (audited as unauthenticated-http).",
        ),
    ] = False,
) -> None:
    """Run the MCP server (stdio by default)."""
    if ctx.invoked_subcommand is not None:
        return  # `modelreg mcp config`
    from registry_mcp.domain.errors import ErrorCode, RegistryError

    chosen: Literal["stdio", "http"]
    if transport in ("stdio", "http"):
        chosen = transport  # type: ignore[assignment]
    else:
        raise RegistryError(
            ErrorCode.INVALID_INPUT, f"Unknown transport {transport!r}; use stdio or http."
        )
    state = get_ctx(ctx)
    settings = state.settings()
    if chosen == "stdio":
        serve_stdio(state)
        return

    from registry_mcp.mcp.http import UNAUTHENTICATED, TokenBook, check_bind, serve_http
    from registry_mcp.mcp.lazy_serving import LazyServing
    from registry_mcp.mcp.server import build_server

    token = settings.mcp_token.get_secret_value() if settings.mcp_token else None
    book = TokenBook.load(settings.home, token=token, token_actor=state.actor())
    # Check the bind policy before touching the database.
    check_bind(host, book, insecure_no_token=insecure_no_token)
    registry = state.registry()

    def identify(request_ctx: Context) -> str | None:
        headers = request_ctx.headers or {}
        return book.actor_for(headers.get("authorization")) if book else UNAUTHENTICATED

    # Over HTTP the approver is the token's human, never the server's OS user.
    server = build_server(
        registry,
        serving=LazyServing(_deployment_opener(registry)),
        approver=UNAUTHENTICATED,
        identify=identify,
    )
    state.err_console.print(
        f"MCP server on http://{host}:{port}/mcp"
        + (" (bearer token required)" if book else " (NO TOKEN: --insecure-no-token)")
    )
    serve_http(server, host=host, port=port, book=book, insecure_no_token=insecure_no_token)


def _deployment_opener(registry: Registry) -> Callable[[], ServingSide]:
    """Opens the local deployment: on the first tool that needs serving (``LazyServing``),
    so that `initialize` does not wait for it."""

    def open_deployment() -> ServingSide:
        from registry_mcp.deploy.deployment import Deployment

        return Deployment.open(registry, defer_reconcile=True)

    return open_deployment


def serve_stdio(state: Ctx, *, warm_up: bool = True) -> None:
    """The stdio server answers `initialize` and the lists before the registry is open (the
    registry core is imported and the database opened on a worker thread meanwhile, or with
    ``warm_up=False`` by the first call that needs it: bench/mcp_latency.py compares both)."""
    from registry_mcp.mcp import catalogue
    from registry_mcp.mcp.deferred import DeferredServer, run_stdio

    approver = state.actor()

    def declare(server: RegistryServer) -> None:
        from registry_mcp.mcp.lazy_serving import LazyServing
        from registry_mcp.mcp.server import declare_tools

        registry = state.registry()
        serving = LazyServing(_deployment_opener(registry))
        declare_tools(server, registry, serving=serving, approver=approver)

    run_stdio(DeferredServer(declare, catalogue.load()), warm_up=warm_up)


@tokens_app.command("add")
def add_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The human the token identifies (audited).")],
) -> None:
    """Create an HTTP MCP bearer token for NAME (printed once; replaces NAME's old one)."""
    from registry_mcp.cli import render
    from registry_mcp.mcp.http import TOKEN_FILE, add_token

    state = get_ctx(ctx)
    home = state.settings().home
    token = add_token(home, name)
    state.err_console.print(
        f"Token for {render.escape(name)} (stored hashed in {home / TOKEN_FILE}; shown once):"
    )
    state.console.print(token, highlight=False, soft_wrap=True)


@tokens_app.command("list")
def list_tokens(ctx: typer.Context) -> None:
    """Who holds an HTTP MCP token."""
    from registry_mcp.cli import render
    from registry_mcp.mcp.http import token_actors

    state = get_ctx(ctx)
    actors = token_actors(state.settings().home)
    state.console.print("\n".join(render.escape(a) for a in actors) or "No tokens.")


@tokens_app.command("revoke")
def revoke_token(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Whose token to revoke.")]
) -> None:
    """Revoke NAME's HTTP MCP token (a running server refuses it from its next request)."""
    from registry_mcp.cli import render
    from registry_mcp.domain.errors import ErrorCode, RegistryError
    from registry_mcp.mcp.http import revoke_token

    state = get_ctx(ctx)
    if not revoke_token(state.settings().home, name):
        raise RegistryError(
            ErrorCode.NOT_FOUND, f"No token for {name!r}; see `modelreg tokens list`."
        )
    state.console.print(
        f"Revoked the token of {render.escape(name)}; running MCP servers refuse it from "
        "their next request."
    )


@approvals_app.command("list")
def list_pending(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show proposals waiting for a human."""
    from registry_mcp.cli import render
    from registry_mcp.core.approvals import Approvals

    state = get_ctx(ctx)
    pending = Approvals.for_registry(state.registry()).proposals.pending(model)
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
    from registry_mcp.cli import render
    from registry_mcp.core.approvals import Approvals
    from registry_mcp.deploy.deployment import Deployment

    state = get_ctx(ctx)
    registry = state.registry()
    deployment = Deployment.open(registry)
    try:
        # Approving moves the registry, then serving follows (switch verified, reconcile).
        approvals = Approvals.for_registry(
            registry, after_change=deployment.follow, check_loadable=deployment.check_loadable
        )
        proposal = approvals.proposals.get(proposal_id)
        if not as_json:
            verb = "Approve" if approve else "Deny"
            shown = proposal.plan.describe() if proposal.plan else proposal.summary
            state.console.print(f"{verb} proposal #{proposal.id}: {render.escape(shown)}")
            state.console.print(
                f"Requested by {render.escape(proposal.requested_by)} because: "
                f"{render.escape(proposal.rationale)}"
            )
        confirm_or_abort(state, yes)
        outcome = approvals.proposals.resolve(
            proposal_id, approve=approve, approver=state.actor(), note=note
        )
    finally:
        deployment.close()
    if as_json:
        render.print_json(state.console, outcome)
        return
    state.console.print(render.escape(outcome.message))
    if outcome.serving is not None:
        state.console.print(f"Serving: {render.escape(outcome.serving.detail)}")


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


def _revert_unapproved(
    ctx: typer.Context, name: str, *, rationale: str | None, yes: bool, as_json: bool
) -> None:
    from registry_mcp.cli import render
    from registry_mcp.domain.errors import ErrorCode, RegistryError

    state = get_ctx(ctx)
    registry = state.registry()
    summary = registry.get_model(name, limit=1).model
    if not summary.unapproved_change:
        raise RegistryError(
            ErrorCode.INVALID_TRANSITION,
            f"{summary.name!r} has no unapproved change; nothing to do.",
        )
    if not as_json:
        state.console.print(render.escape(summary.unapproved_change))
        state.console.print(f"Restore the approved aliases for {render.escape(summary.name)}.")
    confirm_or_abort(state, yes)
    final = registry.stages.revert_unapproved(
        summary.name,
        actor=state.actor(),
        seen=summary.aliases,
        rationale=rationale or "restored the approved aliases",
    )
    if as_json:
        render.print_json(state.console, {"approved": final, "serving": None})
        return
    state.console.print(
        f"{render.escape(summary.name)}: Production {_v(final.production)}, Staging "
        f"{_v(final.staging)}, rollback target {_v(final.previous)} (approved)."
    )


def _accept_unapproved(
    ctx: typer.Context, name: str, *, rationale: str | None, yes: bool, as_json: bool
) -> None:
    """An approval like any other: plan, rules, four-eyes, confirmation, one apply."""
    from registry_mcp.cli import render
    from registry_mcp.cli.support import CLI_CLIENT, ask_confirmation
    from registry_mcp.core.approvals import Approvals
    from registry_mcp.core.change_requests import Approval
    from registry_mcp.deploy.deployment import Deployment
    from registry_mcp.domain.errors import RegistryError

    state = get_ctx(ctx)
    registry = state.registry()
    actor = state.actor()
    deployment = Deployment.open(registry)
    try:
        approvals = Approvals.for_registry(
            registry, after_change=deployment.follow, check_loadable=deployment.check_loadable
        )
        req, plan = approvals.request_accept(
            name,
            rationale=rationale or "approved the aliases found in MLflow",
            requested_by=actor,
            client=CLI_CLIENT,
        )
        if approvals.needs_other_approver(plan):
            outcome = approvals.propose(req, plan)
        else:
            if not as_json:
                state.console.print(render.plan_panel(plan))
            try:
                confirmed = ask_confirmation(state, yes)
            except RegistryError as exc:
                raise approvals.refuse_plan(req, plan, exc) from None
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
    state.console.print(render.escape(outcome.message))
    if outcome.serving is not None:
        state.console.print(f"Serving: {render.escape(outcome.serving.detail)}")


def _v(version: int | None) -> str:
    return "none" if version is None else f"v{version}"


RationaleOpt = Annotated[str, typer.Option("--rationale", "-r", help="Why (audited).")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
OptionalRationale = Annotated[str | None, typer.Option("--rationale", "-r", help="Why (audited).")]


@approvals_app.command("revert-unapproved")
def revert_unapproved(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    rationale: OptionalRationale = None,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Put MLflow's stage aliases back where a human approved them (serving never moved)."""
    _revert_unapproved(ctx, name, rationale=rationale, yes=yes, as_json=as_json)


@approvals_app.command("accept-unapproved")
def accept_unapproved(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    rationale: OptionalRationale = None,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Approve stage aliases changed outside modelreg, as the promotion or rollback they
    amount to: the same plan, rules (model card, transitions, a version serving can load,
    four-eyes), confirmation and audit; serving then follows."""
    _accept_unapproved(ctx, name, rationale=rationale, yes=yes, as_json=as_json)


@approvals_app.command("trust")
def trust(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Argument(help="Version number.")],
    rationale: RationaleOpt,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Withdraw the trust instead of granting it.")
    ] = False,
    yes: YesOpt = False,
) -> None:
    """Let serving load a version whose model can run code when loaded (pickled, custom).

    Only for models whose origin you trust: loading runs their code on the serving host.
    """
    from registry_mcp.cli import render

    state = get_ctx(ctx)
    registry = state.registry()
    info = registry.get_version(name, version)
    verb = "Withdraw trust from" if revoke else "Trust"
    state.console.print(
        f"{verb} {render.escape(info.name)} v{info.version}: "
        + (
            "serving will refuse it again unless it is a plain pt2 model."
            if revoke
            else "serving will load it even if loading runs code from the registry."
        )
    )
    confirm_or_abort(state, yes)
    changed = registry.trust.set_trusted(
        info.name, info.version, trusted=not revoke, actor=state.actor(), rationale=rationale
    )
    state.console.print(
        ("Done" if changed else "Nothing to do")
        + f": {render.escape(info.name)} v{info.version} is "
        + ("not trusted" if revoke else "trusted")
        + " (audited). Run `modelreg serve reconcile` to rebuild its archive."
    )

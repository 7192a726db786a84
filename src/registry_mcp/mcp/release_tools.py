"""MCP tools that change a model's canary, and the canary/guard views of ``get_serving_version``.

A canary changes what serves Production traffic, so ``start_canary`` and ``stop_canary`` go
through the same approval round as ``promote_model`` (:class:`StageChangeFlow`): the plan
(version, share, mode, what it replaces) is computed once, shown on a single-use form, and
only a real ``true`` applies exactly that plan.

No ``from __future__ import annotations`` here: the SDK evaluates each tool's annotations,
and the resolvers they name are local to ``add_release_tools``.
"""

from typing import Annotated, Literal

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, MCPServer
from mcp.server.mcpserver.resolve import Resolve
from pydantic import Field

from registry_mcp.core.change_requests import Outcome
from registry_mcp.core.registry import Registry
from registry_mcp.domain.plans import ChangeKind
from registry_mcp.mcp.approval_flow import ApprovalForm, StageChangeFlow, Ticket
from registry_mcp.mcp.tool_models import CanaryView, GuardView
from registry_mcp.mcp.tool_params import STAGE_CHANGE, ModelName, PlanDigest, Rationale


def add_release_tools(server: MCPServer, flow: StageChangeFlow) -> None:
    def open_canary(
        model_name: str,
        version: int,
        percent: float,
        rationale: str,
        ctx: Context,
        mode: str = "split",
        plan_digest: str | None = None,
    ) -> Ticket:
        return flow.ticket(
            ChangeKind.CANARY,
            ctx,
            model_name,
            version=version,
            percent=percent,
            mode=mode,
            rationale=rationale,
            plan_digest=plan_digest,
        )

    def open_stop(
        model_name: str, rationale: str, ctx: Context, plan_digest: str | None = None
    ) -> Ticket:
        return flow.ticket(
            ChangeKind.CANARY, ctx, model_name, rationale=rationale, plan_digest=plan_digest
        )

    def ask_canary(
        ticket: Annotated[Ticket, Resolve(open_canary)],
    ) -> Elicit[ApprovalForm] | None:
        return flow.ask(ticket)

    def ask_stop(ticket: Annotated[Ticket, Resolve(open_stop)]) -> Elicit[ApprovalForm] | None:
        return flow.ask(ticket)

    @server.tool(annotations=STAGE_CHANGE)
    def start_canary(
        model_name: ModelName,
        version: Annotated[
            int,
            Field(
                description="The model's Staging version (or its previous Production version), "
                "loaded in serving.",
                ge=1,
                le=2**31 - 1,
            ),
        ],
        percent: Annotated[
            float,
            Field(
                strict=True,
                description="Share of the model's Production traffic, above 0 and at most 100.",
            ),
        ],
        rationale: Rationale,
        ctx: Context,
        ticket: Annotated[Ticket, Resolve(open_canary)],
        decision: Annotated[ElicitationResult[ApprovalForm], Resolve(ask_canary)],
        mode: Annotated[
            Literal["split", "shadow"],
            Field(description="split: the candidate answers its share; shadow: it gets a copy."),
        ] = "split",
        plan_digest: PlanDigest = None,
    ) -> Outcome:
        """Send a share of Production traffic to a warm candidate version, if a human approves."""
        return flow.carry_out(ticket, ctx, decision)

    @server.tool(annotations=STAGE_CHANGE)
    def stop_canary(
        model_name: ModelName,
        rationale: Rationale,
        ctx: Context,
        ticket: Annotated[Ticket, Resolve(open_stop)],
        decision: Annotated[ElicitationResult[ApprovalForm], Resolve(ask_stop)],
        plan_digest: PlanDigest = None,
    ) -> Outcome:
        """Stop the model's canary (all Production traffic back to Production), if approved."""
        return flow.carry_out(ticket, ctx, decision)


def release_views(registry: Registry, model: str) -> tuple[CanaryView | None, GuardView | None]:
    """The model's running canary and newest guard, for ``get_serving_version``."""
    running = registry.releases.canary(model)
    canary = (
        None
        if running is None
        else CanaryView(
            version=running.canary.version,
            percent=running.canary.percent,
            mode=running.canary.mode,
            started_at=running.started_at.isoformat(),
        )
    )
    newest = registry.releases.guards(model=model, limit=1)
    guard = None
    if newest:
        found = newest[0]
        guard = GuardView(
            id=found.id,
            version=found.version,
            rollback_to=found.rollback_to,
            approval_audit_id=found.approval_audit_id,
            status=found.status.value,
            ends_at=found.ends_at.isoformat(),
            terms=found.spec.describe(),
            evidence=found.evidence,
        )
    return canary, guard

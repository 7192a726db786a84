"""How a stage-change tool asks its human: plan once, one single-use form, strict answers.

One round of ``promote_model`` / ``rollback_model`` runs three steps that the tool declares
as resolvers (``mcp.server.mcpserver.Resolve``): :meth:`StageChangeFlow.ticket` validates the
request, computes its plan once and opens the form (a ticket in the proposal store);
:meth:`StageChangeFlow.ask` turns it into the elicitation the human reads; and
:meth:`StageChangeFlow.carry_out` settles the ticket with the answer and applies exactly the
plan shown. A client that cannot elicit (or a change that needs a second approver) gets a
pending proposal instead.
"""

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from mcp.server.mcpserver import (
    AcceptedElicitation,
    CancelledElicitation,
    Context,
    DeclinedElicitation,
    Elicit,
    ElicitationResult,
)
from mcp.types.version import is_version_at_least
from pydantic import BaseModel, WithJsonSchema
from pydantic.json_schema import DEFAULT_REF_TEMPLATE, GenerateJsonSchema, JsonSchemaMode

from registry_mcp.core import comparison
from registry_mcp.core.approvals import Approvals
from registry_mcp.core.change_requests import ChangeRequest, Outcome
from registry_mcp.core.registry import Registry
from registry_mcp.core.transitions import Attempt
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.plans import ChangeKind, ChangePlan
from registry_mcp.domain.schemas import Decision, Stage
from registry_mcp.mcp.tool_errors import call, tool_error
from registry_mcp.store.proposals import Proposal


class ApprovalForm(BaseModel):
    """The form a human fills in to approve or deny a stage change.

    The fields accept any JSON so that a malformed answer reaches our code and is refused
    and audited there: only the boolean ``true`` approves (never "yes", "true" or 1)."""

    approve: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": "boolean",
                "title": "Approve",
                "description": "Approve exactly this change? (false = deny)",
            }
        ),
    ] = None
    rationale: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": "string",
                "title": "Rationale",
                "description": "Why you approve or deny (audited).",
            }
        ),
    ] = ""

    _schemas: ClassVar[dict[tuple[Any, ...], dict[str, Any]]] = {}
    _schemas_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def model_json_schema(
        cls,
        by_alias: bool | None = None,
        ref_template: str = DEFAULT_REF_TEMPLATE,
        schema_generator: type[GenerateJsonSchema] = GenerateJsonSchema,
        mode: JsonSchemaMode = "validation",
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The form's schema, generated once per way of asking: the SDK renders it on every
        round of every stage-change call, and generating it costs more than the rest of the
        round's own work. A fixed class has a fixed schema; each caller gets its own copy."""
        key = (cls, by_alias, ref_template, schema_generator, mode, *sorted(kwargs.items()))
        with cls._schemas_lock:
            schema = cls._schemas.get(key)
        if schema is None:
            schema = super().model_json_schema(
                by_alias=by_alias,
                ref_template=ref_template,
                schema_generator=schema_generator,
                mode=mode,
                **kwargs,
            )
            with cls._schemas_lock:
                cls._schemas[key] = schema
        return copy.deepcopy(schema)


_ACCEPTED_ANY = AcceptedElicitation[Any]
"""Held for the server's lifetime: the SDK wraps each resolver's result (every round of a
stage-change call) in ``AcceptedElicitation[Any]``, and pydantic keeps a parametrised class
only while something references it, so after each garbage collection it was built again."""


@dataclass(frozen=True)
class Ticket:
    """A stage-change request as planned for this round: the plan the human is asked about
    and its single-use form, or the reason it is refused."""

    kind: ChangeKind
    model: str
    req: ChangeRequest | None = None
    plan: ChangePlan | None = None
    form: Proposal | None = None
    error: RegistryError | None = None


def client_name(ctx: Context) -> str:
    params = ctx.session.client_params if ctx.session is not None else None
    name = params.client_info.name if params is not None else None
    return f"mcp:{name}" if name else "mcp:unknown-client"


def client_can_elicit(ctx: Context) -> bool:
    """Form elicitation declared, and a way to deliver it on this protocol era."""
    caps = ctx.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return False
    version = ctx.protocol_version
    if version is not None and is_version_at_least(version, "2026-07-28"):
        return True  # asked through InputRequiredResult: no back-channel needed
    return bool(ctx.session is not None and ctx.session.can_send_request)


class StageChangeFlow:
    """The approval round of one server: who is asking, what they are asked, what moves."""

    def __init__(
        self,
        registry: Registry,
        approvals: Approvals,
        *,
        human: str,
        identify: Callable[[Context], str | None] | None = None,
    ) -> None:
        self._registry = registry
        self._approvals = approvals
        self._human = human
        self._identify = identify

    def who(self, ctx: Context) -> str:
        """The human behind this session: the HTTP token's actor, else the server's."""
        found = self._identify(ctx) if self._identify is not None else None
        return found or self._human

    def ticket(self, kind: ChangeKind, ctx: Context, model: str, **kw: object) -> Ticket:
        """Validate and plan once per round; open the form the human will be asked about.
        Nothing is audited here: the tool body records the attempt, exactly once."""
        approvals = self._approvals
        try:
            req = approvals.request(
                kind,
                model,
                requested_by=self.who(ctx),
                client=client_name(ctx),
                audit=False,
                **kw,  # type: ignore[arg-type]
            )
        except RegistryError as exc:
            return Ticket(kind=kind, model=str(model), error=exc)
        try:
            plan = approvals.plan(req)
        except RegistryError as exc:
            return Ticket(kind=kind, model=req.model, req=req, error=exc)
        if not client_can_elicit(ctx) or approvals.needs_other_approver(plan):
            return Ticket(kind=kind, model=req.model, req=req, plan=plan)
        form = approvals.open_form(req, plan)
        return Ticket(kind=kind, model=req.model, req=req, plan=plan, form=form)

    def record_failed_call(
        self, kind: ChangeKind, ctx: Context, model: object, reason: str, *, crashed: bool
    ) -> None:
        """Audit a call that failed before or outside the flow (bad arguments, an empty or
        erroring answer to the form, a crash): every attempt leaves a row."""
        self._registry.stages.record_decision(
            kind=kind,
            decision=Decision.FAILED if crashed else Decision.REFUSED,
            attempt=Attempt(actor=self.who(ctx), client=client_name(ctx)),
            model=model if isinstance(model, str) and model else "?",
            reason=f"{ErrorCode.INVALID_INPUT.value}: {reason}"
            if not crashed
            else f"{ErrorCode.BACKEND.value}: {reason}",
        )

    def ask(self, ticket: Ticket) -> Elicit[ApprovalForm] | None:
        """The form the human reads: the exact plan, the evidence, who asks and why."""
        if ticket.form is None or ticket.plan is None or ticket.req is None:
            return None  # the tool body reports the refusal or files a proposal
        plan, req = ticket.plan, ticket.req
        return Elicit(
            f"Approval form #{ticket.form.id}. Approve exactly this change? {plan.describe()}."
            f"{self._evidence(req, plan)} Requested by {req.requested_by} because: "
            f"{req.rationale}",
            ApprovalForm,
        )

    def _evidence(self, req: ChangeRequest, plan: ChangePlan) -> str:
        if plan.kind is not ChangeKind.PROMOTE or plan.to_stage is not Stage.PRODUCTION:
            return ""
        try:
            diff = comparison.compare(self._registry, req.model, plan.version, None)
        except RegistryError:
            return ""
        if diff.primary_delta is None or diff.baseline is None:
            return ""
        direction = "lower" if diff.lower_is_better else "higher"
        return (
            f" {diff.primary_metric} {diff.primary_delta:+.4f} vs Production "
            f"v{diff.baseline.version}: {diff.verdict} ({direction} is better)."
        )

    def carry_out(
        self, ticket: Ticket, ctx: Context, decision: ElicitationResult[ApprovalForm]
    ) -> Outcome:
        """Settle the round: refuse, file a proposal, or apply the answer to the form."""
        approvals = self._approvals
        if ticket.req is None:
            assert ticket.error is not None
            error = ticket.error
            call(  # a registry gone mid-session: its own error, not a crash
                lambda: approvals.record_invalid(
                    ticket.kind,
                    ticket.model,
                    error,
                    requested_by=self.who(ctx),
                    client=client_name(ctx),
                )
            )
            raise tool_error(error)
        req = ticket.req
        if ticket.plan is None:
            assert ticket.error is not None
            refused = ticket.error
            raise tool_error(call(lambda: approvals.refuse(req, refused)))
        plan = ticket.plan
        if ticket.form is None:
            return call(lambda: approvals.propose(req, plan))
        form = ticket.form
        approver = self.who(ctx)
        match decision:
            case AcceptedElicitation(data=ApprovalForm(approve=answer, rationale=note)):
                return call(
                    lambda: approvals.answer_form(
                        req, form, approve=answer, approver=approver, note=note
                    )
                )
            case DeclinedElicitation():
                return call(
                    lambda: approvals.close_form(
                        req, form, status="denied", approver=approver, note="declined the form"
                    )
                )
            case CancelledElicitation():
                return call(
                    lambda: approvals.close_form(
                        req, form, status="cancelled", approver=approver, note=None
                    )
                )
        raise tool_error(
            call(
                lambda: approvals.refuse_answer(
                    req,
                    plan,
                    approver=approver,
                    client=req.client,
                    why="The approval form returned no answer",
                )
            )
        )

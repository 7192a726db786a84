"""The graph's nodes. Everything before ``approval`` only reads; ``apply`` is the one node
that changes a stage, and only with the decision the human gave at the interrupt."""

from __future__ import annotations

from typing import Any

from langgraph.types import interrupt

from agent import answers, change_drafts
from agent.context import AgentContext, ChangeKind
from agent.decisions import DecisionKind, EditRationale, form_answer, parse_decision
from agent.errors import AgentToolError, DecisionRejected
from agent.grounding import grounded, quoted_from
from agent.intents import (
    AuditLog,
    CompareVersions,
    Help,
    ListModels,
    ModelDetails,
    PendingApprovals,
    Promote,
    Rollback,
    SelectModel,
    ServingStatus,
    Unclear,
)
from agent.offline_parser import parse_intent
from agent.selection import Candidate, rank
from agent.state import Answer, ApprovalRequest, ChangeResult, Proposal, State, Turn
from agent.tool_results import ServingVersion

Update = dict[str, Any]
_MAX_CANDIDATES = 20


def _say(answer: Answer, **extra: Any) -> Update:
    return {"answer": answer, "history": [Turn(role="agent", text=answer.text)], **extra}


class Nodes:
    def __init__(self, ctx: AgentContext) -> None:
        self._ctx = ctx
        self._tools = ctx.tools

    def _allowed(self, kind: ChangeKind) -> list[DecisionKind]:
        return list(self._ctx.allowed_decisions[kind])

    # ------------------------------------------------------------ understand

    async def understand(self, state: State) -> Update:
        history = [f"{t.role}: {t.text}" for t in state.history[-6:]]
        parsed = await self._ctx.parser.parse(state.request, history)
        intent, note = parsed.intent, parsed.note
        if parsed.source == "llm":
            if not grounded(intent, state.request):
                # The model named a change, model or version the user never typed (e.g.
                # steered by registry text it was shown): use the user's own words instead.
                intent = parse_intent(state.request)
                note = "The language model's reading did not match your words; used the rules."
            elif isinstance(intent, Promote | Rollback) and not quoted_from(
                intent.rationale, state.request
            ):
                # A rationale is audited as the requester's: keep only words the user wrote.
                intent = intent.model_copy(update={"rationale": None})
        return {
            "intent": intent,
            "parsed_by": parsed.source,
            "parse_note": note,
            "proposal": None,
            "decision": None,
            "result": None,
            "answer": None,
            "history": [Turn(role="user", text=state.request)],
        }

    # ---------------------------------------------------------------- reads

    async def answer_query(self, state: State) -> Update:
        intent = state.intent
        try:
            match intent:
                case ListModels(stage=stage, task=task):
                    page = await self._tools.list_models(stage=stage, task=task)
                    return _say(answers.models_answer(intent, page))
                case ModelDetails(model=model, version=version):
                    return _say(
                        answers.model_info_answer(await self._tools.get_model_info(model, version))
                    )
                case ServingStatus(model=model):
                    return _say(
                        answers.serving_answer(await self._tools.get_serving_version(model))
                    )
                case AuditLog(model=model, limit=limit):
                    log = await self._tools.get_audit_log(model, limit)
                    return _say(answers.audit_answer(log, model))
                case PendingApprovals(model=model):
                    pending = await self._tools.list_pending_approvals(model)
                    return _say(answers.pending_answer(pending))
                case CompareVersions(model=model, version=version, against=against):
                    diff = await self._tools.compare_versions(model, version, against)
                    return _say(answers.compare_answer(diff))
        except AgentToolError as exc:
            return _say(answers.tool_error_answer(exc))
        raise ValueError(f"answer_query cannot handle intent {intent!r}")

    async def select_model(self, state: State) -> Update:
        intent = state.intent
        if not isinstance(intent, SelectModel):
            raise ValueError(f"select_model cannot handle intent {intent!r}")
        sla = intent.max_latency_ms or self._ctx.latency_sla_ms
        try:
            entries = []
            cursor: str | None = None
            for _ in range(5):  # at most 500 models
                page = await self._tools.list_models(task=intent.task, cursor=cursor)
                entries.extend(page.items)
                cursor = page.next_cursor
                if cursor is None:
                    break
            measured = sorted(
                (e for e in entries if e.primary_metric.version is not None),
                key=lambda e: e.primary_metric.value is None,
            )[:_MAX_CANDIDATES]
            candidates = []
            for entry in measured:
                assert entry.primary_metric.version is not None
                info = await self._tools.get_model_info(entry.name, entry.primary_metric.version)
                candidates.append(
                    Candidate(
                        model=entry.name,
                        version=entry.primary_metric.version,
                        metric=entry.primary_metric.name,
                        value=entry.primary_metric.value,
                        lower_is_better=entry.primary_metric.lower_is_better,
                        latency_ms=info.card.card.baseline_metrics.get("p50_latency_ms"),
                    )
                )
            known: list[str] = []
            if not entries:
                everything = await self._tools.list_models()
                known = sorted({m.tags["task"] for m in everything.items if "task" in m.tags})
        except AgentToolError as exc:
            return _say(answers.tool_error_answer(exc))
        return _say(answers.selection_answer(rank(intent.task, candidates, sla), known))

    async def clarify(self, state: State) -> Update:
        intent = state.intent
        if isinstance(intent, Help):
            return _say(answers.help_answer())
        if isinstance(intent, Unclear):
            return _say(answers.unclear_answer(intent.reason))
        raise ValueError(f"clarify cannot handle intent {intent!r}")

    # ------------------------------------------------------ change proposals

    async def propose(self, state: State) -> Update:
        """Gather evidence with read-only tools; no stage changes here (runs before the
        interrupt)."""
        intent = state.intent
        try:
            made: Proposal | Answer
            if isinstance(intent, Promote):
                made = await change_drafts.promotion(self._tools, intent, self._allowed("promote"))
            elif isinstance(intent, Rollback):
                made = await change_drafts.rollback(self._tools, intent, self._allowed("rollback"))
            else:
                raise ValueError(f"propose cannot handle intent {intent!r}")
            if isinstance(made, Answer):
                return _say(made)
            return {"proposal": made}
        except AgentToolError as exc:
            return _say(answers.tool_error_answer(exc))

    # -------------------------------------------------------------- approval

    async def approval(self, state: State) -> Update:
        """The only interrupt. Re-runs from here on resume, so it only reads state."""
        proposal = _proposal(state)
        problem: str | None = None
        while True:
            raw = interrupt(
                ApprovalRequest(proposal=proposal, problem=problem).model_dump(mode="json")
            )
            try:
                decision = parse_decision(raw, proposal.allowed_decisions)
            except DecisionRejected as exc:
                problem = exc.reason  # ask again; the refused answer changes nothing
                continue
            if isinstance(decision, EditRationale):
                # An edit changes what the human is asked about; only `approve` approves,
                # so the edited proposal goes back to the human (route_approval).
                edited = proposal.model_copy(
                    update={"rationale": decision.rationale, "rationale_by": "user"}
                )
                return {"proposal": edited, "decision": None}
            return {"decision": decision}

    async def apply(self, state: State) -> Update:
        """Send the change with the human's decision; the server audits approvals and denials."""
        proposal = _proposal(state)
        decision = state.decision
        if decision is None:
            raise ValueError("apply reached without a human decision")
        answer = form_answer(decision)
        rationale = proposal.rationale
        try:
            if proposal.kind == "promote":
                outcome = await self._tools.promote_model(
                    proposal.model,
                    proposal.version,
                    proposal.stage,
                    rationale,
                    expected_current_version=proposal.expected_current_version,
                    plan_digest=proposal.plan_digest,
                    answer=answer,
                )
            else:
                outcome = await self._tools.rollback_model(
                    proposal.model,
                    rationale,
                    to_version=proposal.version,
                    plan_digest=proposal.plan_digest,
                    answer=answer,
                )
        except AgentToolError as exc:
            result = ChangeResult(
                status="failed", message=exc.message, decision=decision.kind, code=exc.code
            )
        else:
            result = ChangeResult(
                status=outcome.status,
                message=outcome.message,
                decision=decision.kind,
                proposal_id=outcome.proposal_id,
            )
        return {"result": result}

    async def verify(self, state: State) -> Update:
        proposal = _proposal(state)
        result = state.result
        if result is None:
            raise ValueError("verify reached without a result")
        serving: ServingVersion | None
        try:
            serving = await self._tools.get_serving_version(proposal.model)
        except AgentToolError:
            serving = None
        if (
            result.status == "failed"
            and result.decision != "deny"
            and serving is not None
            and proposal.stage == "Production"
            and serving.registry_production_version == proposal.version
        ):
            # E.g. apply re-ran after a crash: the first attempt had already moved it, and
            # the compare-and-set guard refused the second one.
            result = result.model_copy(
                update={
                    "status": "already_done",
                    "message": f"{proposal.model} v{proposal.version} is already in Production; "
                    f"the registry refused a second change ({result.code}), so nothing was "
                    "applied twice.",
                }
            )
        return _say(answers.result_answer(proposal, result, serving), result=result)


def _proposal(state: State) -> Proposal:
    if state.proposal is None:
        raise ValueError("no proposal in state")
    return state.proposal

"""The graph's nodes. Everything before ``approval`` only reads; ``apply`` is the one node
that changes a stage, and only with the decision the human gave at the interrupt."""

from __future__ import annotations

from typing import Any

from langgraph.types import interrupt

from agent import answers, change_drafts, entities, queries
from agent.catalog import Catalog
from agent.conditions import condition_of, condition_warning
from agent.context import AgentContext, ChangeKind
from agent.decisions import DecisionKind, EditRationale, form_answer, parse_decision
from agent.errors import AgentToolError, DecisionRejected
from agent.focus import Focus, ParseContext, ProposalRef
from agent.grounding import quoted_from, reading_problem
from agent.intents import (
    ChangeIntent,
    Help,
    Intent,
    OutOfScope,
    Promote,
    Question,
    SelectModel,
    StartCanary,
    StopCanary,
    Unclear,
    Unsupported,
)
from agent.offline_parser import parse_intent, parse_parts
from agent.phrases import STOPWORDS
from agent.state import Answer, ApprovalRequest, ChangeResult, Proposal, State, Turn
from agent.tool_loop import ToolLoop
from agent.tool_results import ServingVersion
from agent.topics import topic_of
from agent.wording import closest_model, normalise

Update = dict[str, Any]


def _say(answer: Answer, **extra: Any) -> Update:
    return {"answer": answer, "history": [Turn(role="agent", text=answer.text)], **extra}


class Nodes:
    def __init__(self, ctx: AgentContext) -> None:
        self._ctx = ctx
        self._tools = ctx.tools
        self._catalog = Catalog(ctx.tools)

    def _allowed(self, kind: ChangeKind) -> list[DecisionKind]:
        return list(self._ctx.allowed_decisions[kind])

    # ------------------------------------------------------------ understand

    async def understand(self, state: State) -> Update:
        history = [f"{t.role}: {t.text}" for t in state.history[-6:]]
        focus = state.about
        context = await self._catalog.context(focus)
        parsed = await self._ctx.parser.parse(state.request, history, context)
        intent, note = parsed.intent, parsed.note
        if parsed.source == "llm":
            problem = reading_problem(intent, state.request, context)
            if problem is not None:
                # A change, model or version the user never typed, a change not asked for, or
                # a name the registry lacks: the rules read the whole message instead.
                intent, note = parse_parts(state.request, context)[0], problem
            elif isinstance(intent, ChangeIntent) and not quoted_from(
                intent.rationale, state.request
            ):
                # A rationale is audited as the requester's: keep only words the user wrote.
                intent = intent.model_copy(update={"rationale": None})
        if isinstance(intent, Question) and self._ctx.llm is None:
            intent = parse_intent(state.request, context)
        note = note or _how_read(intent, state.request, context)
        if isinstance(intent, Unclear) and intent.unknown is not None:
            age = self._catalog.age_s
            if age is not None and age > 1.0:  # maybe registered since: look once more
                await self._catalog.refresh()
                context = await self._catalog.context(focus)
                intent = parse_intent(state.request, context)
        also = parsed.also if intent is parsed.intent else None
        if isinstance(also, ChangeIntent):
            if isinstance(intent, ChangeIntent):
                # One change per approval: the second is asked for after this one.
                said = f"One change at a time: ask for the {also.kind} after deciding this one."
                note, also = (f"{note}\n{said}" if note else said), None
            else:
                # "archive v3 and promote v4": the change is proposed, the other part answered.
                intent, also = also, intent
        return {
            "intent": intent,
            "also": also,
            # What a follow-up keeps ("and for regression?", "stop it" after a canary question).
            "focus": focus.read(topic_of(also or intent, state.request, context)),
            "parsed_by": parsed.source,
            "parse_note": note,
            "proposal": None,
            "decision": None,
            "result": None,
            "answer": None,
            "history": [Turn(role="user", text=state.request)],
        }

    async def _corrected(self, intent: Intent, exc: AgentToolError) -> Intent | None:
        """A model name the registry does not know, read again against its names ("digts"
        -> digits); None if nothing close exists."""
        model = getattr(intent, "model", None)
        if exc.code != "NOT_FOUND" or not isinstance(model, str):
            return None
        try:
            names = await queries.model_names(self._tools)
        except AgentToolError:
            return None
        fixed = closest_model(model, names)
        if fixed is None or fixed == model:
            return None
        return intent.model_copy(update={"model": fixed})

    # ---------------------------------------------------------------- reads

    async def answer_query(self, state: State) -> Update:
        intent = state.intent
        if intent is None:
            raise ValueError("answer_query reached without an intent")
        note = state.parse_note
        try:
            try:
                reply = await queries.answer(self._tools, intent, state.about)
            except AgentToolError as exc:
                fixed = await self._corrected(intent, exc)
                if fixed is None:
                    raise
                reply = await queries.answer(self._tools, fixed, state.about)
                note = _read_as(intent, fixed)
        except AgentToolError as exc:
            return _say(queries.tool_error(exc))
        reply = await self._and_also(state, reply)
        return _say(reply.answer, focus=reply.focus, parse_note=note)

    async def _read_reply(self, intent: Intent, focus: Focus) -> queries.Reply:
        """The answer to a read intent (a two-part question's second part)."""
        if isinstance(intent, Help | Unclear | Unsupported | OutOfScope | Question):
            return queries.Reply(answer=await self._said(intent), focus=focus)
        try:
            if isinstance(intent, SelectModel):
                return await queries.recommend(self._tools, intent, focus, self._ctx.latency_sla_ms)
            return await queries.answer(self._tools, intent, focus)
        except AgentToolError as exc:
            return queries.Reply(answer=queries.tool_error(exc), focus=focus)

    async def _and_also(self, state: State, first: queries.Reply) -> queries.Reply:
        """Both parts of a two-part question, in one answer."""
        if state.also is None:
            return first
        second = await self._read_reply(state.also, first.focus)
        a, b = first.answer, second.answer
        text = f"{a.text}\n\n{b.title}:\n{b.text}"
        both = Answer(kind=a.kind, title=f"{a.title} · {b.title}", text=text)
        return queries.Reply(answer=both, focus=second.focus)

    async def select_model(self, state: State) -> Update:
        intent = state.intent
        if not isinstance(intent, SelectModel):
            raise ValueError(f"select_model cannot handle intent {intent!r}")
        try:
            reply = await queries.recommend(
                self._tools, intent, state.about, self._ctx.latency_sla_ms
            )
        except AgentToolError as exc:
            return _say(queries.tool_error(exc))
        reply = await self._and_also(state, reply)
        return _say(reply.answer, focus=reply.focus)

    async def investigate(self, state: State) -> Update:
        """A question outside the fixed intents: the LLM's read-only tool loop. If the loop
        fails, the rules read the request instead (the graph routes that intent on)."""
        intent = state.intent
        if not isinstance(intent, Question) or self._ctx.llm is None:
            raise ValueError(f"investigate cannot handle intent {intent!r}")
        loop = ToolLoop(
            self._ctx.llm,
            self._tools,
            max_calls=self._ctx.max_tool_calls,
            deadline_s=self._ctx.llm_deadline_s,
            label=self._ctx.llm_label,
        )
        history = [f"{t.role}: {t.text}" for t in state.history[-7:-1]]
        result = await loop.run(state.request, history, state.about)
        if result.answer is not None:
            return _say(result.answer, parse_note=result.note)
        context = await self._catalog.context(state.about)
        fallback = parse_intent(state.request, context)
        return {"intent": fallback, "parsed_by": "offline", "parse_note": result.note}

    async def clarify(self, state: State) -> Update:
        if state.intent is None:
            raise ValueError("clarify reached without an intent")
        first = queries.Reply(answer=await self._said(state.intent), focus=state.about)
        reply = await self._and_also(state, first)
        return _say(reply.answer, focus=reply.focus)

    async def _said(self, intent: Intent) -> Answer:
        """The answer to a request that reads nothing: help, a question back, a refusal."""
        if isinstance(intent, Help):
            return answers.help_answer()
        if isinstance(intent, Unclear):
            if intent.needs == "model":
                await self._catalog.context(Focus())
                return answers.which_model_answer(intent, self._catalog.listing())
            if intent.partial is not None:
                return answers.missing_answer(intent)
            return answers.unclear_answer(intent.reason)
        if isinstance(intent, Unsupported):
            return answers.unsupported_answer(intent)
        if isinstance(intent, OutOfScope):
            return answers.out_of_scope_answer()
        if isinstance(intent, Question):
            return answers.unclear_answer("I can only answer that with a language model.")
        raise ValueError(f"clarify cannot handle intent {intent!r}")

    # ------------------------------------------------------ change proposals

    async def propose(self, state: State) -> Update:
        """Gather evidence with read-only tools; no stage changes here (runs before the
        interrupt)."""
        intent = state.intent
        if not isinstance(intent, ChangeIntent):
            raise ValueError(f"propose cannot handle intent {intent!r}")
        note = state.parse_note
        try:
            try:
                made = await self._draft(intent)
            except AgentToolError as exc:
                fixed = await self._corrected(intent, exc)
                if not isinstance(fixed, ChangeIntent):
                    raise
                made = await self._draft(fixed)
                note = _read_as(intent, fixed)
        except AgentToolError as exc:
            return _say(queries.tool_error(exc))
        if state.also is not None:
            # "promote digits v3 and show the audit": the read part answered beside it.
            part = await self._read_reply(state.also, state.about)
            said = f"{part.answer.title}: {part.answer.text}"
            note = f"{note}\n{said}" if note else said
        if isinstance(made, Answer):
            return _say(made, parse_note=note)
        condition = condition_of(state.request)
        if condition is not None:
            # "promote x v3 to staging if tests pass": the human is the one who checks it.
            warned = [*made.warnings, condition_warning(condition)]
            made = made.model_copy(update={"warnings": warned})
        ref = ProposalRef(
            kind=made.kind,
            model=made.model,
            version=made.version,
            mode=made.mode if made.kind == "canary" else None,
            guard=made.guard,
        )
        focus = state.about.on(made.model, made.version).proposed(ref)
        return {"proposal": made, "focus": focus, "parse_note": note}

    async def _draft(self, intent: ChangeIntent) -> Proposal | Answer:
        if isinstance(intent, Promote):
            return await change_drafts.promotion(self._tools, intent, self._allowed("promote"))
        if isinstance(intent, StartCanary):
            return await change_drafts.canary(self._tools, intent, self._allowed("canary"))
        if isinstance(intent, StopCanary):
            return await change_drafts.stop_canary(
                self._tools, intent, self._allowed("stop_canary")
            )
        return await change_drafts.rollback(self._tools, intent, self._allowed("rollback"))

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
                    guard=proposal.guard,
                )
            elif proposal.kind == "canary":
                assert proposal.percent is not None
                outcome = await self._tools.start_canary(
                    proposal.model,
                    proposal.version,
                    proposal.percent,
                    rationale,
                    mode=proposal.mode,
                    plan_digest=proposal.plan_digest,
                    answer=answer,
                )
            elif proposal.kind == "stop_canary":
                outcome = await self._tools.stop_canary(
                    proposal.model, rationale, plan_digest=proposal.plan_digest, answer=answer
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
        ref = ProposalRef(
            kind=proposal.kind,
            model=proposal.model,
            version=proposal.version,
            status=result.status,
            mode=proposal.mode if proposal.kind == "canary" else None,
            guard=proposal.guard,
        )
        return _say(
            answers.result_answer(proposal, result, serving),
            result=result,
            focus=state.about.proposed(ref),
        )


_VIA = {
    "typo": "a typo",
    "prefix": "the only model starting with it",
    "route": "the route's default model",
    "sound": "the registry name it sounds like",
}


def _how_read(intent: Intent, text: str, context: ParseContext) -> str | None:
    """One line when the model was recognised from something other than its exact name."""
    model = getattr(intent, "model", None)
    if not isinstance(model, str):
        return None
    for found in entities.find_models(normalise(text, context.models or ()), context, STOPWORDS):
        if found.model == model and found.via != "name":
            return f"Read {found.said!r} as {model} ({_VIA[found.via]})."
    return None


def _read_as(before: Intent, after: Intent) -> str:
    typed, meant = getattr(before, "model", "?"), getattr(after, "model", "?")
    return f"No model {typed!r} in the registry; read it as {meant}."


def _proposal(state: State) -> Proposal:
    if state.proposal is None:
        raise ValueError("no proposal in state")
    return state.proposal

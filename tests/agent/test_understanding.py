"""Messages people really wrote (terse, typos, on-call panic, two parts, off-topic), read
against what the registry has: names matched to the registry, never guessed from word
position; time spans sent to the audit as times; every request answered."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer

from agent import answers, queries
from agent import formatting as fmt
from agent.catalog import Catalog
from agent.entities import since_minutes
from agent.errors import AgentToolError
from agent.focus import Focus, ParseContext, ProposalRef
from agent.intents import (
    AuditLog,
    CompareVersions,
    Intent,
    ListModels,
    ModelDetails,
    OutOfScope,
    Promote,
    Rollback,
    SelectModel,
    ServingStatus,
    StartCanary,
    StopCanary,
    Unclear,
    Unsupported,
)
from agent.mcp_tools import open_registry
from agent.offline_parser import parse_intent, parse_parts
from registry_mcp.core.registry import Registry
from tests.agent.conftest import open_agent
from tests.helpers import snapshot

REGISTRY = ParseContext(models=("digits", "mnist-classifier"))
#: As in production: "digits" is a route (to mnist-classifier), not a model.
WITH_ROUTE = ParseContext(models=("mnist-classifier",), routes=(("digits", "mnist-classifier"),))


def read(text: str, ctx: ParseContext = REGISTRY) -> object:
    return parse_intent(text, ctx)


# ------------------------------------------------------------ parser level (fast)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("what changed in the last hour", 60),
        ("anything since yesterday?", 1440),
        ("audit for the past 3 days", 4320),
        ("who touched digits in the last 30 minutes", 30),
        ("changes 2 hours ago", 120),
        ("show the audit log", None),
    ],
)
def test_time_expressions_become_minutes(text: str, minutes: int | None) -> None:
    assert since_minutes(text) == minutes


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("who moved anything since 8am?", 150),  # now is 10:30 UTC
        ("changes after 10:00", 30),
        ("anything since 11 pm", 690),  # still ahead today: last night's
        ("promote digits from 3", None),  # a bare number is not a time of day
    ],
)
def test_a_time_of_day_reaches_back_to_it(text: str, minutes: int | None) -> None:
    now = datetime(2026, 12, 6, 10, 30, tzinfo=UTC)
    assert since_minutes(text, now) == minutes


def test_a_clock_time_is_never_a_version() -> None:
    assert read("digits broke at 14:05, roll back to v1") == Rollback(model="digits", to_version=1)


def test_what_changed_in_the_last_hour_is_a_time_not_a_model() -> None:
    assert read("what changed in the last hour") == AuditLog(since_minutes=60)
    assert read("what changed since yesterday?") == AuditLog(since_minutes=1440)


def test_a_word_that_names_nothing_never_becomes_the_model() -> None:
    # "never" was once read as a model and became the conversation's focus.
    assert read("why was v2 never promoted?") == AuditLog()
    focused = REGISTRY.model_copy(update={"focus": Focus().on("digits", 3)})
    assert read("why was v2 never promoted?", focused) == AuditLog(model="digits")
    for text in (
        "Could you please show me the model card for mnist-cnn?",
        "show me nope v1",
        "roll back resnet50 now",
    ):
        got = read(text)
        assert isinstance(got, Unclear), text
        assert got.unknown is not None
        assert got.unknown in text
        assert got.needs == "model"


def test_a_name_the_registry_lacks_never_falls_back_to_the_focus() -> None:
    focused = REGISTRY.model_copy(update={"focus": Focus().on("digits", 3)})
    got = read("show me the model card for mnist-cnn", focused)
    assert isinstance(got, Unclear)
    assert got.unknown == "mnist-cnn"


def test_serving_in_sync_and_killing_a_canary_read_the_registry_names() -> None:
    focused = REGISTRY.model_copy(update={"focus": Focus().on("digits", 3)})
    assert read("is serving in sync with the registry?", focused) == ServingStatus(model="digits")
    # No model named or under discussion: every Production model's serving.
    assert read("is serving in sync with the registry?") == ServingStatus()
    assert read("kill the canary on mnist-classifier") == StopCanary(model="mnist-classifier")


@pytest.mark.parametrize(
    ("text", "ctx", "model"),
    [
        (
            "URGENT mnist-classifier is returning garbage, roll back!!!",
            REGISTRY,
            "mnist-classifier",
        ),
        ("prod is broken roll back digits now", WITH_ROUTE, "mnist-classifier"),
        ("digits is spitting out garbage, revert it now", WITH_ROUTE, "mnist-classifier"),
        ("mnist-classifer is broken!!!", REGISTRY, "mnist-classifier"),
        ("go back to the previous version of digits asap", REGISTRY, "digits"),
    ],
)
def test_on_call_phrasing_asks_for_a_rollback(text: str, ctx: ParseContext, model: str) -> None:
    assert read(text, ctx) == Rollback(model=model)


def test_on_call_phrasing_uses_the_model_under_discussion() -> None:
    focused = REGISTRY.model_copy(update={"focus": Focus().on("mnist-classifier", 1)})
    assert read("prod is broken, roll back now", focused) == Rollback(model="mnist-classifier")
    assert read("URGENT it is returning garbage!!!", focused) == Rollback(model="mnist-classifier")
    # A question about a state is not a plea to act.
    assert not isinstance(read("is digits broken?"), Rollback)


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("archive mnist-classifier v2", "archive"),
        ("delete digits v2", "delete"),
        ("please retrain digits", "retrain"),
        ("rename digits to digits-old", "rename"),
    ],
)
def test_unsupported_requests_are_named_not_misread(text: str, action: str) -> None:
    got = read(text)
    assert isinstance(got, Unsupported)
    assert got.action == action


def test_off_topic_requests_are_out_of_scope() -> None:
    for text in ("what's the weather like", "tell me a joke", "what is the capital of France?"):
        assert read(text) == OutOfScope(), text


def test_two_part_questions_have_two_parts() -> None:
    parts = parse_parts("which version of digits is serving and who promoted it?", REGISTRY)
    assert parts == [ServingStatus(model="digits"), AuditLog(model="digits")]
    assert len(parse_parts("compare digits v3 and v1", REGISTRY)) == 1


def test_a_second_part_must_ask_something() -> None:
    # An acknowledgement before the question is not a part of its own.
    assert parse_parts("ok thanks, and show me digits v2", REGISTRY) == [
        ModelDetails(model="digits", version=2)
    ]
    # A remark that only repeats the first part's reading asks nothing new.
    remark = "show mnist-classifier v2. someone said mnist-classifier looked odd"
    assert parse_parts(remark, REGISTRY) == [ModelDetails(model="mnist-classifier", version=2)]
    # "this"/"that" in the second part is the version the first part named.
    assert parse_parts(
        "describe mnist-classifier v2; how does this stack up against v1?", REGISTRY
    ) == [
        ModelDetails(model="mnist-classifier", version=2),
        CompareVersions(model="mnist-classifier", version=2, against=1),
    ]


#: digits sends to mnist-classifier, and requests with X-Priority: critical to mnist-cnn.
WITH_RULE = ParseContext(
    models=("mnist-classifier", "mnist-cnn"),
    routes=(("digits", "mnist-classifier"),),
    route_rules=(("digits", "X-Priority: critical", "mnist-cnn"),),
)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("revert the critical model on digits", Rollback(model="mnist-cnn")),
        (
            "digits priority traffic, X-Priority: critical - is it in sync?",
            ServingStatus(model="mnist-cnn"),
        ),
        ("revert digits", Rollback(model="mnist-classifier")),
        ("is digits in sync?", ServingStatus(model="mnist-classifier")),
    ],
)
def test_a_route_rule_named_in_words_means_its_model(text: str, intent: object) -> None:
    assert read(text, WITH_RULE) == intent


def test_a_rule_only_counts_with_its_route_and_its_value() -> None:
    # The header's name alone is not an unknown model, and no rule is guessed without a route.
    got = read("which version serves X-Priority requests?", WITH_RULE)
    assert not isinstance(got, Unclear) or got.unknown is None
    assert getattr(got, "model", None) != "mnist-cnn"


def test_numbers_below_display_precision_read_as_such() -> None:
    assert fmt.ms_change(1e-05) == "< 0.01 ms higher"
    assert fmt.ms_change(-0.00018) == "< 0.01 ms lower"
    assert fmt.ms_change(-1.25) == "-1.2 ms"
    assert fmt.ms(0.004) == "< 0.01 ms"
    assert fmt.metric_value("rmse", 0.00001) == "< 0.0001 above zero"
    assert fmt.delta("rmse", 1234567.0) == "+1,234,567"
    assert "e-" not in fmt.delta("loss", 3e-7)


def test_a_missing_name_is_not_shown_as_a_refusal() -> None:
    answer = answers.tool_error_answer(AgentToolError("get_model_info", "NOT_FOUND", "No model"))
    assert answer.title == "Not in the registry"
    refused = answers.tool_error_answer(AgentToolError("promote_model", "CONFLICT", "stale"))
    assert refused.title == "The registry said no"


# -------------------------------------------- through the graph, real MCP server


@pytest.mark.anyio
async def test_routes_come_from_the_registry_through_mcp(server: MCPServer) -> None:
    async with open_registry(server) as tools:
        catalog = Catalog(tools)
        ctx = await catalog.context(Focus())
    assert ctx.models == ("digits", "mnist-classifier")
    assert ("digits", "mnist-classifier") in ctx.routes


@pytest.mark.anyio
async def test_each_models_task_comes_through_mcp(server: MCPServer) -> None:
    async with open_registry(server) as tools:
        ctx = await Catalog(tools).context(Focus().on("mnist-classifier", 1))
    assert ctx.task_of("mnist-classifier") == "classification"
    assert ctx.task_of("no-such-model") is None
    # "anything faster for that task?" right after mnist-classifier's card: its task.
    assert read("anything faster for that task?", ctx) == SelectModel(
        task="classification", goal="latency"
    )


@pytest.mark.anyio
async def test_route_rules_come_through_mcp_for_registered_models_only(
    server: MCPServer,
) -> None:
    async with open_registry(server) as tools:
        listed = await tools.list_models()
        ctx = await Catalog(tools).context(Focus())
    rules = [(r.route, r.when, r.model) for r in listed.route_rules]
    assert ("digits", "X-Priority: critical", "mnist-cnn") in rules
    # mnist-cnn is not registered here: the chat never reads a request as about it.
    assert ctx.route_rules == ()
    assert read("roll back the critical model on digits", ctx) == Rollback(model="digits")


@pytest.mark.anyio
async def test_the_last_hour_reaches_the_audit_tool_as_a_time(
    server: MCPServer, tmp_path: Path
) -> None:
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        recent = await agent.conversation.ask("what changed in the last hour")
        assert recent.answer is not None
        assert recent.answer.title == "Audit, the last hour"
        assert "promoted digits v1" in recent.answer.text  # seeded minutes ago
        # The same question asked "a day later": the time reaches the tool and filters.
        later = await queries.answer(
            agent.tools,
            AuditLog(since_minutes=60),
            Focus(),
            now=lambda: datetime(2100, 1, 1, tzinfo=UTC),
        )
    assert later.answer.text == "No audit entries in the last hour."


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            "Could you please show me the model card for mnist-cnn?",
            ["No model or route named 'mnist-cnn'", "The registry has: digits, mnist-classifier"],
        ),
        (
            "archive mnist-classifier v2",
            [
                "I cannot archive a version from the chat; nothing was changed.",
                "modelreg promote mnist-classifier 2 --stage Archived --rationale 'no longer used'",
            ],
        ),
        ("delete digits", ["I cannot delete models or versions", "modelreg promote --help"]),
        (
            "can you export the weights of digits v3 to a .pt file?",
            ["I cannot export model files from the chat; nothing was changed."],
        ),
        (
            "can u download digits v3 weights to my laptop",
            ["I cannot download model files from the chat; nothing was changed."],
        ),
        ("what's the weather like?", ["That is outside this model registry.", "show me digits v3"]),
        (
            "can you just approve the pending promotion for me?",
            ["I cannot approve changes: a human approves each one", "modelreg approvals list"],
        ),
    ],
)
async def test_requests_are_answered_without_guessing_or_moving(
    server: MCPServer, registry: Registry, tmp_path: Path, text: str, fragments: list[str]
) -> None:
    before = snapshot(registry)
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        result = await agent.conversation.ask(text)
        assert agent.tools.calls == ["list_models"]  # the names only: nothing looked up
    assert result.answer is not None
    for fragment in fragments:
        assert fragment in result.answer.text
    assert snapshot(registry) == before


@pytest.mark.anyio
async def test_on_call_rollback_is_proposed_for_a_human(
    server: MCPServer, registry: Registry, tmp_path: Path
) -> None:
    registry.stages.transition("digits", 3, "production", rationale="test", actor="tester")
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        result = await agent.conversation.ask("URGENT digits is returning garbage, roll back!!!")
        assert result.approval is not None
        proposal = result.approval.proposal
        assert (proposal.kind, proposal.model, proposal.version) == ("rollback", "digits", 1)
        assert registry.get_model("digits").model.production_version == 3  # nothing moved yet


@pytest.mark.anyio
async def test_a_two_part_question_gets_both_answers(server: MCPServer, tmp_path: Path) -> None:
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        result = await agent.conversation.ask(
            "which version of digits is serving and who promoted it?"
        )
    assert result.answer is not None
    assert "Registry: Production v1, Staging v3" in result.answer.text
    assert "seed: promoted digits v1 (Staging -> Production)" in result.answer.text


@pytest.mark.anyio
async def test_the_compare_panel_has_no_exponents(server: MCPServer, tmp_path: Path) -> None:
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        result = await agent.conversation.ask("compare digits v3 with v1")
    assert result.answer is not None
    assert "p50_latency_ms" in result.answer.text
    assert "e-0" not in result.answer.text


@pytest.mark.anyio
async def test_two_parts_that_are_not_both_reads(
    server: MCPServer, registry: Registry, tmp_path: Path
) -> None:
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        both = await agent.conversation.ask("what can you do? also whats the weather like")
        assert both.answer is not None
        assert "Which model should I use for classification" in both.answer.text
        assert "That is outside this model registry." in both.answer.text
        # A refusal and a change: the change is proposed, the refusal said beside it.
        mixed = await agent.conversation.ask("archive digits v2 and promote digits v3")
        assert mixed.approval is not None
        assert (mixed.approval.proposal.kind, mixed.approval.proposal.version) == ("promote", 3)
        assert mixed.parse_note is not None
        assert "I cannot archive a version from the chat" in mixed.parse_note
        await agent.conversation.decide({"kind": "deny", "rationale": "not now"})
    async with open_agent(server, tmp_path / "cp2.sqlite") as agent:
        # Two changes: one approval at a time, and the second is named.
        two = await agent.conversation.ask("promote digits v3 and stop the canary")
        assert two.approval is not None
        assert two.approval.proposal.kind == "promote"
        assert two.parse_note == (
            "One change at a time: ask for the stop_canary after deciding this one."
        )
    assert registry.get_model("digits").model.production_version == 1  # nothing moved


@pytest.mark.anyio
async def test_a_word_read_in_a_question_never_becomes_the_conversations_model(
    server: MCPServer, tmp_path: Path
) -> None:
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        why = await agent.conversation.ask("why was v2 never promoted?")
        assert why.answer is not None
        assert "never" not in why.answer.title
        # "Which versions of never?" once followed: the next question has no model to lean on.
        after = await agent.conversation.ask("compare v2 with v1")
    assert after.answer is not None
    assert "never" not in after.answer.text
    assert "Which model?" in after.answer.text


#: A registry with versions in stages, for the readings below.
STAGED = ParseContext(
    models=("digits", "fashion-net", "mnist-classifier"),
    stages=(
        ("fashion-net", "Production", 1),
        ("fashion-net", "Staging", 2),
        ("digits", "Production", 1),
        ("digits", "Staging", 3),
    ),
)
#: Right after a canary of digits v3 was proposed.
AFTER_CANARY = STAGED.model_copy(
    update={
        "focus": Focus()
        .on("digits", 3)
        .proposed(ProposalRef(kind="canary", model="digits", version=3))
    }
)


@pytest.mark.parametrize(
    ("text", "ctx", "want"),
    [
        # A running canary's share: its version is the running one (read when drafted).
        (
            "change the fashion-net canary share to 40%",
            STAGED,
            [StartCanary(model="fashion-net", percent=40)],
        ),
        (
            "lower the canary on digits to 2 percent",
            STAGED,
            [StartCanary(model="digits", percent=2)],
        ),
        (
            "route 15 pct of fashion-net requests to v2 as a canary",
            STAGED,
            [StartCanary(model="fashion-net", version=2, percent=15)],
        ),
        # Right after a canary was proposed, a new number is its share, never a promotion ...
        (
            "all good, raise it to 75",
            AFTER_CANARY,
            [StartCanary(model="digits", version=3, percent=75)],
        ),
        (
            "seems healthy, take it to 60%",
            AFTER_CANARY,
            [StartCanary(model="digits", version=3, percent=60)],
        ),
        # ... while a stage is still a promotion.
        (
            "looks good, bump it to production",
            AFTER_CANARY,
            [Promote(model="digits", version=3, stage="Production")],
        ),
        (
            "we're finished with the digits canary, switch it off",
            STAGED,
            [StopCanary(model="digits")],
        ),
        # A question asked in a panic is a question; urgency with a rollback verb stays one.
        (
            "EVERYTHING IS ON FIRE!!! fashion-net returning junk, which version is live??",
            STAGED,
            [ServingStatus(model="fashion-net")],
        ),
        (
            "got paged about digits latency. what changed on digits in the last hour?",
            STAGED,
            [AuditLog(model="digits", since_minutes=60)],
        ),
        ("fashion-net is broken!!! roll it back now", STAGED, [Rollback(model="fashion-net")]),
        # Promotions said another way.
        (
            "make the staging fashion-net the prod one",
            STAGED,
            [Promote(model="fashion-net", version=2, stage="Production")],
        ),
        (
            "could we have v4 of digits promoted please",
            STAGED,
            [Promote(model="digits", version=4, stage="Production")],
        ),
        # A model's versions are its details; serving and list questions in other words.
        ("ls versions of fashion-net", STAGED, [ModelDetails(model="fashion-net")]),
        (
            "fashion-net: what versions are there and which stage is each one in",
            STAGED,
            [ModelDetails(model="fashion-net")],
        ),
        ("is the router in sync with the registry?", STAGED, [ServingStatus()]),
        (
            "fashion-net - is the production version really loaded in torchserve?",
            STAGED,
            [ServingStatus(model="fashion-net")],
        ),
        (
            "how is the digits canary doing, which share does v3 get?",
            STAGED,
            [ServingStatus(model="digits")],
        ),
        ("show all models in the registry and their stages", STAGED, [ListModels()]),
        (
            "which model is answering shop requests, and what version of it?",
            STAGED.model_copy(update={"routes": (("shop", "fashion-net"),)}),
            [ServingStatus(model="fashion-net")],
        ),
        # Two parts: both answered; padding around one request adds no part.
        (
            "cards for digits and fashion-net",
            STAGED,
            [ModelDetails(model="digits"), ModelDetails(model="fashion-net")],
        ),
        (
            "show fashion-net's versions, and its history as well",
            STAGED,
            [ModelDetails(model="fashion-net"), AuditLog(model="fashion-net")],
        ),
        ("Hello! can you list every model we have? I'm new here.", STAGED, [ListModels()]),
        (
            "what changed in the last hour?? pager going off everywhere",
            STAGED,
            [AuditLog(since_minutes=60)],
        ),
        # Unsupported requests: only that, with no details view added.
        (
            "pull v2 of digits out of staging and archive it",
            STAGED,
            [Unsupported(action="archive", model="digits", version=2)],
        ),
        (
            "can you delete fashion-net from the registry? nobody needs it",
            STAGED,
            [Unsupported(action="delete", model="fashion-net")],
        ),
    ],
)
def test_canary_shares_panic_questions_and_parts_read_as_meant(
    text: str, ctx: ParseContext, want: list[Intent]
) -> None:
    assert parse_parts(text, ctx) == want


def test_the_versions_of_a_model_the_registry_lacks_are_asked_about_by_its_name() -> None:
    got = parse_parts("versions of fashion-lstm?", STAGED)
    assert len(got) == 1
    assert isinstance(got[0], Unclear)
    assert got[0].unknown == "fashion-lstm"


def test_a_route_that_is_also_part_of_a_model_name_said_as_a_model_is_asked_about() -> None:
    shop = ParseContext(
        models=("fashion-net", "shop-embedder"),
        routes=(("shop", "fashion-net"),),
        focus=Focus().on("shop-embedder", 1),
    )
    # "the shop model": the route's model or shop-embedder; never the one under discussion.
    (asked,) = parse_parts("please revert the shop model", shop)
    assert isinstance(asked, Unclear)
    assert asked.unknown == "shop"
    assert asked.reason == "'shop' could be fashion-net or shop-embedder; which one?"
    # The route on its own names its model.
    assert parse_parts("revert shop now", shop) == [Rollback(model="fashion-net")]

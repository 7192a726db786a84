"""Phrasings read by class, not by sentence: a follow-up keeps the slots of the request before
it (task, goal, latency budget, time window, the canary asked about); a pasted log line is
evidence, not the request; two models joined by their ask get an answer each; a budget or a
measure is never a model name. Each class with phrasings of its own (the phrasing table holds
more), and the chat carrying the follow-ups through the real graph and MCP server."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer

from agent.focus import Focus, ParseContext, ProposalRef, Topic
from agent.intents import (
    CHANGE_KINDS,
    AuditLog,
    ListModels,
    ModelDetails,
    PendingApprovals,
    Promote,
    Rollback,
    SelectModel,
    ServingStatus,
    StartCanary,
    StopCanary,
    Unclear,
    Unsupported,
)
from agent.offline_parser import parse_intent, parse_parts
from agent.topics import topic_of
from registry_mcp.core.registry import Registry
from tests.agent.conftest import open_agent
from tests.helpers import snapshot

#: The registry the held-out sets assume: three models, the `digits` route and its rule.
CTX = ParseContext(
    models=("digits-encoder", "mnist-classifier", "mnist-cnn"),
    routes=(("digits", "mnist-classifier"),),
    route_rules=(("digits", "X-Priority: critical", "mnist-cnn"),),
    tasks=("classification", "feature-extraction"),
)


#: Kinds the chat answers from the registry (queries.answer records them as asked).
_ANSWERED = ("list_models", "model_info", "serving", "audit", "pending", "compare")


def after(*messages: str) -> list[object]:
    """The last message read right after the others, as the chat carries its focus from turn
    to turn: the topic of each reading, the model and version it names, the kinds answered,
    and a change read in full is proposed (so "make it 50%" may lean on it)."""
    focus = Focus()
    for message in messages[:-1]:
        parts = parse_parts(message, CTX.model_copy(update={"focus": focus}))
        focus = focus.read(topic_of(parts[-1], message, CTX.model_copy(update={"focus": focus})))
        for part in parts:
            model, version = getattr(part, "model", None), getattr(part, "version", None)
            model = model if isinstance(model, str) else None
            focus = focus.on(model, version if isinstance(version, int) else None)
            if part.kind in _ANSWERED:
                focus = focus.answered(part.kind)
            if part.kind in CHANGE_KINDS and model and isinstance(version, int):
                mode = getattr(part, "mode", None)
                ref = ProposalRef(
                    kind=part.kind,
                    model=model,
                    version=version,
                    mode=mode,
                    guard=getattr(part, "guard", False) is True,
                )
                focus = focus.proposed(ref)
    return list(parse_parts(messages[-1], CTX.model_copy(update={"focus": focus})))


# ------------------------------------------------------------ follow-ups keep the topic


@pytest.mark.parametrize(
    ("first", "second", "meant"),
    [
        (
            "what's the best classification model?",
            "ok and the quickest?",
            SelectModel(task="classification", goal="latency"),
        ),
        (
            "which model should serve critical traffic?",
            "at most 12 ms",
            SelectModel(goal="critical", max_latency_ms=12),
        ),
        (
            "recommend something fast for classification, under 30 ms",
            "what about feature extraction?",
            SelectModel(task="feature-extraction", goal="latency", max_latency_ms=30),
        ),
        (
            "list classification models in production",
            "and for feature extraction?",
            ListModels(task="feature-extraction", stage="Production"),
        ),
        (
            "who changed mnist-cnn in the last 3 hours?",
            "same for digits-encoder",
            AuditLog(model="digits-encoder", since_minutes=180),
        ),
        (
            "audit of mnist-cnn since yesterday",
            "and over the past 6 hours?",
            AuditLog(model="mnist-cnn", since_minutes=360),
        ),
        (
            "is the mnist-cnn canary healthy?",
            "pull it",
            StopCanary(model="mnist-cnn"),
        ),
        (
            "what share is the canary on mnist-classifier getting?",
            "lower it to 3%",
            StartCanary(model="mnist-classifier", percent=3),
        ),
    ],
)
def test_a_follow_up_keeps_what_it_does_not_name(first: str, second: str, meant: object) -> None:
    assert after(first, second) == [meant]


@pytest.mark.parametrize(
    ("first", "second", "meant"),
    [
        (
            "promote mnist-cnn v2 to staging",
            "oops, I meant v3",
            Promote(model="mnist-cnn", version=3, stage="Staging"),
        ),
        (
            "canary mnist-cnn v2 at 15%",
            "rather v4",
            StartCanary(model="mnist-cnn", version=4, percent=15),
        ),
        ("show mnist-cnn v2", "actually v1", ModelDetails(model="mnist-cnn", version=1)),
        # A correction that names a request of its own is that request.
        (
            "promote mnist-cnn v2 to staging",
            "actually roll mnist-cnn back to v1",
            Rollback(model="mnist-cnn", to_version=1),
        ),
    ],
)
def test_a_correction_changes_only_the_version(first: str, second: str, meant: object) -> None:
    assert after(first, second) == [meant]


def test_a_follow_up_of_something_else_keeps_nothing() -> None:
    # Without the canary question before it, "stop it" is not a canary change.
    (plain,) = after("show mnist-cnn", "stop it")
    assert not isinstance(plain, StopCanary)
    # A full question names its own slots: nothing of the earlier recommendation is kept.
    assert after(
        "fastest classification model under 5 ms",
        "which model is most accurate for feature extraction and all its users?",
    ) == [SelectModel(task="feature-extraction", goal="accuracy")]
    # "roll it back" after a canary question is the rollback it says.
    assert after("how is the canary of mnist-cnn doing?", "roll it back") == [
        Rollback(model="mnist-cnn")
    ]


def test_the_topic_keeps_the_slots_of_the_request() -> None:
    topic = topic_of(parse_intent("how is the canary on mnist-cnn doing?", CTX), "canary")
    assert topic == Topic(kind="serving", model="mnist-cnn", canary=True)
    assert topic_of(Unclear(reason="?"), "hm?") is None  # a question back keeps the topic
    window = topic_of(parse_intent("who promoted anything since yesterday?", CTX), "x")
    assert window is not None
    assert window.since_minutes == 1440


# ------------------------------------------------------------ classes read in one message


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        (
            "2026-12-05 23:59:01 WARN router upstream=mnist-cnn status=503 retries=3\n"
            "which version is live on mnist-cnn?",
            [ServingStatus(model="mnist-cnn")],
        ),
        (
            "Traceback (most recent call last):\n"
            '  File "/srv/handler.py", line 88, in handle\n'
            "RuntimeError: CUDA out of memory while loading resnet-152\n"
            "what is serving digits right now?",
            [ServingStatus(model="mnist-classifier")],
        ),
        (
            "seeing this:\nERROR: timeout model=digits-encoder v7 after 900ms\n"
            "who touched it today?",
            [AuditLog(model="digits-encoder", since_minutes=1440)],
        ),
    ],
)
def test_a_pasted_log_is_evidence_and_the_question_around_it_is_read(
    text: str, meant: list[object]
) -> None:
    # Neither "resnet-152" nor "v7" nor "900ms" of the log becomes a model or a version.
    assert parse_parts(text, CTX) == meant


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        (
            "FIRING ModelregRouteErrors route=digits priority=critical\n"
            "did anyone touch digits-encoder in the past 30 min?",
            [AuditLog(model="digits-encoder", since_minutes=30)],
        ),
        (
            "[ERROR] route=digits status=503 upstream=mnist-classifier\n"
            "what is mnist-cnn serving right now?",
            [ServingStatus(model="mnist-cnn")],
        ),
        (
            "route=digits 5xx rising, who touched mnist-cnn today?",
            [AuditLog(model="mnist-cnn", since_minutes=1440)],
        ),
        (
            "alert says model=mnist-classifier is slow. is digits-encoder serving fine?",
            [ServingStatus(model="digits-encoder")],
        ),
    ],
)
def test_a_pasted_route_or_field_never_overrides_the_model_the_question_names(
    text: str, meant: list[object]
) -> None:
    # The alert's route (whose model is mnist-classifier) is evidence; the user's own words
    # name the model asked about.
    assert parse_parts(text, CTX) == meant


@pytest.mark.parametrize(
    ("text", "model"),
    [
        ("which mnist-cnn version is live, and is v1 still loaded too?", "mnist-cnn"),
        ("is digits-encoder serving ok? how is it doing", "digits-encoder"),
        (
            "what does torchserve run for mnist-cnn and what else sits in memory beside it?",
            "mnist-cnn",
        ),
    ],
)
def test_a_second_clause_about_what_serves_stays_one_serving_answer(text: str, model: str) -> None:
    assert parse_parts(text, CTX) == [ServingStatus(model=model)]


@pytest.mark.parametrize(
    "text", ["is mnist-cnn live? show its card", "is mnist-cnn live? and what's its accuracy?"]
)
def test_a_second_clause_asking_for_the_card_is_still_its_own_answer(text: str) -> None:
    assert parse_parts(text, CTX) == [
        ServingStatus(model="mnist-cnn"),
        ModelDetails(model="mnist-cnn"),
    ]


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        (
            "stop the mnist-cnn canary and then push v1 to staging",
            [
                StopCanary(model="mnist-cnn"),
                Promote(model="mnist-cnn", version=1, stage="Staging"),
            ],
        ),
        (
            "roll back digits-encoder and begin mirroring v2 at 10%",
            [
                Rollback(model="digits-encoder"),
                StartCanary(model="digits-encoder", version=2, percent=10, mode="shadow"),
            ],
        ),
        (
            "show mnist-cnn v1 and if possible, archive v2",
            [
                ModelDetails(model="mnist-cnn", version=1),
                Unsupported(action="archive", model="mnist-cnn", version=2),
            ],
        ),
        (
            "kill the canary on mnist-cnn and also bump digits-encoder v2 to staging",
            [
                StopCanary(model="mnist-cnn"),
                Promote(model="digits-encoder", version=2, stage="Staging"),
            ],
        ),
        (
            "first list staging models, then: what changed on mnist-cnn today",
            [ListModels(stage="Staging"), AuditLog(model="mnist-cnn", since_minutes=1440)],
        ),
    ],
)
def test_two_parts_each_with_its_own_request_get_both(text: str, meant: list[object]) -> None:
    # Each change stays a proposal of its own; the second part leans on the first's model.
    assert parse_parts(text, CTX) == meant


@pytest.mark.parametrize(
    "text", ["hmm, go back to the old one", "latency is worse, revert to the previous version"]
)
def test_the_old_one_after_a_proposed_promotion_is_the_version_production_still_holds(
    text: str,
) -> None:
    focus = (
        Focus()
        .on("mnist-classifier", 2)
        .proposed(ProposalRef(kind="promote", model="mnist-classifier", version=2))
    )
    ctx = CTX.model_copy(
        update={"focus": focus, "stages": (("mnist-classifier", "Production", 1),)}
    )
    assert parse_parts(text, ctx) == [Rollback(model="mnist-classifier", to_version=1)]
    # Once the registry shows v2 in Production, the registry's own rollback target decides.
    ctx = ctx.model_copy(update={"stages": (("mnist-classifier", "Production", 2),)})
    assert parse_parts(text, ctx) == [Rollback(model="mnist-classifier")]


def test_a_pasted_field_is_still_read_when_the_question_names_no_model() -> None:
    assert parse_parts("route=digits errors, roll back now", CTX) == [
        Rollback(model="mnist-classifier")
    ]


@pytest.mark.parametrize(
    "text",
    [
        "mnist-cnn's metrics, and the digits-encoder ones too",
        "card of mnist-cnn plus digits-encoder please",
        "details for mnist-cnn, then also digits-encoder",
    ],
)
def test_two_models_joined_by_their_ask_get_an_answer_each(text: str) -> None:
    assert parse_parts(text, CTX) == [
        ModelDetails(model="mnist-cnn"),
        ModelDetails(model="digits-encoder"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "how does mnist-cnn stack up against digits-encoder?",
        "digits-encoder or mnist-cnn, which one is faster?",
        "mnist-cnn versus digits-encoder please",
    ],
)
def test_two_models_compared_get_each_ones_details(text: str) -> None:
    # Not two versions of one model: each model's details (their metrics) side by side.
    assert sorted(getattr(m, "model", "") for m in parse_parts(text, CTX)) == [
        "digits-encoder",
        "mnist-cnn",
    ]
    assert {m.kind for m in parse_parts(text, CTX)} == {"model_info"}


@pytest.mark.parametrize(
    "text",
    [
        "need a classifier for a latency-sensitive app, budget 15 ms",
        "what do you suggest for an accuracy-first use case under 40ms",
        "which model for a p99 of 7 ms?",
    ],
)
def test_a_budget_or_a_measure_is_never_a_model_name(text: str) -> None:
    (read,) = parse_parts(text, CTX)
    assert isinstance(read, SelectModel), read
    assert read.max_latency_ms in (15, 40, 7)


def test_a_name_that_looks_like_a_model_is_still_reported() -> None:
    (read,) = parse_parts("tell me about fraud-detector", CTX)
    assert isinstance(read, Unclear)
    assert read.unknown == "fraud-detector"


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("shrink the digits canary to 4%", StartCanary(model="mnist-classifier", percent=4)),
        ("drop the canary on mnist-cnn", StopCanary(model="mnist-cnn")),
        ("stop sending 10% to mnist-cnn v2", StopCanary(model="mnist-cnn")),
        ("drop the mnist-cnn canary to 0%", StopCanary(model="mnist-cnn")),
    ],
)
def test_a_smaller_canary_share_is_a_change_of_share_and_none_is_a_stop(
    text: str, meant: object
) -> None:
    assert parse_parts(text, CTX) == [meant]


def test_a_bare_number_after_a_canary_proposal_is_its_new_share() -> None:
    proposed = (
        Focus()
        .on("mnist-cnn", 2)
        .proposed(ProposalRef(kind="canary", model="mnist-cnn", version=2))
    )
    ctx = CTX.model_copy(update={"focus": proposed})
    assert parse_intent("make it 30", ctx) == StartCanary(model="mnist-cnn", version=2, percent=30)
    # Another mode is not a new share: the canary rules read it, mode and all.
    shadow = parse_intent("make it shadow mode instead, same 10%", ctx)
    assert shadow == StartCanary(model="mnist-cnn", version=2, percent=10, mode="shadow")


def test_which_version_of_each_stage_is_one_serving_view() -> None:
    assert parse_parts("which version is prod for mnist-cnn and which is stg", CTX) == [
        ServingStatus(model="mnist-cnn")
    ]
    # A list of models asked beside it is its own part.
    assert parse_parts("is mnist-cnn live and what models are in staging", CTX) == [
        ServingStatus(model="mnist-cnn"),
        ListModels(stage="Staging"),
    ]


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        (
            "quick one: mnist-cnn metrics, and pending approvals",
            [ModelDetails(model="mnist-cnn"), PendingApprovals()],
        ),
        (
            "digits-encoder details and history pls",
            [ModelDetails(model="digits-encoder"), AuditLog(model="digits-encoder")],
        ),
    ],
)
def test_a_part_that_names_what_it_asks_for_is_a_part(text: str, meant: list[object]) -> None:
    assert parse_parts(text, CTX) == meant


# ------------------------------------------------------------ through the chat


@pytest.mark.anyio
async def test_the_chat_keeps_the_task_and_the_time_window_of_the_last_request(
    server: MCPServer, registry: Registry, tmp_path: Path
) -> None:
    before = snapshot(registry)
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        await agent.conversation.ask("which model is best for classification?")
        fastest = await agent.conversation.ask("and the fastest one?")
        await agent.conversation.ask("show the digits history since yesterday")
        other = await agent.conversation.ask("same for mnist-classifier")
        state = await agent.conversation.state()
    assert fastest.answer is not None
    assert fastest.answer.title == "Model for classification"
    assert other.answer is not None
    assert other.answer.title == "Audit: mnist-classifier, the last day"
    assert "promoted mnist-classifier v1" in other.answer.text
    assert state.about.topic == Topic(
        kind="audit", model="mnist-classifier", since_minutes=1440, named=("mnist-classifier",)
    )
    assert snapshot(registry) == before


@pytest.mark.anyio
async def test_stop_it_after_a_canary_question_stops_that_canary(
    server: MCPServer, registry: Registry, tmp_path: Path
) -> None:
    before = snapshot(registry)
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        await agent.conversation.ask("how is the canary of digits doing?")
        stop = await agent.conversation.ask("stop it")
    # Read as stopping digits' canary (not as "show digits"); with none running, the chat
    # says so and changes nothing.
    assert stop.answer is not None
    assert stop.answer.text == "digits has no canary running; nothing to stop."
    assert stop.approval is None
    assert snapshot(registry) == before

"""The vocabulary of change requests, stages, times, follow-ups and tasks: a change is never
read as a details view, short stage forms mean stages, a weekday is a time, a bare "and
production?" repeats the last question, and a task is one the registry has."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer

from agent.catalog import Catalog
from agent.entities import since_minutes
from agent.focus import Focus, ParseContext
from agent.intents import (
    CompareVersions,
    ListModels,
    ModelDetails,
    OutOfScope,
    PendingApprovals,
    Promote,
    SelectModel,
    ServingStatus,
    Unclear,
    Unsupported,
)
from agent.mcp_tools import open_registry
from agent.offline_parser import parse_intent
from agent.wording import normalise
from tests.agent.conftest import open_agent

CTX = ParseContext(
    models=("digits-encoder", "mnist-classifier", "mnist-cnn"),
    routes=(("digits", "mnist-classifier"),),
    stages=(("mnist-classifier", "Production", 1), ("mnist-classifier", "Staging", 2)),
    tasks=("classification", "feature-extraction"),
)


@pytest.mark.parametrize(
    ("text", "version", "stage", "guard"),
    [
        ("make v2 of mnist-classifier the production one", 2, "Production", False),
        ("make mnist-classifier v3 the new staging build", 3, "Staging", False),
        ("stage mnist-classifier v4", 4, "Staging", False),
        ("v3->stg for mnist-classifier pls", 3, "Staging", False),
        ("mnist-classifier v4 => prod", 4, "Production", False),
        (
            "I'd like to propose promoting version 3 of mnist-classifier, guarded",
            3,
            "Production",
            True,
        ),
        ("promote whatever is in staging for mnist-classifier to prod", 2, "Production", False),
        ("ship the staging build of mnist-classifier to production", 2, "Production", False),
    ],
)
def test_change_verbs_propose_a_promotion(text: str, version: int, stage: str, guard: bool) -> None:
    intent = parse_intent(text, CTX)
    assert isinstance(intent, Promote), intent
    assert (intent.model, intent.version, intent.stage, intent.guard) == (
        "mnist-classifier",
        version,
        stage,
        guard,
    )


@pytest.mark.parametrize(
    "text",
    ["propose mnist-classifier v3", "upgrade mnist-classifier to v3", "swap in v3 of mnist-cnn"],
)
def test_a_change_is_never_answered_as_details(text: str) -> None:
    intent = parse_intent(text, CTX)
    assert not isinstance(intent, ModelDetails), intent
    assert isinstance(intent, Promote | Unclear), intent


def test_short_stage_forms_in_lists_and_compares() -> None:
    listed = parse_intent("which ones are sitting in stg at the moment", CTX)
    assert listed == ListModels(stage="Staging")
    compared = parse_intent("stg vs prod on mnist-classifier, which one's more accurate?", CTX)
    assert isinstance(compared, CompareVersions)
    assert {compared.version, compared.against} == {1, 2}


@pytest.mark.parametrize(
    ("said", "meant"),
    [
        ("stop sending traffic", "stop sending traffic"),  # not "pending"
        ("watch digits", "watch digits"),  # not "match"
        ("the story so far", "the story so far"),  # not "history"
        ("who is staying late", "who is staying late"),  # not "staging"
        ("promte digits", "promote digits"),
        ("prodction models", "production models"),
        ("lsit the modles", "lsit the models"),  # a first-letter slip is left as typed
    ],
)
def test_only_typos_of_command_words_are_corrected(said: str, meant: str) -> None:
    assert normalise(said) == meant


def test_a_short_form_inside_a_name_is_left_alone() -> None:
    assert normalise("show stg-copy v2", ["stg-copy"]) == "show stg-copy v2"
    assert normalise("stg", ["stg"]) == "stg"
    assert normalise("v2->stg") == "v2 to staging"


@pytest.mark.parametrize(
    "text",
    [
        "which mnist-classifier build is taking traffic at the moment",
        "what version of mnist-cnn is handling requests",
    ],
)
def test_serving_synonyms(text: str) -> None:
    assert isinstance(parse_intent(text, CTX), ServingStatus)


def test_weekdays_are_times_back_to_that_day() -> None:
    wednesday = datetime(2026, 12, 9, 10, 30, tzinfo=UTC)
    assert since_minutes("audit trail since monday pls", wednesday) == 2 * 1440 + 630
    assert since_minutes("since Wed", wednesday) == 630  # today, from midnight
    assert since_minutes("since thursday", wednesday) == 6 * 1440 + 630
    assert since_minutes("any changes to mnist-cnn this week?") == 10080
    assert since_minutes("audit log for mnist-classifier today") == 1440


def test_a_bare_follow_up_repeats_the_last_question() -> None:
    listed = CTX.model_copy(update={"focus": Focus().answered("list_models")})
    assert parse_intent("and production?", listed) == ListModels(stage="Production")
    served = CTX.model_copy(update={"focus": Focus().on("mnist-classifier").answered("serving")})
    assert parse_intent("what about mnist-cnn?", served) == ServingStatus(model="mnist-cnn")
    shown = CTX.model_copy(update={"focus": Focus().on("mnist-cnn").answered("model_info")})
    assert parse_intent("and is that the one that's serving?", shown) == ServingStatus(
        model="mnist-cnn"
    )
    # Nothing asked before: a bare stage is not a question to repeat.
    assert isinstance(parse_intent("and production?", CTX), Unclear)


def test_tasks_are_the_registry_tasks() -> None:
    chosen = parse_intent("which model should I use for digit classification?", CTX)
    assert isinstance(chosen, SelectModel)
    assert chosen.task == "classification"
    unknown = parse_intent("list the models for fraud detection", CTX)
    assert isinstance(unknown, Unclear)
    assert "classification, feature-extraction" in unknown.reason
    missing = parse_intent("what's serving for fraud-detector", CTX)
    assert isinstance(missing, Unclear)
    assert missing.unknown == "fraud-detector"


def test_requests_and_questions_about_requests() -> None:
    asked = "did my promo request go through yet or is it still waiting for someone to approve"
    assert isinstance(parse_intent(asked, CTX), PendingApprovals)
    registered = parse_intent("register my new model from s3://bucket/digits/v5/model.pt", CTX)
    assert registered == Unsupported(action="register")  # the path names no model
    assert parse_intent("restart the router pod in k8s pls", CTX) == OutOfScope()
    assert parse_intent("how do i fix CUDA out of memory", CTX) == OutOfScope()


def test_speed_asked_for_is_the_goal() -> None:
    chosen = parse_intent("need a classifier that answers in under 20ms, what do we have", CTX)
    assert isinstance(chosen, SelectModel)
    assert (chosen.goal, chosen.max_latency_ms, chosen.task) == ("latency", 20, "classification")


@pytest.mark.anyio
async def test_tasks_come_from_the_registry_through_mcp(server: MCPServer) -> None:
    async with open_registry(server) as tools:
        ctx = await Catalog(tools).context(Focus())
    assert ctx.tasks == ("classification",)


@pytest.mark.anyio
async def test_the_chat_repeats_the_last_list_for_another_stage(
    server: MCPServer, tmp_path: Path
) -> None:
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        staging = await agent.conversation.ask("what's in staging?")
        production = await agent.conversation.ask("and production?")
    assert staging.answer is not None
    assert production.answer is not None
    assert staging.answer.text.startswith("1 model(s) in Staging:")
    assert production.answer.text.startswith("2 model(s) in Production:"), production.answer

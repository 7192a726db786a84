"""Classes of phrasing read from held-out set 7's misses, each with phrasings of our own
(other words, models and numbers; the phrasing table holds more): a purpose said after the
request, a pasted change repeated for another model, "it" after a name the registry lacks,
the clause that asks among clauses said around it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer

from agent import numbers
from agent.entities import since_minutes
from agent.focus import Focus, Topic
from agent.intents import (
    CHANGE_KINDS,
    AuditLog,
    CompareVersions,
    Help,
    Intent,
    ListModels,
    ModelDetails,
    OutOfScope,
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
from agent.offline_parser import parse_parts
from agent.topics import topic_of
from registry_mcp.core.registry import Registry
from tests.agent.conftest import open_agent
from tests.agent.test_follow_ups import CTX, after
from tests.helpers import snapshot


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        (
            "who promoted mnist-cnn since yesterday? I need it for the quarterly review.",
            [AuditLog(model="mnist-cnn", since_minutes=1440)],
        ),
        (
            "show me digits-encoder's card. we need this by friday for the auditors",
            [ModelDetails(model="digits-encoder")],
        ),
        (
            "what is serving mnist-classifier? I need that for the incident report",
            [ServingStatus(model="mnist-classifier")],
        ),
    ],
)
def test_a_purpose_after_the_request_is_not_a_second_request(
    text: str, meant: list[object]
) -> None:
    assert parse_parts(text, CTX) == meant


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        (
            "audit says `promote mnist-cnn v3 -> Staging by bob`. can you do the same for "
            "digits-encoder v2",
            Promote(model="digits-encoder", version=2, stage="Staging"),
        ),
        (
            "yesterday's log: `rollback mnist-classifier to v1 by carol`. same thing for mnist-cnn",
            Rollback(model="mnist-cnn"),
        ),
        (
            "from the log: `canary mnist-cnn v4 at 15%`. now repeat that for digits-encoder v6",
            StartCanary(model="digits-encoder", version=6, percent=15),
        ),
    ],
)
def test_the_same_as_a_pasted_change_is_that_change_for_the_model_named(
    text: str, meant: object
) -> None:
    assert parse_parts(text, CTX) == [meant]


def test_a_pasted_line_that_is_no_change_gives_the_same_nothing_to_repeat() -> None:
    # The pasted words are evidence only: with no change in them, nothing is proposed.
    parts = parse_parts("log: `GET /predictions 200 ok`. do the same for mnist-cnn v2", CTX)
    assert all(part.kind not in ("promote", "rollback", "canary") for part in parts)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("show me fraud-detector", "promote it to staging please"),
        ("what is serving churn-model?", "ok, roll it back then"),
        ("tell me about resnet50 v2", "compare it with v1"),
    ],
)
def test_it_after_a_name_the_registry_lacks_is_that_name_never_an_earlier_model(
    first: str, second: str
) -> None:
    # mnist-cnn was discussed before the unknown name: "it" is never read as mnist-cnn.
    parts = parse_parts(first, CTX)
    focus = Focus().on("mnist-cnn", 1).read(topic_of(parts[-1], first))
    (read,) = parse_parts(second, CTX.model_copy(update={"focus": focus}))
    assert isinstance(read, Unclear)
    assert read.unknown is not None
    assert read.unknown.lower() in first.lower()


def test_the_topic_keeps_a_comparisons_baseline_and_an_unknown_name() -> None:
    compared = CompareVersions(model="mnist-cnn", version=5, against=3)
    assert topic_of(compared, "v5 vs v3") == Topic(kind="compare", model="mnist-cnn", against=3)
    unknown = Unclear(reason="none", needs="model", unknown="fraud-detector")
    assert topic_of(unknown, "fraud-detector card") == Topic(unknown="fraud-detector")


@pytest.mark.parametrize(
    ("first", "second", "meant"),
    [
        (
            "compare mnist-cnn v5 with v3",
            "and version 6?",
            CompareVersions(model="mnist-cnn", version=6, against=3),
        ),
        (
            "roll back digits-encoder",
            "back to v2 please",
            Rollback(model="digits-encoder", to_version=2),
        ),
        (
            "what serves the digits route?",
            "what about critical requests?",
            ServingStatus(model="mnist-cnn"),
        ),
        (
            "promote mnist-cnn v4 to staging",
            "ok now do the same for digits-encoder v7",
            Promote(model="digits-encoder", version=7, stage="Staging"),
        ),
    ],
)
def test_a_follow_up_repeats_the_request_with_what_it_changes(
    first: str, second: str, meant: object
) -> None:
    assert after(first, second) == [meant]


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        (
            "digits-encoder is fine, but what versions does mnist-cnn have?",
            ModelDetails(model="mnist-cnn"),
        ),
        (
            "alert: `mnist-cnn p99 high`. who touched mnist-classifier in the last hour?",
            AuditLog(model="mnist-classifier", since_minutes=60),
        ),
        (
            "not digits-encoder, I mean mnist-cnn - which version is live?",
            ServingStatus(model="mnist-cnn"),
        ),
    ],
)
def test_the_clause_that_asks_names_the_model(text: str, meant: object) -> None:
    assert parse_parts(text, CTX) == [meant]


def test_a_change_whose_asking_clause_names_no_model_still_asks_which() -> None:
    (read,) = parse_parts("mnist-cnn looks fine but digits-encoder is broken, revert now!!", CTX)
    assert isinstance(read, Unclear)
    assert read.needs == "model"


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        (
            "The canary for mnist-cnn v3 went well. Promote it to production please.",
            Promote(model="mnist-cnn", version=3, stage="Production"),
        ),
        (
            "digits-encoder v2 failed its canary, we stopped it. what versions does it have now?",
            ModelDetails(model="digits-encoder"),
        ),
        (
            "Alice says the digits route is slow today. Which model is behind it?",
            ServingStatus(model="mnist-classifier"),
        ),
    ],
)
def test_the_request_in_the_last_sentence_after_a_story_is_read(text: str, meant: object) -> None:
    assert parse_parts(text, CTX) == [meant]


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("canary x version three at ten percent", "canary x version 3 at 10 percent"),
        ("compare versions four and two", "compare versions 4 and 2"),
        ("the past forty-eight hours, under twenty five ms", "the past 48 hours, under 25 ms"),
        ("promote that one, not the one before", "promote that one, not the one before"),
        ("a hundred percent of the traffic", "100 percent of the traffic"),
    ],
)
def test_numbers_spelled_out_are_read_as_digits_only_where_they_count(
    text: str, meant: str
) -> None:
    assert numbers.with_digits(text) == meant


@pytest.mark.anyio
async def test_the_chat_reads_it_after_an_unknown_name_as_that_name_and_proposes_nothing(
    server: MCPServer, registry: Registry, tmp_path: Path
) -> None:
    before = snapshot(registry)
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        await agent.conversation.ask("show me digits v3")
        await agent.conversation.ask("tell me about fraud-detector")
        promote = await agent.conversation.ask("ok then promote it to staging")
    # Never digits (discussed before the unknown name): the name said, and nothing proposed.
    assert promote.approval is None
    assert promote.answer is not None
    assert "fraud-detector" in promote.answer.text
    assert snapshot(registry) == before


@pytest.mark.anyio
async def test_the_chat_keeps_a_comparisons_baseline_for_another_version(
    server: MCPServer, registry: Registry, tmp_path: Path
) -> None:
    before = snapshot(registry)
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        await agent.conversation.ask("compare digits v3 with v1")
        other = await agent.conversation.ask("what about v2?")
        state = await agent.conversation.state()
    assert other.answer is not None
    assert other.answer.text.startswith("digits v2 (None) vs v1 (Production)")
    assert state.about.topic == Topic(kind="compare", model="digits", against=1)
    assert snapshot(registry) == before


def test_the_weekend_reaches_back_to_saturday() -> None:
    sunday = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
    tuesday = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
    assert since_minutes("what happened to digits-encoder over the weekend?", sunday) == 1440 + 900
    assert since_minutes("any rollbacks since the weekend", tuesday) == 3 * 1440 + 60
    assert since_minutes("what is the weekend plan for digits", sunday) is None


def test_another_baseline_by_its_stage_keeps_the_version_compared() -> None:
    staged = CTX.model_copy(
        update={"stages": (("mnist-cnn", "Production", 1), ("mnist-cnn", "Staging", 4))}
    )
    first = parse_parts("compare mnist-cnn v3 with v2", staged)
    focus = Focus().on("mnist-cnn", 3).read(topic_of(first[-1], "compare mnist-cnn v3 with v2"))
    ctx = staged.model_copy(update={"focus": focus})
    assert parse_parts("against production instead", ctx) == [
        CompareVersions(model="mnist-cnn", version=3, against=1)
    ]
    assert parse_parts("and vs the staging one?", ctx) == [
        CompareVersions(model="mnist-cnn", version=3, against=4)
    ]


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        (
            "open mnist-cnn v3's card and then promote it to staging",
            [
                ModelDetails(model="mnist-cnn", version=3),
                Promote(model="mnist-cnn", version=3, stage="Staging"),
            ],
        ),
        (
            "digits-encoder v2 is useless, remove it and promote v1 to production",
            [
                Unsupported(action="delete", model="digits-encoder", version=2),
                Promote(model="digits-encoder", version=1, stage="Production"),
            ],
        ),
        (
            "who promoted mnist-cnn, and btw tell me a joke",
            [AuditLog(model="mnist-cnn"), OutOfScope()],
        ),
        (
            "anything waiting for approval? and what else can the bot do",
            [PendingApprovals(), Help()],
        ),
        (
            # A stage's models asked for by naming them, then another request.
            "staging models + pending?",
            [ListModels(stage="Staging"), PendingApprovals()],
        ),
        (
            # A contraction without its apostrophe still opens a question.
            "whats in staging + any approvals waiting?",
            [ListModels(stage="Staging"), PendingApprovals()],
        ),
        (
            "list the classification models and suggest the fastest",
            [
                ListModels(task="classification"),
                SelectModel(task="classification", goal="latency"),
            ],
        ),
    ],
)
def test_each_part_of_a_two_part_message_is_answered(text: str, meant: list[object]) -> None:
    assert parse_parts(text, CTX) == meant


@pytest.mark.parametrize(
    "second",
    [
        "same question, but it has to answer in under 15 ms",
        "same thing, it must respond within 15 ms",
        "but it needs to answer under 15 ms",
    ],
)
def test_a_budget_said_of_it_refines_the_recommendation_before(second: str) -> None:
    assert after("which classifier would you recommend for accuracy?", second) == [
        SelectModel(task="classification", goal="accuracy", max_latency_ms=15)
    ]


@pytest.mark.parametrize("second", ["call it off", "actually, call that off", "ok call it off"])
def test_calling_a_canary_off_stops_it(second: str) -> None:
    assert after("canary mnist-cnn v2 at 5 percent", second) == [StopCanary(model="mnist-cnn")]


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        (
            "what is serving on mnist-cnn, and what is in production?",
            [ServingStatus(model="mnist-cnn"), ListModels(stage="Production")],
        ),
        (
            "show production models + any approvals waiting?",
            [ListModels(stage="Production"), PendingApprovals()],
        ),
        # One model's stages stay one serving view.
        (
            "which version is prod for mnist-cnn and which is stg",
            [ServingStatus(model="mnist-cnn")],
        ),
    ],
)
def test_a_stage_asked_about_as_a_whole_is_the_registry_list(
    text: str, meant: list[object]
) -> None:
    assert parse_parts(text, CTX) == meant


# ------------------------------------------------ classes read from sets 17 and 18's misses


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        # A purpose said as "I would like to <not a registry verb>" is context, not a request.
        (
            "Please list the models in production. I would like to update the wiki page.",
            [ListModels(stage="Production")],
        ),
        (
            "Morning! could you show the archived models? We'd like to clean up the dashboards",
            [ListModels(stage="Archived")],
        ),
        # ... but "I'd like to see ..." still asks.
        ("I'd like to see the digits-encoder card", [ModelDetails(model="digits-encoder")]),
        # A part asking for what the part before described.
        (
            "For the handover I need every classification model in staging. Could you list them?",
            [ListModels(stage="Staging", task="classification")],
        ),
        # Numbered parts, "first ..., and second ...", "if you can also ...".
        (
            "Three things for the review: (1) what is in staging, (2) the history of mnist-cnn",
            [ListModels(stage="Staging"), AuditLog(model="mnist-cnn")],
        ),
        (
            "two questions, sorry: first, what is serving mnist-cnn, and second, anything pending?",
            [ServingStatus(model="mnist-cnn"), PendingApprovals()],
        ),
        (
            "show digits-encoder v1; if you could also list the production models",
            [ModelDetails(model="digits-encoder", version=1), ListModels(stage="Production")],
        ),
        (
            "what can you do, and whats serving on mnist-cnn",
            [Help(), ServingStatus(model="mnist-cnn")],
        ),
        # "it" in the last question is the model of the sentence before.
        (
            "Yesterday's rollback of mnist-cnn went through. Which version is serving it now?",
            [ServingStatus(model="mnist-cnn")],
        ),
    ],
)
def test_purposes_references_and_numbered_parts(text: str, meant: list[object]) -> None:
    assert parse_parts(text, CTX) == meant


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("which build is on mnist-cnn right now?", ServingStatus(model="mnist-cnn")),
        ("what answers the critical requests on digits", ServingStatus(model="mnist-cnn")),
        (
            "could you prepare the promotion of mnist-cnn version 2 to staging?",
            Promote(model="mnist-cnn", version=2, stage="Staging"),
        ),
        # A rule said to be fine is not the trouble; the route's own path is.
        (
            "critical traffic on digits is fine. roll back the other path on that route",
            Rollback(model="mnist-classifier"),
        ),
        (
            "we need a model that embeds a million images in bulk for a similarity index, "
            "which one?",
            SelectModel(task="feature-extraction", goal="batch"),
        ),
    ],
)
def test_serving_asked_by_what_answers_and_promotions_asked_as_nouns(
    text: str, meant: object
) -> None:
    assert parse_parts(text, CTX) == [meant]


@pytest.mark.parametrize(
    ("first", "second", "meant"),
    [
        ("roll back mnist-cnn", "to v1 i mean", Rollback(model="mnist-cnn", to_version=1)),
        (
            "roll back mnist-cnn",
            "to version 2 specifically, not the default target",
            Rollback(model="mnist-cnn", to_version=2),
        ),
        (
            "recommend a feature extraction model for low latency",
            "what about for accuracy",
            SelectModel(task="feature-extraction", goal="accuracy"),
        ),
    ],
)
def test_follow_ups_of_a_card_a_rollback_and_a_recommendation(
    first: str, second: str, meant: object
) -> None:
    assert after(first, second) == [meant]


def test_compared_with_another_version_right_after_a_card_compares_that_version() -> None:
    shown = Focus().on("mnist-cnn", 3).read(Topic(kind="model_info", model="mnist-cnn"))
    ctx = CTX.model_copy(update={"focus": shown})
    assert parse_parts("hmm and compared with v1?", ctx) == [
        CompareVersions(model="mnist-cnn", version=3, against=1)
    ]


# ----------------------------------------------------- classes read from set 19's misses


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        # Two letters changed make another word, not a slip: a name the registry lacks.
        (
            "who touched mnist-cnm yesterday?",
            [AuditLog(model="mnist-cnn", since_minutes=1440)],
        ),
        ("show digits-decoder", [Unclear(reason="", unknown="digits-decoder")]),
        ("the mnist-cnn-v2 pod card", [ModelDetails(model="mnist-cnn", version=2)]),
        (
            "route 1 in 25 requests of mnist-cnn to v2",
            [StartCanary(model="mnist-cnn", version=2, percent=4)],
        ),
        ("mnist-cnn canary is flapping, shut it down", [StopCanary(model="mnist-cnn")]),
        (
            "mnist-cnn v3 looks ok? compare with v1",
            [CompareVersions(model="mnist-cnn", version=3, against=1)],
        ),
        (
            "promote mnist-cnn v2 to staging, then start a 5% canary of v3",
            [
                Promote(model="mnist-cnn", version=2, stage="Staging"),
                StartCanary(model="mnist-cnn", version=3, percent=5),
            ],
        ),
        (
            "what is in staging? I need a summary for the weekly sync",
            [ListModels(stage="Staging")],
        ),
    ],
)
def test_slips_ratios_and_parts_that_lean_on_the_first(text: str, meant: list[object]) -> None:
    read = parse_parts(text, CTX)
    if isinstance(meant[0], Unclear):
        assert isinstance(read[0], Unclear)
        assert read[0].unknown == meant[0].unknown
    else:
        assert read == meant


def test_wait_then_a_target_is_the_rollback_target() -> None:
    assert after("roll back mnist-cnn", "no wait - to v1 specifically") == [
        Rollback(model="mnist-cnn", to_version=1)
    ]


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        # A longer topic before the colon is still a topic, not the request.
        (
            "Quick one before the release call: roll back mnist-cnn, then stop the canary",
            [Rollback(model="mnist-cnn"), StopCanary(model="mnist-cnn")],
        ),
        # A pasted route line says which model "that model" is (the route's, as the registry
        # has it, whatever the line claims); it asks nothing.
        (
            "route digits -> mnist-cnn. show me v2 of that model",
            [ModelDetails(model="mnist-classifier", version=2)],
        ),
        ("does the cafeteria serve lunch on sundays?", [OutOfScope()]),
    ],
)
def test_topics_pasted_route_lines_and_the_canteen(text: str, meant: list[object]) -> None:
    assert parse_parts(text, CTX) == meant


def test_another_version_against_the_same_keeps_the_baseline() -> None:
    assert after("compare mnist-cnn v2 with v1", "now v3 against the same") == [
        CompareVersions(model="mnist-cnn", version=3, against=1)
    ]


# ------------------------------------------------ classes read from sets 20 and 21's misses


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        # "is x still on vN?" asks what serves, not for vN's card.
        ("is digits-encoder still on v1?", [ServingStatus(model="digits-encoder")]),
        (
            "pager is noisy about mnist-cnn but my question: is digits-encoder currently on v1?",
            [ServingStatus(model="digits-encoder")],
        ),
        ("is prod still v2 for mnist-classifier?", [ServingStatus(model="mnist-classifier")]),
        # Where a route's requests go, asked with "where" last or first.
        (
            "critical calls go where at the moment? X-Priority: critical on digits",
            [ServingStatus(model="mnist-cnn")],
        ),
        (
            "ok, critical is mnist-cnn. and the normal requests on digits, which version?",
            [ServingStatus(model="mnist-classifier")],
        ),
        # The archive as a place is the Archived stage; archiving is still not done here.
        ("anything sitting in the archive?", [ListModels(stage="Archived")]),
        # "go back to the previous production", "want it back on vN": a rollback.
        (
            "could we go back to the previous prod of mnist-cnn? please do",
            [Rollback(model="mnist-cnn")],
        ),
        (
            "digits-encoder is fine. it's mnist-cnn we need back on v2",
            [Rollback(model="mnist-cnn", to_version=2)],
        ),
        # "..., and if it looks good, promote ...": a comparison, then the change.
        (
            "diff mnist-cnn v4 against v3 and if that looks fine promote v4 to staging",
            [
                CompareVersions(model="mnist-cnn", version=4, against=3),
                Promote(model="mnist-cnn", version=4, stage="Staging"),
            ],
        ),
        # "..., and the version which is live": a second question said as a noun.
        (
            "audit of mnist-cnn for the last 2 hours, and the version that is live",
            [AuditLog(model="mnist-cnn", since_minutes=120), ServingStatus(model="mnist-cnn")],
        ),
        # A corrected request within the message: what is said after the correction.
        (
            "send 10% to digits-encoder v2... no wait, to mnist-cnn v2",
            [StartCanary(model="mnist-cnn", version=2, percent=10)],
        ),
        (
            "promote mnist-classifier v3, scratch that, mnist-cnn v3",
            [Promote(model="mnist-cnn", version=3, stage="Production")],
        ),
        # "make staging the new production": the Staging version (as the registry has it).
        (
            "make staging the new prod for mnist-classifier",
            [Promote(model="mnist-classifier", version=2, stage="Production")],
        ),
        # A check the asker will make is not a second request.
        (
            "show mnist-cnn's card, I will compare it against digits-encoder later",
            [ModelDetails(model="mnist-cnn")],
        ),
        # A question said in two parts about one model's serving.
        (
            "is mnist-cnn alive? which version does it serve",
            [ServingStatus(model="mnist-cnn")],
        ),
        (
            "anything queued that no one has signed off on?",
            [PendingApprovals()],
        ),
        ("please write our team's OKRs for next quarter", [OutOfScope()]),
        (
            "what would you pick for overnight batch jobs? feature extraction",
            [SelectModel(task="feature-extraction", goal="batch")],
        ),
    ],
)
def test_serving_asked_by_version_corrections_within_a_message_and_places(
    text: str, meant: list[object]
) -> None:
    stages = (("mnist-classifier", "Production", 1), ("mnist-classifier", "Staging", 2))
    assert parse_parts(text, CTX.model_copy(update={"stages": stages})) == meant


@pytest.mark.parametrize(
    ("messages", "meant"),
    [
        # A shadow canary's new share keeps it a shadow.
        (
            ("mirror mnist-cnn v2 at 20%", "make it 60%"),
            StartCanary(model="mnist-cnn", version=2, percent=60, mode="shadow"),
        ),
        # "the first one against the second" is not read (left as a question back); the
        # correction of a version names the version meant, not the one said to be wrong.
        (
            ("promote mnist-cnn v2 to staging", "no, sorry, I meant v4 not v2"),
            Promote(model="mnist-cnn", version=4, stage="Staging"),
        ),
        # "archive it" after a refused delete keeps the version.
        (
            ("delete digits-encoder v3", "fine, archive it then"),
            Unsupported(action="archive", model="digits-encoder", version=3),
        ),
        # A remark before "stop it" answers nothing: "it" is still the canary.
        (
            (
                "canary mnist-cnn v2 at 10%",
                "how's the canary doing?",
                "p99 went up a bit. kill it",
            ),
            StopCanary(model="mnist-cnn"),
        ),
        # "now the audit" is about the model under discussion.
        (
            ("show me digits-encoder's card", "thanks", "now the history for the last day"),
            AuditLog(model="digits-encoder", since_minutes=1440),
        ),
    ],
)
def test_follow_ups_keep_the_mode_the_version_and_the_canary(
    messages: tuple[str, ...], meant: object
) -> None:
    assert after(*messages) == [meant]


def test_a_change_for_a_name_the_registry_lacks_is_completed_by_the_right_one() -> None:
    """ "promote fraud-scorer v2" -> "no such model"; "sorry, I meant mnist-cnn" proposes the
    same change for that model (still only a proposal); anything else starts afresh."""
    first = parse_parts("promote fraud-scorer v2 to prod", CTX)
    assert isinstance(first[0], Unclear)
    assert first[0].unknown == "fraud-scorer"
    assert after("promote fraud-scorer v2 to prod", "sorry i meant mnist-cnn") == [
        Promote(model="mnist-cnn", version=2, stage="Production")
    ]
    assert after("roll back fraud-scorer", "ah, I mean digits-encoder") == [
        Rollback(model="digits-encoder")
    ]
    # "it" is still the missing name, and a question or a negation completes nothing.
    assert isinstance(after("promote fraud-scorer v2", "promote it")[0], Unclear)
    assert not isinstance(after("promote fraud-scorer v2", "not mnist-cnn")[0], Promote)
    assert not isinstance(after("promote fraud-scorer v2", "is it mnist-cnn?")[0], Promote)


def test_time_spans_are_measured_from_the_context_clock() -> None:
    """The chat measures "since Friday" from now; the held-out sets from their stated day."""
    sunday = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    ctx = CTX.model_copy(update={"now": sunday})
    assert parse_parts("who changed anything since friday?", ctx) == [
        AuditLog(since_minutes=2 * 1440 + 12 * 60)
    ]
    assert parse_parts("any changes over the weekend?", ctx) == [
        AuditLog(since_minutes=1440 + 12 * 60)
    ]


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        # "I mean" said of a model that is fine: not read with certainty, so asked about.
        (
            "roll back mnist-cnn now. i mean, mnist-classifier is fine",
            [Unclear(reason="")],
        ),
        (
            "promote mnist-cnn v3, I mean it, mnist-classifier is fine",
            [Promote(model="mnist-cnn", version=3, stage="Production")],
        ),
        # A correction that leaves open where the change goes keeps both names: ask.
        (
            "promote mnist-cnn v3 to staging, sorry i mean mnist-classifier v3 instead",
            [Unclear(reason="", needs="model")],
        ),
    ],
)
def test_a_correction_within_a_message_never_moves_another_model_than_meant(
    text: str, meant: list[object]
) -> None:
    read = parse_parts(text, CTX)
    if isinstance(meant[0], Unclear):
        assert [type(part) for part in read] == [Unclear]
    else:
        assert read == meant


# ----------------------------------------------------- classes read from set 24's misses


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        # "quick one" is a quick question, not a fast model.
        ("quick one: what is in staging right now?", [ListModels(stage="Staging")]),
        # A share said in the sentence after the change is the change's share.
        (
            "I'd like mnist-cnn v2 as a shadow, copying the traffic. Can it be 30 percent?",
            [StartCanary(model="mnist-cnn", version=2, percent=30, mode="shadow")],
        ),
        ("CANARY OFF on mnist-cnn!!", [StopCanary(model="mnist-cnn")]),
        # Cluster words next to a change for a name the registry lacks: say it is not there.
        (
            "revert resnet-tiny right now it is eating all the memory on the node",
            [Unclear(reason="", unknown="resnet-tiny")],
        ),
        # The second part's "what's serving" is about the model the first part names.
        (
            "kill the canary on mnist-cnn, then tell me what's live",
            [StopCanary(model="mnist-cnn"), ServingStatus(model="mnist-cnn")],
        ),
        # A card asked for by name, even of "the version in Production".
        (
            "please send me the model card for the production version of digits-encoder",
            [ModelDetails(model="digits-encoder")],
        ),
        (
            "show the staging models and provide the history of mnist-cnn for the past day",
            [ListModels(stage="Staging"), AuditLog(model="mnist-cnn", since_minutes=1440)],
        ),
        (
            "before we start, what sorts of questions can you handle?",
            [Help()],
        ),
        ("whats on mnist-cnn atm", [ServingStatus(model="mnist-cnn")]),
        (
            "which version of digits-encoder is live + what serves critical requests on digits",
            [ServingStatus(model="digits-encoder"), ServingStatus(model="mnist-cnn")],
        ),
        # "classify digits": the data, not the route.
        (
            "we need to recognise handwritten digits overnight in bulk, which model do you suggest",
            [SelectModel(task="classification", goal="batch")],
        ),
        (
            "for the critical path, must reply within 20 ms - what would u suggest",
            [SelectModel(goal="critical", max_latency_ms=20)],
        ),
        (
            "move mnist-cnn v2 to staging and after that start a 5% canary of it",
            [
                Promote(model="mnist-cnn", version=2, stage="Staging"),
                StartCanary(model="mnist-cnn", version=2, percent=5),
            ],
        ),
        (
            "anything pending? if not, stop the canary on mnist-cnn.",
            [PendingApprovals(), StopCanary(model="mnist-cnn")],
        ),
        # Two changes offered as alternatives: the chat never picks one.
        (
            "rollback or canary for mnist-cnn, whichever you think",
            [Unclear(reason="")],
        ),
        # A version of a model the registry lacks is never another model's version.
        (
            "compare resnet-50 v3 with mnist-cnn v1",
            [Unclear(reason="", unknown="resnet-50")],
        ),
        (
            "promote churn-xgb v2 and mnist-cnn v1",
            [Unclear(reason="", unknown="churn-xgb")],
        ),
        ("help me out here. and also, what's in staging?", [Help(), ListModels(stage="Staging")]),
    ],
)
def test_shares_said_after_alternatives_unknown_versions_and_second_parts(
    text: str, meant: list[object]
) -> None:
    read = parse_parts(text, CTX)
    if isinstance(meant[0], Unclear):
        assert [type(part) for part in read] == [Unclear]
        assert read[0].unknown == meant[0].unknown  # type: ignore[attr-defined]
    else:
        assert read == meant


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("who changed what since 1 December?", 5 * 1440 + 12 * 60),
        ("changes to mnist-cnn since Dec 4th", 2 * 1440 + 12 * 60),
        ("anything after 2026-12-05?", 1440 + 12 * 60),
        # This year's date still ahead: last year's.
        ("since 24 December", (365 - 18) * 1440 + 12 * 60),
    ],
)
def test_a_date_reaches_back_to_its_midnight(text: str, minutes: int) -> None:
    sunday = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert since_minutes(text, sunday) == minutes


def test_the_same_model_for_another_span_is_its_history() -> None:
    assert after(
        "who approved the last promotion of digits-encoder?",
        "thanks. and for the same model, the preceding fourteen days?",
    ) == [AuditLog(model="digits-encoder", since_minutes=14 * 1440)]


# ------------------------------------------ what a change said but not asked for never proposes


_STAGES = (("mnist-classifier", "Production", 1), ("mnist-classifier", "Staging", 2))


@pytest.mark.parametrize(
    "text",
    [
        # Corrections within a message that are not read with certainty: asked about.
        "canary 10% of mnist-cnn v1 and promote mnist-classifier v2, I mean digits-encoder v2",
        "stop the canary on mnist-cnn and promote mnist-classifier v3, sorry I meant v2",
        "promote mnist-cnn v1, no wait, not mnist-classifier v3",
        "canary 10% of mnist-cnn v1... no wait, mnist-classifier v3 at 50%",
        "send 10% to mnist-cnn v1, no wait, 20% to mnist-classifier v3",
        "shadow mnist-cnn v1, no wait, mnist-classifier v3 real traffic",
        "bob said: promote mnist-cnn v1... no wait, mnist-classifier v3",
        "promote mnist-cnn v3 to staging, no wait, to prod",
        "canary mnist-cnn v2 at 10%, no wait, 20%",
        "roll back mnist-cnn to v1, i mean v2",
        # Refused, held, or asked about.
        "never promote mnist-cnn v1, no wait, mnist-classifier v3",
        "did you promote mnist-cnn v1, i mean mnist-classifier v3?",
        "never promote mnist-classifier v3",
        "should I promote mnist-classifier v3",
        "promote mnist-cnn v2, not yet though",
        "let's not go back to the previous production of mnist-classifier",
        "I don't want mnist-classifier back on v1",
        "did mnist-classifier go back to the previous version?",
        "when did we go back to the previous production of mnist-classifier?",
        # Two changes offered, or "it" after two models.
        "canary or rollback for mnist-cnn, you decide",
        "compare mnist-cnn v3 with mnist-classifier v2 and if it looks ok promote it",
        # Held or taken back in another sentence of the message.
        "roll back mnist-cnn. just kidding",
        "roll back mnist-cnn; hold off",
        "promote mnist-cnn v2 to production. never mind",
        "promote mnist-cnn v2 to production - lol no",
        "start a 10% canary of mnist-cnn v2. stop, don't.",
        # The choice left to the chat, however it is said.
        "either a 10% canary of mnist-cnn v2 or a rollback, whichever is safer",
        "start a 10% canary of mnist-cnn v2 or roll back mnist-cnn, whichever is safer",
        "promote mnist-cnn v2 or start a 10% canary of it, you decide",
        "roll back mnist-cnn to v1 or v2, whichever is safer",
        "start a canary of mnist-cnn v2 at 10% or 20%",
        # Asked about, or someone else's words.
        "did we stop the canary on mnist-cnn?",
        "did someone start a 10% canary of mnist-cnn v2",
        "how do I roll back mnist-cnn",
        "shall we promote mnist-cnn v2?",
        "what if we roll back mnist-cnn",
        "someone said to roll back mnist-cnn",
        "the runbook says roll back mnist-cnn",
    ],
)
def test_a_change_said_but_not_asked_for_is_never_proposed(text: str) -> None:
    read = parse_parts(text, CTX.model_copy(update={"stages": _STAGES}))
    assert not any(part.kind in CHANGE_KINDS for part in read), read


@pytest.mark.parametrize(
    ("messages", "meant"),
    [
        (("promote mnist-cnn v4 to prod", "wait, did you mean v3 not v4?"), None),
        (("promote mnist-cnn v4 to prod", "I meant v3, not v4 - hold off for now"), None),
        (("promote mnist-cnn v4 to prod", "actually, v3 failed the tests, not v4"), None),
        (
            ("promote mnist-cnn v4 to prod", "I meant v3 not v4 on staging"),
            Promote(model="mnist-cnn", version=3, stage="Staging"),
        ),
        (("shadow mnist-cnn v2 at 10%", "don't make it 50%"), None),
        (("shadow mnist-cnn v2 at 10%", "make it 50%?"), None),
        (
            ("shadow mnist-cnn v2 at 10%", "make it 50% real traffic"),
            StartCanary(model="mnist-cnn", version=2, percent=50, mode="split"),
        ),
        (("how is the mnist-cnn canary doing?", "latency is worse. don't end it yet"), None),
        (("how is the mnist-cnn canary doing?", "latency is worse. end it?"), None),
        (("how is the mnist-cnn canary doing?", "mnist-classifier latency is worse. end it"), None),
        (("promote fraud-scorer v2 to prod", "mnist-cnn... wait"), None),
        (("promote fraud-scorer v2 to prod", "never mind. mnist-cnn"), None),
        (("shadow mnist-cnn v2 at 10%", "make it 50%, not real traffic"), None),
        (("start a 10% canary of mnist-cnn v2", "make it 50 no 30"), None),
        (("start a 10% canary of mnist-cnn v2", "end it. kidding"), None),
        (
            ("promote mnist-cnn v4 to staging", "I meant v3 not v4, and keep the prod one"),
            Promote(model="mnist-cnn", version=3, stage="Staging"),
        ),
    ],
)
def test_follow_ups_that_hold_ask_or_hesitate_propose_nothing(
    messages: tuple[str, ...], meant: object
) -> None:
    read = after(*messages)
    if meant is None:
        assert not any(part.kind in CHANGE_KINDS for part in read), read
    else:
        assert read == [meant]


def test_make_staging_the_new_production_targets_production_whatever_follows() -> None:
    ctx = CTX.model_copy(update={"stages": _STAGES})
    for tail in ("", " tomorrow", " asap"):
        text = f"make staging the new production for mnist-classifier{tail}"
        assert parse_parts(text, ctx) == [
            Promote(model="mnist-classifier", version=2, stage="Production")
        ], text
    # Asked back for confirmation: nothing is proposed (never Staging).
    asked = parse_parts("make staging the new production for mnist-classifier, right?", ctx)
    assert not [part for part in asked if part.kind in CHANGE_KINDS], asked


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        # Plain requests next to words that only look like holding or asking.
        ("roll back mnist-cnn now, don't wait", [Rollback(model="mnist-cnn")]),
        ("rollback mnist-cnn, I'm not kidding", [Rollback(model="mnist-cnn")]),
        (
            "end the canary on mnist-cnn, do not roll back prod",
            [StopCanary(model="mnist-cnn")],
        ),
        (
            "Would you be so kind as to promote version 3 of mnist-classifier to Production?",
            [Promote(model="mnist-classifier", version=3, stage="Production")],
        ),
        (
            "what is serving? roll back mnist-cnn now!!!",
            [ListModels(stage="Production"), Rollback(model="mnist-cnn")],
        ),
        # A ticket number before a version is not a model the registry lacks.
        (
            "promote mnist-cnn v2 to production (ticket ML-123 v2)",
            [Promote(model="mnist-cnn", version=2, stage="Production")],
        ),
    ],
)
def test_plain_requests_next_to_words_that_look_like_holding_still_propose(
    text: str, meant: list[object]
) -> None:
    assert parse_parts(text, CTX) == meant


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        # A stage said right after the version, the way a command line says it.
        (
            "promote mnist-cnn v2 prod",
            [Promote(model="mnist-cnn", version=2, stage="Production")],
        ),
        (
            "promote digits-encoder@3 staging",
            [Promote(model="digits-encoder", version=3, stage="Staging")],
        ),
        (
            "promote mnist-cnn v2 -> staging   # not digits-encoder",
            [Promote(model="mnist-cnn", version=2, stage="Staging")],
        ),
        # "canary <model> <version> off": the running canary stopped, not a new one.
        ("canary mnist-cnn v2 off please", [StopCanary(model="mnist-cnn")]),
        # Spans as a shell or a German speaker writes them.
        ("audit mnist-cnn 45m", [AuditLog(model="mnist-cnn", since_minutes=45)]),
        ("history digits-encoder 3h", [AuditLog(model="digits-encoder", since_minutes=180)]),
        (
            "Who has touched digits-encoder since 3 days?",
            [AuditLog(model="digits-encoder", since_minutes=4320)],
        ),
        ("Who did roll back mnist-cnn?", [AuditLog(model="mnist-cnn")]),
        ("flip mnist-cnn back", [Rollback(model="mnist-cnn")]),
        # A word shaped like a name is the unknown one, not the preposition before the version.
        (
            "bitte rollback von resnet-x auf v1",
            [Unclear(reason="", unknown="resnet-x")],
        ),
        ("any hotels near the office you can recommend?", [OutOfScope()]),
        # A reading said not to be wanted is not a part of the message.
        (
            "No need for the audit. Just show the mnist-cnn card.",
            [ModelDetails(model="mnist-cnn")],
        ),
        # What was reported, then the speaker's own request.
        (
            "the alert says error rate 9%, so roll back mnist-cnn",
            [Rollback(model="mnist-cnn")],
        ),
        # A mode said not to be wanted is not the mode.
        (
            "canary mnist-cnn v2 at 20%, live traffic, no shadow",
            [StartCanary(model="mnist-cnn", version=2, percent=20, mode="split")],
        ),
        (
            "canary of mnist-cnn v2 at 5% instead of mirroring",
            [StartCanary(model="mnist-cnn", version=2, percent=5, mode="split")],
        ),
        # A share of a route, a share of traffic said without its article.
        (
            "Can 20% of the digits route go to v3?",
            [StartCanary(model="mnist-classifier", version=3, percent=20, mode="split")],
        ),
        (
            "try mnist-cnn v2 on tiny slice of traffic, say 3 percent",
            [StartCanary(model="mnist-cnn", version=2, percent=3, mode="split")],
        ),
        # A question, then a change in another clause that leans on its model.
        (
            "which model takes critical requests on digits, and then roll it back",
            [Rollback(model="mnist-cnn")],
        ),
        ("regular traffic via digits goes where?", [ServingStatus(model="mnist-classifier")]),
    ],
)
def test_terse_non_native_and_reported_wordings(text: str, meant: list[object]) -> None:
    got = parse_parts(text, CTX)
    if isinstance(meant[0], Unclear):
        assert [(g.kind, getattr(g, "unknown", None)) for g in got] == [
            ("unclear", meant[0].unknown)
        ], got
    else:
        assert got == meant, got


def test_a_promotion_naming_no_model_keeps_the_stage_said_after_its_version() -> None:
    (asked,) = parse_parts("promote v5 staging", CTX)
    assert isinstance(asked, Unclear)
    assert asked.partial is not None
    assert (asked.partial.kind, asked.partial.version, asked.partial.stage) == (
        "promote",
        5,
        "Staging",
    )
    (back,) = parse_parts("put it back pls", CTX)
    assert isinstance(back, Unclear)
    assert back.partial is not None
    assert (back.partial.kind, back.partial.missing) == ("rollback", "model")


@pytest.mark.parametrize(
    ("messages", "meant"),
    [
        # A polite question asks for the new share; a bare "make it 50%?" still asks whether.
        (
            ("canary mnist-cnn v2 at 10%", "could you raise it to 40%?"),
            StartCanary(model="mnist-cnn", version=2, percent=40, mode="split"),
        ),
        (
            ("shadow mnist-cnn v2 at 10%", "is possible to make it bigger, 30 percent?"),
            StartCanary(model="mnist-cnn", version=2, percent=30, mode="shadow"),
        ),
        (
            ("what changed on mnist-cnn today", "could I get the same info about digits-encoder?"),
            AuditLog(model="digits-encoder", since_minutes=1440),
        ),
    ],
)
def test_polite_follow_ups_ask_for_the_change_or_the_same_reading(
    messages: tuple[str, ...], meant: object
) -> None:
    assert after(*messages) == [meant]


def test_a_bare_question_about_a_new_share_still_proposes_nothing() -> None:
    (got,) = after("canary mnist-cnn v2 at 10%", "make it 50%?")
    assert got.kind not in CHANGE_KINDS


@pytest.mark.parametrize(
    "messages",
    [
        # "canary ... off" only where it ends a request: never refused, asked or another "off".
        ("don't turn canary mnist-classifier off",),
        ("never turn canary mnist-classifier off",),
        ("canary mnist-classifier v3 off? no keep it running",),
        ("canary mnist-classifier v3 is off, right?",),
        ("canary mnist-classifier v3 kicked off yesterday, how is it going?",),
        ("the canary on mnist-cnn set off alarms, show the audit",),
        # "switch ... back" never refused, asked, or back to a share or a stage.
        ("don't switch mnist-cnn back",),
        ("I'd rather not flip mnist-cnn back",),
        ("we can't switch mnist-cnn back, right?",),
        ("canary mnist-classifier v3 at 10%", "pin it back to 10 percent"),
        ("canary mnist-classifier v3 at 10%", "set this back, the share is too high"),
        ("switch mnist-cnn back online",),
        ("set mnist-classifier back to staging",),
        # A question before the change word, in another sentence than a noun "canary".
        ("The canary on mnist-classifier v3 is green; shall we promote it to production?",),
        ("The canary looks healthy. Is it time to promote mnist-classifier v3?",),
        ("What if mnist-cnn breaks, and we roll it back?",),
        ("Would it be bad if traffic drops, and then we promote mnist-classifier v3?",),
        # Someone else's words, quoted or as a rule, even with "please" in them.
        ("Bob says: please roll back mnist-cnn",),
        ("Alice wrote in the ticket: please canary mnist-classifier v3 at 10%",),
        ("The alert says, please stop the canary on mnist-classifier",),
        ("The runbook says if 5xx spike, please roll back mnist-cnn",),
        ("Bob said, so roll back mnist-cnn?",),
        # A reading said not needed never takes a hold with it.
        (
            "Canary mnist-classifier v3 at 10%. A comparison isn't needed, but please hold off "
            "until Monday.",
        ),
        ("Rollback mnist-cnn. Details aren't needed - just kidding, don't.",),
        # Polite words around a question are not a request for the share.
        ("canary mnist-classifier v3 at 10%", "could you tell me what happens if we make it 50%?"),
        ("canary mnist-classifier v3 at 10%", "will we make it 50% tomorrow?"),
        ("canary mnist-classifier v3 at 10%", "can you check if it's safe to raise it to 40%?"),
        ("canary mnist-classifier v3 at 10%", "would you make it 30%? or wait, leave it"),
        ("canary mnist-classifier v3 at 10%", "could you make it 30%, or is that too much?"),
        # "the same details for x" after a change asks for details, not the change again.
        ("roll back mnist-classifier", "give me the same details for mnist-cnn"),
        ("stop the canary on mnist-classifier", "same info about mnist-cnn please"),
    ],
)
def test_new_wordings_never_propose_what_was_refused_asked_or_reported(
    messages: tuple[str, ...],
) -> None:
    got = after(*messages)
    assert not [part for part in got if part.kind in CHANGE_KINDS], got


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        # A stage after another version than the one moved is not the target.
        (
            "promote mnist-classifier v3 now that v2 staging looks bad",
            Promote(model="mnist-classifier", version=3, stage="Production"),
        ),
        (
            "promote mnist-classifier v3 over v2 staging",
            Promote(model="mnist-classifier", version=3, stage="Production"),
        ),
        (
            "promote mnist-classifier v3 staging tests passed",
            Promote(model="mnist-classifier", version=3, stage="Production"),
        ),
        # Requests that must stay what they were.
        (
            "No need for the audit, just roll back mnist-cnn. Thanks",
            Rollback(model="mnist-cnn"),
        ),
        (
            "promote mnist-classifier v3, it has been on small part of traffic for a week",
            Promote(model="mnist-classifier", version=3, stage="Production"),
        ),
        (
            "roll back mnist-cnn, it gets small part of traffic anyway",
            Rollback(model="mnist-cnn"),
        ),
        (
            "canary mnist-classifier v3 at 10% with no shadow risk to users, i.e. mirror only",
            StartCanary(model="mnist-classifier", version=3, percent=10, mode="shadow"),
        ),
    ],
)
def test_new_wordings_keep_the_plain_reading(text: str, meant: object) -> None:
    assert parse_parts(text, CTX)[0] == meant


def test_a_compact_span_is_a_time_only_where_the_clause_ends() -> None:
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    assert since_minutes("audit mnist-cnn 45m", now) == 45
    assert since_minutes("what changed on mnist-cnn in 2h?", now) == 120
    assert since_minutes("audit mnist-classifier, 10m requests served", now) is None
    assert since_minutes("audit digits-encoder, model size 3d conv", now) is None


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        # A reason after "make x the production version" does not move the target.
        (
            "make v3 the production version of mnist-cnn - it has been in staging for ten days",
            [Promote(model="mnist-cnn", version=3, stage="Production")],
        ),
        # Changes refused first, then what is asked.
        (
            "No rollback, no canary: only the card for digits-encoder",
            [ModelDetails(model="digits-encoder")],
        ),
        # A thing said not to matter is not what is asked about.
        (
            "roll back mnist-cnn now, I don't care about the audit",
            [Rollback(model="mnist-cnn")],
        ),
        ("Bitte den Canary auf mnist-cnn beenden", [StopCanary(model="mnist-cnn")]),
        (
            "fastest classification model, cap 15 ms",
            [SelectModel(task="classification", goal="latency", max_latency_ms=15)],
        ),
        # What the message says it needs, after a remark about other versions.
        (
            "digits-encoder v2 vs v1 looks slow in the dashboard but what we really need now is "
            "the card for mnist-cnn",
            [ModelDetails(model="mnist-cnn")],
        ),
        ("restart the workers of mnist-cnn", [Unsupported(action="restart", model="mnist-cnn")]),
        ("can someone fix the jenkins pipeline?", [OutOfScope()]),
        (
            "staging, feature extraction only",
            [ListModels(stage="Staging", task="feature-extraction")],
        ),
    ],
)
def test_fragments_refusals_first_and_what_is_needed(text: str, meant: list[object]) -> None:
    assert parse_parts(text, CTX) == meant


@pytest.mark.parametrize(
    ("messages", "meant"),
    [
        (
            ("canary mnist-cnn v2 at 10%", "make it shadow instead, mirror all traffic"),
            StartCanary(model="mnist-cnn", version=2, percent=100, mode="shadow"),
        ),
        (
            ("canary mnist-cnn v2 at 30%", "halve it"),
            StartCanary(model="mnist-cnn", version=2, percent=15, mode="split"),
        ),
        (
            ("who promoted digits-encoder", "limit it to today"),
            AuditLog(model="digits-encoder", since_minutes=1440),
        ),
    ],
)
def test_follow_ups_that_scale_mirror_or_narrow(messages: tuple[str, ...], meant: object) -> None:
    assert after(*messages) == [meant]


@pytest.mark.parametrize(
    "messages",
    [
        ("don't promote anything, but is mnist-cnn v2 ready?",),
        ("Never roll back anything today. Is mnist-cnn v2 better than v1?",),
        ("show mnist-cnn v2", "halve it"),
        ("canary mnist-cnn v2 at 80%", "double it"),
    ],
)
def test_refused_changes_and_scaling_without_a_share_propose_nothing(
    messages: tuple[str, ...],
) -> None:
    got = after(*messages)
    assert not [part for part in got if part.kind in CHANGE_KINDS], got


@pytest.mark.parametrize(
    "messages",
    [
        # Words taken out before the request never let what is left propose a change.
        ("don't promote anything. Not even mnist-classifier v3 to production.",),
        ("do not promote anything. the team will promote mnist-classifier v3 tomorrow",),
        ("don't promote anything. if v3 beats v1, promote mnist-classifier v3",),
        ("what I need is not to promote mnist-classifier v3",),
        ("what I need is not a rollback of mnist-classifier, just its audit",),
        ("he said what I need is a rollback of mnist-classifier, but show me its audit",),
        # German refusals and questions.
        ("canary von mnist-classifier nicht beenden",),
        ("soll ich den canary von mnist-classifier beenden?",),
        ("den canary abbrechen? nein, promote mnist-classifier v3 to production",),
    ],
)
def test_what_is_left_after_a_refusal_or_a_remark_proposes_nothing(
    messages: tuple[str, ...],
) -> None:
    got = after(*messages)
    assert not [part for part in got if part.kind in CHANGE_KINDS], got


@pytest.mark.parametrize(
    "follow_up",
    [
        "make it shadow instead but do not copy all requests",
        "make it shadow instead, mirror everything but only half",
        "make it shadow instead; shadow all? no, keep the share",
    ],
)
def test_a_shadow_switch_keeps_the_share_unless_all_traffic_is_plainly_asked(
    follow_up: str,
) -> None:
    assert after("canary mnist-classifier v3 at 20%", follow_up) == [
        StartCanary(model="mnist-classifier", version=3, percent=20, mode="shadow")
    ]


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        # A correction or a refusal after "make ... the production version" is not a reason.
        (
            "make v3 the production version of mnist-classifier, it should go to staging first",
            "Staging",
        ),
        (
            "make v3 the production version of mnist-classifier - it's been in staging a week",
            "Production",
        ),
    ],
)
def test_only_how_long_it_was_tested_follows_the_production_target(text: str, meant: str) -> None:
    (got,) = parse_parts(text, CTX)
    assert isinstance(got, Promote)
    assert got.stage == meant


def test_a_request_before_what_i_need_is_kept() -> None:
    assert parse_parts("roll back mnist-cnn. what I need now is digits-encoder's card", CTX) == [
        Rollback(model="mnist-cnn"),
        ModelDetails(model="digits-encoder"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        # After a question in its own clause, or after reported words: a "?", a condition or
        # an exception after the change.
        "what serves digits, and roll it back unless it's mnist-cnn",
        "what serves digits, and roll that model back?",
        "the ticket says v3 is bad, so roll back mnist-classifier?",
        "Alice wrote that v2 is better, so kindly roll back mnist-classifier if she is right",
        # Attributed to someone else, or asked back for confirmation.
        "canary mnist-classifier v3 off, says Bob",
        "switch mnist-classifier back, Bob said.",
        "the runbook line reads canary mnist-classifier v3 off.",
        "canary mnist-classifier v3 off, right?",
        "what serves digits, and roll it back? I'm just asking",
        # Two changes offered, and changes refused by name.
        "switch mnist-classifier back to v1, or promote v3?",
        "No rollback - what I need is to promote mnist-classifier v3",
        "No rollback please, promote mnist-cnn v1",
        # Someone else put it back: a report, not a request.
        "Bob put mnist-cnn back.",
    ],
)
def test_changes_questioned_attributed_or_refused_after_the_verb_are_not_proposed(
    text: str,
) -> None:
    got = parse_parts(text, CTX)
    assert not [part for part in got if part.kind in CHANGE_KINDS], got


@pytest.mark.parametrize(
    "follow_up",
    [
        "can you make it 30% tomorrow if error rate stays low?",
        "could you make it 30% if that's safe?",
    ],
)
def test_a_polite_share_with_a_condition_is_not_proposed(follow_up: str) -> None:
    got = after("canary mnist-classifier v3 at 20%", follow_up)
    assert not [part for part in got if part.kind in CHANGE_KINDS], got


def test_a_change_only_thought_of_before_what_i_need_is_not_read() -> None:
    text = (
        "I was going to promote mnist-classifier v3 but what I actually need is the card for "
        "mnist-cnn"
    )
    assert parse_parts(text, CTX) == [ModelDetails(model="mnist-cnn")]


def test_a_refused_shadow_is_not_kept_while_the_model_is_asked_for() -> None:
    (asked,) = parse_parts("canary v3 at 10%, real split not shadow", CTX)
    assert isinstance(asked, Unclear)
    assert asked.partial is not None
    assert (asked.partial.kind, asked.partial.percent) == ("canary", 10)
    assert asked.partial.mode != "shadow"
    (shadowed,) = parse_parts("shadow v3 at 10%", CTX)
    assert isinstance(shadowed, Unclear)
    assert shadowed.partial is not None
    assert shadowed.partial.mode == "shadow"


@pytest.mark.parametrize(
    ("text", "kind", "version", "stage"),
    [
        # The stage after the version is kept when a condition follows it.
        ("promote mnist-classifier v3 staging if tests pass", "promote", 3, "Staging"),
        ("promote mnist-classifier v3 staging once the canary is green", "promote", 3, "Staging"),
        # A canary the condition mentions is not the change asked for.
        (
            "promote mnist-classifier v3 to production if the canary looks good",
            "promote",
            3,
            "Production",
        ),
        ("if the canary looks good, promote mnist-classifier v3", "promote", 3, "Production"),
        (
            "roll back mnist-classifier if it's still on v3 and the canary is bad",
            "rollback",
            None,
            None,
        ),
        # The condition names what the change is about.
        ("if the canary on mnist-classifier errors, stop it", "stop_canary", None, None),
    ],
)
def test_a_change_said_with_a_condition_is_the_change_not_the_condition(
    text: str, kind: str, version: int | None, stage: str | None
) -> None:
    (got,) = parse_parts(text, CTX)
    assert got.kind == kind, got
    assert getattr(got, "model", None) == "mnist-classifier"
    assert getattr(got, "version", None) == version
    assert getattr(got, "stage", None) == stage


@pytest.mark.parametrize(
    "text",
    [
        "don't roll back mnist-classifier if the canary is fine",
        "if the canary of mnist-classifier is bad, should we roll back?",
        "if the canary looks good promote mnist-classifier v3, Bob said",
        "once we promote mnist-classifier v3, what serves?",
    ],
)
def test_a_condition_never_turns_a_refused_or_supposed_change_into_one(text: str) -> None:
    got = parse_parts(text, CTX)
    assert not [part for part in got if part.kind in CHANGE_KINDS], got
    assert not [part for part in got if getattr(part, "partial", None)], got


def test_a_condition_between_a_comparison_and_a_change_keeps_both() -> None:
    text = "compare v2 and v3 of mnist-classifier, and if that's fine put v3 in staging"
    compared, promoted = parse_parts(text, CTX)
    assert (compared.kind, getattr(compared, "version", None)) == ("compare", 2)
    assert isinstance(promoted, Promote)
    assert (promoted.version, promoted.stage) == (3, "Staging")


@pytest.mark.parametrize(
    ("text", "history", "model", "version"),
    [
        # The rest of the message leans on the model, version or route choice the condition
        # names: the whole message is read, never the conversation's earlier model.
        (
            "if mnist-cnn is the one failing, roll it back, not mnist-classifier",
            ["show mnist-classifier"],
            "mnist-cnn",
            None,
        ),
        (
            "if mnist-cnn errors, roll that back",
            ["tell me about digits-encoder"],
            "mnist-cnn",
            None,
        ),
        (
            "once mnist-cnn's canary has run for an hour, stop it",
            ["canary mnist-classifier v3 at 10%"],
            "mnist-cnn",
            None,
        ),
        (
            "sure, if v4 is better promote that instead",
            ["promote mnist-classifier v3 to staging"],
            "mnist-classifier",
            4,
        ),
        (
            "once v3 is green, promote it to production",
            ["show mnist-classifier v2 details"],
            "mnist-classifier",
            3,
        ),
        ("roll back whatever serves digits if the request is critical", [], "mnist-cnn", None),
        ("promote mnist-classifier to production if v3 passes", [], "mnist-classifier", 3),
    ],
)
def test_a_change_leaning_on_its_condition_keeps_what_the_condition_names(
    text: str, history: list[str], model: str, version: int | None
) -> None:
    (got,) = after(*history, text) if history else parse_parts(text, CTX)
    assert got.kind in CHANGE_KINDS, got
    assert getattr(got, "model", None) == model
    assert getattr(got, "version", None) == version


@pytest.mark.parametrize(
    "text",
    [
        "we put mnist-cnn back to v1 yesterday",
        "in case you're wondering, we promoted mnist-classifier v3 to staging yesterday",
        "someone promoted mnist-classifier v3 to staging last week",
        "Bob rolled back mnist-cnn this morning",
    ],
)
def test_a_change_told_in_the_past_is_not_proposed(text: str) -> None:
    got = parse_parts(text, CTX)
    assert not [part for part in got if part.kind in CHANGE_KINDS], got


@pytest.mark.parametrize(
    "text",
    [
        "I just promoted v3 of mnist-classifier and it's broken, roll back!",
        "we promoted mnist-classifier v3, now roll it back",
    ],
)
def test_a_request_after_a_change_told_in_the_past_is_proposed(text: str) -> None:
    (got,) = parse_parts(text, CTX)
    assert (got.kind, getattr(got, "model", None)) == ("rollback", "mnist-classifier")


@pytest.mark.parametrize(
    "text",
    [
        'Pasting from the CAB ticket: "roll back mnist-cnn if the critical error rate goes above '
        "2%\". It's at 0.4% right now, fyi.",
        'forwarding from #ml-support: "can someone roll back mnist-classifier? our dashboard '
        'looks off"',
        "Raj m'a dit : \u00ab on devrait faire un rollback de mnist-classifier vers la v1 \u00bb.",
        "the runbook line is \u201cpromote mnist-classifier v3 to staging\u201d",
        # Quoted lines ("> ...") are pasted evidence; the change in them was already made.
        "This got reverted this morning:\n"
        "> 2026-12-06T08:14:03Z promote mnist-classifier v2 Staging -> Production by lea\n"
        "> 2026-12-06T08:21:47Z rollback mnist-classifier v2 -> v1 by raj\n"
        "Raj fixed the preprocessing.",
    ],
)
def test_a_change_only_in_quoted_or_pasted_words_is_not_proposed(text: str) -> None:
    got = parse_parts(text, CTX)
    assert not [part for part in got if part.kind in CHANGE_KINDS], got


def test_a_quote_next_to_the_speakers_own_request_keeps_the_request() -> None:
    (got,) = parse_parts('promote the "new" mnist-classifier v3 to staging please', CTX)
    assert isinstance(got, Promote)
    assert (got.model, got.version, got.stage) == ("mnist-classifier", 3, "Staging")


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Quelle version tourne pour mnist-cnn ?", {"kind": "serving", "model": "mnist-cnn"}),
        (
            "Montre-moi l'audit de mnist-cnn de la dernière heure",
            {"kind": "audit", "model": "mnist-cnn", "since_minutes": 60},
        ),
        (
            "Est-ce qu'il y a des approbations en attente pour digits-encoder ?",
            {"kind": "pending", "model": "digits-encoder"},
        ),
        (
            "Arrêtez le canary de mnist-classifier s'il vous plaît",
            {"kind": "stop_canary", "model": "mnist-classifier"},
        ),
        (
            "fais un rollback de mnist-cnn vers la v1 stp",
            {"kind": "rollback", "model": "mnist-cnn", "to_version": 1},
        ),
        ("Qu'est-ce que tu peux faire ?", {"kind": "help"}),
    ],
)
def test_a_message_in_french_is_read_as_its_english_words(
    text: str, want: dict[str, object]
) -> None:
    (got,) = parse_parts(text, CTX)
    assert got.kind == want["kind"], got
    for slot, value in want.items():
        assert getattr(got, slot) == value, got


def test_french_words_are_never_read_as_a_model_name() -> None:
    (got,) = after("show mnist-classifier v2", "Et la v3 ?")
    assert (got.kind, getattr(got, "model", None), getattr(got, "version", None)) == (
        "model_info",
        "mnist-classifier",
        3,
    ), got


def test_another_version_against_the_same_baseline_keeps_the_baseline() -> None:
    first = "could you compare version 3 of mnist-classifier against what's in Production?"
    (got,) = after(first, "And how does v4 look against the same baseline?")
    assert (got.kind, getattr(got, "version", None)) == ("compare", 4), got
    assert getattr(got, "against", None) in (None, 1), got  # None: Production, the default
    # ... and "it" is then v4, not the version compared first.
    (moved,) = after(first, "and how does v4 compare to the same one?", "move it to staging please")
    assert isinstance(moved, Promote)
    assert (moved.version, moved.stage) == (4, "Staging")


@pytest.mark.parametrize(
    "text",
    [
        "would it be possible to start a canary of mnist-classifier v4 at 5%?",
        "Would it be possible to put 5% of the traffic on mnist-classifier v4 for a while?",
    ],
)
def test_would_it_be_possible_asks_for_the_change(text: str) -> None:
    (got,) = parse_parts(text, CTX)
    assert (got.kind, getattr(got, "version", None), getattr(got, "percent", None)) == (
        "canary",
        4,
        5,
    ), got


@pytest.mark.parametrize(
    "text",
    [
        "promote mnist-classifier v2 to production, and I'd like it to roll itself back if "
        "latency degrades",
        "promote mnist-classifier v2 to production so that it rolls back on its own when it breaks",
    ],
)
def test_a_rollback_on_its_own_asks_for_a_guard(text: str) -> None:
    (got,) = parse_parts(text, CTX)
    assert isinstance(got, Promote)
    assert (got.version, got.stage, got.guard) == (2, "Production", True)


@pytest.mark.parametrize(
    "follow_up",
    [
        "Looks healthy. Could we take that up to 25%?",
        "could we make it 25 percent?",
    ],
)
def test_a_polite_share_after_a_remark_is_the_new_share(follow_up: str) -> None:
    (got,) = after("canary mnist-classifier v4 at 5%", follow_up)
    assert (got.kind, getattr(got, "version", None), getattr(got, "percent", None)) == (
        "canary",
        4,
        25,
    ), got


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # Quotes for names or emphasis, and a quoted command of the user's own: requests.
        ('the "digits" route is broken; roll back the "classifier" model', "rollback"),
        ("we need to \u201croll back\u201d mnist-classifier", "rollback"),
        ('start a "small canary" of mnist-classifier v3 at 10%', "canary"),
        ('run this: "roll back mnist-cnn to v1"', "rollback"),
        # A report of a change already made, with the request before or after it.
        ("roll back mnist-classifier, we promoted v3 by mistake", "rollback"),
        ("stop the canary we started yesterday on mnist-classifier", "stop_canary"),
        ("we promoted mnist-classifier v3 yesterday: roll it back", "rollback"),
        (
            "we promoted mnist-classifier v3 by mistake - please roll back mnist-classifier",
            "rollback",
        ),
        (
            "the v3 we released yesterday should be promoted to production for mnist-classifier",
            "promote",
        ),
        ("Then promoted mnist-classifier v3 to staging", "promote"),
        # German "hier" (here) is not French.
        ("Bitte den Canary von mnist-classifier hier stoppen", "stop_canary"),
    ],
)
def test_quotes_and_reports_around_a_request_keep_it(text: str, kind: str) -> None:
    got = parse_parts(text, CTX)
    assert [part.kind for part in got if part.kind in CHANGE_KINDS] == [kind], got


@pytest.mark.parametrize(
    "text",
    [
        "ne pas arrêter le canary de mnist-classifier",
        "est-ce qu'on devrait arrêter le canary sur mnist-classifier ?",
        "on a arrete le canary sur mnist-classifier hier",
        "si le canary échoue, arrête le canary sur mnist-classifier",
        "Alice dit: arrête le canary sur mnist-classifier",
        "arrête de parler du canary de mnist-classifier",
        "on pourrait arrêter le canary sur mnist-classifier",
        "qui a fait le rollback de mnist-classifier ?",
        "fais un rollback de mnist-classifier vers la v1 ou la v2",
    ],
)
def test_french_that_refuses_asks_supposes_or_reports_proposes_nothing(text: str) -> None:
    got = parse_parts(text, CTX)
    assert not [p for p in got if p.kind in CHANGE_KINDS or getattr(p, "partial", None)], got


def test_a_french_promotion_keeps_its_stage() -> None:
    (got,) = parse_parts("fais une promotion de la v3 de mnist-classifier en staging", CTX)
    assert isinstance(got, Promote)
    assert (got.version, got.stage) == (3, "Staging")


@pytest.mark.parametrize(
    "text",
    [
        "arrête le canary sur mnist-classifier - non merci",
        "arrête le canary sur mnist-classifier, enfin non, laisse-le",
        "est-ce qu'on arrête le canary sur mnist-classifier",
        "comment arrêter le canary sur mnist-classifier",
        "au cas où le canary échoue, arrête le canary sur mnist-classifier",
        "ce soir, arrête le canary sur mnist-classifier",
        "selon le runbook: arrête le canary sur mnist-classifier",
        "le canary de mnist-classifier est deja arrete",
        "peut etre arreter le canary sur mnist-classifier",
        "we promoted mnist-classifier v3 yesterday, no rollback needed",
    ],
)
def test_a_french_change_said_with_anything_else_is_not_proposed(text: str) -> None:
    got = parse_parts(text, CTX)
    assert not [p for p in got if p.kind in CHANGE_KINDS or getattr(p, "partial", None)], got


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # English with a French-looking word stays English.
        ("Les asked me to start a canary of mnist-classifier v3 at 10%", "canary"),
        ("merci! can you roll back mnist-classifier to v1?", "rollback"),
        ("start a canary of mnist-classifier v3 at 10% du traffic", "canary"),
        ("Lance, start a canary of mnist-classifier v3 at 10%", "canary"),
        # A plain French request, accents or not.
        ("lance un canary de la v3 de mnist-classifier a 10%", "canary"),
        ("fais un rollback de mnist-classifier a la v1", "rollback"),
        # A rollback asked after a promotion told in the same clause.
        ("we promoted v3 by mistake roll back mnist-classifier to v2", "rollback"),
    ],
)
def test_plain_requests_around_french_words_and_reports_are_kept(text: str, kind: str) -> None:
    got = parse_parts(text, CTX)
    assert [part.kind for part in got if part.kind in CHANGE_KINDS] == [kind], got


@pytest.mark.parametrize(
    "text",
    [
        "stoppe la promotion de mnist-classifier v3 vers prod",
        "promeus la v3 de mnist-classifier en prod le 17",
        "arrête le canary de mnist-classifier à 17",
        "promeus la v3 de mnist-classifier à 10 %",
        "promeus la v3 de mnist-classifier en staging, en prod",
        "promeus mnist-classifier v2 v3 en prod",
        "stoppe de lancer le canary de la v3 sur mnist-classifier",
        "promeus mnist-cnn sur la route digits",
    ],
)
def test_a_french_change_with_a_time_a_second_value_or_another_verb_is_not_proposed(
    text: str,
) -> None:
    got = parse_parts(text, CTX)
    assert not [p for p in got if p.kind in CHANGE_KINDS or getattr(p, "partial", None)], got


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("rollback mnist-classifier to v1 asap svp merci", "rollback"),
        ("stop le canary de mnist-classifier", "stop_canary"),
        ("stop the canary sur mnist-classifier stp merci", "stop_canary"),
        ("Les et Du: rollback mnist-classifier please", "rollback"),
    ],
)
def test_english_with_french_politeness_or_names_stays_english(text: str, kind: str) -> None:
    got = parse_parts(text, CTX)
    assert [part.kind for part in got if part.kind in CHANGE_KINDS] == [kind], got


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        (
            "roll back mnist-classifier to v1, but leave the canary alone",
            Rollback(model="mnist-classifier", to_version=1),
        ),
        ("roll back mnist-cnn, keep the canary", Rollback(model="mnist-cnn")),
        ("keep the canary but roll back mnist-cnn", Rollback(model="mnist-cnn")),
        ("please roll back mnist-cnn; don't touch the canary", Rollback(model="mnist-cnn")),
        ("roll back mnist-cnn, the canary stays", Rollback(model="mnist-cnn")),
        (
            "promote mnist-classifier v3 to staging without touching the canary",
            Promote(model="mnist-classifier", version=3, stage="Staging"),
        ),
    ],
)
def test_a_canary_left_as_it_is_beside_another_change_is_not_the_change(
    text: str, meant: Intent
) -> None:
    """ "roll back" also stops a canary ("roll back the canary"): a canary the message keeps
    was read as the one to stop."""
    assert parse_parts(text, CTX) == [meant]


@pytest.mark.parametrize(
    "text",
    [
        "if the 10% canary looks good, promote mnist-classifier v3 to production",
        "if the shadow canary holds, promote mnist-classifier v3 to production",
        "once the mnist-classifier canary is green promote mnist-classifier v3 to production",
    ],
)
def test_a_canary_only_in_the_condition_leaves_the_change_a_promotion(text: str) -> None:
    assert parse_parts(text, CTX) == [
        Promote(model="mnist-classifier", version=3, stage="Production")
    ]


@pytest.mark.parametrize(
    "text",
    [
        # reports with a rollback said as a state
        "we promoted mnist-classifier v3 yesterday and rollback is on standby",
        "we promoted mnist-cnn v2 on friday, rollback plan is ready if needed",
        "the rollback of mnist-cnn is on standby",
        "rollback plan for mnist-cnn is ready",
        # plans for later
        "we rolled back mnist-classifier to v1 yesterday, we'll release v3 next week",
        "we'll release mnist-classifier v3 next week",
        "we will promote mnist-cnn v2 tomorrow",
        "I'm going to roll back mnist-cnn on Monday",
        # a change to cancel, a rollback to undo
        "cancel the rollback of mnist-classifier",
        "abort the rollback on mnist-cnn",
        "undo the rollback of mnist-classifier",
        "call off the promotion of mnist-classifier v3",
        "annule le rollback de mnist-classifier",
    ],
)
def test_a_change_planned_standing_by_or_to_cancel_is_not_proposed(text: str) -> None:
    got = parse_parts(text, CTX)
    assert not [part for part in got if part.kind in CHANGE_KINDS], got


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("undo the last promotion of mnist-classifier", Rollback(model="mnist-classifier")),
        ("roll back mnist-cnn now, we'll promote v2 again next week", Rollback(model="mnist-cnn")),
        (
            "the rollback plan is ready, so roll back mnist-cnn please",
            Rollback(model="mnist-cnn"),
        ),
        ("cancel the canary on mnist-classifier", StopCanary(model="mnist-classifier")),
    ],
)
def test_a_request_beside_a_plan_or_a_ready_rollback_is_still_proposed(
    text: str, meant: Intent
) -> None:
    assert parse_parts(text, CTX) == [meant]


@pytest.mark.parametrize(
    "text",
    [
        # the kept canary only after the change and to the end of its sentence
        "don't stop the canary or roll back mnist-classifier",
        "keep the canary or roll back mnist-classifier?",
        "please don't touch the canary or revert mnist-classifier until I'm back",
        # a plan after a cancelled change, and a standing rollback that names no model
        "cancel the rollback, we'll promote mnist-classifier v3 next week",
        "the rollback plan is ready",
        "rollback is on standby",
    ],
)
def test_a_kept_canary_a_plan_or_a_ready_rollback_never_becomes_a_request(text: str) -> None:
    got = parse_parts(text, CTX)
    assert not [part for part in got if part.kind in CHANGE_KINDS], got
    assert not [p for p in got if isinstance(p, Unclear) and p.partial is not None], got


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        # a time that is not later, or "now" before the later part
        (
            "we'll roll back mnist-cnn in a sec, go ahead and prepare it",
            Rollback(model="mnist-cnn"),
        ),
        ("we'll roll back mnist-cnn immediately and revisit tomorrow", Rollback(model="mnist-cnn")),
        ("the rollback script is ready so roll back mnist-cnn", Rollback(model="mnist-cnn")),
        # the change asked after a cancelled one
        (
            "cancel the rollback, canary mnist-classifier v3 at 10% instead",
            StartCanary(model="mnist-classifier", version=3, percent=10),
        ),
        (
            "undo the rollback - promote mnist-classifier v2 back to production",
            Promote(model="mnist-classifier", version=2, stage="Production"),
        ),
        # the canary's version said in the condition
        (
            "if the mnist-classifier canary v3 is healthy, promote v3 to production",
            Promote(model="mnist-classifier", version=3, stage="Production"),
        ),
        (
            "if a shadow canary of mnist-classifier v3 is fine, promote it to production",
            Promote(model="mnist-classifier", version=3, stage="Production"),
        ),
    ],
)
def test_requests_next_to_plans_cancels_and_canary_conditions_are_read(
    text: str, meant: Intent
) -> None:
    assert parse_parts(text, CTX) == [meant]


@pytest.mark.parametrize(
    "follow_up",
    ["if 10% holds, bump it", "if 10% holds, push it to more users", "once 10% is stable, bump it"],
)
def test_raising_a_canary_on_a_condition_is_never_a_promotion(follow_up: str) -> None:
    got = after("canary mnist-classifier v3 at 10%", follow_up)
    assert [part.kind for part in got] == ["canary"], got  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        (
            "canary mnist-classifier v4 --shadow --percent 50",
            StartCanary(model="mnist-classifier", version=4, percent=50, mode="shadow"),
        ),
        (
            "canary mnist-classifier v2 --percent 15 --mode split",
            StartCanary(model="mnist-classifier", version=2, percent=15),
        ),
        (
            "promote mnist-classifier v4 staging --expect v2",
            Promote(model="mnist-classifier", version=4, stage="Staging"),
        ),
        ("stop_canary mnist-classifier", StopCanary(model="mnist-classifier")),
        (
            '{"action": "promote", "model": "mnist-classifier", "version": 3, "stage": "Staging"}',
            Promote(model="mnist-classifier", version=3, stage="Staging"),
        ),
        ("audit mnist-cnn --since 24h", AuditLog(model="mnist-cnn", since_minutes=1440)),
    ],
)
def test_command_line_flags_and_a_json_request_read_as_their_words(
    text: str, meant: Intent
) -> None:
    assert parse_parts(text, CTX) == [meant]


def test_a_pasted_json_record_is_never_a_request_of_its_own() -> None:
    got = parse_parts(
        '{"action": "promote", "model": "mnist-classifier", "version": 3, "stage": '
        '"Production", "by": "bob", "at": "2026-12-05T10:00:00Z"}',
        CTX,
    )
    assert not [part for part in got if part.kind in CHANGE_KINDS], got


@pytest.mark.parametrize(
    "follow_up",
    ["with the auto rollback thing on", "wait, add the auto-rollback guard to that"],
)
def test_a_guard_added_after_a_promotion_is_that_promotion_guarded(follow_up: str) -> None:
    assert after("promote mnist-classifier v2 to production", follow_up) == [
        Promote(model="mnist-classifier", version=2, stage="Production", guard=True)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Let's make mnist-classifier version 2 the live one, but if it gets slow, switch back "
        "automatically.",
        "promote mnist-classifier v2 to production with a rollback guard",
    ],
)
def test_switching_back_automatically_is_the_guard(text: str) -> None:
    assert parse_parts(text, CTX) == [
        Promote(model="mnist-classifier", version=2, stage="Production", guard=True)
    ]


def test_a_rollback_guard_in_a_history_question_is_no_rollback() -> None:
    (got,) = parse_parts(
        "Since Tuesday, were any promotions approved without a rollback guard?", CTX
    )
    assert got.kind == "audit"


@pytest.mark.parametrize(
    ("history", "follow_up", "percent"),
    [
        (
            "shadow mnist-classifier v3 at 100% so i can see if it spikes",
            "actually no, make it v4",
            100,
        ),
        (
            "Start a shadow canary of mnist-classifier v3 at 50%",
            "Actually make it v4, same settings.",
            50,
        ),
    ],
)
def test_another_version_of_a_shadow_canary_is_still_a_shadow(
    history: str, follow_up: str, percent: float
) -> None:
    assert after(history, follow_up) == [
        StartCanary(model="mnist-classifier", version=4, percent=percent, mode="shadow")
    ]


def test_the_share_a_canary_is_bumped_to_is_the_new_share() -> None:
    got = parse_parts(
        "Morning handover: the mnist-classifier v2 canary ran at 10% overnight and looked fine. "
        "Bump it to 50% please.",
        CTX,
    )
    assert got == [StartCanary(model="mnist-classifier", version=2, percent=50)]


@pytest.mark.parametrize(
    "text",
    [
        "Would a rollback of mnist-cnn even be possible? It only has v1. Just asking.",
        "Suppose v3 of mnist-classifier were in shadow at 20%: would any user see its answers?",
        "retrain mnist-cnn on the december data tomorrow and promote it if it beats v1",
        "Plan for tomorrow: canary mnist-classifier v2 at 10% in the morning and watch p99.",
    ],
)
def test_only_asking_supposing_or_comparing_with_a_baseline_proposes_nothing(text: str) -> None:
    got = parse_parts(text, CTX)
    assert not [part for part in got if part.kind in CHANGE_KINDS], got


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("audit between 1 and 3 December", AuditLog(since_minutes=7920)),
        (
            "please put the old version of the mnist classifier back",
            Rollback(model="mnist-classifier"),
        ),
        ("put the previous version of mnist-cnn back", Rollback(model="mnist-cnn")),
        (
            "move mnist-classifier v4 into testing so the team can try it",
            Promote(model="mnist-classifier", version=4, stage="Staging"),
        ),
    ],
)
def test_dates_old_versions_back_and_testing_stages_in_plain_words(
    text: str, meant: Intent
) -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert parse_parts(text, CTX.model_copy(update={"now": now})) == [meant]


def test_a_read_narrowed_to_one_model_or_another_window_keeps_the_request() -> None:
    assert after("audit --since 24h", "only mnist-classifier") == [
        AuditLog(model="mnist-classifier", since_minutes=1440)
    ]
    assert after("audit mnist-cnn --since 2h", "same for digits-encoder", "now 7d") == [
        AuditLog(model="digits-encoder", since_minutes=10080)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "promote mnist-classifier v2 to Production. No guard needed, we'll watch it ourselves.",
        "promote mnist-classifier v2 to production without a guard",
        "promote mnist-classifier v2 to production, the auto-rollback guard is not needed",
    ],
)
def test_a_refused_guard_is_not_added(text: str) -> None:
    assert parse_parts(text, CTX) == [
        Promote(model="mnist-classifier", version=2, stage="Production", guard=False)
    ]


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("is mnist-cnn up", [ServingStatus(model="mnist-cnn")]),
        ("is digits-encoder even up", [ServingStatus(model="digits-encoder")]),
        (
            "Please don't roll anything back yet - first show me what's serving for "
            "mnist-classifier and mnist-cnn.",
            [ServingStatus(model="mnist-classifier"), ServingStatus(model="mnist-cnn")],
        ),
        (
            "The card for digits-encoder has the wrong dataset, can you change the dataset "
            "field to digits-2026-11?",
            [Unsupported(action="edit_card", model="digits-encoder")],
        ),
    ],
)
def test_up_questions_refusals_before_a_question_and_card_edits(
    text: str, meant: list[Intent]
) -> None:
    assert parse_parts(text, CTX) == meant


def test_a_model_called_by_a_name_the_registry_lacks_is_said_not_to_exist() -> None:
    (got,) = parse_parts("Is there a model called sentiment-bert? It's in an old notebook.", CTX)
    assert isinstance(got, Unclear)
    assert got.unknown == "sentiment-bert"


def test_it_in_a_history_question_and_same_but_a_stage_follow_the_conversation() -> None:
    assert after("show me mnist-classifier", "anything change on it in the last hour") == [
        AuditLog(model="mnist-classifier", since_minutes=60)
    ]
    assert after("what's in Production, all models", "same but staging") == [
        ListModels(stage="Staging")
    ]


def test_ok_questions_registered_names_new_endpoints_and_a_purpose_after_an_audit() -> None:
    assert parse_parts("is digits-encoder ok", CTX) == [ServingStatus(model="digits-encoder")]
    (unknown,) = parse_parts("Also, is sentiment-bert registered? The NLP team asked.", CTX)
    assert isinstance(unknown, Unclear)
    assert unknown.unknown == "sentiment-bert"
    got = parse_parts(
        "which model should we use for a new digit-recognition endpoint? under 20 ms", CTX
    )
    assert not [p for p in got if isinstance(p, Unclear) and p.unknown], got
    assert parse_parts(
        "Now the audit for all models over the last 2 hours, so I can confirm the approvals "
        "went through.",
        CTX,
    ) == [AuditLog(since_minutes=120)]


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("rb classifier pls", Rollback(model="mnist-classifier")),
        (
            "canary classifier v4 5% split",
            StartCanary(model="mnist-classifier", version=4, percent=5),
        ),
        (
            "go ahead and put v3 of the classifier into staging",
            Promote(model="mnist-classifier", version=3, stage="Staging"),
        ),
        ("kill the canary on classifier", StopCanary(model="mnist-classifier")),
    ],
)
def test_the_one_models_part_said_where_a_name_goes_is_that_model(text: str, meant: Intent) -> None:
    assert parse_parts(text, CTX) == [meant]


@pytest.mark.parametrize(
    "text",
    [
        "which classifier should we use for critical requests?",
        "recommend a fast classifier under 10 ms",
        "Is emnist-letters better than our current Production classifier?",
    ],
)
def test_a_classifier_as_a_kind_of_model_names_no_model(text: str) -> None:
    got = parse_parts(text, CTX)
    assert not [p for p in got if getattr(p, "model", None) == "mnist-classifier"], got


def test_relayed_doubt_the_usual_and_a_guard_in_another_part() -> None:
    got = parse_parts("Ines told me to roll back mnist-classifier, but I'm not sure I should.", CTX)
    assert not [part for part in got if part.kind in CHANGE_KINDS], got
    (usual,) = parse_parts("can you do the usual for the classifier", CTX)
    assert isinstance(usual, Unclear)
    promoted = parse_parts(
        "go ahead and promote mnist-classifier v2 to Production, and have it roll back "
        "automatically if p99 goes over 50ms",
        CTX,
    )[0]
    assert promoted == Promote(model="mnist-classifier", version=2, stage="Production", guard=True)


@pytest.mark.parametrize(
    "text",
    [
        # flags and commands inside questions, logs and examples
        "can you explain what stop_canary mnist-classifier does before I run it?",
        "error: stop_canary mnist-classifier returned 500",
        "log line: 2026-12-05T10:00:00Z INFO cli promote mnist-classifier v3 --to Production "
        "user=bob",
        "canary mnist-classifier v3 --percent 10 # just testing the CLI, don't run",
        "canary mnist-classifier v3 --percent 10 failed with 409, why?",
        '{"action":"promote","model":"mnist-classifier","version":3,"stage":"Staging",'
        '"note":"do not apply, example only"}',
        # asking, supposing, a share said as a plan or a question
        "Would a rollback of mnist-cnn even be possible? It only has v1. Just asking.",
        "Suppose v3 of mnist-classifier were in shadow at 20% - would any user see its answers?",
        "the mnist-classifier v3 canary is at 10%; can we bump it to 50%?",
    ],
)
def test_commands_shown_asked_about_or_supposed_are_not_proposed(text: str) -> None:
    got = parse_parts(text, CTX)
    assert not [part for part in got if part.kind in CHANGE_KINDS], got


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("describe mnist-classifier --version 3 --stage Staging", None),
        ("list_models --stage staging", ListModels(stage="Staging")),
        (
            "promote mnist-classifier v3 --to production --no-guard",
            Promote(model="mnist-classifier", version=3, stage="Production", guard=False),
        ),
        (
            '{"action":"promote","model":"mnist-classifier","version":3,"stage":"Production",'
            '"guard":false}',
            Promote(model="mnist-classifier", version=3, stage="Production", guard=False),
        ),
        (
            "canary mnist-classifier v3 --no-shadow --percent 10",
            StartCanary(model="mnist-classifier", version=3, percent=10),
        ),
        (
            "I am not asking for permission, roll back mnist-classifier",
            Rollback(model="mnist-classifier"),
        ),
        (
            "imagine my surprise: v3 is broken. roll back mnist-classifier",
            Rollback(model="mnist-classifier"),
        ),
        (
            "plan for tonight: roll back mnist-classifier; do it now actually",
            Rollback(model="mnist-classifier"),
        ),
        ("automatically roll back mnist-classifier now", Rollback(model="mnist-classifier")),
        (
            "promote mnist-classifier v3 to production, skip auto-rollback",
            Promote(model="mnist-classifier", version=3, stage="Production", guard=False),
        ),
        (
            "canary mnist-classifier v3 at 10%, don't raise it to 50% until I say so",
            StartCanary(model="mnist-classifier", version=3, percent=10),
        ),
    ],
)
def test_flags_guards_shares_and_plain_requests_after_the_second_review(
    text: str, meant: Intent | None
) -> None:
    got = parse_parts(text, CTX)
    if meant is None:
        assert not [part for part in got if part.kind in CHANGE_KINDS], got
    else:
        assert got == [meant]


@pytest.mark.parametrize(
    "follow_up",
    [
        "does it have a guard?",
        "what does the guard do?",
        "cancel that, I'll add the guard myself later",
        "with a guard, but for v4",
    ],
)
def test_a_guard_mentioned_after_a_promotion_is_not_always_that_promotion_guarded(
    follow_up: str,
) -> None:
    got = after("promote mnist-classifier v3 to production", follow_up)
    assert (
        Promote(model="mnist-classifier", version=3, stage="Production", guard=True) not in got
    ), got


@pytest.mark.parametrize(
    "follow_up",
    ["make it v4 but as a real split", "make it v4, no shadow", "make it v4, not in shadow"],
)
def test_another_version_said_as_a_split_is_a_split(follow_up: str) -> None:
    assert after("canary mnist-classifier v3 at 10% shadow", follow_up) == [
        StartCanary(model="mnist-classifier", version=4, percent=10, mode="split")
    ]


def test_a_stage_only_correction_a_german_and_a_pending_question_about_it() -> None:
    assert after("promote mnist-classifier v4 to production", "wait no. staging first") == [
        Promote(model="mnist-classifier", version=4, stage="Staging")
    ]
    assert after("who changed mnist-cnn this week?", "und digits-encoder?") == [
        AuditLog(model="digits-encoder", since_minutes=10080)
    ]
    assert parse_parts("whats serving on mnist-classifier and anything pending on it?", CTX) == [
        ServingStatus(model="mnist-classifier"),
        PendingApprovals(model="mnist-classifier"),
    ]
    assert parse_parts("best feature extractor for batch jobs", CTX) == [
        SelectModel(task="feature-extraction", goal="batch")
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Promote mnist-classifier v2 to Production with a rollback guard. After Friday, not now.",
        "lock mnist-classifier so nobody can promote anything during the incident",
        "Maya mentioned that we should roll back mnist-cnn. Just flagging, not asking you to "
        "do it.",
        "If v4 passes the checks, the plan is to promote mnist-classifier v4 to Production on "
        "Monday. Nothing to do now, just writing the plan down here.",
    ],
)
def test_put_off_forbidden_relayed_or_planned_changes_are_not_proposed(text: str) -> None:
    got = parse_parts(text, CTX)
    assert not [part for part in got if part.kind in CHANGE_KINDS], got


def test_the_classifier_never_proposes_a_change_no_rule_read() -> None:
    """The classifier placed "prepare the promotion" as a rollback, which the second part of
    a message then proposed for the model the first part named."""
    (alone,) = parse_parts("Please prepare the promotion", CTX)
    assert isinstance(alone, Unclear)
    assert alone.partial is None
    assert parse_parts(
        "Perhaps it is time to move mnist-classifier v2 to Production. Please prepare the "
        "promotion.",
        CTX,
    ) == [Promote(model="mnist-classifier", version=2, stage="Production")]


@pytest.mark.parametrize(
    "text",
    [
        "roll back the spam classifier",
        "promote the sentiment classifier v2 to production",
        "roll back the classifier serving critical traffic",
        "revert the classifier PR",
    ],
)
def test_a_classifier_that_may_be_another_model_is_never_mnist_classifier(text: str) -> None:
    got = parse_parts(text, CTX)
    assert not [p for p in got if getattr(p, "model", None) == "mnist-classifier"], got


@pytest.mark.parametrize("follow_up", ["staging?", "no staging", "hmm, production", "production"])
def test_a_stage_asked_refused_or_mused_after_a_promotion_is_no_correction(follow_up: str) -> None:
    got = after("promote mnist-classifier v4 to production", follow_up)
    assert not [part for part in got if part.kind in CHANGE_KINDS], got


def test_a_stage_correction_keeps_the_promotions_guard() -> None:
    assert after(
        "promote mnist-classifier v4 to production with auto-rollback", "staging first"
    ) == [Promote(model="mnist-classifier", version=4, stage="Staging", guard=True)]


def test_a_rollback_asked_beside_a_guarded_promotion_is_kept() -> None:
    got = parse_parts(
        "roll back mnist-classifier now, then promote v4 to staging with auto-rollback", CTX
    )
    assert Rollback(model="mnist-classifier") in got


STAGED = CTX.model_copy(
    update={"stages": (("mnist-classifier", "Production", 1), ("mnist-classifier", "Staging", 2))}
)


@pytest.mark.parametrize(
    "text",
    [
        "demote mnist-classifier",
        "unpromote mnist-classifier v1 please",
        "un-promote mnist-classifier",
        "back out the latest release of mnist-classifier",
        "take mnist-classifier v1 out of prod",
    ],
)
def test_taking_production_back_is_a_rollback_never_a_promotion(text: str) -> None:
    assert parse_parts(text, STAGED) == [Rollback(model="mnist-classifier")]


def test_demoting_a_version_not_in_production_moves_nothing() -> None:
    got = parse_parts("demote mnist-classifier v3", STAGED)
    assert len(got) == 1, got
    assert isinstance(got[0], Unclear), got
    assert "v3 is not in Production (v1 is)" in got[0].reason


@pytest.mark.parametrize(
    "text",
    ["demote mnist-classifier v2 out of staging", "take v2 of mnist-classifier out of staging"],
)
def test_taking_a_version_out_of_staging_says_what_does_it(text: str) -> None:
    got = parse_parts(text, STAGED)
    assert len(got) == 1, got
    assert isinstance(got[0], Unsupported), got
    assert got[0].action == "archive"


@pytest.mark.parametrize(
    "text",
    [
        "keep the canary running so we can go back to v1 later",
        "leave the canary on mnist-classifier in case we have to roll back",
        "mnist-classifier v3's canary is at 25%",
        "the canary of mnist-classifier is still live at 5 percent",
        "revert mnist-cnn to v1, but not today",
        "our plan is to ship mnist-classifier v4 next week",
        "I'm not convinced we should promote mnist-classifier v2",
        "nobody should roll back mnist-cnn while the audit runs",
    ],
)
def test_kept_stated_put_off_planned_or_doubted_changes_are_not_proposed(text: str) -> None:
    got = parse_parts(text, CTX)
    assert not [p for p in got if p.kind in CHANGE_KINDS or getattr(p, "partial", None)], got


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("like I said, roll back mnist-cnn", Rollback(model="mnist-cnn")),
        ("Maya told me to revert mnist-cnn, so please do it", Rollback(model="mnist-cnn")),
        ("just flagging that mnist-cnn is down - please roll it back", Rollback(model="mnist-cnn")),
        (
            "no one can ship until mnist-cnn is stable; so revert it",
            Rollback(model="mnist-cnn"),
        ),
    ],
)
def test_a_plain_request_beside_a_report_or_a_freeze_is_proposed(text: str, want: Intent) -> None:
    assert parse_parts(text, CTX) == [want]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "the mnist-classifier canary is at 10%, take it to 40%",
            # no version said: the running canary's share, 40 % (never the 10 % it stands at)
            StartCanary(model="mnist-classifier", percent=40.0, mode="split"),
        ),
        (
            "the canary on mnist-classifier is live at 10%; kill it",
            StopCanary(model="mnist-classifier"),
        ),
        (
            "the canary's running fine at 5%, promote mnist-classifier v3 to production",
            Promote(model="mnist-classifier", version=3, stage="Production"),
        ),
    ],
)
def test_how_a_canary_stands_is_no_share_or_change_of_its_own(text: str, want: Intent) -> None:
    assert parse_parts(text, CTX) == [want]


@pytest.mark.parametrize(
    "text",
    [
        "promote mnist-classifier v2 to production; is there an automatic rollback guard?",
        "ship mnist-classifier v2 to prod. does mnist-cnn have auto-rollback?",
    ],
)
def test_a_guard_only_asked_about_is_not_set_on_the_promotion(text: str) -> None:
    assert parse_parts(text, CTX)[0] == Promote(
        model="mnist-classifier", version=2, stage="Production"
    )
    assert not [p for p in parse_parts(text, CTX) if isinstance(p, Rollback)]


def test_a_mode_said_in_another_part_is_the_canarys_mode() -> None:
    assert after(
        "canary mnist-classifier v3 at 10% in shadow", "make it v4, and switch it to a split"
    ) == [StartCanary(model="mnist-classifier", version=4, percent=10.0, mode="split")]


@pytest.mark.parametrize(
    "text",
    [
        "we want to roll back mnist-cnn but first, who promoted v1 of it?",
        "I'd like to promote mnist-classifier v4 - but first: how does it compare with production?",
    ],
)
def test_a_change_meant_after_a_question_first_is_not_proposed(text: str) -> None:
    got = parse_parts(text, CTX)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got
    assert got[0].kind in ("audit", "compare"), got


def test_a_request_taken_back_with_leave_it_running_stops_nothing() -> None:
    got = after("stop the canary on mnist-classifier", "scratch that, keep it running")
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


def test_spanish_dont_do_it_yet_holds_the_change() -> None:
    got = parse_parts("promote mnist-classifier v3 to staging, pero no lo hagas todavia", CTX)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


def test_a_reason_said_before_the_request_keeps_the_rollbacks_target() -> None:
    assert parse_parts(
        "errors since the deploy this morning. please roll mnist-cnn back to v1", CTX
    ) == [Rollback(model="mnist-cnn", to_version=1, rationale=None)]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "[FIRING:1] HighLatency model=mnist-cnn p99=240ms\nroll back mnist-cnn, then show its "
            "audit for the last 3 hours",
            [Rollback(model="mnist-cnn"), AuditLog(model="mnist-cnn", since_minutes=180)],
        ),
        (
            "ALERT pending approval model=mnist-classifier age=2h\nanything waiting?",
            [PendingApprovals(model="mnist-classifier")],
        ),
    ],
)
def test_a_pasted_alert_line_is_evidence_for_what_follows(text: str, want: list[Intent]) -> None:
    assert parse_parts(text, CTX) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "mirror half of the mnist-classifier traffic to v4",
            StartCanary(model="mnist-classifier", version=4, percent=50.0, mode="shadow"),
        ),
        (
            "send mnist-classifier v3 to staging",
            Promote(model="mnist-classifier", version=3, stage="Staging"),
        ),
        (
            "send it to prod w/ the auto-rollback guard, mnist-classifier v3",
            Promote(model="mnist-classifier", version=3, stage="Production", guard=True),
        ),
        (
            "promote mnist-classifier v3 to prod w/o auto-rollback",
            Promote(model="mnist-classifier", version=3, stage="Production", guard=False),
        ),
    ],
)
def test_shorthand_for_a_share_a_move_and_the_guard(text: str, want: Intent) -> None:
    assert parse_parts(text, CTX) == [want]


def test_spanish_and_joins_two_parts_and_a_follow_up() -> None:
    assert parse_parts("show me mnist-cnn y despues list the production models", CTX) == [
        ModelDetails(model="mnist-cnn"),
        ListModels(stage="Production"),
    ]
    assert after("tell me about mnist-classifier v2", "y la v3?") == [
        ModelDetails(model="mnist-classifier", version=3)
    ]


def test_this_month_reaches_back_to_the_first() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert since_minutes("anything on mnist-cnn this month?", now) == (6 * 24 + 12) * 60


@pytest.mark.parametrize("window", ["Since Friday.", "since friday?"])
def test_a_window_alone_after_an_audit_is_that_audit_again(window: str) -> None:
    got = after("audit mnist-cnn", window)
    assert len(got) == 1, got
    assert isinstance(got[0], AuditLog), got
    assert got[0].model == "mnist-cnn"
    assert got[0].since_minutes is not None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("could you list what you're able to do?", "help"),
        ("docker command to prune images?", "out_of_scope"),
    ],
)
def test_help_and_other_tools_commands(text: str, kind: str) -> None:
    assert [p.kind for p in parse_parts(text, CTX)] == [kind]


@pytest.mark.parametrize(
    ("history", "text"),
    [
        ((), "please don't demote mnist-cnn"),
        ((), "we will back out mnist-classifier next week"),
        ((), "there's a back out plan for mnist-cnn"),
        ((), "we should not revert mnist-cnn"),
        ((), "unconvinced that we should revert mnist-cnn"),
        ((), "our plan: roll back mnist-cnn tomorrow"),
        ((), "Ines told me to roll back mnist-cnn, please do it on Friday"),
        ((), "just flagging: mnist-cnn is slow, please check if we need to roll it back"),
        ((), "nobody should revert mnist-cnn, end of story"),
        ((), "nobody can promote until the freeze ends, then promote mnist-classifier v2"),
        (("canary mnist-classifier v3 at 10%",), "hold the canary, we may roll back"),
        (("canary mnist-classifier v3 at 10%",), "the canary was at 10%, now put it at 30"),
        (("canary mnist-classifier v3 at 10%",), "put it at 30"),
    ],
)
def test_attacks_on_the_demote_canary_state_and_relayed_rules_propose_nothing_wrong(
    history: tuple[str, ...], text: str
) -> None:
    got = after(*history, text)
    assert not [p for p in got if p.kind in ("promote", "rollback", "stop_canary")], got
    assert not [p for p in got if isinstance(p, StartCanary) and p.percent != 30.0], got


def test_a_mode_only_asked_about_is_not_the_canarys() -> None:
    got = parse_parts("canary mnist-classifier v3 at 10% split. Is shadow mode available?", CTX)
    assert got[0] == StartCanary(model="mnist-classifier", version=3, percent=10.0, mode="split")


def test_a_version_in_a_reason_is_not_the_demoted_one() -> None:
    assert parse_parts("demote mnist-classifier, the v4 build is broken", STAGED) == [
        Rollback(model="mnist-classifier")
    ]


@pytest.mark.parametrize(
    "text",
    [
        "roll back mnist-cnn now, not today's build",
        "I'm unsure we should, but roll back mnist-cnn anyway",
    ],
)
def test_not_today_or_doubt_overridden_still_asks(text: str) -> None:
    assert parse_parts(text, CTX) == [Rollback(model="mnist-cnn")]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "revert mnist-cnn to v1, then pull up the audit for the past 45 minutes",
            [
                Rollback(model="mnist-cnn", to_version=1),
                AuditLog(model="mnist-cnn", since_minutes=45),
            ],
        ),
        (
            "is digits-encoder up? + history last 2h",
            [
                ServingStatus(model="digits-encoder"),
                AuditLog(model="digits-encoder", since_minutes=120),
            ],
        ),
        (
            "roll back mnist-cnn and show the audit across all models for the last hour",
            [Rollback(model="mnist-cnn"), AuditLog(since_minutes=60)],
        ),
    ],
)
def test_an_audit_asked_after_a_models_request_is_that_models(
    text: str, want: list[Intent]
) -> None:
    assert parse_parts(text, CTX) == want


def test_the_live_one_is_the_production_version_in_a_comparison() -> None:
    staged = STAGED
    assert parse_parts("how does mnist-classifier v2 stack up against the live one?", staged) == [
        CompareVersions(model="mnist-classifier", version=2, against=1)
    ]


@pytest.mark.parametrize("text", ["digits-encoder status", "status of digits-encoder?"])
def test_a_models_status_is_what_serves_it(text: str) -> None:
    assert parse_parts(text, CTX) == [ServingStatus(model="digits-encoder")]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "Two quick asks:\n- what is digits-encoder serving?\n- and we would also like its "
            "card\n\nCheers",
            [ServingStatus(model="digits-encoder"), ModelDetails(model="digits-encoder")],
        ),
        (
            "Today:\n1) list the staging models\n2) then pending approvals for mnist-cnn",
            [ListModels(stage="Staging"), PendingApprovals(model="mnist-cnn")],
        ),
        (
            "Please:\n* promote mnist-classifier v4 to staging, and\n* canary v4 at 5% in shadow",
            [
                Promote(model="mnist-classifier", version=4, stage="Staging"),
                StartCanary(model="mnist-classifier", version=4, percent=5.0, mode="shadow"),
            ],
        ),
    ],
)
def test_a_request_written_as_a_list_of_two_items_is_read_item_by_item(
    text: str, want: list[Intent]
) -> None:
    assert parse_parts(text, CTX) == want


def test_a_promotion_asked_after_its_reason_keeps_its_stage() -> None:
    assert parse_parts(
        "the v4 promotion to staging stalled because the card lacked a dataset section. It's "
        "there now, so please promote mnist-classifier v4 to staging.",
        CTX,
    ) == [Promote(model="mnist-classifier", version=4, stage="Staging")]


def test_a_stage_after_a_part_of_the_name_is_the_target() -> None:
    assert parse_parts("promote v4 cnn staging", CTX) == [
        Promote(model="mnist-cnn", version=4, stage="Staging")
    ]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "kill canary and revert mnist-classifier to 1",
            [
                StopCanary(model="mnist-classifier"),
                Rollback(model="mnist-classifier", to_version=1),
            ],
        ),
        (
            "stop canary mnist-classifier && promote mnist-classifier v3 staging",
            [
                StopCanary(model="mnist-classifier"),
                Promote(model="mnist-classifier", version=3, stage="Staging"),
            ],
        ),
        (
            "please end the canary on mnist-classifier, and then promote v4 to Staging "
            "instead? Apologies for the churn.",
            [
                StopCanary(model="mnist-classifier"),
                Promote(model="mnist-classifier", version=4, stage="Staging"),
            ],
        ),
    ],
)
def test_two_changes_in_one_message_are_both_read(text: str, want: list[Intent]) -> None:
    assert parse_parts(text, CTX) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("what is the amnesty classifier serving?", "mnist-classifier"),
        ("what does the m nist cnn serve", "mnist-cnn"),
        ("card for digits in coder please", "digits-encoder"),
    ],
)
def test_a_name_said_as_it_sounds_is_that_model(text: str, want: str) -> None:
    got = parse_parts(text, CTX)
    assert [getattr(p, "model", None) for p in got] == [want], got


@pytest.mark.parametrize(
    "text",
    [
        "ship v3 of the amnesty classifier to staging",
        "roll back the main site classifier",
        "roll back mnist, calls for help are piling up",
        "I mean, set classifier v2 to production",
    ],
)
def test_a_name_only_heard_is_never_changed(text: str) -> None:
    got = parse_parts(text, CTX)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


@pytest.mark.parametrize("text", ["the mint classifier", "many sets classifier v2"])
def test_a_name_that_only_shares_a_word_is_not_heard_as_one(text: str) -> None:
    got = parse_parts(text, CTX)
    assert not [p for p in got if getattr(p, "model", None) == "mnist-classifier"], got


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Is mnist-cnn healthy? Please do NOT roll it back.", "serving"),
        ("Which approvals are pending for mnist-classifier? Don't approve anything.", "pending"),
        (
            "Please don't promote anything. I only need to know what is serving mnist-cnn?",
            "serving",
        ),
    ],
)
def test_a_refusal_beside_a_question_answers_the_question(text: str, kind: str) -> None:
    assert [p.kind for p in parse_parts(text, CTX)] == [kind]


def test_a_stage_in_an_aside_is_where_the_version_is_not_where_it_goes() -> None:
    assert parse_parts(
        "promote mnist-classifier v2 (it is in staging right now) to production", CTX
    ) == [Promote(model="mnist-classifier", version=2, stage="Production")]


def test_a_named_version_that_is_not_serving_is_no_incident_to_roll_back() -> None:
    got = parse_parts("mnist-classifier v4 is broken!!!", STAGED)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


@pytest.mark.parametrize(
    ("history", "text"),
    [
        (("canary mnist-classifier v3 at 10%",), "oops, I wanted v4, not 3"),
        (("canary mnist-classifier v3 at 10%",), "wait no, v4, sorry"),
    ],
)
def test_a_version_correction_repeats_the_request(history: tuple[str, ...], text: str) -> None:
    assert after(*history, text) == [
        StartCanary(model="mnist-classifier", version=4, percent=10.0, mode="split")
    ]


@pytest.mark.parametrize(
    ("history", "text"),
    [
        ((), "Next steps for tomorrow:\n- roll back mnist-cnn\n- stop the canary"),
        ((), "Should we:\n- roll back mnist-cnn\n- or stop the canary?"),
        ((), "- revert mnist-cnn?\n- promote mnist-classifier v2?"),
        ((), "- roll back mnist-cnn (done)\n- promote mnist-classifier v2 (done)"),
        ((), "[FIRING:1] Drift mnist-classifier\n[FIRING:1] Drift mnist-cnn\nroll back"),
        ((), "ALERT model=mnist-classifier canary error 4%\nleave the canary in case we revert"),
        ((), "ship mnist-classifier v2 to prod on Friday"),
        (("show mnist-classifier v3",), "don't send it to prod"),
        (("show mnist-classifier v3",), "send it to prod support for a look"),
        ((), "I doubt we should revert mnist-cnn anyway"),
        ((), "put mnist-classifier v3 on ice"),
        ((), "take mnist-cnn out of production on monday"),
    ],
)
def test_attacks_on_lists_alerts_plans_and_sends_propose_nothing(
    history: tuple[str, ...], text: str
) -> None:
    got = after(*history, text)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


@pytest.mark.parametrize(
    ("history", "text", "want"),
    [
        (
            ("stop the canary on mnist-classifier",),
            "Scratch that. Leave it running and roll back mnist-cnn instead.",
            [Rollback(model="mnist-cnn")],
        ),
        ((), "don't take it personally, but revert mnist-cnn", [Rollback(model="mnist-cnn")]),
        (
            (),
            "I want to promote mnist-classifier v4 but first, could you promote v3 to staging?",
            [Promote(model="mnist-classifier", version=3, stage="Staging")],
        ),
        ((), "just flagging mnist-cnn looks off; pls rollback", [Rollback(model="mnist-cnn")]),
    ],
)
def test_requests_near_the_new_rules_are_still_read(
    history: tuple[str, ...], text: str, want: list[Intent]
) -> None:
    assert after(*history, text) == want


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("what time is it in Lagos?", "out_of_scope"),
        ("can you write up the minutes of today's standup?", "out_of_scope"),
        ("what commands do you support?", "help"),
        ("please correct the model card of mnist-cnn, its dataset is wrong", "unsupported"),
    ],
)
def test_the_clock_minutes_help_and_card_edits(text: str, kind: str) -> None:
    assert [p.kind for p in parse_parts(text, CTX)] == [kind]


def test_a_canary_stated_behind_a_route_is_stopped_on_the_routes_model() -> None:
    assert parse_parts(
        "whatever canary is running behind the digits route - kill it, we're mid-incident", CTX
    ) == [StopCanary(model="mnist-classifier")]


@pytest.mark.parametrize(
    ("history", "text"),
    [
        (("stop the canary on mnist-classifier",), "Cancel that. Keep the canary going."),
        (
            ("stop the canary on mnist-classifier",),
            "cancel that, leave it - we may roll back later",
        ),
        (("promote mnist-classifier v2 to production",), "I wanted to ask about v3"),
        (("promote mnist-classifier v2 to production",), "no v3 please"),
        ((), "Plan for tomorrow:\n- roll back mnist-cnn\n- promote mnist-classifier v2"),
        (
            (),
            "Two things:\n- roll back mnist-cnn\n- promote mnist-classifier v2\n"
            "thanks, but not yet",
        ),
        ((), "Today:\n- rolled back mnist-cnn\n- promoted mnist-classifier v2 to production"),
        ((), "Checklist for mnist-cnn:\n- rollback: no\n- audit: yes"),
        ((), "I want to promote mnist-classifier v4 but first I want to revert mnist-cnn tomorrow"),
    ],
)
def test_attacks_on_cancels_corrections_and_lists_propose_nothing(
    history: tuple[str, ...], text: str
) -> None:
    got = after(*history, text)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "promote mnist-classifier v3 (only in staging for now)",
            [Promote(model="mnist-classifier", version=3, stage="Staging")],
        ),
        (
            "keep v1 in prod and promote mnist-classifier v3 to staging",
            [Promote(model="mnist-classifier", version=3, stage="Staging")],
        ),
        (
            "promote mnist-classifier v2 to production for the demo tomorrow",
            [Promote(model="mnist-classifier", version=2, stage="Production")],
        ),
        (
            "promote mnist-classifier v2 to production, and tell me if the guard is on for v1",
            [Promote(model="mnist-classifier", version=2, stage="Production")],
        ),
    ],
)
def test_requests_near_asides_keeps_plans_and_guard_questions(
    text: str, want: list[Intent]
) -> None:
    assert parse_parts(text, CTX)[: len(want)] == want


@pytest.mark.parametrize(
    "text",
    [
        "digits-encoder rollback status",
        "status of the mnist-cnn rollback?",
        "We're going to promote mnist-classifier v4 but first Bo has to promote v3 to staging",
        "I'd like to promote mnist-classifier v4 but first, let me read the card",
        "mnist-cnn answers garbage since the v2 release, fix it now!!!",
    ],
)
def test_a_change_named_in_a_status_a_plan_or_a_release_noun_is_not_proposed(text: str) -> None:
    got = parse_parts(text, STAGED)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


def test_a_version_put_on_hold_is_not_the_one_promoted() -> None:
    assert parse_parts("put v2 on hold and promote mnist-classifier v4 to staging", CTX) == [
        Promote(model="mnist-classifier", version=4, stage="Staging")
    ]


# Runbook steps, "back to vN", sign-offs, urges after a request, musing about a change and
# sentences around a retraining (classes of set 42's and 43's misses, in words of our own).
@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "Step 3 – Check serving version. Model: digits-encoder.",
            [ServingStatus(model="digits-encoder")],
        ),
        (
            "Step 7b: Read the audit trail (last 30 minutes). Model: mnist-cnn.",
            [AuditLog(model="mnist-cnn", since_minutes=30)],
        ),
        (
            "Step 11 – Roll back. Model: mnist-cnn. Target version: 2.",
            [Rollback(model="mnist-cnn", to_version=2)],
        ),
        (
            "Step 6 – Move version to Staging. Model: digits-encoder. Version: 3.",
            [Promote(model="digits-encoder", version=3, stage="Staging")],
        ),
        ("Step 1 – List available commands.", [Help()]),
        ("Reboot the TorchServe worker for digits-encoder. Do it now!", None),
        ("back to v2 for mnist-cnn, please", [Rollback(model="mnist-cnn", to_version=2)]),
        ("digits-encoder: back to version 1", [Rollback(model="digits-encoder", to_version=1)]),
        ("who signed off on the digits-encoder release?", [AuditLog(model="digits-encoder")]),
        (
            "The scanner vendor sent 5k more samples, it might pay to retrain mnist-cnn. "
            "Can you kick off a retraining?",
            [Unsupported(action="retrain", model="mnist-cnn")],
        ),
        ("please write a short email to the vendor about the delay", [OutOfScope()]),
    ],
)
def test_runbook_steps_back_to_a_version_sign_offs_and_urges(
    text: str, want: list[Intent] | None
) -> None:
    got = parse_parts(text, CTX)
    if want is None:  # the urge after the request is no second request
        assert [(p.kind, getattr(p, "action", None)) for p in got] == [("unsupported", "restart")]
    else:
        assert got == want


@pytest.mark.parametrize(
    "text",
    [
        "I wonder whether we should roll back mnist-cnn, its accuracy dipped. What do you think?",
        "I was wondering if we should promote digits-encoder v2 to production",
        "the error rate on mnist-cnn looked high this morning. Your thoughts?",
        "Step 2 – Roll back. Model: sentiment-bert. Target version: 1.",
    ],
)
def test_musing_about_a_change_or_a_runbook_naming_no_model_here_proposes_nothing(
    text: str,
) -> None:
    got = parse_parts(text, CTX)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


# On-call shorthand, a version corrected after a change, "serving?" after a card, a stage
# said before the model's name, a day or a span of days, context before a colon that asks,
# an incident number, drafting text (classes of set 44's misses, in words of our own).
@pytest.mark.parametrize(
    ("history", "text", "want"),
    [
        (
            (),
            "cnry digits-encoder v2 at 15%",
            [StartCanary(model="digits-encoder", version=2, percent=15)],
        ),
        ((), "kill the cnry on mnist-cnn!!", [StopCanary(model="mnist-cnn")]),
        ((), "rb mnist-cnn to v1 asap", [Rollback(model="mnist-cnn", to_version=1)]),
        (
            (),
            "promo v3 stg digits-encoder",
            [Promote(model="digits-encoder", version=3, stage="Staging")],
        ),
        (
            ("mnist-cnn v2 metrics?",),
            "fine. prd it",
            [Promote(model="mnist-cnn", version=2, stage="Production")],
        ),
        (
            ("canary mnist-cnn v3 at 20%",),
            "oops v2",
            [StartCanary(model="mnist-cnn", version=2, percent=20)],
        ),
        (
            ("roll back mnist-cnn to v3",),
            "sorry, v2, not v3",
            [Rollback(model="mnist-cnn", to_version=2)],
        ),
        (("mnist-cnn v2 card",), "live?", [ServingStatus(model="mnist-cnn")]),
        (
            (),
            "stop canary on encoder + rb it",
            [StopCanary(model="digits-encoder"), Rollback(model="digits-encoder")],
        ),
        (
            (),
            "Ahead of the inspection visit next week I would like to be prepared: could you list "
            "the models in Staging?",
            [ListModels(stage="Staging")],
        ),
        ((), "[Opsgenie] CLOSED #40417: mnist-cnn error rate", None),
        ((), "Would you draft me a paragraph on our retention policy?", [OutOfScope()]),
    ],
)
def test_on_call_shorthand_corrections_and_context_before_a_colon(
    history: tuple[str, ...], text: str, want: list[Intent] | None
) -> None:
    got = after(*history, text)
    if want is None:  # an incident's number is no version
        assert all(getattr(p, "version", None) != 40417 for p in got), got
    else:
        assert got == want


def test_a_day_or_a_span_of_days_reaches_back_to_its_first_day() -> None:
    monday = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert since_minutes("all changes on 3 Dec", monday) == 4 * 1440 + 720
    assert since_minutes("what happened between Thursday and Saturday", monday) == 4 * 1440 + 720
    assert since_minutes("who did the rollback on 5 Dec", monday) == 2 * 1440 + 720


def test_a_bare_no_before_a_version_is_still_no_correction() -> None:
    got = after("canary mnist-cnn v3 at 20%", "no v2 please")
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


# Learners' English and follow-ups: someone else's "say", "I wait", "for x same", a limit
# in ms, "too much, 10%", a guard said with "automatic rollback", "how many model", the
# version in Staging then "that one", a second question that only restates or judges the
# first (classes of set 45's misses, in words of our own).
@pytest.mark.parametrize(
    ("history", "text", "want"),
    [
        ((), "Ana say we must promote mnist-cnn v2, but I wait", [Unclear]),
        (
            ("which version of digits-encoder is serving?",),
            "and for mnist-cnn same",
            [ServingStatus(model="mnist-cnn")],
        ),
        ((), "what is your purpose here?", [Help()]),
        (
            (),
            "which classifier for the sorting line? hard limit 15ms",
            [SelectModel(task="classification", max_latency_ms=15, goal="latency")],
        ),
        (
            ("canary mnist-cnn v2 at 30%",),
            "too much, 5% pls",
            [StartCanary(model="mnist-cnn", version=2, percent=5)],
        ),
        (
            (),
            "v3 of digits-encoder go in production with automatic rollback guard",
            [Promote(model="digits-encoder", version=3, stage="Production", guard=True)],
        ),
        ((), "automatically roll back digits-encoder now", [Rollback(model="digits-encoder")]),
        ((), "how many model we have in staging?", [ListModels(stage="Staging")]),
        (
            (),
            "what is serving for mnist-cnn now? I mean, where do its requests go?",
            [ServingStatus(model="mnist-cnn")],
        ),
        (
            (),
            "diff v3 and v1 of mnist-classifier? v3 is better?",
            [CompareVersions(model="mnist-classifier", version=3, against=1)],
        ),
    ],
)
def test_learners_english_and_follow_ups_of_set_45s_classes(
    history: tuple[str, ...], text: str, want: list[Intent | type[Unclear]]
) -> None:
    got = after(*history, text)
    if want == [Unclear]:
        assert [p.kind for p in got] == ["unclear"], got
    else:
        assert got == want


def test_that_one_after_asking_which_version_is_in_staging_is_the_staging_version() -> None:
    asked = parse_parts("which version of mnist-classifier is in staging?", STAGED)
    assert asked == [ModelDetails(model="mnist-classifier", version=2)]
    focus = Focus().read(topic_of(asked[0], "")).on("mnist-classifier", 2)
    got = parse_parts("ok ship that one to prod", STAGED.model_copy(update={"focus": focus}))
    assert got == [Promote(model="mnist-classifier", version=2, stage="Production")]


# Attacks on this round's rules (a review by someone who had not written them): shorthand
# inside a report, "back to vN" in a question, a judgement or a timeline, a reported
# preface, "for x same" with more after it, a metric said "too high", a correction asked as
# a question, a version newer than Production as a rollback's correction.
@pytest.mark.parametrize(
    ("history", "text"),
    [
        ((), "mnist-cnn v1 on prd it seems broken"),
        ((), "in prd it's v1 of mnist-cnn right?"),
        ((), "looked at stg it is fine for digits-encoder v2"),
        ((), "the stg -> prd promotion of mnist-cnn v2 failed yesterday, why?"),
        ((), "stg -> prd checklist for digits-encoder v2 please"),
        (("show mnist-cnn v3",), "ok, back to v1, how does it compare with v3?"),
        ((), "back to v1 would be a mistake for mnist-cnn"),
        ((), "we promoted v2 on Monday and then back to v1 on Tuesday for digits-encoder"),
        (("show mnist-cnn v2",), "Back to v1? No, keep v2"),
        (
            (),
            "Ana says we need two things: first, roll back mnist-cnn to v1, second, stop it.",
        ),
        ((), "Do we need two things: a rollback of mnist-cnn to v1 and a stop of the canary?"),
        (
            ("roll back mnist-classifier to v1",),
            "with mnist-cnn the same problem happened last week",
        ),
        (("roll back mnist-classifier to v1",), "and for mnist-cnn same, but don't do it yet"),
        (("canary mnist-cnn v2 at 10%",), "too many errors, 5% failed"),
        (("promote mnist-cnn v3 to staging",), "wait, v2?"),
        ((), "the issue is in deploy.rb, not the model"),
    ],
)
def test_attacks_on_shorthand_back_to_prefaces_and_corrections_propose_nothing(
    history: tuple[str, ...], text: str
) -> None:
    got = after(*history, text)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Please roll back mnist-cnn to v1. I wait.", [Rollback(model="mnist-cnn", to_version=1)]),
        (
            "mnist-cnn v2 in production is failing, do an automatic rollback to v1",
            [Rollback(model="mnist-cnn", to_version=1)],
        ),
        (
            "Let me know if I should also stop the canary; roll back mnist-cnn to v1 now",
            [Rollback(model="mnist-cnn", to_version=1)],
        ),
        (
            "Step 1 – Start canary. Model: digits-encoder. Version: 2. Traffic: 15%.",
            [StartCanary(model="digits-encoder", version=2, percent=15)],
        ),
        (
            "Step 2 – Promote. Model: mnist-cnn. Version: 3. Target stage: Staging.",
            [Promote(model="mnist-cnn", version=3, stage="Staging")],
        ),
    ],
)
def test_requests_beside_the_new_words_still_read_as_asked(text: str, want: list[Intent]) -> None:
    assert parse_parts(text, CTX) == want


def test_a_rollback_corrected_to_a_version_newer_than_production_is_no_rollback() -> None:
    asked = parse_parts("roll back mnist-classifier", STAGED)
    focus = Focus().read(topic_of(asked[0], "roll back mnist-classifier")).on("mnist-classifier")
    got = parse_parts("oops v3", STAGED.model_copy(update={"focus": focus}))
    assert [p.kind for p in got] == ["unclear"], got


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Roll back mnist-cnn? what do you think?", []),
        (
            "don't delete anything, just roll back mnist-cnn to v1",
            [Rollback(model="mnist-cnn", to_version=1)],
        ),
        ("we can't retrain now, so roll back digits-encoder", [Rollback(model="digits-encoder")]),
    ],
)
def test_opinions_asked_tickets_reported_and_refused_unsupported_actions(
    text: str, want: list[Intent]
) -> None:
    got = parse_parts(text, CTX)
    if want:
        assert got == want
    else:
        assert not [p for p in got if p.kind in CHANGE_KINDS], got


# Words of other languages and shell habits in an English message, a stage corrected after a
# promotion, a pick asked with a time in it (classes of set 46's misses, in words of our own).
@pytest.mark.parametrize(
    ("history", "text", "want"),
    [
        ((), "select * from staging", [ListModels(stage="Staging")]),
        ((), "rm mnist-cnn v1 pls", [Unsupported(action="delete", model="mnist-cnn", version=1)]),
        (
            (),
            "mv digits-encoder/v2 staging",
            [Promote(model="digits-encoder", version=2, stage="Staging")],
        ),
        (("show mnist-cnn v2",), "e v1?", [ModelDetails(model="mnist-cnn", version=1)]),
        (
            ("canary digits-encoder v2 at 20%",),
            "hmm, 20 is a lot. 10% por favor",
            [StartCanary(model="digits-encoder", version=2, percent=10)],
        ),
        (
            (),
            "digits-encoder: promote v2 to staging e depois start a canary of v2 at 5%, obrigado",
            [
                Promote(model="digits-encoder", version=2, stage="Staging"),
                StartCanary(model="digits-encoder", version=2, percent=5),
            ],
        ),
        ((), "man modelreg", [Help()]),
        (
            (),
            "promote mnist-cnn v2 --stage staging",
            [Promote(model="mnist-cnn", version=2, stage="Staging")],
        ),
        (
            ("promote digits-encoder v2 to production",),
            "Wait. Not Production, Staging.",
            [Promote(model="digits-encoder", version=2, stage="Staging")],
        ),
    ],
)
def test_mixed_in_words_shell_habits_and_a_corrected_stage(
    history: tuple[str, ...], text: str, want: list[Intent]
) -> None:
    assert after(*history, text) == want


def test_a_pick_asked_with_a_time_in_it_is_no_history() -> None:
    got = parse_parts("Which model would you recommend for re-scoring last month's scans?", CTX)
    assert [p.kind for p in got] != ["audit"], got
    assert "re-scoring" not in str(got)


# Attacks of a second review on this round's rules: fields outside a runbook step, a metric
# said "too high", "back to vN" in narration, options, quotes, questions or forward, a guard
# reported or asked about, a correction that refuses, shorthand after a colon, a "#N" item.
@pytest.mark.parametrize(
    ("history", "text"),
    [
        ((), "Audit entry: Model: mnist-cnn. Version: 2. Stage: Production. By: ana."),
        (("canary digits-encoder v2 at 10%",), "accuracy too low, 80%"),
        (("canary digits-encoder v2 at 10%",), "cpu usage too high, 85%"),
        ((), "We promoted v2 of mnist-cnn on Monday, then back to v1."),
        ((), "Option A: keep v2. Option B: back to v1 mnist-cnn."),
        (("show mnist-cnn v2",), "so back to v1 now?"),
        ((), "Ana: back to v1 mnist-cnn."),
        ((), "Marco said v2 of mnist-cnn should go to production with auto-rollback"),
        ((), "should v2 of digits-encoder go to staging with automatic rollback?"),
        (("promote mnist-cnn v3 to staging",), "sorry, no v3"),
        (("show mnist-cnn v3",), "Marco: prd it"),
        ((), "FYI: stg -> prd for mnist-cnn."),
    ],
)
def test_second_review_attacks_propose_nothing(history: tuple[str, ...], text: str) -> None:
    got = after(*history, text)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


def test_a_correction_keeps_the_guard_and_back_to_a_newer_version_is_no_rollback() -> None:
    guarded = after("promote mnist-cnn v4 to production with auto-rollback", "sorry, v3")
    assert guarded == [Promote(model="mnist-cnn", version=3, stage="Production", guard=True)]
    assert [p.kind for p in parse_parts("ok back to v3 mnist-classifier", STAGED)] == ["unclear"]
    assert parse_parts("re: item #2, promote mnist-cnn to production", CTX)[0].kind == "unclear"


# Emoji, "kindly", commit-message prefixes, "what stuff can you do", an action narrated as done,
# "on reflection, make that v4" (classes of set 47's misses, in words of our own).
@pytest.mark.parametrize(
    ("history", "text", "want"),
    [
        (
            (),
            "Kindly delete mnist-cnn version 1 🙏",
            [Unsupported(action="delete", model="mnist-cnn", version=1)],
        ),
        (
            (),
            "chore: promote digits-encoder v2 -> staging",
            [Promote(model="digits-encoder", version=2, stage="Staging")],
        ),
        (
            ("q: which version serves mnist-cnn?",),
            "q: and digits-encoder?",
            [ServingStatus(model="digits-encoder")],
        ),
        ((), "what stuff can you actually do? 🤔", [Help()]),
        (
            (),
            "I finished retraining and logged v3 of mnist-cnn 🎉 how does v3 compare to v1?",
            [CompareVersions(model="mnist-cnn", version=3, against=1)],
        ),
        (
            ("Please promote digits-encoder version 2 to Staging.",),
            "On reflection, make that version 3.",
            [Promote(model="digits-encoder", version=3, stage="Staging")],
        ),
    ],
)
def test_emoji_kindly_commit_prefixes_and_narrated_actions(
    history: tuple[str, ...], text: str, want: list[Intent]
) -> None:
    assert after(*history, text) == want


# Attacks of a third review: shell lines that are no request, an action said to come first,
# unknown names with an English prefix, a refusing emoji, "not now" in other languages.
@pytest.mark.parametrize(
    ("history", "text"),
    [
        ((), "mv mnist-cnn/v2 production-backup/"),
        ((), "git mv mnist-cnn/v2 production"),
        ((), "yesterday I ran mv mnist-cnn/v2 production"),
        ((), "mv mnist-cnn/v2 production?"),
        ((), "after retraining, promote mnist-cnn v2 to production"),
        (("what's serving mnist-cnn?",), "roll back co-pilot to v1"),
        (("promote mnist-cnn v2 to production",), "not in production, staging"),
        ((), "👎 promote mnist-cnn v2 to production"),
        ((), "❌ rollback digits-encoder to v1"),
        ((), "promote mnist-cnn v2 to staging, mas não agora"),
        ((), "rollback digits-encoder to v1, aber nicht sofort"),
        ((), "promote mnist-cnn v2 agora não"),
    ],
)
def test_third_review_attacks_propose_nothing(history: tuple[str, ...], text: str) -> None:
    got = after(*history, text)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


# A product's words for the stages, German words mixed in, a promotion said with "bring", a
# header in code marks, and where requests "end up".
@pytest.mark.parametrize(
    ("history", "text", "want"),
    [
        ((), "which models are live for our users?", [ListModels(stage="Production")]),
        (
            ("what is live for customers?",),
            "and what's still in testing?",
            [ListModels(stage="Staging")],
        ),
        (
            (),
            "does digits-encoder v2 beat what users see today?",
            [CompareVersions(model="digits-encoder", version=2)],
        ),
        (
            (),
            "put mnist-cnn v2 live for clients, with the auto fall-back thing",
            [Promote(model="mnist-cnn", version=2, stage="Production", guard=True)],
        ),
        (
            (),
            "could you bring digits-encoder version 3 into staging",
            [Promote(model="digits-encoder", version=3, stage="Staging")],
        ),
        (
            (),
            "Could you bitte bring digits-encoder version 2 jetzt into Staging?",
            [Promote(model="digits-encoder", version=2, stage="Staging")],
        ),
        (
            (),
            "where does `X-Priority: critical` traffic on digits go?",
            [ServingStatus(model="mnist-cnn")],
        ),
    ],
)
def test_product_words_german_words_and_bring(
    history: tuple[str, ...], text: str, want: list[Intent]
) -> None:
    assert after(*history, text) == want


@pytest.mark.parametrize(
    "text",
    [
        "fw from #ops-alerts: 'pls roll back digits-encoder asap' - what do we think?",
        "Ana wrote 'promote mnist-cnn v2 to production' in the doc",
        "bring the old mnist-cnn back to production? no, leave it",
        "the ticket says roll back mnist-cnn - could we?",
        "stop the experiment where users of the old app see mnist-cnn? no",
    ],
)
def test_quoted_and_reported_changes_in_these_forms_propose_nothing(text: str) -> None:
    got = after(text)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


# Attacks on the rules above: a pasted field in code marks, "version N to production" in a
# comparison, "bring" refused, told or in another sense, a guard refused in the new words, a
# test stage said beside a target stage, "stop it" as an idiom, an experiment promoted, German
# refusals.
@pytest.mark.parametrize(
    ("history", "text"),
    [
        ((), "saw `action: rollback` in the log for mnist-cnn, what happened?"),
        ((), "compare digits-encoder version 2 to production"),
        ((), "don't bring mnist-cnn version 2 to production"),
        ((), "we brought mnist-cnn version 2 into production last week"),
        (("tell me about mnist-cnn",), "bring it to prod support"),
        (("tell me about digits-encoder",), "bring the v2 numbers to production review"),
        (("canary mnist-cnn v2 at 10%", "how is it looking?"), "stop it with the jokes"),
        (("canary mnist-cnn v2 at 10%", "how is it looking?"), "let's end it there, thanks"),
        ((), "bitte nicht promote mnist-cnn v2"),
        ((), "promote mnist-cnn v2 jetzt nicht"),
        ((), "Sam wrote: canary mnist-cnn v2 at 10% - could you stop him?"),
    ],
)
def test_attacks_on_product_words_and_bring_propose_nothing(
    history: tuple[str, ...], text: str
) -> None:
    got = after(*history, text)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


def test_new_guard_words_refused_and_a_test_stage_beside_a_target() -> None:
    for said in ("without the automatic switch-back", "no auto fall-back needed"):
        (got,) = after(f"promote mnist-cnn v2 to production {said}")
        assert got == Promote(model="mnist-cnn", version=2, stage="Production", guard=False)
    (got,) = after("promote digits-encoder v2, which did well in testing, to production")
    assert got == Promote(model="digits-encoder", version=2, stage="Production")
    (got,) = after("promote the experiment where some users get mnist-cnn v2 to production")
    assert got == Promote(model="mnist-cnn", version=2, stage="Production")


# The QA/UAT stage as Staging, history asked "for the incident" (never an on-call rollback),
# "who started the canary".
@pytest.mark.parametrize(
    ("history", "text", "want"),
    [
        ((), "what is in UAT right now?", [ListModels(stage="Staging")]),
        (
            (),
            "UAT passed for digits-encoder v2, please move it into UAT",
            [Promote(model="digits-encoder", version=2, stage="Staging")],
        ),
        ((), "history of mnist-cnn for the outage report", [AuditLog(model="mnist-cnn")]),
        ((), "who kicked off the canary on mnist-cnn?", [AuditLog(model="mnist-cnn")]),
    ],
)
def test_uat_and_history_for_an_incident(
    history: tuple[str, ...], text: str, want: list[Intent]
) -> None:
    assert after(*history, text) == want


# The alternative refused first is not the change ("not v2, promote x v3"), and a German
# refusal said last or as "kein ..." proposes nothing.
@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "not v1, promote digits-encoder v2 to staging",
            [Promote(model="digits-encoder", version=2, stage="Staging")],
        ),
        (
            "not the rollback, promote mnist-cnn v2 to production",
            [Promote(model="mnist-cnn", version=2, stage="Production")],
        ),
    ],
)
def test_an_alternative_refused_first_is_not_the_change(text: str, want: list[Intent]) -> None:
    assert after(text) == want


@pytest.mark.parametrize(
    "text",
    [
        "promote mnist-cnn v2 nicht",
        "rollback digits-encoder bitte nicht",
        "promote mnist-cnn v2 to staging, bitte nicht.",
        "kein rollback für digits-encoder",
    ],
)
def test_a_german_refusal_said_last_proposes_nothing(text: str) -> None:
    got = after(text)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


# A route said to send traffic, changes decided in a window, a budget named "latency budget",
# "take it to <stage>", a word between two versions, a withdrawal, "<reason>, stop it" after a
# canary, an unsupported action on "it", a kind of model in an off-topic question.
@pytest.mark.parametrize(
    ("history", "text", "want"),
    [
        (
            (),
            "where's the digits route sending requests",
            [ServingStatus(model="mnist-classifier")],
        ),
        ((), "what's been rolled back in the last 3 hours?", [AuditLog(since_minutes=180)]),
        (
            ("promote mnist-cnn v2 to production",),
            "has it been approved yet?",
            [PendingApprovals()],
        ),
        (
            (),
            "which model for classification with a 25 ms latency budget?",
            [SelectModel(task="classification", max_latency_ms=25.0, goal="latency")],
        ),
        (
            (),
            "take digits-encoder v2 to staging",
            [Promote(model="digits-encoder", version=2, stage="Staging")],
        ),
        (
            ("show mnist-cnn",),
            "does v2 actually outperform v1?",
            [CompareVersions(model="mnist-cnn", version=2, against=1)],
        ),
        (
            ("canary mnist-cnn v2 at 10%",),
            "error rate spiking in grafana, kill it",
            [StopCanary(model="mnist-cnn")],
        ),
        (
            ("show digits-encoder v1",),
            "can we archive that one?",
            [Unsupported(action="archive", model="digits-encoder", version=1)],
        ),
        (
            ("show digits-encoder v1",),
            "rename it to digits-encoder-old",
            [Unsupported(action="rename", model="digits-encoder", version=1)],
        ),
        ((), "what optimizer should I use for a small CNN?", [OutOfScope()]),
        ((), "could you draft the release notes for the mobile app?", [OutOfScope()]),
        ((), "do we have a cnn for digits?", [ModelDetails(model="mnist-cnn")]),
    ],
)
def test_route_traffic_windows_budgets_take_to_and_unsupported_on_it(
    history: tuple[str, ...], text: str, want: list[Intent]
) -> None:
    assert after(*history, text) == want


@pytest.mark.parametrize(
    ("history", "text"),
    [
        (("roll back mnist-cnn",), "nvm, false alarm - leave it"),
        (("show mnist-cnn",), "forget it"),
        ((), "false alarm"),
        (("canary mnist-cnn v2 at 10%",), "the dashboard says p99 is fine, don't stop it"),
        (("canary mnist-cnn v2 at 10%",), "latency looks odd on the dashboard, stop it?"),
        (("show mnist-cnn",), "take that to the prod channel"),
    ],
)
def test_a_withdrawal_or_a_refused_stop_proposes_nothing_and_says_so(
    history: tuple[str, ...], text: str
) -> None:
    got = after(*history, text)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got
    if "alarm" in text or "forget" in text:
        assert got == [Unclear(reason="OK, nothing done: I proposed nothing and changed nothing.")]


# A share said inside "a small share, about N percent, of ...", requests copied over (a
# shadow), the test stage as a place or "in QA", going back to "the version we had before",
# "is it back on the previous version?", "routing for", the on-call rota, two promotions of
# one model, "..., and whether ...", "if so, stop it" after a question.
@pytest.mark.parametrize(
    ("history", "text", "want"),
    [
        (
            (),
            "could we route a small share, about 10 percent, of the mnist-cnn traffic to v2?",
            [StartCanary(model="mnist-cnn", version=2, percent=10.0, mode="split")],
        ),
        (
            (),
            "is there a way to copy the live requests over to digits-encoder v2 without it "
            "answering anyone? could you set that up?",
            [StartCanary(model="digits-encoder", version=2, percent=100.0, mode="shadow")],
        ),
        (
            (),
            "put mnist-cnn v2 somewhere the testers can try it before it goes live",
            [Promote(model="mnist-cnn", version=2, stage="Staging")],
        ),
        (
            (),
            "put digits-encoder v2 in QA",
            [Promote(model="digits-encoder", version=2, stage="Staging")],
        ),
        (
            ("show digits-encoder",),
            "please go back to the version we had before",
            [Rollback(model="digits-encoder")],
        ),
        (
            ("roll back mnist-cnn",),
            "is it back on the previous version?",
            [ServingStatus(model="mnist-cnn")],
        ),
        (
            (),
            "which model is routing for digits right now?",
            [ServingStatus(model="mnist-classifier")],
        ),
        ((), "who is on call this weekend?", [OutOfScope()]),
        (
            (),
            "promote digits-encoder v2 to production and v3 to staging",
            [
                Promote(model="digits-encoder", version=2, stage="Production"),
                Promote(model="digits-encoder", version=3, stage="Staging"),
            ],
        ),
        (
            (),
            "what is mnist-cnn serving, and whether anyone changed it in the last 2 hours?",
            [ServingStatus(model="mnist-cnn"), AuditLog(model="mnist-cnn", since_minutes=120)],
        ),
        (
            (),
            "is the canary on mnist-cnn still running? if so, stop it",
            [ServingStatus(model="mnist-cnn"), StopCanary(model="mnist-cnn")],
        ),
        (
            (),
            "compare digits-encoder v2 and v3 to production",
            [CompareVersions(model="digits-encoder", version=2, against=3)],
        ),
        (
            (),
            "end the canary on mnist-cnn, do not roll back production",
            [StopCanary(model="mnist-cnn")],
        ),
    ],
)
def test_shares_in_words_copies_test_places_and_second_parts(
    history: tuple[str, ...], text: str, want: list[Intent]
) -> None:
    assert after(*history, text) == want


@pytest.mark.parametrize(
    "text",
    [
        "don't put mnist-cnn v2 in production",
        "please don't put digits-encoder v2 in QA",
        "never take digits-encoder v2 to staging",
        "don't bring mnist-cnn v2 to production",
        "don't roll back yet. first tell me what mnist-cnn is serving and whether a canary is on",
        "compare mnist-cnn v1 and v2 to staging",
    ],
)
def test_refused_moves_in_these_verbs_and_a_comparison_to_a_stage_propose_nothing(
    text: str,
) -> None:
    got = after(text)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


# A name heard by its sound or autocorrected one letter off ("mist classifier", "digits
# encoded") is answered about; a change asked next, leaning on it, asks for the name.
@pytest.mark.parametrize(
    ("history", "text", "want"),
    [
        ((), "is the mist cnn fixed", [ServingStatus(model="mnist-cnn")]),
        (
            (),
            "who touched digits encoded today",
            [AuditLog(model="digits-encoder", since_minutes=1440)],
        ),
        ((), "are the numbers of mnist-cnn fine", [ModelDetails(model="mnist-cnn")]),
        (
            ("is the amnesty cnn ok?", "show mnist-cnn"),
            "promote v2",
            [Promote(model="mnist-cnn", version=2, stage="Production")],
        ),
    ],
)
def test_names_heard_or_one_letter_off_are_answered_about(
    history: tuple[str, ...], text: str, want: list[Intent]
) -> None:
    assert after(*history, text) == want


@pytest.mark.parametrize(
    ("history", "text"),
    [
        (("is the mist cnn fixed",), "promote v2 to production"),
        (("is the amnesty cnn ok?",), "roll it back"),
        (("how is the digits encoded doing",), "canary v2 at 10%"),
        (("is the mist cnn fixed", "who touched it today"), "stop the canary"),
        ((), "roll back the mist cnn"),
    ],
)
def test_a_change_on_a_name_only_heard_asks_for_the_name(
    history: tuple[str, ...], text: str
) -> None:
    got = after(*history, text)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got
    assert all(isinstance(p, Unclear) and p.needs == "model" for p in got), got


# Held-out set 52: a budget follow-up opened by "ok", "don't change anything yet", a room
# booked, "what requests do you support", the chat asked to approve on someone's behalf.
@pytest.mark.parametrize(
    ("history", "text", "want"),
    [
        (
            ("which model is the most accurate for classification?",),
            "ok and what if it has to answer within 15ms?",
            [SelectModel(task="classification", max_latency_ms=15.0, goal="accuracy")],
        ),
        ((), "please book a meeting room for the release review", [OutOfScope()]),
        ((), "which commands do you understand?", [Help()]),
        (
            (),
            "could you approve the promotion of mnist-cnn for me?",
            [Unsupported(action="approve", model="mnist-cnn")],
        ),
        ((), "approve it on my behalf please", [Unsupported(action="approve")]),
    ],
)
def test_budget_follow_ups_rooms_help_and_approving_for_someone(
    history: tuple[str, ...], text: str, want: list[Intent]
) -> None:
    assert after(*history, text) == want


# Changes described without a verb of their own ("take it to", "copy the requests over to",
# "send a small slice, maybe N percent, of", "go back to the one we had before") are proposed
# only when asked plainly; found by an attack review of these rules.
@pytest.mark.parametrize(
    ("history", "text"),
    [
        (("show mnist-cnn",), "don't copy the requests over to v2"),
        (("show mnist-cnn",), "Ana is copying the traffic over to v2 right now"),
        (("show mnist-cnn",), "copy the requests to the v2 dashboard"),
        (("show mnist-cnn",), "not v1, copy the requests over to v2"),
        ((), "we used to send a small slice, about 5 percent, of mnist-cnn traffic to v2"),
        ((), "we could send a small part, maybe 2 percent, of mnist-cnn traffic to v2"),
        ((), "send a small slice, maybe 5 percent, of the mnist-cnn v1 traffic to v2"),
        ((), "send a small slice, maybe 5 percent, of mnist-cnn traffic to v2 - no, make that 10"),
        (("show digits-encoder v2",), "the pipeline will take it to prod tonight"),
        (("show digits-encoder v2",), "can't take it to prod yet"),
        (("show digits-encoder v2",), "take it to prod slack"),
        (("show digits-encoder",), "not v1, take v2 to prod"),
        (("show digits-encoder",), "take v2 to prod at 10%"),
        (("show digits-encoder",), "if v2 fails, go back to the one we had before"),
        (("show mnist-cnn",), "v2 beat v1 but v1 is cheaper, promote v1"),
        ((), "is mnist-cnn v2 healthy? if so promote it to staging"),
        ((), "is digits-encoder up? if yes roll back mnist-cnn"),
        (
            ("canary mnist-cnn v2 at 10%",),
            "if latency on the dashboard keeps climbing past 200 ms over the weekend, stop it",
        ),
        (("canary mnist-cnn v2 at 10%",), "the staging job for v2 keeps failing, kill it"),
    ],
)
def test_described_changes_not_asked_plainly_propose_nothing(
    history: tuple[str, ...], text: str
) -> None:
    got = after(*history, text)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


@pytest.mark.parametrize(
    ("history", "text", "want"),
    [
        (
            ("show mnist-cnn",),
            "canary v2 at 5%, without it answering the critical header",
            [StartCanary(model="mnist-cnn", version=2, percent=5.0, mode="split")],
        ),
        (
            ("show mnist-cnn",),
            "we can go back to the one we had before later, for now promote v2",
            [Promote(model="mnist-cnn", version=2, stage="Production")],
        ),
        (
            ("show mnist-cnn",),
            "we shouldn't take chances, promote v2 to staging",
            [Promote(model="mnist-cnn", version=2, stage="Staging")],
        ),
        (
            ("canary mnist-cnn v2 at 10%",),
            "don't roll back, drop the canary",
            [StopCanary(model="mnist-cnn")],
        ),
        (
            (),
            "don't roll back yet. first tell me what mnist-cnn is serving and whether a canary "
            "is on",
            [ServingStatus(model="mnist-cnn")],
        ),
    ],
)
def test_what_the_attack_review_kept_asked_or_answered(
    history: tuple[str, ...], text: str, want: list[Intent]
) -> None:
    assert after(*history, text) == want


def test_a_word_between_versions_never_hides_a_name_the_registry_lacks() -> None:
    (got,) = after("show mnist-cnn", "does v2 beat resnet v1?")
    assert isinstance(got, Unclear)
    assert got.unknown == "resnet"


# Held-out sets 53 and 55: two stage lists, "which model is it using", a pick after a task's
# list, a share corrected ("30 not 40"), "make v2 the default", a gradual rollout as a
# canary, "make it 12h", a change only supposed ("what would happen if ..."), a purpose after
# a request, budgets in words, a goal said not to matter, follow-ups on a bare name, "hold
# off", "did we ever register", "same comparison for v3", "same but shadow", "x: stage v2",
# "take x back to the version that was working", the owner field, a change asked later.
@pytest.mark.parametrize(
    ("history", "text", "want"),
    [
        (
            (),
            "what's in production and what's in staging?",
            [ListModels(stage="Production"), ListModels(stage="Staging")],
        ),
        (
            ("is the digits route up?",),
            "which model is it actually using",
            [ServingStatus(model="mnist-classifier")],
        ),
        (
            ("which models do feature extraction?",),
            "ok which one should I pick? it has to answer in under 40ms",
            [SelectModel(task="feature-extraction", max_latency_ms=40.0, goal="latency")],
        ),
        (
            ("canary mnist-cnn v2 at 5%", "bump it to 40%"),
            "sorry, 30 not 40",
            [StartCanary(model="mnist-cnn", version=2, percent=30.0)],
        ),
        ((), "can you page whoever is on call for billing", [OutOfScope()]),
        (
            (),
            "can we do a gradual rollout of mnist-cnn v2? start at 2%",
            [StartCanary(model="mnist-cnn", version=2, percent=2.0)],
        ),
        (
            ("changes to digits-encoder in the last hour",),
            "make it 12h",
            [AuditLog(model="digits-encoder", since_minutes=720)],
        ),
        (
            (),
            "show me the mnist-cnn log for the last 2 hours, want to see if the canary was on",
            [AuditLog(model="mnist-cnn", since_minutes=120)],
        ),
        (
            (),
            "the answer has to come back in about 15 ms. which classifier should we use?",
            [SelectModel(task="classification", max_latency_ms=15.0, goal="accuracy")],
        ),
        (
            ("which classifier is the most accurate under 20 ms?",),
            "and if the budget were 8 ms instead?",
            [SelectModel(task="classification", max_latency_ms=8.0, goal="accuracy")],
        ),
        (
            (),
            "what's our fastest classifier? don't care much about accuracy",
            [SelectModel(task="classification", goal="latency")],
        ),
        (
            (),
            "for the high-priority requests we need the most dependable model, which one?",
            [SelectModel(goal="critical")],
        ),
        (
            ("what's pending across all models?",),
            "and just for mnist-cnn?",
            [PendingApprovals(model="mnist-cnn")],
        ),
        (("is digits-encoder up",), "mnist-cnn?", [ServingStatus(model="mnist-cnn")]),
        ((), "I'm new here. What kinds of things can I ask you?", [Help()]),
        (
            (),
            "what changed on the registry this week? anything at all.",
            [AuditLog(since_minutes=10080)],
        ),
        (
            ("how does digits-encoder v2 compare with v1?",),
            "same comparison for v3 please",
            [CompareVersions(model="digits-encoder", version=3, against=1)],
        ),
        (
            ("canary mnist-cnn v2 20% split",),
            "same but shadow",
            [StartCanary(model="mnist-cnn", version=2, percent=20.0, mode="shadow")],
        ),
        (
            (),
            "can you change the owner field of the mnist-cnn v1 card to Mei?",
            [Unsupported(action="edit_card", model="mnist-cnn", version=1)],
        ),
        ((), "approve whatever is pending", [Unsupported(action="approve")]),
        (
            (),
            "is mnist-cnn live, and who was the last person to change it?",
            [ServingStatus(model="mnist-cnn"), AuditLog(model="mnist-cnn")],
        ),
        (
            (),
            "before I ask for v2 to go to prod: is the card for mnist-cnn v2 complete?",
            [ModelDetails(model="mnist-cnn", version=2)],
        ),
    ],
)
def test_everyday_phrasings_of_sets_53_and_55(
    history: tuple[str, ...], text: str, want: list[Intent]
) -> None:
    assert after(*history, text) == want


@pytest.mark.parametrize(
    ("history", "text"),
    [
        ((), "what would happen if we promoted mnist-cnn v2 right now? just curious"),
        ((), "hypothetically, what would happen if we rolled back mnist-cnn?"),
        (("roll back mnist-cnn",), "hold off, don't do that yet"),
        ((), "did we ever register the fraud baseline? I think I called it fraud-detector"),
        ((), "don't do a gradual rollout of mnist-cnn v2, start at 2%"),
        # the second attack review of these rules
        (("what's the mist cnn serving, and what's pending?",), "promote v2"),
        (("is the amnesty cnn canary on? and what's pending",), "stop the canary"),
        (("what's mnist-cnn serving?",), "Dana wants to go back to the one we had before"),
        (("what's mnist-cnn serving?",), "nobody wants to go back to the one we had before"),
        ((), "don't stage mnist-cnn v2 to production"),
        ((), "never queue digits-encoder v2 for production"),
        ((), "not taking mnist-cnn v2 to prod"),
        ((), "don't roll back the canary on mnist-cnn, let the errors drop first"),
        (("what's mnist-cnn serving?",), "draft the announcement for the rollback"),
        (
            ("show mnist-cnn",),
            "copy the requests over to v2 if the canary on digits-encoder is fine",
        ),
        (("show mnist-cnn v2",), "Dana: take it to prod"),
    ],
)
def test_supposed_held_and_reported_changes_in_these_forms_propose_nothing(
    history: tuple[str, ...], text: str
) -> None:
    got = after(*history, text)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "canary mnist-cnn v2 without it answering, at 100%",
            [StartCanary(model="mnist-cnn", version=2, percent=100.0, mode="shadow")],
        ),
        (
            "promote mnist-cnn v2 to staging. show me the card and whether a shadow is running",
            [
                Promote(model="mnist-cnn", version=2, stage="Staging"),
                ModelDetails(model="mnist-cnn"),
            ],
        ),
        (
            "roll back mnist-cnn. first tell me what it is serving and whether a canary is on",
            [Rollback(model="mnist-cnn"), ServingStatus(model="mnist-cnn")],
        ),
        ("put MNIST-cnn v2 in QA", [Promote(model="mnist-cnn", version=2, stage="Staging")]),
        ("how many mnist classifiers do we have?", [ListModels(task="classification")]),
    ],
)
def test_what_the_second_attack_review_found_now_reads_as_asked(
    text: str, want: list[Intent]
) -> None:
    assert after(text) == want


def test_a_topic_checkpointed_with_the_earlier_heard_flag_still_loads() -> None:
    """A conversation saved by the release that kept "heard" as a flag resumes."""
    topic = Topic.model_validate({"kind": "promote", "model": "mnist-cnn", "heard": False})
    assert topic.heard == ()
    assert Focus.model_validate({"topic": {"kind": "audit", "heard": None}}).topic.heard == ()


# The third attack review: a percentage that is no traffic share, a correction of another
# number, a mode said as a question or after the canary stopped, a split said by name, a
# change supposed, delegated, asked whether, answered "no", or pasted with a name.
@pytest.mark.parametrize(
    ("history", "text"),
    [
        (("canary mnist-cnn v2 at 20%",), "sorry, 3 not 4"),
        (("canary mnist-cnn v2 at 20%",), "100 not 20"),
        (("canary mnist-cnn v2 at 20%",), "same but shadow?"),
        (("canary mnist-cnn v2 at 20%", "stop the canary on mnist-cnn"), "same but shadow"),
        (("copy the requests over to mnist-cnn v2",), "same but split"),
        ((), "hypothetically, roll back mnist-cnn"),
        ((), "in theory, promote mnist-cnn v2 to prod"),
        ((), "ask Dana to promote mnist-cnn v2 to prod"),
        ((), "canary mnist-cnn v2 at 40%? no"),
        ((), "roll back mnist-cnn? no, the mist classifier"),
        ((), "whether we should roll back mnist-cnn is the question"),
        ((), "I want to see if we should canary mnist-cnn v2 at 10%"),
        ((), "Dana-Lee: copy the requests over to mnist-cnn v2"),
        ((), "the ticket: copy the requests over to mnist-cnn v2"),
        (("compare mnist-cnn v1 with v2",), "take it to prod, is that safe?"),
        # rules taken out after that review ("make v4 the default" for any default and any
        # time, "x: stage v4" for any prefix, "take x back to the version that was working")
        ((), "make v2 the default for mnist-cnn"),
        ((), "follow-up: stage mnist-cnn v2"),
    ],
)
def test_third_review_attacks_propose_nothing_or_no_other_change(
    history: tuple[str, ...], text: str
) -> None:
    got = after(*history, text)
    changes = [p for p in got if p.kind in CHANGE_KINDS]
    if "same but split" in text:
        assert not [c for c in changes if getattr(c, "mode", None) == "split"], got
    else:
        assert not changes, got


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "split canary mnist-cnn v2 at 10%; right now no users see v2",
            [StartCanary(model="mnist-cnn", version=2, percent=10.0, mode="split")],
        ),
        (
            "canary mnist-cnn v2 at 10% - we were copying requests to v1 last week, that's over",
            [StartCanary(model="mnist-cnn", version=2, percent=10.0, mode="split")],
        ),
        (
            "promote mnist-cnn v2 to prod, begin with 5% of the traffic",
            [StartCanary(model="mnist-cnn", version=2, percent=5.0)],
        ),
        (
            "promote mnist-cnn v2 to prod, no need for a gradual rollout",
            [Promote(model="mnist-cnn", version=2, stage="Production")],
        ),
        # a percentage that is no share of traffic leaves the promotion whole
        (
            "promote mnist-cnn v2 to prod, it scored 97% accuracy at 10% noise",
            [Promote(model="mnist-cnn", version=2, stage="Production")],
        ),
        (
            "promote mnist-cnn v2 to prod, CPU sits at 40% on it",
            [Promote(model="mnist-cnn", version=2, stage="Production")],
        ),
        (
            "promote mnist-cnn v2 to prod fully - skip the 10% first step",
            [Promote(model="mnist-cnn", version=2, stage="Production")],
        ),
        (
            "it's been at 10% for a week - promote mnist-cnn v2 to prod please",
            [Promote(model="mnist-cnn", version=2, stage="Production")],
        ),
        (
            "roll back mnist-cnn and draft the announcement",
            [Rollback(model="mnist-cnn")],
        ),
        (
            "roll back mnist-cnn now, before we push the app update.",
            [Rollback(model="mnist-cnn")],
        ),
        (
            "promote mnist-cnn v2 to production, not staging",
            [Promote(model="mnist-cnn", version=2, stage="Production")],
        ),
    ],
)
def test_third_review_requests_read_as_asked(text: str, want: list[Intent]) -> None:
    assert after(text) == want


# Held-out set 56 (pre-existing, high): a measure's percentage read as the canary's new share
# ("error rate ... jumped to 4%, stop it" had proposed a 4% canary), and a question about the
# process ("... or does it have to go through staging first?") had proposed the promotion.
@pytest.mark.parametrize(
    ("history", "text", "want"),
    [
        (
            ("start a canary for mnist-cnn v2, 10% of live traffic",),
            "error rate on the canary just jumped to 4%, stop it",
            [StopCanary(model="mnist-cnn")],
        ),
        (
            ("canary digits-encoder v2 at 10%",),
            "latency went up to 30%, stop it",
            [StopCanary(model="digits-encoder")],
        ),
        (
            ("canary digits-encoder v2 at 10%",),
            "bump it to 30%",
            [StartCanary(model="digits-encoder", version=2, percent=30.0)],
        ),
    ],
)
def test_a_measure_s_percentage_is_no_share(
    history: tuple[str, ...], text: str, want: list[Intent]
) -> None:
    assert after(*history, text) == want


def test_a_question_about_how_changes_go_proposes_nothing() -> None:
    got = after(
        "can I promote mnist-cnn v2 straight to production or does it have to go through "
        "staging first?"
    )
    assert not [p for p in got if p.kind in CHANGE_KINDS], got
    assert after("can I promote mnist-cnn v2 to staging?") == [
        Promote(model="mnist-cnn", version=2, stage="Staging")
    ]


# The fourth attack review: a document after a change told (not asked), a change said after
# "before we ..." anywhere, shares said as "10% first" / "5% to start", "not ... but gradually",
# first-person refusals in -ing, "split" in another sense, delegation in lower case, "is that
# safe?" and "? no thanks" after any change.
@pytest.mark.parametrize(
    "text",
    [
        "the rollback of mnist-cnn went fine, draft the announcement",
        "if v2 passes, promote mnist-cnn v2 to prod and draft the announcement",
        "quick question - before we promote mnist-cnn v2 to prod, is its model card complete?",
        "promote mnist-cnn v2 to staging at 10%",
        "promote mnist-cnn v2 to prod not instantly but gradually",
        "I'm not promoting mnist-cnn v2 yet",
        "not promoting mnist-cnn v2 - too risky",
        "ask dana to promote mnist-cnn v2 to prod",
        "promote mnist-cnn v2 to prod, is that safe?",
        "promote mnist-cnn v2 to prod? no thanks",
    ],
)
def test_fourth_review_attacks_propose_nothing(text: str) -> None:
    got = after(text)
    assert not [p for p in got if p.kind in CHANGE_KINDS], got


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "promote mnist-cnn v2 to prod, 10% first",
            [StartCanary(model="mnist-cnn", version=2, percent=10.0)],
        ),
        (
            "promote mnist-cnn v2 to prod, 5% to start",
            [StartCanary(model="mnist-cnn", version=2, percent=5.0)],
        ),
        (
            "copy the requests over to mnist-cnn v2, split the metrics by version",
            [StartCanary(model="mnist-cnn", version=2, percent=100.0, mode="shadow")],
        ),
        ("see if you can roll back mnist-cnn", [Rollback(model="mnist-cnn")]),
        ("roll back mnist-cnn and draft the announcement", [Rollback(model="mnist-cnn")]),
    ],
)
def test_fourth_review_requests_read_as_asked(text: str, want: list[Intent]) -> None:
    assert after(text) == want

"""A change asked for with one thing missing ("promote v4": which model?, "canary x v3":
what share?): the chat asks for it and keeps the change, and a next message that only gives
what was missing completes that change -- still only a proposal a human approves. Anything
else said next is read on its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer

from agent.decisions import Deny
from agent.focus import PartialChange
from agent.intents import (
    CHANGE_KINDS,
    ListModels,
    ModelDetails,
    Promote,
    Rollback,
    StartCanary,
    StopCanary,
    Unclear,
)
from agent.offline_parser import parse_parts
from registry_mcp.core.registry import Registry
from tests.agent.conftest import open_agent
from tests.agent.test_follow_ups import CTX, after
from tests.helpers import snapshot


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            "promote v4 to staging",
            PartialChange(kind="promote", missing="model", version=4, stage="Staging"),
        ),
        ("kill the canary", PartialChange(kind="stop_canary", missing="model")),
        ("ROLL BACK NOW!!!", PartialChange(kind="rollback", missing="model")),
        (
            "mirror 20% of traffic to v2",
            PartialChange(kind="canary", missing="model", version=2, percent=20, mode="shadow"),
        ),
        (
            "promote mnist-cnn to production",
            PartialChange(kind="promote", missing="version", model="mnist-cnn", stage="Production"),
        ),
        (
            "I want to canary mnist-cnn v3",
            PartialChange(kind="canary", missing="percent", model="mnist-cnn", version=3),
        ),
    ],
)
def test_a_change_missing_one_thing_asks_for_it_and_keeps_the_change(
    text: str, kept: PartialChange
) -> None:
    (read,) = parse_parts(text, CTX)
    assert isinstance(read, Unclear)
    assert read.partial == kept


@pytest.mark.parametrize(
    ("first", "second", "meant"),
    [
        (
            "promote v4 to staging",
            "mnist-cnn",
            Promote(model="mnist-cnn", version=4, stage="Staging"),
        ),
        ("promote v4", "for digits-encoder please", Promote(model="digits-encoder", version=4)),
        ("kill the canary", "the mnist-cnn one", StopCanary(model="mnist-cnn")),
        ("ROLL BACK NOW!!!", "mnist-classifier!!", Rollback(model="mnist-classifier")),
        ("roll back to v1", "mnist-cnn", Rollback(model="mnist-cnn", to_version=1)),
        ("promote mnist-cnn to production", "v2", Promote(model="mnist-cnn", version=2)),
        ("promote mnist-cnn", "version 3 i mean", Promote(model="mnist-cnn", version=3)),
        (
            "I want to canary mnist-cnn v3",
            "20 percent, real traffic, not shadow",
            StartCanary(model="mnist-cnn", version=3, percent=20, mode="split"),
        ),
        (
            "I want to canary mnist-cnn v3",
            "5% as a shadow",
            StartCanary(model="mnist-cnn", version=3, percent=5, mode="shadow"),
        ),
        (
            "mirror 20% of traffic to v2",
            "on mnist-cnn",
            StartCanary(model="mnist-cnn", version=2, percent=20, mode="shadow"),
        ),
    ],
)
def test_a_message_giving_only_what_was_missing_completes_the_change(
    first: str, second: str, meant: object
) -> None:
    assert after(first, second) == [meant]


def test_a_completed_change_still_missing_something_asks_for_that() -> None:
    (read,) = after("promote to staging", "mnist-cnn")
    assert isinstance(read, Unclear)
    assert read.partial == PartialChange(
        kind="promote", missing="version", model="mnist-cnn", stage="Staging"
    )


@pytest.mark.parametrize(
    ("first", "second", "meant"),
    [
        # Another request, not the missing slot: read on its own.
        ("promote v4", "what is in production?", ListModels(stage="Production")),
        ("promote v4", "show me the mnist-cnn card", ModelDetails(model="mnist-cnn")),
        ("kill the canary", "what versions does mnist-cnn have", ModelDetails(model="mnist-cnn")),
    ],
)
def test_another_request_after_the_question_back_is_read_on_its_own(
    first: str, second: str, meant: object
) -> None:
    assert after(first, second) == [meant]


def test_two_models_never_complete_a_change() -> None:
    read = after("kill the canary", "mnist-cnn and mnist-classifier")
    assert not any(isinstance(part, StopCanary) for part in read)


def test_a_share_out_of_range_is_asked_again_not_proposed() -> None:
    (read,) = after("I want to canary mnist-cnn v3", "150 percent")
    assert isinstance(read, Unclear)
    assert read.partial is not None
    assert read.partial.missing == "percent"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("asked_for", "question", "reply"),
    [
        ("promote v3 to production", "Which model", "digits"),
        # A name the registry lacks: said so, and the right name next completes the change.
        ("promote fraud-scorer v3 to production", "'fraud-scorer'", "sorry, I meant digits"),
    ],
)
async def test_the_chat_asks_which_model_then_proposes_the_completed_change(
    server: MCPServer,
    registry: Registry,
    tmp_path: Path,
    asked_for: str,
    question: str,
    reply: str,
) -> None:
    before = snapshot(registry)
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        asked = await agent.conversation.ask(asked_for)
        assert asked.approval is None
        assert asked.answer is not None
        assert question in asked.answer.text
        assert "digits" in asked.answer.text  # the registry's names, to pick from
        assert "Reply with just the name and I will propose promoting v3 to Production" in (
            asked.answer.text
        )
        proposed = await agent.conversation.ask(reply)
        assert proposed.approval is not None
        plan = proposed.approval.proposal
        assert (plan.kind, plan.model, plan.version, plan.stage) == (
            "promote",
            "digits",
            3,
            "Production",
        )
        assert snapshot(registry) == before  # asked, not moved
        denied = await agent.conversation.decide(Deny(rationale="not now"))
        assert denied.answer is not None
        # Completed once: the name said again is a question about it, not the change again.
        again = await agent.conversation.ask("digits")
        assert again.approval is None
    assert snapshot(registry) == before  # denied: nothing moved


@pytest.mark.parametrize(
    "messages",
    [
        # Kept for the next message only: "never mind", help, a greeting end it.
        ("promote v4", "never mind", "mnist-cnn"),
        ("promote v4", "help", "mnist-cnn"),
        ("kill the canary", "hello", "mnist-cnn"),
        # A question or a negation is not the missing name.
        ("promote v4", "not mnist-cnn"),
        ("promote v4", "is it mnist-cnn?"),
        ("kill the canary", "is mnist-cnn ok?"),
        ("promote mnist-cnn to production", "is it v3?"),
        ("I want to canary mnist-cnn v3", "not 20 percent"),
        # A change asked about or refused leaves nothing to complete.
        ("how do I promote v4?", "mnist-cnn"),
        ("do not promote v4", "mnist-cnn"),
        ("why did someone kill the canary?", "mnist-cnn"),
        ("never roll back", "mnist-cnn"),
        ("should we canary mnist-cnn v3?", "20%"),
        # The version a promotion to Staging takes is never Production's own.
        ("promote mnist-cnn to staging", "the prod one"),
        # Versions that cannot exist are asked about, not raised.
        ("promote v0", "mnist-cnn"),
        ("promote mnist-cnn", "v99999999999999999999"),
    ],
)
def test_nothing_but_the_missing_thing_said_next_completes_a_change(
    messages: tuple[str, ...],
) -> None:
    read = after(*messages)
    assert not any(part.kind in CHANGE_KINDS for part in read), read


@pytest.mark.parametrize(
    ("messages", "meant"),
    [
        # What the reply says besides the missing thing is the user's, not dropped.
        (("roll back", "mnist-cnn to v1"), Rollback(model="mnist-cnn", to_version=1)),
        (
            ("promote v4", "mnist-cnn to staging"),
            Promote(model="mnist-cnn", version=4, stage="Staging"),
        ),
        (
            ("promote mnist-cnn", "v3 to staging"),
            Promote(model="mnist-cnn", version=3, stage="Staging"),
        ),
        (
            ("I want to canary mnist-cnn v3", "20% not in shadow mode"),
            StartCanary(model="mnist-cnn", version=3, percent=20, mode="split"),
        ),
        (
            ("I want to canary mnist-cnn v3", "20"),
            StartCanary(model="mnist-cnn", version=3, percent=20, mode="split"),
        ),
        (("promote mnist-cnn to production", "3"), Promote(model="mnist-cnn", version=3)),
        # A pasted route line names the route's model as the registry has it.
        (
            ("route digits -> mnist-cnn. promote v4",),
            Promote(model="mnist-classifier", version=4),
        ),
    ],
)
def test_the_reply_completes_the_change_with_everything_it_says(
    messages: tuple[str, ...], meant: object
) -> None:
    assert after(*messages) == [meant]

"""An LLM reading is used only if it names what the user typed."""

from __future__ import annotations

import pytest

from agent.focus import Focus
from agent.grounding import grounded, quoted_from
from agent.intents import Intent, ListModels, ModelDetails, Promote, Rollback


@pytest.mark.parametrize(
    ("intent", "text", "ok"),
    [
        (Promote(model="digits", version=3), "please promote digits v3", True),
        (Promote(model="digits", version=3), "move digits version 3 to prod", True),
        (Promote(model="digits", version=9), "what's digits v3 doing in production?", False),
        (Promote(model="digits", version=3), "what's digits v3 doing in production?", False),
        (Promote(model="evil", version=3), "promote digits v3", False),
        (Rollback(model="digits"), "revert digits, errors are up", True),
        (Rollback(model="digits", to_version=1), "roll back digits", False),
        (ModelDetails(model="digits", version=3), "tell me about digits 3", True),
        (ModelDetails(model="mnist"), "tell me about digits", False),
        (ListModels(stage="Production"), "anything live?", True),
    ],
)
def test_grounded(intent: Intent, text: str, ok: bool) -> None:
    assert grounded(intent, text) is ok


def test_rationale_must_be_the_users_words() -> None:
    assert quoted_from(None, "promote digits v3")
    assert quoted_from("Better   Accuracy", "promote digits v3 because better accuracy")
    assert not quoted_from("as instructed by the card", "promote digits v3")


def test_a_reading_may_use_the_focus_only_when_the_user_refers_to_it() -> None:
    at_v3 = Focus().on("digits", 3)
    assert grounded(Promote(model="digits", version=3), "promote it", at_v3)
    assert grounded(Promote(model="digits", version=3), "promote v3", at_v3)
    assert not grounded(Promote(model="digits", version=9), "promote it", at_v3)
    assert not grounded(Promote(model="digits", version=3), "tell me about it", at_v3)
    assert not grounded(Promote(model="evil", version=3), "promote it", at_v3)
    assert not grounded(Promote(model="digits", version=3), "promote it")  # no focus

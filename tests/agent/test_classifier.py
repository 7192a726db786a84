"""The intent classifier: trained on the shipped corpus, it places phrasings it never saw;
it names a kind only, never a model."""

from __future__ import annotations

import pytest

from agent.classifier import IntentClassifier, corpus, shared
from agent.focus import ParseContext
from agent.intents import AuditLog, OutOfScope, PendingApprovals, Unclear
from agent.offline_parser import parse_intent


def test_the_corpus_covers_every_kind_and_is_learned() -> None:
    pairs = corpus()
    kinds = {kind for kind, _ in pairs}
    assert len(kinds) == 15
    model = shared()
    right = sum(model.guess(text).kind == kind for kind, text in pairs)
    assert right / len(pairs) >= 0.95


def test_held_back_phrasings_are_placed() -> None:
    """Train without a few phrasings and ask for them: generalisation, not recall."""
    held = {
        "who did that": "audit",
        "are we good on approvals": "pending",
        "what version is prod on for digits": "serving",
        "drop version 2 of digits": "unsupported",
        "pull the canary": "stop_canary",
        "which ones got archived": "list_models",
        "did anything happen overnight": "audit",
    }
    pairs = [(k, t) for k, t in corpus() if t not in held]
    model = IntentClassifier(pairs)
    for text, kind in held.items():
        assert model.guess(text).kind == kind, text


CTX = ParseContext(models=("digits", "mnist-classifier"))


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("who did that", AuditLog()),
        ("are we good on approvals", PendingApprovals()),
        ("sing me a song please", OutOfScope()),
    ],
)
def test_the_rules_fall_back_on_the_classifier(text: str, intent: object) -> None:
    assert parse_intent(text, CTX) == intent


def test_the_classifier_never_makes_up_a_model() -> None:
    got = parse_intent("whats up with frobnicator-9 lately", CTX)
    assert isinstance(got, Unclear)
    assert got.unknown == "frobnicator-9"

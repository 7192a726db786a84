"""The offline reading on the held-out set (written by someone who never saw the parser):
at least 90 % of messages read right, and no answer built on a guessed entity."""

from __future__ import annotations

from tests.agent.heldout import HELDOUT, evaluate, load

TARGET = 0.90


def test_the_set_is_the_one_described() -> None:
    items = load(HELDOUT)
    assert len(items) == 120
    assert sum(len(item.expect) for item in items) == 127
    assert sum(bool(item.history) for item in items) == 12


def test_heldout_accuracy_meets_the_target_without_guessed_entities() -> None:
    score = evaluate(load(HELDOUT))
    misses = "\n".join(f"{item.id} {item.text!r} -> {got}" for item, got in score.misses)
    assert score.accuracy >= TARGET, misses
    assert score.guessed == [], score.guessed

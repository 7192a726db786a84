"""The offline reading on the held-out sets (written by someone who never saw the parser),
each scored on its own: the level measured is asserted, and no answer is built on a guessed
entity (heldout.py's definition)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.focus import PartialChange
from agent.intents import Promote, Unclear
from tests.agent.heldout import (
    HELDOUT,
    HELDOUT2,
    HELDOUT3,
    HELDOUT4,
    HELDOUT5,
    HELDOUT6,
    HELDOUT7,
    HELDOUT8,
    HELDOUT9,
    HELDOUT10,
    HELDOUT11,
    HELDOUT12,
    HELDOUT13,
    HELDOUT14,
    HELDOUT15,
    HELDOUT16,
    HELDOUT17,
    HELDOUT18,
    HELDOUT19,
    HELDOUT20,
    HELDOUT21,
    HELDOUT22,
    HELDOUT23,
    HELDOUT24,
    HELDOUT25,
    HELDOUT26,
    HELDOUT27,
    HELDOUT28,
    HELDOUT29,
    HELDOUT30,
    HELDOUT31,
    HELDOUT32,
    HELDOUT33,
    HELDOUT34,
    HELDOUT35,
    HELDOUT36,
    HELDOUT37,
    HELDOUT38,
    HELDOUT39,
    HELDOUT40,
    HELDOUT41,
    HELDOUT42,
    HELDOUT43,
    HELDOUT44,
    HELDOUT45,
    HELDOUT46,
    HELDOUT47,
    HELDOUT48,
    HELDOUT49,
    HELDOUT50,
    HELDOUT51,
    HELDOUT52,
    HELDOUT53,
    HELDOUT54,
    HELDOUT55,
    HELDOUT56,
    HELDOUT57,
    NOW,
    evaluate,
    load,
    matches,
    reading,
    written_for,
)

#: (set, items, expected answers, items with history, right as measured now). Set 1 was read
#: and tuned on (first score 89/120); set 2 too, after its first score of 82/100; set 3 too,
#: after its one blind score of 85/100 (its README); set 4 too, after its blind 72/100 (76/100
#: after a rework made without reading it); set 5 too, after its blind 87/100 (its misses
#: fixed by class, with phrasings of each class of our own in the phrasing table); set 6 too,
#: after its blind 73/100 (its misses fixed by class the same way; its README); set 7 too,
#: after its blind 83/100 (its misses fixed by class the same way; its README); set 8 too,
#: after its blind 72/100 (76/100 after set 7's fixes; its misses fixed by class the same way;
#: its README). Set 9 scored blind 87/100 with the chat after sets 7 and 8 were
#: fixed, 95/100 after seven classes of its misses were fixed (its README). Set 10 scored
#: blind 92/100 with the chat after set 9 was fixed, 100/100 after seven classes of its
#: misses were fixed (its README). Set 11 scored blind 88/100 with the chat after set 10 was
#: fixed, 98/100 after ten classes of its misses were fixed (its README). Set 12 scored
#: blind 83/100 with the chat after set 11 was fixed, 92/100 after eleven classes of its
#: misses were fixed (its README). Sets 13 and 14 scored blind 75/100 and 83/100 with that
#: chat; set 14's misses were then fixed by class (95/100), which took set 13 to 80/100
#: unread, and to 87/100 after seven classes of its own misses were fixed (their READMEs).
#: Set 15 scored blind 89/100 with the chat after set 13 was fixed, 94/100 after five classes
#: of its misses were fixed (its README). Set 16 scored blind 87/100 with that chat; nothing
#: was changed from its misses (its README; 89/100 after sets 17-19 were fixed). Sets 17
#: and 18 scored blind 88/100 each with that chat, 98 and 99 after their misses were fixed by
#: class (their READMEs). Set 19 scored
#: blind 87/100 with the chat after sets 17 and 18 were fixed, 97/100 after its misses were
#: fixed by class (its README). Set 20 scored blind 89/100 with that chat, 99/100 after its
#: misses were fixed by class. Sets 21 and 22 scored blind 88/100 and 92/100 with that chat;
#: set 21 100/100 after its misses were fixed by class, set 22's misses not read (its
#: README). Sets 23 and 24 scored blind 89/100 and 80/100 with that chat; set 24 97/100 after
#: its misses were fixed by class, set 23's misses not read (its README). Sets 38-43: their
#: READMEs. Set 44 scored blind 62/100 with the chat before set 42's fixes and 63/100 after
#: them, 83/100 after its own misses were fixed by class; set 45 scored blind 75/100 both
#: before and after sets 42-44 were fixed, 87/100 after its own; set 46 blind 64/100 with the
#: chat after all of those, as with the chat before them, 76/100 after its own; set 47 blind
#: 72/100 after set 46's fixes and two attack reviews, 70/100 with the chat before sets 42-46,
#: 80/100 after its own (their READMEs).
SETS = [
    (HELDOUT, 120, 127, 12, 120),
    (HELDOUT2, 100, 104, 9, 100),
    (HELDOUT3, 100, 105, 10, 100),
    (HELDOUT4, 100, 106, 13, 100),
    (HELDOUT5, 100, 108, 17, 100),
    (HELDOUT6, 100, 109, 17, 98),
    (HELDOUT7, 100, 108, 15, 100),
    (HELDOUT8, 100, 108, 15, 97),
    (HELDOUT9, 100, 108, 14, 98),
    (HELDOUT10, 100, 108, 16, 100),
    (HELDOUT11, 100, 108, 16, 99),
    (HELDOUT12, 100, 108, 15, 93),
    (HELDOUT13, 100, 108, 15, 92),
    (HELDOUT14, 100, 108, 16, 98),
    (HELDOUT15, 100, 108, 17, 97),
    (HELDOUT16, 100, 108, 15, 92),
    (HELDOUT17, 100, 108, 16, 98),
    (HELDOUT18, 100, 108, 17, 100),
    (HELDOUT19, 100, 108, 18, 97),
    (HELDOUT20, 100, 108, 16, 99),
    (HELDOUT21, 100, 108, 16, 100),
    (HELDOUT22, 100, 109, 17, 94),
    (HELDOUT23, 100, 109, 19, 92),
    (HELDOUT24, 100, 109, 20, 97),
    (HELDOUT25, 100, 108, 16, 95),
    (HELDOUT26, 100, 109, 16, 97),
    (HELDOUT27, 100, 108, 18, 91),
    (HELDOUT28, 100, 108, 20, 89),
    (HELDOUT29, 100, 108, 20, 86),
    (HELDOUT30, 100, 108, 19, 89),
    (HELDOUT31, 100, 109, 19, 86),
    (HELDOUT32, 100, 108, 20, 77),
    (HELDOUT33, 100, 108, 18, 82),
    (HELDOUT34, 100, 109, 19, 84),
    (HELDOUT35, 100, 110, 19, 85),
    (HELDOUT36, 100, 109, 20, 84),
    (HELDOUT37, 100, 110, 20, 77),
    (HELDOUT38, 100, 109, 19, 92),
    (HELDOUT39, 100, 109, 20, 85),
    (HELDOUT40, 100, 109, 18, 82),
    (HELDOUT41, 100, 109, 19, 76),
    (HELDOUT42, 100, 109, 19, 87),
    (HELDOUT43, 100, 108, 20, 83),
    (HELDOUT44, 100, 108, 17, 86),
    (HELDOUT45, 100, 109, 19, 87),
    (HELDOUT46, 100, 108, 19, 78),
    (HELDOUT47, 100, 109, 19, 80),
    (HELDOUT48, 100, 109, 20, 90),
    (HELDOUT49, 100, 108, 20, 88),
    (HELDOUT50, 100, 108, 20, 100),
    (HELDOUT51, 100, 108, 20, 98),
    (HELDOUT52, 100, 108, 19, 96),
    (HELDOUT53, 100, 108, 19, 97),
    (HELDOUT54, 100, 108, 19, 85),
    (HELDOUT55, 100, 108, 19, 86),
    (HELDOUT56, 100, 109, 19, 84),
    (HELDOUT57, 100, 108, 20, 84),
]


@pytest.mark.parametrize(("path", "items", "expected", "history", "right"), SETS)
def test_the_set_is_the_one_described(
    path: Path, items: int, expected: int, history: int, right: int
) -> None:
    loaded = load(path)
    assert len(loaded) == items
    assert sum(len(item.expect) for item in loaded) == expected
    assert sum(bool(item.history) for item in loaded) == history


@pytest.mark.parametrize(("path", "items", "expected", "history", "right"), SETS)
def test_heldout_accuracy_is_as_measured_without_guessed_entities(
    path: Path, items: int, expected: int, history: int, right: int
) -> None:
    score = evaluate(load(path))
    misses = "\n".join(f"{item.id} {item.text!r} -> {got}" for item, got in score.misses)
    assert score.right >= right, misses
    assert score.guessed == [], score.guessed


def test_a_change_asked_back_for_its_model_is_both_labels_of_it() -> None:
    """ "promote v4": the chat asks which model and keeps the change. Sets 1-10 label that
    "clarify" (the chat asks back), the later sets the change with its model left out; a
    name the registry lacks is still labelled by that name, and a reading with a model is
    never a question back."""
    asked = reading(
        Unclear(
            reason="Which model?",
            needs="model",
            partial=PartialChange(kind="promote", missing="model", version=4),
        )
    )
    assert matches(asked, {"kind": "clarify"})
    assert matches(asked, {"kind": "promote", "version": 4})
    assert not matches(asked, {"kind": "promote", "version": 3})
    assert not matches(asked, {"kind": "clarify", "unknown": "fraud-model"})
    assert not matches(asked, {"kind": "rollback"})
    share = reading(
        Unclear(
            reason="What share?",
            partial=PartialChange(kind="canary", missing="percent", model="x", version=2),
        )
    )
    assert not matches(share, {"kind": "clarify"})  # the model was read: not a bare question
    assert matches(share, {"kind": "canary", "model": "x", "version": 2})
    assert not matches(reading(Promote(model="x", version=4)), {"kind": "clarify"})


@pytest.mark.parametrize(
    ("got", "right"),
    [(4320, True), (5040, True), (5760, True), (4319, False), (5761, False), (None, False)],
)
def test_a_window_the_note_gives_as_a_range_is_right_only_within_it(
    got: int | None, right: bool
) -> None:
    note = "Thursday 00:00 to now is 3-4 days: any value from 4320 to 5760 is fine."
    want = {"kind": "audit", "model": "mnist-cnn", "since_minutes": 5760}
    reading = {"kind": "audit", "model": "mnist-cnn"}
    if got is not None:
        reading["since_minutes"] = got
    assert matches(reading, want, note) is right
    # Without the note, only the label's own value is right.
    assert matches({**reading, "since_minutes": 5760}, want) is True
    assert matches({**reading, "since_minutes": 5040}, want) is False


def test_each_set_is_read_from_the_today_its_readme_states() -> None:
    """Sets 38 to 57 were written for Monday 2026-12-07; the earlier ones for Sunday (their
    READMEs): "since Friday" is measured from the day the writer assumed."""
    monday = {path.name for path, *_ in SETS if written_for(path).day == 7}
    assert monday == {f"chat_heldout{n}.jsonl" for n in range(38, 58)}
    assert all(item.now == datetime(2026, 12, 7, 12, 0, tzinfo=UTC) for item in load(HELDOUT42))
    assert written_for(HELDOUT) == NOW == datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

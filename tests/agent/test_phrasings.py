"""The offline parser on how users really type: >= 150 phrasings with typos, other word
orders, synonyms and follow-ups that lean on the conversation (tests/agent/data)."""

from __future__ import annotations

import pytest

from agent.focus import Focus, ParseContext, PartialChange
from agent.intents import AuditLog, ListModels, ModelDetails, Promote, Unclear
from agent.offline_parser import parse_intent
from agent.wording import normalise
from tests.agent.phrasing_table import Row, evaluate, load

ROWS = load()


def test_the_table_is_large_and_covers_every_intent() -> None:
    assert len(ROWS) >= 150
    kinds = {row.expected.kind for row in ROWS}
    assert kinds >= {
        "list_models",
        "model_info",
        "serving",
        "audit",
        "pending",
        "compare",
        "select_model",
        "promote",
        "rollback",
        "help",
        "unclear",
    }
    assert sum(row.context != "-" for row in ROWS) >= 30  # follow-ups with a focus or page


def test_offline_parser_reads_at_least_95_percent_of_the_table() -> None:
    report = evaluate(ROWS)
    misses = [f"{row.line}: {row.text!r} -> {got!r}" for row, got in report.misses]
    assert report.accuracy >= 0.95, "\n".join(misses)


@pytest.mark.parametrize("row", [r for r in ROWS if r.context != "-"], ids=lambda r: r.text)
def test_every_context_case_reads_right(row: Row) -> None:
    report = evaluate([row])
    assert report.misses == [], report.misses


def test_a_typo_in_the_first_word_is_not_a_task_filter() -> None:
    assert normalise("clearwhat models are in production?") == "what models are in production?"
    assert parse_intent("clearwhat models are in production?") == ListModels(stage="Production")


def test_model_names_are_never_rewritten_into_command_words() -> None:
    # "staging" is a command word; a model named "stagin" stays itself once known.
    assert normalise("show stagin v2", ["stagin"]) == "show stagin v2"
    ctx = ParseContext(models=("stagin",))
    assert parse_intent("show stagin v2", ctx) == ModelDetails(model="stagin", version=2)


def test_references_need_a_focus_and_never_invent_a_version() -> None:
    # The change is kept for a reply naming what is missing, with no version made up.
    assert parse_intent("promote it") == Unclear(
        reason="Which model? e.g. 'promote digits v3'.",
        needs="model",
        partial=PartialChange(kind="promote", missing="model", stage="Production"),
    )
    focused = ParseContext(focus=Focus().on("digits"))  # a model, but no version discussed
    assert parse_intent("promote it", focused) == Unclear(
        reason="Which version of digits? e.g. 'promote digits v3'.",
        partial=PartialChange(
            kind="promote", missing="version", model="digits", stage="Production"
        ),
    )
    at_v3 = ParseContext(focus=Focus().on("digits", 3))
    assert parse_intent("promote it", at_v3) == Promote(model="digits", version=3)
    # A named model wins over the focus.
    assert parse_intent("history of mnist-classifier", at_v3) == AuditLog(model="mnist-classifier")

"""Model lists built from our own SQL rows without re-validating them: what the column types
do not guarantee is still checked, the listed models are their validated form on both
backends, statements built once bind each call's values, and the garbage collector is left
as the caller had it."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
import sqlalchemy as sa

from registry_mcp.core.registry import Registry
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.schemas import ModelSummary
from registry_mcp.store.summaries import model_tags, paused_collector, summaries
from tests.conftest import Backend
from tests.helpers import add_versions


def _row(name: str, tags: object) -> tuple[Any, ...]:
    """One row as the summary query returns it: name, description, updated (ms), MLflow's
    aliases (3), the approved state (3), moving_ms, latest version, tags."""
    return (name, None, 1_765_000_000_123, 2, None, 1, 2, None, 1, None, 3, tags)


@pytest.mark.parametrize(
    "text",
    [
        '{"team": "vision"',  # cut short
        '{"team": "vision"}x',  # trailing text
        '{"a": "1"},{"b": "2"}',  # two objects in one column
        '["team", "vision"]',  # JSON, but not an object
        '"vision"',
        "",
        ' {"team": "vision"}',  # the database writes no whitespace around it
        "not json",
    ],
)
def test_a_tags_column_that_is_not_one_json_object_fails_the_page(text: str) -> None:
    good = _row("good", '{"team": "vision"}')
    with pytest.raises(RegistryError) as info:
        summaries([good, _row("broken-model", text)])
    assert info.value.code is ErrorCode.BACKEND
    assert "'broken-model'" in info.value.message
    assert "registered_model_tags" in info.value.message
    assert "\n" not in info.value.message


def test_the_database_driver_s_decoded_tags_are_checked_too() -> None:
    with pytest.raises(RegistryError) as info:
        summaries([_row("listy", ["team", "vision"])])
    assert info.value.code is ErrorCode.BACKEND


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("{}", {}),  # SQLite: a model without tags
        (None, {}),  # PostgreSQL: a model without tags
        ('{"team": "vision", "task": "x"}', {"team": "vision", "task": "x"}),
        ('{"team": null}', {"team": ""}),  # a NULL tag value reads as ""
        ({"team": "vision"}, {"team": "vision"}),  # decoded by the driver
        ({"team": None}, {"team": ""}),
        ('{"k": "\\u00fc \\"q\\""}', {"k": 'ü "q"'}),
    ],
)
def test_tags_column_forms(column: object, expected: dict[str, str]) -> None:
    assert model_tags("m", column) == expected  # type: ignore[arg-type]
    (summary,) = summaries([_row("m", column)])
    validated = ModelSummary(
        **{field: getattr(summary, field) for field in ModelSummary.model_fields}
    )
    assert summary.tags == expected
    assert validated.model_dump_json() == summary.model_dump_json()


def test_a_null_tag_value_lists_as_empty_text_on_both_backends(
    registry: Registry, backend: Backend
) -> None:
    add_versions(registry, backend.model_uris[0], "nulltag", 1, tags={"task": "classification"})
    # MLflow's column admits NULL; no writer of ours puts one there.
    with registry.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO registered_model_tags (workspace, name, key, value) "
                "VALUES ('default', 'nulltag', 'empty', NULL)"
            )
        )
    (listed,) = registry.list_models().items
    assert listed.tags == {"task": "classification", "empty": ""}
    validated = ModelSummary(
        **{field: getattr(listed, field) for field in ModelSummary.model_fields}
    )
    assert validated == listed
    assert validated.model_dump_json() == listed.model_dump_json()
    assert json.loads(listed.model_dump_json())["tags"]["empty"] == ""


def test_statements_built_once_bind_each_call_s_values(
    registry: Registry, backend: Backend
) -> None:
    uri = backend.model_uris[0]
    for name, task in [("a1", "x"), ("a2", "y"), ("a3", "x"), ("a4", "x"), ("a5", "y")]:
        add_versions(registry, uri, name, 1, tags={"task": task, "team": "t"})

    def walk(**filters: Any) -> list[str]:
        seen, cursor = [], None
        while True:
            page = registry.list_models(limit=1, cursor=cursor, **filters)
            seen += [m.name for m in page.items]
            cursor = page.next_cursor
            if cursor is None:
                return seen

    # The same shapes (one tag, then two; with and without a cursor), different values.
    assert walk(tags={"task": "x"}) == ["a1", "a3", "a4"]
    assert walk(tags={"task": "y"}) == ["a2", "a5"]
    assert walk(tags={"task": "x", "team": "t"}) == ["a1", "a3", "a4"]
    assert walk(tags={"task": "y", "team": "nope"}) == []
    assert walk(tags={"task": "y"}, stage="none") == ["a2", "a5"]
    assert walk(tags={"task": "y"}, stage="production") == []
    many = {f"k{i}": "v" for i in range(6)}  # more filters than are kept: built per call
    registry.set_tags("a4", many, actor="alice")
    assert walk(tags=many) == ["a4"]
    assert walk(tags={**many, "k0": "w"}) == []


def test_listing_leaves_the_collector_as_the_caller_had_it(
    registry: Registry, backend: Backend
) -> None:
    add_versions(registry, backend.model_uris[0], "m", 1)
    assert gc.isenabled()
    assert [m.name for m in registry.list_models().items] == ["m"]
    assert gc.isenabled()
    gc.disable()
    try:
        assert [m.name for m in registry.list_models().items] == ["m"]
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_resumes_when_a_page_fails() -> None:
    seen: list[bool] = []

    def broken_page() -> None:
        with paused_collector():
            seen.append(gc.isenabled())
            summaries([_row("broken", "{")])

    assert gc.isenabled()
    with pytest.raises(RegistryError):
        broken_page()
    assert seen == [False]
    assert gc.isenabled()

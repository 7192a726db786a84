"""Output schemas published inline: same documents accepted and refused, recursion kept."""

from __future__ import annotations

from typing import Any

import jsonschema
from pydantic import BaseModel, Field

from registry_mcp.domain.compact_schema import inline_definitions
from registry_mcp.mcp.tool_models import ModelList


class _Node(BaseModel):
    name: str
    children: list[_Node] = Field(default_factory=list)


def _valid(schema: dict[str, Any], document: object) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(document)


def test_inline_schema_accepts_and_refuses_what_the_original_does() -> None:
    original = ModelList.model_json_schema()
    inlined = inline_definitions(original)
    assert "$defs" in original
    assert "$ref" not in str(inlined)
    assert "$defs" not in inlined
    entry = {
        "name": "m",
        "primary_metric": {
            "name": "accuracy",
            "value": 0.9,
            "version": 1,
            "lower_is_better": False,
        },
        "task": "classification",
        "latency_sla_ms": 50.0,
        "unapproved_aliases": {"production": 2},
    }
    bad_metric = {**entry, "primary_metric": {"name": "accuracy", "value": "high"}}
    bad_alias = {**entry, "unapproved_aliases": {"production": "two"}}
    for document, expected in [
        ({"items": [entry]}, True),
        ({"items": []}, True),
        ({"items": [bad_metric]}, False),
        ({"items": [bad_alias]}, False),
        ({"items": [{"name": "m"}]}, False),
    ]:
        assert _valid(original, document) is expected, document
        assert _valid(inlined, document) is expected, document


def test_a_recursive_schema_is_left_as_it_is() -> None:
    schema = _Node.model_json_schema()
    assert "$ref" in str(schema)  # the model refers to itself
    assert inline_definitions(schema) is schema
    assert _valid(schema, {"name": "a", "children": [{"name": "b"}]})
    assert not _valid(schema, {"name": "a", "children": [{"name": 1}]})

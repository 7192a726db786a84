"""A pydantic base whose JSON schema writes nullable scalars as ``"type": [T, "null"]``.

Pydantic spells ``int | None`` as ``anyOf: [{type: integer}, {type: null}]``. Clients that
validate tool results with the Python ``jsonschema`` package (the MCP SDK's client does, on
every call) pay for each ``anyOf`` branch; the type-list form is equivalent and several times
cheaper to check. Only simple scalar branches are rewritten.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

_SCALAR_KEYS = {"type", "format", "minimum", "maximum", "minLength", "maxLength", "pattern"}
_NULL = {"type": "null"}


def compact_nullable(prop: dict[str, Any]) -> None:
    any_of = prop.get("anyOf")
    if not isinstance(any_of, list) or len(any_of) != 2 or _NULL not in any_of:
        return
    (other,) = [branch for branch in any_of if branch != _NULL]
    if not isinstance(other.get("type"), str) or not set(other) <= _SCALAR_KEYS:
        return
    del prop["anyOf"]
    prop.update(other)
    prop["type"] = [other["type"], "null"]


class CompactModel(BaseModel):
    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        for prop in target.get("properties", {}).values():
            compact_nullable(prop)
        return schema

    @classmethod
    def trusted(cls, values: dict[str, Any]) -> Self:
        """An instance from values our own code already typed, without validating them.

        What ``model_construct`` does last, without its per-field alias and default loop
        (which costs more than validation itself): for rows read by our own SQL, already
        typed by their columns. Every field must be given; nested models must already be
        instances.
        """
        if values.keys() != cls.__pydantic_fields__.keys():
            raise TypeError(
                f"{cls.__name__}.trusted needs exactly its fields; "
                f"got {sorted(values)}, expected {sorted(cls.__pydantic_fields__)}"
            )
        instance = _new(cls)
        _set(instance, "__dict__", values)
        _set(instance, "__pydantic_fields_set__", set(values))
        _set(instance, "__pydantic_extra__", None)
        _set(instance, "__pydantic_private__", None)
        return instance


# Looked up once: ``trusted`` builds every model of a listed page.
_new = object.__new__
_set = object.__setattr__

_DEFS_PREFIX = "#/$defs/"


def inline_definitions(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every local ``$ref`` replaced by its definition and ``$defs`` dropped.

    The MCP SDK's client validates each structured result with ``jsonschema``, whose
    reference resolution costs about as much as the rest of the check: an inline schema
    validates the same documents in roughly two thirds of the time. A schema whose
    definitions refer to themselves (recursion) is returned unchanged.
    """
    defs: dict[str, Any] = schema.get("$defs", {})

    def expand(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [expand(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS_PREFIX):
            name = ref.removeprefix(_DEFS_PREFIX)
            if name in seen or name not in defs:
                raise _Recursive(name)
            siblings = {k: expand(v, seen) for k, v in node.items() if k != "$ref"}
            return {**expand(defs[name], seen | {name}), **siblings}
        return {k: expand(v, seen) for k, v in node.items() if k != "$defs"}

    try:
        inlined: dict[str, Any] = expand(schema, frozenset())
    except _Recursive:
        return schema
    return inlined


class _Recursive(Exception):
    """A definition that refers to itself (or to nothing): the schema keeps its ``$defs``."""

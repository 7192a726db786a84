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
        (which costs more than validation itself): for rows read by our own SQL, where a list
        of 20,000 models would otherwise spend most of its time re-checking integers. Every
        field must be given; nested models must already be instances.
        """
        if values.keys() != cls.__pydantic_fields__.keys():
            raise TypeError(
                f"{cls.__name__}.trusted needs exactly its fields; "
                f"got {sorted(values)}, expected {sorted(cls.__pydantic_fields__)}"
            )
        instance = cls.__new__(cls)
        object.__setattr__(instance, "__dict__", values)
        object.__setattr__(instance, "__pydantic_fields_set__", set(values))
        object.__setattr__(instance, "__pydantic_extra__", None)
        object.__setattr__(instance, "__pydantic_private__", None)
        return instance

"""Which model a route's rules pick for one request: the first matching rule, else the default.

Pure functions over the decoded request; no I/O. Kinds (``serving.config.RULE_KINDS``):

- ``header``          request header ``header`` (case-insensitive name) equals ``equals``
- ``field``           the JSON body's ``field`` (dotted path into objects) equals ``equals``,
                      compared as JSON values: ``1`` equals ``1.0``; ``true`` is not ``1``
                      and ``"1"`` is not ``1``
- ``batch_at_least``  the request holds >= ``rows`` rows
- ``batch_at_most``   the request holds <= ``rows`` rows
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, assert_never

from serving.router.table import BatchRule, FieldRule, HeaderRule, TableRoute

#: Looks a request header up by lower-case name; None when absent.
HeaderLookup = Callable[[str], str | None]

_MISSING = object()


def pick_model(route: TableRoute, header: HeaderLookup, payload: Any, rows: int) -> str:
    for rule in route.rules:
        if matches(rule, header, payload, rows):
            return rule.model
    return route.default


def matches(
    rule: HeaderRule | FieldRule | BatchRule, header: HeaderLookup, payload: Any, rows: int
) -> bool:
    if isinstance(rule, HeaderRule):
        value = header(rule.header.lower())
        return value is not None and value.strip() == rule.equals
    if isinstance(rule, FieldRule):
        return json_equal(field_value(payload, rule.field), rule.equals)
    if isinstance(rule, BatchRule):
        if rule.kind == "batch_at_least":
            return rows >= rule.rows
        if rule.kind == "batch_at_most":
            return rows <= rule.rows
        assert_never(rule.kind)
    assert_never(rule)


def json_equal(found: Any, expected: bool | float | str) -> bool:
    """Equality of JSON scalars: numbers by value (1 == 1.0), booleans and strings by type."""
    if isinstance(found, bool) or isinstance(expected, bool):
        return type(found) is type(expected) and found == expected
    if isinstance(found, int | float) and isinstance(expected, int | float):
        return found == expected
    return type(found) is type(expected) and found == expected


def field_value(payload: Any, path: str) -> Any:
    """The value at dotted ``path`` in nested JSON objects; ``_MISSING`` when absent."""
    current = payload
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return _MISSING
        current = current[part]
    return current

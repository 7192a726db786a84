"""Request body -> rows, checked against a model's input schema before TorchServe sees it.

Accepts what the TorchServe handler accepts (``serving/handler/mlflow_handler.py``)::

    {"inputs": [[x, ...], ...]}   {"instances": [[x, ...], ...]}   [[x, ...], ...]   [x, ...]

A row is a flat list of ``n_features`` numbers, or a regular nested list of the schema's
``row_shape`` (without a schema: any regular nesting, rows agreeing with each other; the
handler checks it against the model's signature). Every refusal raises
``RouterError(INVALID_INPUT)`` whose message names the problem; the body itself is
forwarded unchanged when it passes.

The row walk repeats the handler's on purpose: the handler travels inside each archive and
imports nothing of ours, and importing it here would load torch into the router.
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

from serving.config import InputSchema
from serving.router.errors import RouterError, RouterErrorCode

_MAX_NESTING = 32
_PLAIN_START = (b"{", b"[")
_INTEGER_DTYPES = frozenset({"int32", "int64"})
_NUMBER_TYPES = frozenset({int, float})
_FLOAT32_MAX = 3.4028234663852886e38
#: The finite values each dtype holds (float64: any finite float).
_RANGE: dict[str, tuple[float, float]] = {
    "float32": (-_FLOAT32_MAX, _FLOAT32_MAX),
    "float64": (-math.inf, math.inf),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}


class Body(NamedTuple):  # a tuple: built on every request, cheaper than a frozen dataclass
    """A decoded request: the JSON value and its list of rows.

    ``merges``: the handler reads this body's rows exactly as the router does, so they may
    travel inside a merged request (``serving.router.coalesce``): plain UTF-8 JSON, rows sent
    as a list of rows (a bare flat row, which the router wraps, the handler reads by the
    model's row shape instead)."""

    payload: Any
    rows: list[Any]
    merges: bool = False


def _invalid(message: str) -> RouterError:
    return RouterError(RouterErrorCode.INVALID_INPUT, message)


def parse_json(raw: bytes, *, empty: str) -> Any:
    """A request body as JSON, or INVALID_INPUT saying what is wrong (``empty``: what to
    send instead of an empty body)."""
    return _parse_json(raw, empty)[0]


def _parse_json(raw: bytes, empty: str) -> tuple[Any, bool]:
    """The JSON value, and whether the body is plain UTF-8 as the handler decodes it (no
    byte order mark, no other encoding, no lone surrogate)."""
    if not raw.strip():
        raise _invalid(f"empty body; send {empty}")
    try:
        if raw[:1] in _PLAIN_START and b"\x00" not in raw[:4]:
            # UTF-8 for sure (UTF-16/32 JSON has a BOM or a NUL in its first four bytes):
            # decoded as json.loads decodes it, without its encoding detection.
            try:
                return json.loads(raw.decode("utf-8")), True
            except UnicodeDecodeError:
                return json.loads(raw.decode("utf-8", "surrogatepass")), False
        return json.loads(raw), False
    except UnicodeDecodeError:
        raise _invalid("body is not UTF-8 text; send JSON") from None
    except json.JSONDecodeError as exc:
        raise _invalid(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise _invalid("body is nested too deeply") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise _invalid(f"body holds a number that cannot be read: {exc}") from None


def decode(raw: bytes) -> Body:
    """Parse the JSON body and find its rows (shape only; no schema yet)."""
    payload, plain = _parse_json(raw, 'JSON like {"inputs": [[...], ...]}')
    if isinstance(payload, dict):
        keys = [key for key in ("inputs", "instances") if key in payload]
        if len(keys) != 1:
            raise _invalid('body must contain exactly one of "inputs" or "instances"')
        rows, where = payload[keys[0]], f'"{keys[0]}"'
    elif isinstance(payload, list):
        rows, where = payload, "body"
    else:
        raise _invalid('body must be a JSON object with "inputs" or "instances", or a list of rows')
    if not isinstance(rows, list) or not rows:
        raise _invalid(f"{where} must be a non-empty list of rows")
    if _is_number(rows[0]):
        return Body(payload=payload, rows=[rows])  # one flat row sent without the outer list
    return Body(payload=payload, rows=rows, merges=plain)


def check_rows(rows: list[Any], schema: InputSchema | None, max_rows: int) -> None:
    """Refuse rows that do not fit ``schema`` (shape only when the schema is unknown).

    With a schema, a row is a flat list of ``n_features`` numbers, or nested exactly as its
    ``row_shape``; every value must stay finite once converted to its ``dtype`` (``1e39``
    is a finite float64 but infinite as float32). Nothing of the wrong shape reaches
    TorchServe, so a version is never charged with a caller's mistake.
    """
    if len(rows) > max_rows:
        raise _invalid(f"too many rows: {len(rows)} > {max_rows}; split the request")
    expected = schema.n_features if schema is not None else None
    low, high = _RANGE[schema.dtype] if schema is not None else _RANGE["float64"]
    integers = schema is not None and schema.dtype in _INTEGER_DTYPES
    for index, row in enumerate(rows):
        values, shape = _row_values(row, index)
        if schema is not None and len(shape) > 1 and shape != schema.row_shape:
            wanted = (
                f"a flat list of {schema.n_features} numbers"
                if schema.row_shape is None
                else f"a flat list of {schema.n_features} numbers or shape {list(schema.row_shape)}"
            )
            raise _invalid(f"row {index} is nested as {list(shape)}; the model expects {wanted}")
        if expected is None:
            expected = len(values)  # unknown schema: rows must agree with each other
        if len(values) != expected:
            said = "the model expects" if schema is not None else "row 0 has"
            raise _invalid(f"row {index} has {len(values)} values; {said} {expected}")
        try:
            smallest, largest = min(values), max(values)
            # One C-level sum finds NaN/Infinity in the common all-finite case; only a
            # non-finite sum (which finite values can also overflow to) is checked one by one.
            if not math.isfinite(sum(values)) and not all(math.isfinite(v) for v in values):
                raise _invalid(f"row {index} contains NaN or Infinity")
        except OverflowError:  # an integer beyond any float (e.g. 10**400)
            raise _invalid(f"row {index} holds a number too large for any model input") from None
        if smallest < low or largest > high:
            dtype = schema.dtype if schema is not None else "float64"
            raise _invalid(
                f"row {index} holds a value outside the range of {dtype} (about "
                f"{-high:.3g} to {high:.3g}); it would not stay finite in the model's input"
            )
        if integers and any(v != int(v) for v in values):
            raise _invalid(
                f"row {index} has a fractional value; the model expects integers "
                f"({schema.dtype if schema else ''})"
            )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _row_values(row: Any, index: int) -> tuple[list[float], tuple[int, ...]]:
    """The numbers of one row and its shape (``(n,)`` for a flat row)."""
    if type(row) is list and row and set(map(type, row)) <= _NUMBER_TYPES:
        return row, (len(row),)  # the common case: a flat row of numbers (type() excludes bool)
    values: list[float] = []
    try:
        shape = _nested_shape(row, values, _MAX_NESTING)
    except OverflowError:
        shape = None
    if shape is None or not shape:
        raise _invalid(
            f"row {index} must be a list of numbers or of equal-length lists (got a "
            "non-numeric value, a number too large, an empty or ragged list, or too deep a "
            "nesting)"
        )
    return values, shape


def _nested_shape(value: Any, out: list[float], depth: int) -> tuple[int, ...] | None:
    """Shape of a regular nested list of numbers (appended to ``out``); None if not one."""
    if _is_number(value):
        out.append(float(value))
        return ()
    if not isinstance(value, list) or not value or depth == 0:
        return None
    inner = _nested_shape(value[0], out, depth - 1)
    for item in value[1:]:
        if inner is None or _nested_shape(item, out, depth - 1) != inner:
            return None
    return None if inner is None else (len(value), *inner)

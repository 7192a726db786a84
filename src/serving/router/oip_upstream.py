"""Calling a KServe-backed model: the Open Inference Protocol v2 on the way out, the router's
own answer on the way back.

A request's rows (already checked against the entry's ``input_schema`` by
``serving.router.inputs``) become one input tensor::

    POST /v2/models/{served_name}/versions/{version}/infer
    {"inputs": [{"name": "input", "shape": [n, ...], "datatype": "FP32", "data": [...]}]}

with the datatype of the schema's dtype (without a schema: INT64 for integer rows, else
FP64) and the shape of the rows (``[n, k]`` when rows are flat or nested differently; the
model server takes a flat row for any row shape). The server's answer, one output tensor per
answer field (``class``, ``probabilities``, ``embedding``, ``value``...), becomes exactly the
body a TorchServe-backed model answers::

    {"model_version": "3", "predictions": [{"class": 7, "probabilities": [...]}, ...]}

so clients, feedback, statistics and metrics see one shape whatever the backend. Its error
replies map to the router's codes as TorchServe's do (``checked``): 400 UPSTREAM_REJECTED,
404 UNAVAILABLE (the table and the server disagree), 503 UNAVAILABLE, 408/504 TIMEOUT,
anything else BACKEND; a 200 whose body is not a v2 answer is BACKEND too.

Readiness (``OipReadiness``) asks ``GET /v2/models/{served_name}/versions/{v}/ready`` at the
inference address, not the server's management API: that API needs the server's bearer
token, which also loads and unloads models, and a router has no business holding it; and
the ready endpoint answers on the very address and path family the router's predictions use.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import quote

import httpx

from serving.config import InputSchema
from serving.errors import ServingError, ServingErrorCode
from serving.router.errors import RouterError, RouterErrorCode, upstream_status_error

SERVER = "the KServe model server"
_DATATYPES = {"float32": "FP32", "float64": "FP64", "int32": "INT32", "int64": "INT64"}
_INTEGER = frozenset({"INT32", "INT64"})
_MAX_DIMS = 32  # an output nested deeper is no answer of ours (and would recurse that deep)


def request_body(rows: list[Any], schema: InputSchema | None) -> bytes:
    """The v2 inference request for ``rows`` (checked rows: regular, numeric, finite)."""
    if all(type(row) is list for row in rows) and all(
        type(value) is not list for row in rows for value in row
    ):
        data = [value for row in rows for value in row]  # the common case: flat rows
        width = len(rows[0])
        shape = [len(rows), width] if all(len(row) == width for row in rows) else None
    else:
        data, shapes = [], set()
        for row in rows:
            shapes.add(_flatten(row, data))
        shape = [len(rows), *shapes.pop()] if len(shapes) == 1 else None
    if shape is None:  # checked rows agree in their count of values
        shape = [len(rows), len(data) // len(rows)]
    if schema is not None:
        datatype = _DATATYPES[schema.dtype]
    else:
        integers = all(type(value) is int for value in data)
        datatype = "INT64" if integers else "FP64"
    if datatype in _INTEGER:
        data = [int(value) for value in data]  # 3.0 is a valid integer input; v2 wants 3
    tensor = {"name": "input", "shape": shape, "datatype": datatype, "data": data}
    return json.dumps({"inputs": [tensor]}, separators=(",", ":")).encode()


def _flatten(value: Any, out: list[Any]) -> tuple[int, ...]:
    if not isinstance(value, list):
        out.append(value)
        return ()
    inner: tuple[int, ...] = ()
    for item in value:
        inner = _flatten(item, out)
    return (len(value), *inner)


def answer(status: int, body: bytes) -> bytes:
    """The server's reply as the body of the router's answer (errors raise, see ``checked``)."""
    checked(status, body)
    try:
        parsed = json.loads(body)
        version = parsed["model_version"]
        outputs = parsed["outputs"]
        columns = [(str(o["name"]), _rows_of(o["data"], o["shape"])) for o in outputs]
        count = len(columns[0][1])
        if not isinstance(version, str | int) or any(len(c) != count for _, c in columns):
            raise ValueError("outputs of different lengths, or no model_version")
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise RouterError(
            RouterErrorCode.BACKEND,
            f"{SERVER} sent an answer that is not an Open Inference Protocol v2 reply ({exc!r})",
        ) from None
    predictions = [{name: column[row] for name, column in columns} for row in range(count)]
    return json.dumps({"model_version": str(version), "predictions": predictions}).encode()


def _rows_of(data: Any, shape: Any) -> list[Any]:
    """``data`` (flat, row-major) as a list of ``shape[0]`` rows nested as ``shape[1:]``."""
    dims = [int(d) for d in shape]
    if not isinstance(data, list) or not 1 <= len(dims) <= _MAX_DIMS or any(d < 0 for d in dims):
        raise ValueError(f"output data/shape {shape!r} is not a tensor")
    if len(data) != math.prod(dims):
        raise ValueError(f"output holds {len(data)} values, not {math.prod(dims)} ({dims})")
    return _nest(data, dims)


def _nest(data: list[Any], dims: list[int]) -> list[Any]:
    if len(dims) == 1:
        return data
    step = math.prod(dims[1:])
    return [_nest(data[i * step : (i + 1) * step], dims[1:]) for i in range(dims[0])]


def checked(status: int, body: bytes) -> None:
    """The server's non-2xx answer -> RouterError, with the codes TorchServe's map to."""
    if 200 <= status < 300:
        return
    raise upstream_status_error(SERVER, status, _message(body), busy="is not ready")


def _message(body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body[:300].decode("utf-8", "replace")
    if isinstance(parsed, dict) and parsed.get("error"):
        return str(parsed["error"])[:500]
    return str(parsed)[:300]


class OipReadiness:
    """Whether a KServe server has a version ready, asked over v2 with a client per check."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        self._timeout = httpx.Timeout(timeout_s, connect=2.0)

    def ready(self, inference_url: str, served_name: str, version: int) -> bool:
        """True when ``version`` is loaded and ready; False when the server does not have it;
        ServingError UNAVAILABLE/TIMEOUT when the server cannot be asked."""
        path = f"/v2/models/{quote(served_name, safe='')}/versions/{version}/ready"
        try:
            with httpx.Client(timeout=self._timeout, trust_env=False) as http:
                response = http.get(inference_url + path)
        except httpx.TimeoutException:
            raise ServingError(
                ServingErrorCode.TIMEOUT, f"{SERVER} at {inference_url} did not answer in time"
            ) from None
        except httpx.HTTPError as exc:
            raise ServingError(
                ServingErrorCode.UNAVAILABLE,
                f"{SERVER} is not reachable at {inference_url} ({exc})",
            ) from None
        if response.status_code in (200, 404):
            try:
                said = response.json()
            except ValueError:
                said = None
            return (
                response.status_code == 200 and isinstance(said, dict) and said.get("ready") is True
            )
        raise ServingError(
            ServingErrorCode.UNAVAILABLE,
            f"{SERVER} at {inference_url} answered HTTP {response.status_code} to {path}",
        )

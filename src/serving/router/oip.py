"""The Open Inference Protocol v2 (KServe v2, Triton, MLServer) on the router's client side.

Translation only: an OIP infer request becomes the rows the native path checks and the body
it forwards (``{"inputs": rows}``), and the backend's native answer becomes OIP output
tensors. Routing, canary, pinned versions, limits, statistics and feedback are the native
path's own (``serving.router.app``), run once for both protocols.

Request: exactly one input tensor, of shape ``[rows, *row]`` where ``row`` is the model's
``[n_features]`` or its ``row_shape``; its ``datatype`` is the schema's dtype (``FP32`` for
float32, ``FP64``, ``INT32``, ``INT64``; any numeric type when the table names no schema);
its values in ``data`` (flat or nested, row-major) or, with the binary tensor data extension
(``Inference-Header-Content-Length``), little-endian after the JSON header. ``outputs`` may
select outputs by name and ask for binary data (``parameters.binary_data``; the request's
``parameters.binary_data_output`` for all).

Answer: one output tensor per field of the native answer's ``predictions`` rows, in the
order the native answer gives them, carrying the same values:

    classification      class [n] INT64, probabilities [n, classes] FP64
    feature-extraction  embedding [n, dims] FP64
    regression          value [n] FP64 (values [n, k] FP64 for several outputs)

``model_version`` is the version that answered (also in ``X-Model-Version``).

Routes (``/routes/{route}``) are not OIP models: a route and a model may share a name in the
table, so ``/v2/models/{name}`` always means the model; naming a route there gets 404 saying
to use ``/routes/{route}``. Every refusal is a ``RouterError`` (INVALID_INPUT for the
caller's mistakes), answered as ``{"error": message, "code": CODE}``.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import quote

from serving.config import InputSchema
from serving.router import inputs
from serving.router.errors import RouterError, RouterErrorCode
from serving.router.table import CompiledTable, Target

#: The request header of the binary tensor data extension (length of the JSON part).
HEADER_LENGTH = b"inference-header-content-length"
PLATFORM = "pytorch"
INPUT_NAME = "input"
SERVER_NAME = "modelreg-router"
EXTENSIONS = ("binary_tensor_data",)

#: The schema's dtype -> the OIP datatype a request must declare.
DATATYPE_OF: dict[str, str] = {
    "float32": "FP32",
    "float64": "FP64",
    "int32": "INT32",
    "int64": "INT64",
}
#: Numeric OIP datatypes -> struct code (little-endian binary tensors).
_STRUCT: dict[str, str] = {
    "INT8": "b",
    "INT16": "h",
    "INT32": "i",
    "INT64": "q",
    "UINT8": "B",
    "UINT16": "H",
    "UINT32": "I",
    "UINT64": "Q",
    "FP16": "e",
    "FP32": "f",
    "FP64": "d",
}
_FLOAT_LIMIT = {"FP16": 65504.0, "FP32": 3.4028234663852886e38, "FP64": math.inf}
#: Output names the router's backends answer with (``serving.safe_model.ANSWERS``).
OUTPUT_NAMES = frozenset({"class", "probabilities", "embedding", "value", "values"})
_MAX_NESTING = 32
#: A row's dimensions at most (``InputSchema.row_shape`` has at most 8).
_MAX_ROW_DIMS = 8


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    name: str
    binary: bool | None  # None: as the request's binary_data_output says


@dataclass(frozen=True, slots=True)
class InferRequest:
    """An OIP infer request, translated: what the native path checks and forwards."""

    body: inputs.Body  # the rows, checked by ``inputs.check_rows`` as a native request's
    forward: bytes  # ``{"inputs": rows}``: the body the backend receives
    id: str | None
    outputs: tuple[RequestedOutput, ...] | None  # None: every output of the answer
    binary_output: bool  # the request's parameters.binary_data_output


@dataclass(frozen=True, slots=True)
class Answer:
    body: bytes
    content_type: bytes
    header_length: int | None  # the JSON part's length when binary outputs follow it
    outputs: tuple[dict[str, Any], ...]  # metadata of every output the version answered with


def _invalid(message: str) -> RouterError:
    return RouterError(RouterErrorCode.INVALID_INPUT, message)


# --------------------------------------------------------------------- requests


def parse_infer(
    raw: bytes, headers: Mapping[bytes, bytes], schema: InputSchema | None, max_rows: int
) -> InferRequest:
    """Translate an OIP infer request (RouterError INVALID_INPUT naming what is wrong)."""
    encoding = headers.get(b"content-encoding", b"identity").strip().lower()
    if encoding not in (b"", b"identity"):
        raise _invalid(
            f"compressed request bodies (Content-Encoding: {encoding.decode('latin-1')}) are "
            "not accepted; send the body uncompressed"
        )
    head, binary = _split(raw, headers.get(HEADER_LENGTH))
    request = _json_object(head)
    tensors = request.get("inputs")
    if not isinstance(tensors, list) or len(tensors) != 1 or not isinstance(tensors[0], dict):
        raise _invalid(
            f'"inputs" must be a list of exactly one tensor {_wanted(schema)} (the rows); '
            f"got {_count(tensors)}"
        )
    rows = _rows(tensors[0], binary, schema, max_rows)
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _invalid('"id" must be a string')
    parameters = request.get("parameters", {})
    if not isinstance(parameters, dict):
        raise _invalid('"parameters" must be an object')
    binary_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise _invalid('parameters "binary_data_output" must be true or false')
    payload = {"inputs": rows}
    return InferRequest(
        # The forwarded body is ours, plain JSON: it merges when its rows are lists of rows.
        body=inputs.Body(payload=payload, rows=rows, merges=bool(rows) and type(rows[0]) is list),
        forward=json.dumps(payload, separators=(",", ":")).encode(),
        id=request_id,
        outputs=_requested(request.get("outputs")),
        binary_output=binary_output,
    )


def _split(raw: bytes, declared: bytes | None) -> tuple[bytes, bytes]:
    """(JSON part, binary part) of a body; the binary part is empty without the header."""
    if declared is None:
        return raw, b""
    if not declared.strip().isdigit() or int(declared) > len(raw):
        raise _invalid(
            f"Inference-Header-Content-Length must be the byte length of the JSON part (at "
            f"most the body's {len(raw)} bytes); got {declared[:40].decode('latin-1')!r}"
        )
    length = int(declared)
    return raw[:length], raw[length:]


def _json_object(head: bytes) -> dict[str, Any]:
    parsed = inputs.parse_json(head, empty='{"inputs": [{"name", "shape", "datatype", "data"}]}')
    if not isinstance(parsed, dict):
        raise _invalid('body must be a JSON object with "inputs" (an inference request)')
    return parsed


def _count(tensors: Any) -> str:
    return f"{len(tensors)} tensors" if isinstance(tensors, list) else "no list"


def _wanted(schema: InputSchema | None) -> str:
    if schema is None:
        return "of shape [rows, ...]"
    return f"of datatype {DATATYPE_OF[schema.dtype]} and shape {input_shape(schema)}"


def input_shape(schema: InputSchema | None) -> list[int]:
    """The input tensor's shape as metadata gives it (-1: any size)."""
    if schema is None:
        return [-1, -1]
    return [-1, *(schema.row_shape or (schema.n_features,))]


def _rows(
    tensor: dict[str, Any], binary: bytes, schema: InputSchema | None, max_rows: int
) -> list[Any]:
    name = tensor.get("name")
    if not isinstance(name, str):
        raise _invalid(f'the input tensor needs a "name" (e.g. "{INPUT_NAME}")')
    datatype = tensor.get("datatype")
    shape = tensor.get("shape")
    _check_datatype(name, datatype, schema)
    if (
        not isinstance(shape, list)
        or len(shape) < 2
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise _invalid(
            f"input {name!r}: shape must be a list [rows, *row] of at least two non-negative "
            f"integers; the model takes {input_shape(schema)}"
        )
    if len(shape) > 1 + _MAX_ROW_DIMS:
        raise _invalid(
            f"input {name!r}: shape has {len(shape)} dimensions; a row has at most "
            f"{_MAX_ROW_DIMS} (the model takes {input_shape(schema)})"
        )
    if shape[0] < 1 or 0 in shape:
        raise _invalid(f"input {name!r}: shape {shape} holds no values; send at least one row")
    if shape[0] > max_rows:
        raise _invalid(f"too many rows: {shape[0]} > {max_rows}; split the request")
    if schema is not None and tuple(shape[1:]) not in (
        (schema.n_features,),
        schema.row_shape,
    ):
        rest = f" or [-1, {', '.join(map(str, schema.row_shape))}]" if schema.row_shape else ""
        raise _invalid(
            f"input {name!r}: shape {shape} does not fit the model, which takes "
            f"[-1, {schema.n_features}]{rest}"
        )
    count = math.prod(shape)
    values = _values(name, tensor, str(datatype), count, binary)
    return _reshape(values, shape)


def _check_datatype(name: str, datatype: Any, schema: InputSchema | None) -> None:
    wanted = DATATYPE_OF[schema.dtype] if schema is not None else None
    if datatype == "BYTES" or datatype == "BOOL":
        raise _invalid(
            f"input {name!r} is {datatype}; the model takes numbers: send datatype "
            f"{wanted or 'FP32'}"
        )
    if not isinstance(datatype, str) or datatype not in _STRUCT:
        raise _invalid(
            f"input {name!r}: datatype {datatype!r} is not a numeric OIP datatype; send "
            f"{wanted or 'FP32 (or another of ' + ', '.join(_STRUCT) + ')'}"
        )
    if wanted is not None and datatype != wanted:
        raise _invalid(
            f"input {name!r} is {datatype}; the model takes {wanted}: send datatype {wanted}"
        )


def _values(
    name: str, tensor: dict[str, Any], datatype: str, count: int, binary: bytes
) -> list[Any]:
    parameters = tensor.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise _invalid(f"input {name!r}: parameters must be an object")
    size = parameters.get("binary_data_size")
    if size is not None:
        if "data" in tensor:
            raise _invalid(f"input {name!r} has both data and binary_data_size; send one")
        item = struct.calcsize("<" + _STRUCT[datatype])
        if type(size) is not int or size != count * item or size != len(binary):
            raise _invalid(
                f"input {name!r}: binary_data_size is {size!r} and the body holds {len(binary)} "
                f"bytes after the JSON part; shape and {datatype} need {count * item}"
            )
        return list(struct.unpack(f"<{count}{_STRUCT[datatype]}", binary))
    if binary:
        raise _invalid(
            f"the body holds {len(binary)} bytes after the JSON part but input {name!r} has no "
            "binary_data_size"
        )
    data = tensor.get("data")
    if not isinstance(data, list):
        raise _invalid(f'input {name!r} needs "data" (a list of numbers, row-major)')
    values: list[Any] = data  # flat data, the common case (one C-level type scan)
    if list in set(map(type, data)) and not _flatten(data, values := [], _MAX_NESTING):
        raise _invalid(f"input {name!r}: data is nested too deeply")
    if len(values) != count:
        raise _invalid(
            f"input {name!r}: shape holds {count} values but data holds {len(values)}; make "
            "them agree"
        )
    _check_numbers(name, values, datatype)
    return values


def _flatten(data: list[Any], out: list[Any], depth: int) -> bool:
    if depth == 0:
        return False
    for item in data:
        if type(item) is list:
            if not _flatten(item, out, depth - 1):
                return False
        else:
            out.append(item)
    return True


def _check_numbers(name: str, values: list[Any], datatype: str) -> None:
    integer = datatype.startswith(("INT", "UINT"))
    allowed: set[type] = {int} if integer else {int, float}
    if not set(map(type, values)) <= allowed:
        kind = "integers" if integer else "numbers"
        raise _invalid(f"input {name!r} is {datatype}: its data must hold {kind} only")
    try:
        low, high = min(values), max(values)
    except OverflowError:
        low, high = -math.inf, math.inf
    if integer:
        bits = struct.calcsize(_STRUCT[datatype]) * 8
        lowest, highest = (
            (0, 2**bits - 1) if datatype[0] == "U" else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        )
    else:
        lowest, highest = -_FLOAT_LIMIT[datatype], _FLOAT_LIMIT[datatype]
    if low < lowest or high > highest:
        raise _invalid(f"input {name!r} holds a value outside the range of {datatype}")


def _reshape(values: list[Any], shape: list[int]) -> list[Any]:
    """Flat row-major ``values`` as nested lists of ``shape``."""
    nested: list[Any] = values
    for size in reversed(shape[1:]):
        nested = [nested[i : i + size] for i in range(0, len(nested), size)]
    return nested


def _requested(outputs: Any) -> tuple[RequestedOutput, ...] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise _invalid('"outputs" must be a list of {"name": ...} objects')
    found: list[RequestedOutput] = []
    for output in outputs:
        name = output.get("name")
        if not isinstance(name, str) or name not in OUTPUT_NAMES:
            raise _invalid(
                f"no output {name!r}; outputs are named {sorted(OUTPUT_NAMES)} (GET "
                "/v2/models/{name} lists a model's)"
            )
        if any(o.name == name for o in found):
            raise _invalid(f"output {name!r} is requested twice")
        parameters = output.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise _invalid(f"output {name!r}: parameters must be an object")
        if "classification" in parameters:
            raise _invalid(
                f"output {name!r}: the classification extension is not supported; request "
                "the outputs class and probabilities"
            )
        binary = parameters.get("binary_data")
        if binary is not None and not isinstance(binary, bool):
            raise _invalid(f"output {name!r}: binary_data must be true or false")
        found.append(RequestedOutput(name, binary))
    return tuple(found)


# --------------------------------------------------------------------- answers


def encode_answer(native: bytes, request: InferRequest, target: Target) -> Answer:
    """The backend's native answer as an OIP infer response for ``request``."""
    tensors = _tensors(native, target)
    outputs = tuple(
        {"name": t["name"], "datatype": t["datatype"], "shape": [-1, *t["shape"][1:]]}
        for t in tensors
    )
    by_name = {t["name"]: t for t in tensors}
    if request.outputs is None:
        chosen = [(t, request.binary_output) for t in tensors]
    else:
        missing = [o.name for o in request.outputs if o.name not in by_name]
        if missing:
            raise _invalid(
                f"version {target.version} of model {target.model!r} answers with outputs "
                f"{list(by_name)}; {missing} are not among them"
            )
        chosen = [
            (by_name[o.name], request.binary_output if o.binary is None else o.binary)
            for o in request.outputs
        ]
    response: dict[str, Any] = {"model_name": target.model, "model_version": target.version}
    if request.id is not None:
        response["id"] = request.id
    listed: list[dict[str, Any]] = []
    buffers: list[bytes] = []
    for tensor, binary in chosen:
        if binary:
            flat = _flat(tensor["data"])
            try:
                data = struct.pack(f"<{len(flat)}{_STRUCT[tensor['datatype']]}", *flat)
            except (struct.error, OverflowError) as exc:
                raise _uncarried(target, f"{tensor['name']}: {exc}") from None
            buffers.append(data)
            meta = {k: v for k, v in tensor.items() if k != "data"}
            listed.append({**meta, "parameters": {"binary_data_size": len(data)}})
        else:
            listed.append({**tensor, "data": _flat(tensor["data"])})  # row-major, flattened
    response["outputs"] = listed
    head = json.dumps(response, separators=(",", ":")).encode()
    if not buffers:
        return Answer(head, b"application/json", None, outputs)
    return Answer(head + b"".join(buffers), b"application/octet-stream", len(head), outputs)


def _tensors(native: bytes, target: Target) -> list[dict[str, Any]]:
    """One tensor per field of the native answer's rows (BACKEND if it has none)."""
    try:
        parsed = json.loads(native)
        rows = parsed["predictions"]
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise ValueError("predictions is not a non-empty list of objects")
        names = list(rows[0])
        tensors = []
        for name in names:
            column = [row[name] for row in rows]
            datatype = "INT64" if name == "class" else "FP64"
            shape = [len(column), *_inner_shape(column, datatype)]
            tensors.append({"name": name, "datatype": datatype, "shape": shape, "data": column})
        if any(list(row) != names for row in rows):
            raise ValueError("the rows' answers do not have the same fields")
    except (ValueError, KeyError, TypeError) as exc:
        raise _uncarried(target, str(exc)) from None
    return tensors


def _uncarried(target: Target, why: str) -> RouterError:
    return RouterError(
        RouterErrorCode.BACKEND,
        f"version {target.version} of model {target.model!r} answered in a form the Open "
        f"Inference Protocol cannot carry ({why}); the native path "
        f"POST /predictions/{quote(target.model, safe='')} gives it as is",
    )


def _inner_shape(column: list[Any], datatype: str) -> list[int]:
    kinds = {int} if datatype == "INT64" else {int, float}  # type(): bool is not a number
    if set(map(type, column)) <= kinds:
        return []
    if set(map(type, column)) == {list}:
        width = len(column[0])
        if width and all(len(v) == width and set(map(type, v)) <= kinds for v in column):
            return [width]
    raise ValueError(f"output {column[0]!r}... is not a number or a list of numbers per row")


def _flat(data: list[Any]) -> list[Any]:
    return [x for row in data for x in row] if data and isinstance(data[0], list) else data


# --------------------------------------------------------------------- metadata


def server_metadata() -> dict[str, Any]:
    """``GET /v2``: the server's name, version and the OIP extensions it supports."""
    try:
        release = version("modelreg")
    except PackageNotFoundError:  # run from a source tree that was never installed
        release = "unknown"
    return {"name": SERVER_NAME, "version": release, "extensions": list(EXTENSIONS)}


def refuse_route(table: CompiledTable, name: str) -> None:
    """NOT_FOUND saying what to do when ``name`` is a route and not a model of the table."""
    if name not in table.known_models and name in table.routes:
        raise RouterError(
            RouterErrorCode.NOT_FOUND,
            f"no model {name!r} in the routing table; {name!r} is a route, and routes are not "
            f"Open Inference Protocol models: POST /routes/{quote(name, safe='')} with "
            '{"inputs": [[...], ...]}',
        )


def served_versions(table: CompiledTable, model: str) -> list[str]:
    return sorted((v for m, v in table.versions if m == model), key=lambda v: (len(v), v))


def model_metadata(
    table: CompiledTable,
    model: str,
    version: str | None,
    seen: Mapping[tuple[str, str], tuple[dict[str, Any], ...]],
) -> dict[str, Any]:
    """``GET /v2/models/{model}[/versions/{version}]``: the entry's served versions, its
    input from the table's input_schema, and the outputs the version last answered with
    (empty until it has answered through the OIP path once)."""
    refuse_route(table, model)
    if model not in table.known_models:
        raise RouterError(RouterErrorCode.NOT_FOUND, f"no model {model!r} in the routing table")
    versions = served_versions(table, model)
    entry = table.state.table.models[model]
    if version is not None and version not in versions:
        raise RouterError(
            RouterErrorCode.NOT_FOUND,
            f"version {version!r} of model {model!r} is not served (served versions: {versions})",
        )
    answering = version or (str(entry.production) if entry.production is not None else None)
    schema = entry.input_schema
    datatype = DATATYPE_OF[schema.dtype] if schema is not None else "FP32"
    return {
        "name": model,
        "versions": versions,
        "platform": PLATFORM,
        "inputs": [{"name": INPUT_NAME, "datatype": datatype, "shape": input_shape(schema)}],
        "outputs": list(seen.get((model, answering), ())) if answering is not None else [],
    }

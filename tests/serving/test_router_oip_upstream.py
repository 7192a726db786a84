"""The router's Open Inference Protocol v2 translation for KServe-backed models, unit level:
request tensors from checked rows, v2 replies back into the router's answer, error codes,
and what a table with ``upstream.backend`` compiles to. The real server is in
test_router_kserve.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import ValidationError

from serving.config import InputSchema
from serving.router.errors import RouterError, RouterErrorCode
from serving.router.oip_upstream import answer, request_body
from serving.router.table import RoutingTable, TableState, compile_table

KSERVE = {
    "inference_url": "http://ks:8080",
    "management_url": "http://ks:8080",
    "backend": "kserve",
}


def tensor(rows: list[Any], schema: InputSchema | None) -> dict[str, Any]:
    (only,) = json.loads(request_body(rows, schema))["inputs"]
    return dict(only)


def test_flat_rows_become_one_tensor_of_the_schema_dtype() -> None:
    schema = InputSchema(n_features=3, dtype="float32")
    assert tensor([[1, 2.5, 3], [4, 5, 6]], schema) == {
        "name": "input",
        "shape": [2, 3],
        "datatype": "FP32",
        "data": [1, 2.5, 3, 4, 5, 6],
    }
    assert tensor([[0.1, 0.2]], None)["datatype"] == "FP64"  # no schema: keep the precision
    assert tensor([[1, 2]], None)["datatype"] == "INT64"


def test_integer_schemas_send_integers() -> None:
    found = tensor([[3.0, -1, 2**40]], InputSchema(n_features=3, dtype="int64"))
    assert found["datatype"] == "INT64"
    assert found["data"] == [3, -1, 2**40]
    assert all(type(v) is int for v in found["data"])
    assert tensor([[1.0]], InputSchema(n_features=1, dtype="int32"))["datatype"] == "INT32"


def test_nested_rows_keep_their_shape_and_mixed_rows_go_flat() -> None:
    schema = InputSchema(n_features=4, dtype="float32", row_shape=(2, 2))
    nested = tensor([[[1, 2], [3, 4]], [[5, 6], [7, 8]]], schema)
    assert nested["shape"] == [2, 2, 2]
    assert nested["data"] == [1, 2, 3, 4, 5, 6, 7, 8]
    mixed = tensor([[[1, 2], [3, 4]], [5, 6, 7, 8]], schema)
    assert mixed["shape"] == [2, 4]
    assert mixed["data"] == [1, 2, 3, 4, 5, 6, 7, 8]


def v2(outputs: list[dict[str, Any]], version: str = "3") -> bytes:
    return json.dumps({"model_name": "m", "model_version": version, "outputs": outputs}).encode()


def test_a_classification_reply_becomes_the_torchserve_shaped_answer() -> None:
    body = v2(
        [
            {"name": "class", "shape": [2], "datatype": "INT64", "data": [1, 0]},
            {
                "name": "probabilities",
                "shape": [2, 2],
                "datatype": "FP32",
                "data": [0.25, 0.75, 0.5, 0.5],
            },
        ]
    )
    assert json.loads(answer(200, body)) == {
        "model_version": "3",
        "predictions": [
            {"class": 1, "probabilities": [0.25, 0.75]},
            {"class": 0, "probabilities": [0.5, 0.5]},
        ],
    }


def test_embeddings_values_and_deeper_outputs() -> None:
    embedding = v2([{"name": "embedding", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}])
    assert json.loads(answer(200, embedding))["predictions"] == [{"embedding": [1, 2, 3]}]
    value = v2([{"name": "value", "shape": [2], "datatype": "FP32", "data": [0.5, 1.5]}], "7")
    assert json.loads(answer(200, value)) == {
        "model_version": "7",
        "predictions": [{"value": 0.5}, {"value": 1.5}],
    }
    cube = v2([{"name": "x", "shape": [1, 2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}])
    assert json.loads(answer(200, cube))["predictions"] == [{"x": [[1, 2], [3, 4]]}]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"outputs": []}).encode(),  # no model_version
        v2([]),  # no output
        v2([{"name": "class", "shape": [3], "data": [1, 2]}]),  # data does not fill the shape
        v2(
            [
                {"name": "class", "shape": [2], "data": [1, 2]},
                {"name": "p", "shape": [1], "data": [1]},
            ]
        ),
        v2([{"name": "class", "shape": ["x"], "data": [1]}]),
        v2([{"name": "class", "shape": [1] * 5000, "data": [1]}]),  # deeper than any answer
    ],
)
def test_a_reply_that_is_not_a_v2_answer_is_a_backend_error(body: bytes) -> None:
    with pytest.raises(RouterError) as caught:
        answer(200, body)
    assert caught.value.code is RouterErrorCode.BACKEND
    assert "Open Inference Protocol" in caught.value.message


@pytest.mark.parametrize(
    ("status", "code", "http"),
    [
        (400, RouterErrorCode.UPSTREAM_REJECTED, 400),
        (422, RouterErrorCode.UPSTREAM_REJECTED, 422),
        (404, RouterErrorCode.UNAVAILABLE, 503),
        (503, RouterErrorCode.UNAVAILABLE, 503),
        (504, RouterErrorCode.TIMEOUT, 504),
        (408, RouterErrorCode.TIMEOUT, 504),
        (500, RouterErrorCode.BACKEND, 502),
    ],
)
def test_server_errors_map_to_the_codes_torchserve_errors_get(
    status: int, code: RouterErrorCode, http: int
) -> None:
    with pytest.raises(RouterError) as caught:
        answer(status, json.dumps({"error": "the model expects 64"}).encode())
    assert (caught.value.code, caught.value.status) == (code, http)
    assert "the model expects 64" in caught.value.message
    assert "KServe model server" in caught.value.message


def test_a_kserve_upstream_compiles_to_versioned_v2_paths() -> None:
    table = RoutingTable.model_validate(
        {
            "models": {
                "digits ks": {
                    "served_name": "digits-ks",
                    "production": 2,
                    "staging": 3,
                    "upstream": KSERVE,
                },
                "plain": {"served_name": "plain", "production": 1},
            }
        }
    )
    compiled = compile_table(TableState(generation=1, table=table))
    production = compiled.production["digits ks"]
    assert production.backend == "kserve"
    assert production.path == "/v2/models/digits-ks/versions/2/infer"
    assert production.upstream == "http://ks:8080"
    assert compiled.versions[("digits ks", "3")].path == "/v2/models/digits-ks/versions/3/infer"
    plain = compiled.production["plain"]
    assert (plain.backend, plain.path) == ("torchserve", "/predictions/plain/1")


def test_the_backend_is_torchserve_or_kserve_and_defaults_to_torchserve() -> None:
    upstream = {"inference_url": "http://ts:8080", "management_url": "http://ts:8081"}
    entry = {"served_name": "m", "production": 1, "upstream": upstream}
    parsed = RoutingTable.model_validate({"models": {"m": entry}})
    assert parsed.models["m"].upstream is not None
    assert parsed.models["m"].upstream.backend == "torchserve"
    with pytest.raises(ValidationError) as caught:
        RoutingTable.model_validate(
            {"models": {"m": {**entry, "upstream": {**upstream, "backend": "triton"}}}}
        )
    assert "backend" in str(caught.value)


def test_an_unreachable_kserve_upstream_is_unavailable_and_named() -> None:
    from serving.router.server import free_port
    from serving.router.upstream import InferenceToken, Upstream

    url = f"http://127.0.0.1:{free_port()}"
    table = RoutingTable.model_validate(
        {
            "models": {
                "m": {
                    "served_name": "m",
                    "production": 1,
                    "upstream": {"inference_url": url, "management_url": url, "backend": "kserve"},
                }
            }
        }
    )
    target = compile_table(TableState(generation=1, table=table)).production["m"]

    async def run() -> None:
        upstream = Upstream(None, InferenceToken(None, None))
        try:
            await upstream.forward(target, b"[[1.0]]", [[1.0]])
        finally:
            await upstream.aclose()

    with pytest.raises(RouterError) as caught:
        asyncio.run(run())
    assert caught.value.code is RouterErrorCode.UNAVAILABLE
    assert f"the KServe model server is not reachable at {url}" in caught.value.message

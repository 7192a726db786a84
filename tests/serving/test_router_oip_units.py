"""``serving.router.oip`` alone: requests -> rows and native answers -> output tensors, for
every task's answer and both data encodings (no server; the live tests are in
``test_router_oip.py``)."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton

from serving.config import InputSchema
from serving.router import oip
from serving.router.errors import RouterError, RouterErrorCode
from serving.router.table import Target

TARGET = Target(
    model="m", version="3", stage="production", path="/predictions/m/3", schema=None,
    model_header=b"m",
)  # fmt: skip


def request(body: dict[str, Any], schema: InputSchema | None = None) -> oip.InferRequest:
    return oip.parse_infer(json.dumps(body).encode(), {}, schema, 1024)


def tensor(shape: list[int], data: list[Any], datatype: str = "FP32") -> dict[str, Any]:
    return {"inputs": [{"name": "input", "shape": shape, "datatype": datatype, "data": data}]}


def test_json_data_becomes_the_rows_the_native_path_forwards() -> None:
    schema = InputSchema(n_features=4, row_shape=(2, 2))
    flat = request(tensor([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]), schema)
    assert flat.body.rows == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert json.loads(flat.forward) == {"inputs": [[1, 2, 3, 4], [5, 6, 7, 8]]}
    nested = request(tensor([1, 2, 2], [[[1, 2], [3, 4]]]), schema)  # nested data: row-major
    assert nested.body.rows == [[[1, 2], [3, 4]]]
    with pytest.raises(RouterError, match=r"takes \[-1, 4\] or \[-1, 2, 2\]"):
        request(tensor([1, 4, 1], [1, 2, 3, 4]), schema)


def test_tritonclients_binary_request_is_read_as_its_json_twin() -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    given = triton.InferInput("input", [3, 4], "FP32")
    given.set_data_from_numpy(x)  # binary by default
    body = json.dumps({"inputs": [given._get_tensor()]}).encode()
    raw = body + given._get_binary_data()
    parsed = oip.parse_infer(
        raw, {oip.HEADER_LENGTH: str(len(body)).encode()}, InputSchema(n_features=4), 1024
    )
    assert parsed.body.rows == x.tolist()
    with pytest.raises(RouterError, match="Inference-Header-Content-Length"):
        oip.parse_infer(raw, {oip.HEADER_LENGTH: b"99999"}, None, 1024)
    plain = json.dumps(tensor([1, 1], [1])).encode()
    with pytest.raises(RouterError, match="no binary_data_size"):
        oip.parse_infer(plain + b"\0" * 4, {oip.HEADER_LENGTH: str(len(plain)).encode()}, None, 9)


def test_without_a_schema_any_numeric_datatype_but_bounded_dimensions() -> None:
    assert request(tensor([1, 2], [1, 2], "INT64")).body.rows == [[1, 2]]
    assert request(tensor([1, 2], [0, 255], "UINT8")).body.rows == [[0, 255]]
    for body, reason in (
        (tensor([1, 2], [0, 256], "UINT8"), "range of UINT8"),
        (tensor([1, 2], [0.5, 1], "INT32"), "integers only"),
        (tensor([1, 2], [1, 2], "BOOL"), "BOOL"),
        (tensor([1] * 10, [1]), "10 dimensions"),
    ):
        with pytest.raises(RouterError, match=reason) as refused:
            request(body)
        assert refused.value.code is RouterErrorCode.INVALID_INPUT


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            [{"class": 7, "probabilities": [0.25, 0.75]}, {"class": 1, "probabilities": [1.0, 0]}],
            [
                ("class", "INT64", [2], [7, 1]),
                ("probabilities", "FP64", [2, 2], [0.25, 0.75, 1, 0]),
            ],
        ),
        ([{"embedding": [0.5, 1.5, 2.5]}], [("embedding", "FP64", [1, 3], [0.5, 1.5, 2.5])]),
        ([{"value": 3.25}, {"value": -1.0}], [("value", "FP64", [2], [3.25, -1.0])]),
        ([{"values": [1.0, 2.0]}], [("values", "FP64", [1, 2], [1.0, 2.0])]),
    ],
)
def test_every_tasks_answer_becomes_tensors_with_the_same_values(
    answer: list[dict[str, Any]], expected: list[tuple[str, str, list[int], list[Any]]]
) -> None:
    native = json.dumps({"model_version": "3", "predictions": answer}).encode()
    plain = oip.encode_answer(native, request(tensor([1, 1], [1])), TARGET)
    body = json.loads(plain.body)
    assert plain.header_length is None
    assert (body["model_name"], body["model_version"]) == ("m", "3")
    assert [(o["name"], o["datatype"], o["shape"], o["data"]) for o in body["outputs"]] == expected
    assert [o["shape"][0] for o in plain.outputs] == [-1] * len(expected)

    binary = oip.encode_answer(
        native, request({**tensor([1, 1], [1]), "parameters": {"binary_data_output": True}}), TARGET
    )
    assert binary.header_length is not None
    head = json.loads(binary.body[: binary.header_length])
    offset = binary.header_length
    for output, (_, datatype, _, values) in zip(head["outputs"], expected, strict=True):
        size = output["parameters"]["binary_data_size"]
        code = "q" if datatype == "INT64" else "d"
        chunk = binary.body[offset : offset + size]
        assert list(struct.unpack(f"<{len(values)}{code}", chunk)) == values
        offset += size
    assert offset == len(binary.body)


def test_outputs_can_be_chosen_and_unknown_ones_are_refused() -> None:
    native = json.dumps({"predictions": [{"class": 1, "probabilities": [0.1, 0.9]}]}).encode()
    one = request({**tensor([1, 1], [1]), "outputs": [{"name": "probabilities"}]})
    body = json.loads(oip.encode_answer(native, one, TARGET).body)
    assert [o["name"] for o in body["outputs"]] == ["probabilities"]
    absent = request({**tensor([1, 1], [1]), "outputs": [{"name": "embedding"}]})
    with pytest.raises(RouterError, match="answers with outputs") as refused:
        oip.encode_answer(native, absent, TARGET)
    assert refused.value.code is RouterErrorCode.INVALID_INPUT
    with pytest.raises(RouterError, match="classification extension"):
        request(
            {
                **tensor([1, 1], [1]),
                "outputs": [{"name": "class", "parameters": {"classification": 3}}],
            }
        )


@pytest.mark.parametrize(
    "native",
    [
        b"not json",
        b'{"model_version": "3"}',
        b'{"predictions": []}',
        b'{"predictions": [{"class": "seven"}]}',
        b'{"predictions": [{"class": 1}, {"value": 2.0}]}',
        b'{"predictions": [{"class": 1e400}]}',
        b'{"predictions": [{"class": 99999999999999999999999}]}',
    ],
)
def test_an_answer_oip_cannot_carry_is_a_backend_error(native: bytes) -> None:
    binary = request({**tensor([1, 1], [1]), "parameters": {"binary_data_output": True}})
    with pytest.raises(RouterError, match="cannot carry") as failed:
        oip.encode_answer(native, binary, TARGET)
    assert failed.value.code is RouterErrorCode.BACKEND

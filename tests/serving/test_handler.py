"""The TorchServe handler, driven directly with a fake context (TorchServe's side is tested live).

A fake context is the one fake here: it records what the handler reports per request index.
"""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from serving import safe_model
from serving.handler import mlflow_handler
from serving.handler.mlflow_handler import MlflowHandler
from tests.serving.conftest import Digits, SavedModels, quiet_mlflow


class FakeContext:
    def __init__(self, model_dir: Path | None = None, version: str = "7") -> None:
        self.system_properties = {"model_dir": str(model_dir)}
        self.manifest = {"model": {"modelVersion": version}}
        self.model_yaml_config: dict[str, Any] = {}
        self.statuses: dict[int, tuple[int, str]] = {}
        self.content_types: dict[int, str] = {}

    def set_response_status(self, code: int, phrase: str, idx: int) -> None:
        self.statuses[idx] = (code, phrase)

    def set_response_content_type(self, idx: int, value: str) -> None:
        self.content_types[idx] = value


def eager_handler(*, softmax: bool = True) -> MlflowHandler:
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = [torch.nn.Linear(64, 10)]
    if softmax:
        layers.append(torch.nn.Softmax(dim=1))
    handler = MlflowHandler()
    handler.model = torch.nn.Sequential(*layers).eval()
    handler.row_shape = (64,)
    handler.version = "7"
    handler.initialized = True
    return handler


def request(body: Any, *, raw: bool = False) -> dict[str, Any]:
    return {"body": body if raw else json.dumps(body).encode()}


ROW = [0.5] * 64


def test_handler_module_defines_exactly_one_class() -> None:
    # TorchServe refuses to load a handler module that defines two classes.
    tree = ast.parse(Path(mlflow_handler.__file__).read_text())
    classes = [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    assert classes == ["MlflowHandler"]
    assert "import serving" not in Path(mlflow_handler.__file__).read_text()


@pytest.mark.parametrize(
    "body",
    [{"inputs": [ROW, ROW]}, {"instances": [ROW, ROW]}, [ROW, ROW]],
    ids=["inputs", "instances", "bare-list"],
)
def test_accepted_body_shapes(body: Any) -> None:
    context = FakeContext()
    [reply] = eager_handler().handle([request(body)], context)
    assert reply["model_version"] == "7"
    assert len(reply["predictions"]) == 2
    first = reply["predictions"][0]
    assert 0 <= first["class"] < 10
    assert sum(first["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    assert context.statuses == {}
    assert context.content_types == {0: "application/json"}


def test_single_flat_row_and_already_decoded_bodies() -> None:
    handler = eager_handler()
    replies = handler.handle(
        [request(ROW), request({"inputs": [ROW]}, raw=True), {"data": json.dumps([ROW])}],
        FakeContext(),
    )
    assert [len(r["predictions"]) for r in replies] == [1, 1, 1]


BAD_BODIES: list[tuple[Any, str]] = [
    (b"not json{", "not valid JSON"),
    (b"\xff\xfe", "not UTF-8"),
    ("a string", "JSON object"),
    ({"foo": 1}, 'exactly one of "inputs" or "instances"'),
    ({"inputs": [ROW], "instances": [ROW]}, "exactly one of"),
    ({"inputs": []}, "non-empty list"),
    ({"inputs": [[1.0, 2.0]]}, "has 2 values; the model expects 64"),
    ({"inputs": [["a"] * 64]}, "non-numeric"),
    ({"inputs": [[True] * 64]}, "non-numeric"),
    ({"inputs": [[None] * 64]}, "non-numeric"),
    ({"inputs": [[1e400] * 64]}, "NaN or Infinity"),
    ({"inputs": [ROW] * 1025}, "too many rows"),
    # Rows nested deeper than the signature's row shape (64,): a 3-D input for a 2-D model.
    ({"inputs": [[[0.0] * 64]]}, "row 0 has shape [1, 64]; the model expects rows of shape [64]"),
    ([[[0.0] * 64]], "row 0 has shape [1, 64]; the model expects rows of shape [64]"),
    ({"instances": [ROW, [ROW, ROW]]}, "row 1 has shape [2, 64]; the model expects rows"),
    ({"inputs": [[[[0.5]] * 64]]}, "expects rows of shape [64]"),
    ({"inputs": [[ROW[:32], ROW[:32]]]}, "row 0 has shape [2, 32]"),
    ({"inputs": [[[0.5], [0.5, 0.5]]]}, "ragged"),
    ({"inputs": [[[]] * 64]}, "empty or ragged"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
]


@pytest.mark.parametrize(("body", "reason"), BAD_BODIES)
def test_malformed_request_gets_400_with_a_reason(body: Any, reason: str) -> None:
    context = FakeContext()
    raw = isinstance(body, bytes)
    [reply] = eager_handler().handle([request(body, raw=raw)], context)
    assert context.statuses == {0: (400, "Bad Request")}
    assert reply["code"] == 400
    assert reason in reply["error"]


def test_one_bad_request_does_not_fail_its_batch() -> None:
    context = FakeContext()
    data = [request({"inputs": [ROW]}), request({"inputs": [[1.0]]}), request([ROW, ROW, ROW])]
    replies = eager_handler().handle(data, context)
    assert set(context.statuses) == {1}
    assert [len(r.get("predictions", [])) for r in replies] == [1, 0, 3]
    assert context.content_types == dict.fromkeys(range(3), "application/json")


def test_batch_results_equal_single_results() -> None:
    handler = eager_handler()
    rows = np.random.default_rng(0).random((5, 64)).tolist()
    batched = handler.handle([request([rows[0], rows[1]]), request(rows[2:])], FakeContext())
    single = [handler.handle([request([row])], FakeContext())[0] for row in rows]
    flat = [p for reply in batched for p in reply["predictions"]]
    assert [p["class"] for p in flat] == [s["predictions"][0]["class"] for s in single]
    np.testing.assert_allclose(
        [p["probabilities"] for p in flat],
        [s["predictions"][0]["probabilities"] for s in single],
        atol=1e-6,
    )


def test_logits_are_turned_into_probabilities() -> None:
    [reply] = eager_handler(softmax=False).handle([request([ROW])], FakeContext())
    probabilities = reply["predictions"][0]["probabilities"]
    assert all(p >= 0 for p in probabilities)
    assert sum(probabilities) == pytest.approx(1.0)


def test_a_model_error_answers_400_for_that_request_only() -> None:
    handler = eager_handler()
    handler.row_shape = None  # no signature: the model itself rejects the wrong width
    context = FakeContext()
    replies = handler.handle([request([ROW]), request([[1.0, 2.0, 3.0]])], context)
    assert len(replies[0]["predictions"]) == 1
    assert context.statuses == {1: (400, "Bad Request")}
    assert "cannot take this input" in replies[1]["error"]


def test_initialize_reads_the_mlflow_signature_and_matches_the_model(
    saved_models: SavedModels, digits: Digits
) -> None:
    import mlflow.pytorch

    handler = MlflowHandler()
    with quiet_mlflow():
        handler.initialize(FakeContext(saved_models.dirs[1], version="1"))
    assert handler.row_shape == (64,)
    assert handler.dtype == np.float32
    assert handler.version == "1"
    rows = digits.x[:4]
    [reply] = handler.handle([request({"inputs": rows.tolist()})], FakeContext())
    with torch.inference_mode():
        expected = mlflow.pytorch.load_model(str(saved_models.dirs[1]))(torch.from_numpy(rows))
    np.testing.assert_allclose(
        [p["probabilities"] for p in reply["predictions"]], expected.numpy(), atol=1e-6
    )
    context = FakeContext()
    [bad] = handler.handle([request({"inputs": [[0.0] * 63]})], context)
    assert context.statuses == {0: (400, "Bad Request")}
    assert "expects 64" in bad["error"]


@pytest.mark.parametrize(
    ("gpu_id", "cuda", "count", "device"),
    [
        (None, False, 0, "cpu"),  # TorchServe without GPUs assigns none
        (None, True, 2, "cpu"),
        (0, False, 0, "cpu"),  # a GPU assigned but no usable CUDA (CPU-only torch): the CPU
        (1, True, 2, "cuda:1"),
        ("0", True, 1, "cuda:0"),
    ],
)
def test_device_choice(gpu_id: object, cuda: bool, count: int, device: str) -> None:
    assert mlflow_handler.choose_device(gpu_id, cuda, count) == device


def test_device_choice_refuses_a_gpu_the_worker_cannot_see() -> None:
    with pytest.raises(RuntimeError, match="assigned GPU 2, but this worker sees 2 CUDA"):
        mlflow_handler.choose_device(2, True, 2)
    with pytest.raises(RuntimeError, match="not a GPU index"):
        mlflow_handler.choose_device("gpu0", True, 2)


def test_initialize_places_the_model_on_the_assigned_device(
    saved_models: SavedModels, digits: Digits, caplog: pytest.LogCaptureFixture
) -> None:
    """TorchServe's gpu_id decides the device when CUDA is usable (here, on a CPU-only
    machine, the CPU); on a GPU machine the same test checks cuda:0 answers as the CPU does."""
    context = FakeContext(saved_models.dirs[1], version="1")
    context.system_properties["gpu_id"] = "0"
    handler = MlflowHandler()
    with quiet_mlflow(), caplog.at_level(logging.INFO, logger=mlflow_handler.logger.name):
        handler.initialize(context)
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert handler.device == expected
    assert f"on {expected}" in caplog.text
    rows = digits.x[:4]
    [reply] = handler.handle([request({"inputs": rows.tolist()})], FakeContext())
    cpu = MlflowHandler()
    with quiet_mlflow():
        cpu.initialize(FakeContext(saved_models.dirs[1], version="1"))
    assert cpu.device == "cpu"
    [reference] = cpu.handle([request({"inputs": rows.tolist()})], FakeContext())
    np.testing.assert_allclose(
        [p["probabilities"] for p in reply["predictions"]],
        [p["probabilities"] for p in reference["predictions"]],
        atol=1e-5,
    )


def test_signature_parsing() -> None:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    def tensor(shape: tuple[int, ...], dtype: Any = np.float32) -> ModelSignature:
        return ModelSignature(inputs=Schema([TensorSpec(np.dtype(dtype), shape)]))

    parse = safe_model.input_spec_from_signature
    assert parse(tensor((-1, 64))) == ((64,), np.dtype(np.float32))
    assert parse(tensor((-1, 8, 8), np.int64)) == ((8, 8), np.dtype(np.int64))
    assert parse(tensor((-1, -1)))[0] is None
    assert parse(None) == (None, np.dtype(np.float32))
    columns = ModelSignature(inputs=Schema([ColSpec("double", "a"), ColSpec("double", "b")]))
    assert parse(columns)[0] == (2,)


def test_rows_must_match_the_row_shape_or_be_flat() -> None:
    to_array = safe_model.rows_to_array
    nested = [[[1, 2], [3, 4]]]
    assert to_array(nested, (2, 2), np.dtype(np.float32), 10).shape == (1, 2, 2)
    assert to_array([[1, 2, 3, 4]], (2, 2), np.dtype(np.float32), 10).shape == (1, 2, 2)
    for bad, shape in (([[[[1, 2], [3, 4]]]], "[1, 2, 2]"), ([[[1], [2], [3], [4]]], "[4, 1]")):
        with pytest.raises(ValueError, match=r"expects rows of shape \[2, 2\]") as caught:
            to_array(bad, (2, 2), np.dtype(np.float32), 10)
        assert f"has shape {shape}" in str(caught.value)
        assert "or a flat list of 4 values" in str(caught.value)
    deep: Any = 0.5
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ValueError, match="too deep a nesting"):
        to_array([deep], None, np.dtype(np.float32), 10)
    # Without a signature rows may take any regular shape, but all the same number of values.
    assert to_array([[1, 2], [3, 4]], None, np.dtype(np.float32), 10).shape == (2, 2)


def test_image_shaped_rows_and_integer_inputs() -> None:
    rows = [[[1, 2], [3, 4]]]
    array = safe_model.rows_to_array(rows, (2, 2), np.dtype(np.int64), 10)
    assert array.shape == (1, 2, 2)
    assert array.dtype == np.int64
    flat = safe_model.rows_to_array([[1, 2, 3, 4]], (2, 2), np.dtype(np.float32), 10)
    assert flat.shape == (1, 2, 2)
    with pytest.raises(ValueError, match="expects integers"):
        safe_model.rows_to_array([[1.5, 2, 3, 4]], (2, 2), np.dtype(np.int64), 10)


# --------------------------------------------------------------------------- tasks


def test_a_feature_extractor_answers_one_vector_per_row() -> None:
    handler = eager_handler(softmax=False)
    handler.task = "feature-extraction"
    [reply] = handler.handle([request([ROW, [0.0] * 64])], FakeContext())
    assert [sorted(p) for p in reply["predictions"]] == [["embedding"], ["embedding"]]
    assert all(len(p["embedding"]) == 10 for p in reply["predictions"])


def test_a_regressor_answers_values() -> None:
    handler = eager_handler(softmax=False)
    handler.model = torch.nn.Linear(64, 1)
    handler.task = "regression"
    [reply] = handler.handle([request([ROW])], FakeContext())
    assert list(reply["predictions"][0]) == ["value"]
    assert isinstance(reply["predictions"][0]["value"], float)


def test_the_task_comes_from_the_serving_marker(tmp_path: Path) -> None:
    assert safe_model.task_of(tmp_path) == "classification"  # archives without one
    marker = tmp_path / safe_model.SERVING_MARKER
    marker.write_text(json.dumps({"task": "feature-extraction"}))
    assert safe_model.task_of(tmp_path) == "feature-extraction"
    marker.write_text(json.dumps({"task": "detection"}))
    with pytest.raises(RuntimeError, match="unknown task 'detection'"):
        safe_model.task_of(tmp_path)


@pytest.mark.parametrize(("config", "threads"), [({}, 1), ({"intra_op_threads": 2}, 2)])
def test_initialize_sets_the_intra_op_threads(
    saved_models: SavedModels, config: dict[str, Any], threads: int
) -> None:
    """One thread unless the archive's config asks for more (README "Batching": two threads
    stall batched forward passes on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        context = FakeContext(saved_models.dirs[1], version="1")
        context.model_yaml_config = {"handler": config}
        handler = MlflowHandler()
        with quiet_mlflow():
            handler.initialize(context)
        assert handler.threads == threads
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("value", [0, -1, "2", 1.5, True])
def test_intra_op_threads_refuses_what_is_not_a_count(value: object) -> None:
    with pytest.raises(RuntimeError, match="intra_op_threads must be a whole number >= 1"):
        mlflow_handler.intra_op_threads({"intra_op_threads": value})

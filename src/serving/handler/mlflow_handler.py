"""TorchServe handler for any MLflow PyTorch classifier; shipped inside every model archive.

The archive root holds the MLflow model directory (MLmodel, data/...), so ``initialize`` loads
it with ``mlflow.pytorch.load_model(model_dir)`` and reads the input shape and dtype from the
model signature. Request bodies (JSON)::

    {"inputs": [[x, ...], ...]}   {"instances": [[x, ...], ...]}   [[x, ...], ...]

A single row may be sent without the outer list. Reply per request::

    {"model_version": "3", "predictions": [{"class": 7, "probabilities": [...]}, ...]}

A malformed request gets HTTP 400 ``{"error": "<reason>", "code": 400}`` through
``context.set_response_status`` for its own index only: the other requests in the batch are
answered and the worker stays up. Rows of all valid requests run through the model as one
batch.

TorchServe constraints this file lives by: exactly ONE class in the module (TorchServe refuses
to load a handler module with two), no ``.eval()`` on MLflow's pt2 export (it raises), and no
import of the ``serving`` package (the worker only has what the archive holds).
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

DEFAULT_MAX_ROWS = 1024
_JSON = "application/json"
# Errors a model raises on input it cannot take (pt2 guards raise AssertionError).
_MODEL_INPUT_ERRORS = (RuntimeError, ValueError, TypeError, AssertionError, IndexError)


def input_spec_from_signature(signature: Any) -> tuple[tuple[int, ...] | None, np.dtype[Any]]:
    """(per-row shape or None if unknown, dtype) from an MLflow ModelSignature (or None)."""
    inputs = getattr(signature, "inputs", None)
    if inputs is None:
        return None, np.dtype(np.float32)
    if inputs.is_tensor_spec():
        specs = inputs.inputs
        if len(specs) != 1:
            raise ValueError(f"the handler supports one input tensor, the signature has {specs}")
        shape = tuple(int(d) for d in specs[0].shape)
        dtype = np.dtype(specs[0].type)
        if len(shape) < 2 or any(d < 1 for d in shape[1:]):
            return None, dtype
        return shape[1:], dtype
    # Column-based signature: one value per column, fed to the module as one float row.
    return (len(inputs.inputs),), np.dtype(np.float32)


def decode_body(request: dict[str, Any]) -> Any:
    """The JSON payload of one TorchServe request (already decoded, bytes or text)."""
    payload = request.get("body")
    if payload is None:
        payload = request.get("data")
    if isinstance(payload, bytes | bytearray):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("body is not UTF-8 text; send JSON") from None
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise ValueError(f"body is not valid JSON: {exc}") from None
    return payload


def extract_rows(payload: Any, row_shape: tuple[int, ...] | None) -> list[Any]:
    """The list of rows in ``payload``; a lone row is wrapped into a list of one."""
    if isinstance(payload, dict):
        keys = [key for key in ("inputs", "instances") if key in payload]
        if len(keys) != 1:
            raise ValueError('body must contain exactly one of "inputs" or "instances"')
        rows = payload[keys[0]]
        where = f'"{keys[0]}"'
    elif isinstance(payload, list):
        rows, where = payload, "body"
    else:
        raise ValueError(
            'body must be a JSON object with "inputs" or "instances", or a list of rows'
        )
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{where} must be a non-empty list of rows")
    if row_shape is not None and len(row_shape) == 1 and _is_number(rows[0]):
        rows = [rows]  # one flat row sent without the outer list
    return rows


def rows_to_array(
    rows: list[Any], row_shape: tuple[int, ...] | None, dtype: np.dtype[Any], max_rows: int
) -> np.ndarray[Any, Any]:
    """Validate ``rows`` against the signature and return them as one array (n, *row_shape)."""
    if len(rows) > max_rows:
        raise ValueError(f"too many rows: {len(rows)} > {max_rows}; split the request")
    expected = math.prod(row_shape) if row_shape is not None else None
    flat_rows: list[list[float]] = []
    for index, row in enumerate(rows):
        values: list[float] = []
        if not _flatten(row, values):
            raise ValueError(f"row {index} must be a list of numbers (got a non-numeric value)")
        if expected is not None and len(values) != expected:
            raise ValueError(
                f"row {index} has {len(values)} values; the model expects {expected} "
                f"(shape {list(row_shape or ())})"
            )
        if flat_rows and len(values) != len(flat_rows[0]):
            raise ValueError(f"row {index} has {len(values)} values, row 0 has {len(flat_rows[0])}")
        flat_rows.append(values)
    array = np.asarray(flat_rows, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError("inputs contain NaN or Infinity")
    if np.issubdtype(dtype, np.integer) and not np.array_equal(array, np.round(array)):
        raise ValueError(f"the model expects integers ({dtype.name}); got fractional values")
    shape = (len(rows), *(row_shape or (len(flat_rows[0]),)))
    return array.reshape(shape).astype(dtype)


def to_predictions(output: np.ndarray[Any, Any]) -> list[dict[str, Any]]:
    """One ``{"class", "probabilities"}`` per row; logits are turned into probabilities."""
    if output.ndim != 2 or output.shape[1] < 2:
        raise ValueError(f"expected a (batch, classes) output, got shape {list(output.shape)}")
    probs = output.astype(np.float64)
    is_distribution = (probs >= 0).all() and np.allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    if not is_distribution:
        shifted = np.exp(probs - probs.max(axis=1, keepdims=True))
        probs = shifted / shifted.sum(axis=1, keepdims=True)
    return [{"class": int(row.argmax()), "probabilities": [float(v) for v in row]} for row in probs]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _flatten(value: Any, out: list[float]) -> bool:
    if _is_number(value):
        out.append(float(value))
        return True
    if isinstance(value, list) and value:
        return all(_flatten(item, out) for item in value)
    return False


class MlflowHandler:
    """Loads the MLflow model at the archive root and answers batched JSON requests."""

    def __init__(self) -> None:
        self.initialized = False
        self.model: Any = None
        self.version = "unknown"
        self.row_shape: tuple[int, ...] | None = None
        self.dtype: np.dtype[Any] = np.dtype(np.float32)
        self.max_rows = DEFAULT_MAX_ROWS

    def initialize(self, context: Any) -> None:
        import mlflow.pytorch  # here, so a worker without mlflow fails at load with a clear error
        from mlflow.models import Model

        model_dir = context.system_properties["model_dir"]
        manifest = getattr(context, "manifest", None) or {}
        self.version = str(manifest.get("model", {}).get("modelVersion", "unknown"))
        handler_cfg = (getattr(context, "model_yaml_config", None) or {}).get("handler") or {}
        self.max_rows = int(handler_cfg.get("max_rows", DEFAULT_MAX_ROWS))
        self.row_shape, self.dtype = input_spec_from_signature(Model.load(model_dir).signature)
        # No .eval(): MLflow 3's pt2 export raises NotImplementedError on it.
        self.model = mlflow.pytorch.load_model(model_dir)
        self.initialized = True
        logger.info(
            "loaded MLflow model from %s: version %s, row shape %s, dtype %s",
            model_dir,
            self.version,
            self.row_shape,
            self.dtype,
        )

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[Any]:
        replies: list[Any] = [None] * len(data)
        arrays: dict[int, np.ndarray[Any, Any]] = {}
        for index, request in enumerate(data):
            try:
                rows = extract_rows(decode_body(request), self.row_shape)
                arrays[index] = rows_to_array(rows, self.row_shape, self.dtype, self.max_rows)
            except ValueError as exc:
                replies[index] = self._error(context, index, 400, str(exc))
        if arrays:
            self._predict(arrays, replies, context)
        for index in range(len(data)):
            context.set_response_content_type(index, _JSON)
        return replies

    def _predict(
        self, arrays: dict[int, np.ndarray[Any, Any]], replies: list[Any], context: Any
    ) -> None:
        shapes = {array.shape[1:] for array in arrays.values()}
        try:
            if len(shapes) != 1:
                raise ValueError("requests in this batch have different row widths")
            output = self._forward(np.concatenate(list(arrays.values())))
        except _MODEL_INPUT_ERRORS:
            # One request the signature could not vet poisons the joint batch: run each alone.
            for index, array in arrays.items():
                try:
                    replies[index] = self._reply(self._forward(array))
                except _MODEL_INPUT_ERRORS as exc:
                    logger.warning("model failed on request %d: %s", index, exc)
                    replies[index] = self._error(
                        context, index, 400, f"the model cannot take this input: {exc}"
                    )
            return
        start = 0
        for index, array in arrays.items():
            replies[index] = self._reply(output[start : start + len(array)])
            start += len(array)

    def _forward(self, batch: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        with torch.inference_mode():
            result = self.model(torch.from_numpy(np.ascontiguousarray(batch)))
        if isinstance(result, tuple | list):
            result = result[0]
        array: np.ndarray[Any, Any] = result.detach().cpu().numpy()
        return array

    def _reply(self, output: np.ndarray[Any, Any]) -> dict[str, Any]:
        return {"model_version": self.version, "predictions": to_predictions(output)}

    @staticmethod
    def _error(context: Any, index: int, status: int, message: str) -> dict[str, Any]:
        context.set_response_status(status, "Bad Request", index)
        return {"error": message, "code": status}

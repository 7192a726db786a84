"""TorchServe handler for MLflow PyTorch models; shipped inside every model archive.

TorchServe glue only: loading the model and checking inputs live in ``serving/safe_model.py``,
which the archive carries next to this file (at the archive root, importable as
``safe_model``). ``initialize`` loads the MLflow model directory at the archive root with
``safe_model.load_model_dir`` (the safe-format rules are there) and places it on the GPU
TorchServe assigned; ``handle`` vets each request of a batch with ``safe_model`` and runs the
rows of all valid requests through the model as one batch. Reply per request::

    {"model_version": "3", "predictions": [{"class": 7, "probabilities": [...]}, ...]}

A malformed request gets HTTP 400 ``{"error": "<reason>", "code": 400}`` through
``context.set_response_status`` for its own index only: the other requests in the batch are
answered and the worker stays up.

TorchServe constraints this file lives by: exactly ONE class in the module (TorchServe refuses
to load a handler module with two), no ``.eval()`` on MLflow's pt2 export (it raises), and no
absolute import of the project's package (the worker only has what the archive holds).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

try:  # imported from the package (tests, tools)
    from .. import safe_model
except ImportError:  # a TorchServe worker: the archive root is on sys.path
    import safe_model  # type: ignore[import-not-found, no-redef]

logger = logging.getLogger(__name__)

_JSON = "application/json"


def choose_device(gpu_id: object, cuda_available: bool, cuda_count: int) -> str:
    """The device a worker runs its model on: ``cuda:<gpu_id>`` when TorchServe assigned a
    GPU (``system_properties["gpu_id"]``, None on a CPU-only server) and CUDA is usable,
    else ``cpu``. A GPU id this process cannot see is a misconfiguration: say so, do not
    fall back to the CPU silently on a node that reserved a GPU."""
    if gpu_id is None or gpu_id == "" or not cuda_available:
        return "cpu"
    try:
        index = int(str(gpu_id))
    except ValueError:
        raise RuntimeError(f"TorchServe assigned gpu_id {gpu_id!r}, not a GPU index") from None
    if not 0 <= index < cuda_count:
        raise RuntimeError(
            f"TorchServe assigned GPU {index}, but this worker sees {cuda_count} CUDA "
            "device(s); check number_of_gpu and the pod's nvidia.com/gpu limit"
        )
    return f"cuda:{index}"


def intra_op_threads(handler_cfg: dict[str, Any]) -> int:
    """Torch intra-op threads of one worker: the archive's config ``handler:
    {intra_op_threads: N}``, else 1.

    One by default, as measured (bench/batching.py; README "Batching"): with torch's default of
    one thread per core, a batched forward pass of these small models waits on an OpenMP
    barrier whenever another process holds the other core (the router, the frontend, a second
    worker) — 40-100 ms per batch on a busy 2-core machine, against 0.2-0.4 ms with one thread.
    """
    value = handler_cfg.get("intra_op_threads", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RuntimeError(
            f"handler intra_op_threads must be a whole number >= 1, got {value!r}; fix the "
            "archive's model config"
        )
    return value


class MlflowHandler:
    """Loads the MLflow model at the archive root and answers batched JSON requests."""

    def __init__(self) -> None:
        self.initialized = False
        self.model: Any = None
        self.version = "unknown"
        self.row_shape: tuple[int, ...] | None = None
        self.dtype: np.dtype[Any] = np.dtype(np.float32)
        self.max_rows = safe_model.DEFAULT_MAX_ROWS
        self.task = "classification"
        self.device = "cpu"
        self.threads = 1

    def initialize(self, context: Any) -> None:
        model_dir = context.system_properties["model_dir"]
        manifest = (getattr(context, "manifest", None) or {}).get("model", {})
        self.version = str(manifest.get("modelVersion", "unknown"))
        handler_cfg = (getattr(context, "model_yaml_config", None) or {}).get("handler") or {}
        self.max_rows = int(handler_cfg.get("max_rows", safe_model.DEFAULT_MAX_ROWS))
        self.threads = intra_op_threads(handler_cfg)
        torch.set_num_threads(self.threads)
        loaded = safe_model.load_model_dir(
            model_dir,
            name=str(manifest.get("modelName", "unknown")),
            version=self.version,
            archive_root=True,
        )
        self.model, self.task = loaded.model, loaded.task
        self.row_shape, self.dtype = loaded.row_shape, loaded.dtype
        self.device = choose_device(
            context.system_properties.get("gpu_id"),
            torch.cuda.is_available(),
            torch.cuda.device_count(),
        )
        if self.device != "cpu":
            self.model = self.model.to(self.device)
        self.initialized = True
        logger.info(
            "loaded MLflow model from %s: version %s, task %s, row shape %s, dtype %s, on %s",
            model_dir,
            self.version,
            self.task,
            self.row_shape,
            self.dtype,
            self.device,
        )

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[Any]:
        replies: list[Any] = [None] * len(data)
        arrays: dict[int, np.ndarray[Any, Any]] = {}
        for index, request in enumerate(data):
            try:
                payload = safe_model.decode_body(request)
                rows = safe_model.extract_rows(payload, self.row_shape)
                arrays[index] = safe_model.rows_to_array(
                    rows, self.row_shape, self.dtype, self.max_rows
                )
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
        except safe_model.MODEL_INPUT_ERRORS:
            # One request the signature could not vet poisons the joint batch: run each alone.
            for index, array in arrays.items():
                try:
                    replies[index] = self._reply(self._forward(array))
                except safe_model.MODEL_INPUT_ERRORS as exc:
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
        return safe_model.forward(self.model, batch, self.device)

    def _reply(self, output: np.ndarray[Any, Any]) -> dict[str, Any]:
        return {"model_version": self.version, "predictions": safe_model.ANSWERS[self.task](output)}

    @staticmethod
    def _error(context: Any, index: int, status: int, message: str) -> dict[str, Any]:
        context.set_response_status(status, "Bad Request", index)
        return {"error": message, "code": status}

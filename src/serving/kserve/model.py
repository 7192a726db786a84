"""A kserve Model holding several versions of one model, loaded from our model archives.

A version is loaded from a .mar in the model store (the same archive TorchServe serves): it
is extracted into a private directory and loaded by ``serving.safe_model`` with the archive
rules (pt2 export only unless the archive carries the trust marker), after checking that the
archive's manifest holds the requested version. Unversioned requests get the default.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from kserve import InferOutput, InferRequest, InferResponse, Model
from kserve.errors import InvalidInput, ModelNotFound

from serving import safe_model

#: Header the server's routing sets from /v2/models/{name}/versions/{v}/... (never a client's).
VERSION_HEADER = "x-modelreg-version"
_DATATYPES = {"float32": "FP32", "float64": "FP64", "int64": "INT64", "int32": "INT32"}


class LoadRefused(Exception):
    """A version cannot be loaded; ``status`` is the HTTP status the management API answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class VersionedModel(Model):  # type: ignore[misc]  # kserve has no type information
    """All loaded versions of one served model; kserve routes requests here by name."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.versions: dict[str, safe_model.LoadedModel] = {}
        self.archives: dict[str, str] = {}
        self.default: str | None = None
        self._lock = threading.Lock()
        self.ready = True

    def load_version(self, archive: Path, version: str, work_dir: Path) -> None:
        """Extract ``archive`` into ``work_dir`` and load it as ``version`` (LoadRefused)."""
        if version in self.versions:
            raise LoadRefused(409, f"{self.name} version {version} is loaded already")
        target = work_dir / f"{self.name}-v{version}"
        shutil.rmtree(target, ignore_errors=True)
        try:
            with zipfile.ZipFile(archive) as mar:
                mar.extractall(target)  # zipfile drops absolute paths and ".." parts
            manifest = json.loads((target / "MAR-INF" / "MANIFEST.json").read_text("utf-8"))
        except (OSError, zipfile.BadZipFile, ValueError) as exc:
            shutil.rmtree(target, ignore_errors=True)
            raise LoadRefused(400, f"{archive.name} is not a model archive ({exc})") from None
        held = str((manifest.get("model") or {}).get("modelVersion"))
        if held != version:
            shutil.rmtree(target, ignore_errors=True)
            raise LoadRefused(
                400,
                f"{archive.name} holds version {held}, not {version}; load the archive built "
                "for that version",
            )
        try:
            loaded = safe_model.load_model_dir(
                target, name=self.name, version=version, archive_root=True
            )
        except RuntimeError as exc:
            shutil.rmtree(target, ignore_errors=True)
            raise LoadRefused(400, str(exc)) from None
        with self._lock:
            self.versions[version] = loaded
            self.archives[version] = archive.name
            if self.default is None:
                self.default = version

    def unload_version(self, version: str) -> None:
        with self._lock:
            if version not in self.versions:
                raise LoadRefused(404, f"{self.name} has no version {version} loaded")
            if version == self.default and len(self.versions) > 1:
                raise LoadRefused(
                    403,
                    f"version {version} is the default of {self.name}; set another default "
                    "before unloading it",
                )
            del self.versions[version]
            del self.archives[version]
            if version == self.default:
                self.default = None

    def set_default(self, version: str) -> None:
        with self._lock:
            if version not in self.versions:
                raise LoadRefused(404, f"{self.name} has no version {version} loaded")
            self.default = version

    def pick(self, version: str | None) -> safe_model.LoadedModel:
        with self._lock:
            chosen = version or self.default
            loaded = self.versions.get(chosen) if chosen is not None else None
        if loaded is None:
            raise ModelNotFound(f"{self.name} version {chosen}")
        return loaded

    async def predict(
        self, payload: InferRequest, headers: dict[str, str] | None = None
    ) -> InferResponse:
        loaded = self.pick((headers or {}).get(VERSION_HEADER))
        if not isinstance(payload, InferRequest) or len(payload.inputs) != 1:
            raise InvalidInput("send exactly one input tensor (the rows, shape [n, ...])")
        try:
            rows = payload.inputs[0].as_numpy()
            batch = loaded.to_array({"inputs": rows.tolist()})
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        try:
            output = await asyncio.to_thread(loaded.forward, batch)
        except safe_model.MODEL_INPUT_ERRORS as exc:
            raise InvalidInput(f"the model cannot take this input: {exc}") from None
        return InferResponse(
            response_id=payload.id or "",
            model_name=self.name,
            model_version=loaded.version,
            infer_outputs=_outputs(loaded.answer(output)),
        )

    def metadata(self, version: str) -> dict[str, Any]:
        loaded = self.pick(version)
        shape = [-1, *(loaded.row_shape or (-1,))]
        datatype = _DATATYPES.get(loaded.dtype.name, "FP32")
        return {
            "name": self.name,
            "versions": sorted(self.versions, key=_version_key),
            "platform": "pytorch_pt2",
            "inputs": [{"name": "input", "datatype": datatype, "shape": shape}],
            "outputs": [
                {"name": name, "datatype": "FP32", "shape": [-1, -1]}
                for name in _OUTPUT_NAMES[loaded.task]
            ],
        }


_OUTPUT_NAMES = {
    "classification": ("probabilities", "class"),
    "feature-extraction": ("embedding",),
    "regression": ("value",),
}


def _outputs(answers: list[dict[str, Any]]) -> list[InferOutput]:
    """One tensor per answer field: [n, k] for lists, [n] for scalars."""
    outputs = []
    for key in answers[0]:
        values = np.asarray([answer[key] for answer in answers])
        datatype = "INT64" if key == "class" else "FP32"
        array = values.astype(np.int64 if key == "class" else np.float32)
        output = InferOutput(name=key, shape=list(array.shape), datatype=datatype)
        output.set_data_from_numpy(array)
        outputs.append(output)
    return outputs


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), version) if version.isdigit() else (1 << 62, version)

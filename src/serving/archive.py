"""Build TorchServe model archives (.mar) from local MLflow model directories, cached by content.

The caller downloads a version's MLflow model directory (the one holding ``MLmodel``); this
module packs it with ``handler/mlflow_handler.py`` and ``safe_model.py`` (the loader and input
checks the handler imports) so the MLflow files sit at the archive root. The archive lands in
the model store as ``<served name>-v<version>-<hash12>.mar``, where the hash covers every file
of the model directory, the handler, the loader and the trust marker: building the
same thing again is a no-op that returns ``cached=True``. ``find_archive`` finds an archive of
a version without the model directory, so a caller can skip the download.

A model whose loading could run code (anything but MLflow's pt2 export: pickle, code_paths,
other loaders) is refused with ``UNSAFE_MODEL`` unless the caller passes
``allow_code_on_load=True`` (an operator trusted that version); the archive then carries
``modelreg-trust.json``, without which the handler refuses to load such a model too.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from serving.config import Task
from serving.errors import ServingError, ServingErrorCode
from serving.naming import archive_file_name, served_name, ts_version

HANDLER_FILE = "mlflow_handler.py"
# serving/safe_model.py, shipped next to the handler (which imports it as ``safe_model``).
LOADER_FILE = "safe_model.py"
# safe_model's TRUST_MARKER, repeated so `import serving.archive` does not import numpy (a
# test pins both this name and trust_marker() to safe_model's).
TRUST_MARKER = "modelreg-trust.json"
# safe_model's SERVING_MARKER: how to answer (the model's task from models.yaml).
SERVING_MARKER = "modelreg-serving.json"
# Bump when the archive layout changes, so old cached archives are not reused.
_LAYOUT = b"modelreg-mar-v2"
_CHUNK = 1 << 20


class ArchiveResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    served_name: str
    version: int
    path: Path
    file_name: str
    content_hash: str
    cached: bool
    seconds: float


def handler_source() -> bytes:
    """The handler file shipped as package data."""
    return importlib.resources.files("serving.handler").joinpath(HANDLER_FILE).read_bytes()


def loader_source() -> bytes:
    """The shared loader module shipped next to the handler."""
    return importlib.resources.files("serving").joinpath(LOADER_FILE).read_bytes()


def trust_marker() -> bytes:
    """The marker file's content for a version an operator trusted to run code on load."""
    return json.dumps({"allow_code_on_load": True}).encode("utf-8") + b"\n"


def serving_marker(task: Task) -> bytes:
    """The marker file that tells the handler how to answer for this model."""
    return json.dumps({"task": task}).encode("utf-8") + b"\n"


def content_hash(
    model_dir: Path,
    handler: bytes | None = None,
    trust: bytes | None = None,
    task: Task = "classification",
) -> str:
    """sha256 over layout, handler, loader, trust marker (if any), serving marker and each
    file (path, bytes) of a dir."""
    digest = hashlib.sha256(_LAYOUT)
    source = handler_source() if handler is None else handler
    digest.update(len(source).to_bytes(8, "big") + source)
    loader = loader_source()
    digest.update(b"loader" + len(loader).to_bytes(8, "big") + loader)
    if trust is not None:
        digest.update(b"trust" + len(trust).to_bytes(8, "big") + trust)
    serving = serving_marker(task)
    digest.update(b"serving" + len(serving).to_bytes(8, "big") + serving)
    files = sorted(p for p in model_dir.rglob("*") if p.is_file())
    for path in files:
        rel = path.relative_to(model_dir).as_posix().encode("utf-8")
        digest.update(len(rel).to_bytes(4, "big") + rel)
        digest.update(path.stat().st_size.to_bytes(8, "big"))
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def build_archive(
    model_dir: Path,
    model: str,
    version: int,
    model_store: Path,
    *,
    timeout_s: float = 300.0,
    allow_code_on_load: bool = False,
    task: Task = "classification",
) -> ArchiveResult:
    """Pack ``model_dir`` (an MLflow model) for registry ``model`` ``version`` into the store.

    ``task`` (from models.yaml) tells the handler how to answer: class and probabilities
    for a classifier, one vector per row for a feature extractor, values for a regressor.

    ``allow_code_on_load`` skips the load-safety check and marks the archive trusted; pass it
    only for a version an operator has marked trusted.
    """
    started = time.perf_counter()
    model_dir = model_dir.resolve()
    if not (model_dir / "MLmodel").is_file():
        raise ServingError(
            ServingErrorCode.ARCHIVE_FAILED,
            f"{model_dir} is not an MLflow model directory (no MLmodel file); pass the "
            "directory that mlflow.artifacts.download_artifacts returned for the version",
        )
    trust = _check_load_safety(model_dir, model, version, allow_code_on_load)
    name = served_name(model)
    handler = handler_source()
    try:
        digest = content_hash(model_dir, handler, trust, task)
    except OSError as exc:
        raise ServingError(
            ServingErrorCode.ARCHIVE_FAILED, f"cannot read {model_dir}: {exc}"
        ) from None
    file_name = archive_file_name(model, version, digest)
    target = model_store / file_name

    def result(cached: bool) -> ArchiveResult:
        return ArchiveResult(
            model=model,
            served_name=name,
            version=version,
            path=target,
            file_name=file_name,
            content_hash=digest,
            cached=cached,
            seconds=time.perf_counter() - started,
        )

    if target.is_file():
        return result(cached=True)
    try:
        model_store.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=model_store, prefix=".build-") as tmp:
            work = Path(tmp)
            markers = {SERVING_MARKER: serving_marker(task)}
            if trust is not None:
                markers[TRUST_MARKER] = trust
            produced = _run_archiver(work, model_dir, name, version, handler, markers, timeout_s)
            # Atomic within the store: TorchServe never sees a half-written archive.
            os.replace(produced, target)
    except OSError as exc:
        raise ServingError(
            ServingErrorCode.ARCHIVE_FAILED,
            f"cannot write the archive into the model store {model_store}: {exc}",
        ) from None
    return result(cached=False)


def find_archive(
    model_store: Path,
    model: str,
    version: int,
    *,
    allow_code_on_load: bool = False,
    task: Task = "classification",
) -> Path | None:
    """The newest archive of ``model`` ``version`` in the store that holds the current handler,
    answers as ``task`` and is trusted exactly when ``allow_code_on_load`` is.

    MLflow versions are immutable, so a caller can skip downloading the model when this finds
    one; a handler upgrade makes old archives invisible here, so they get rebuilt. A trusted
    archive is never returned for an untrusted lookup (the trust may have been withdrawn).
    """
    prefix = f"{served_name(model)}-v{ts_version(version)}-"
    handler = handler_source()
    loader = loader_source()
    candidates = []
    for path in model_store.glob(f"{prefix}*.mar"):
        digest = path.name[len(prefix) : -len(".mar")]
        if len(digest) == 12 and all(c in "0123456789abcdef" for c in digest):
            candidates.append(path)
    for path in sorted(candidates, key=_mtime, reverse=True):
        try:
            with zipfile.ZipFile(path) as mar:
                trusted = TRUST_MARKER in mar.namelist()
                if (
                    mar.read(HANDLER_FILE) == handler
                    and mar.read(LOADER_FILE) == loader
                    and trusted == allow_code_on_load
                    and mar.read(SERVING_MARKER) == serving_marker(task)
                ):
                    return path
        except (OSError, KeyError, zipfile.BadZipFile):
            continue
    return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _check_load_safety(
    model_dir: Path, model: str, version: int, allow_code_on_load: bool
) -> bytes | None:
    """The trust marker to pack, or None; raises UNSAFE_MODEL for a model that may run code."""
    # Imported here: `import serving.archive` stays free of numpy.
    from serving.safe_model import RESERVED_NAMES, load_safety_problems, unsafe_model_message

    if allow_code_on_load:
        # Even a trusted model must not smuggle in a handler or marker of its own.
        reserved = sorted(p.name for p in model_dir.iterdir() if p.name in RESERVED_NAMES)
        if reserved:
            raise ServingError(
                ServingErrorCode.UNSAFE_MODEL,
                f"model {model!r} version {version}: the model directory holds {reserved}, "
                "names only the archive may use; remove them from the logged model",
            )
        return trust_marker()
    try:
        problems = load_safety_problems(model_dir)
    except OSError as exc:
        raise ServingError(
            ServingErrorCode.ARCHIVE_FAILED, f"cannot read {model_dir}: {exc}"
        ) from None
    if problems:
        raise ServingError(
            ServingErrorCode.UNSAFE_MODEL, unsafe_model_message(model, version, problems)
        )
    return None


def _run_archiver(
    work: Path,
    model_dir: Path,
    name: str,
    version: int,
    handler: bytes,
    markers: dict[str, bytes],
    timeout_s: float,
) -> Path:
    handler_path = work / HANDLER_FILE
    handler_path.write_bytes(handler)
    # A second directory whose contents also land at the archive root.
    marker_dir = work / "markers"
    marker_dir.mkdir()
    (marker_dir / LOADER_FILE).write_bytes(loader_source())
    for file_name, content in markers.items():
        (marker_dir / file_name).write_bytes(content)
    extra_files = f"{model_dir},{marker_dir}"
    export = work / "export"
    staging = work / "staging"
    export.mkdir()
    staging.mkdir()
    command = [
        sys.executable,
        "-m",
        "model_archiver.model_packaging",
        "--model-name",
        name,
        "--version",
        ts_version(version),
        "--handler",
        str(handler_path),
        "--extra-files",
        extra_files,
        "--export-path",
        str(export),
        "--archive-format",
        "default",
        "--force",
    ]
    # The archiver stages files in $TMPDIR/<model name> and deletes that directory first:
    # a private TMPDIR keeps concurrent builds (and unrelated /tmp content) apart.
    env = {**os.environ, "TMPDIR": str(staging), "TEMP": str(staging), "TMP": str(staging)}
    try:
        completed = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ServingError(
            ServingErrorCode.ARCHIVE_FAILED,
            f"torch-model-archiver did not finish within {timeout_s:.0f} s for {name} "
            f"v{version}; check free disk space and the size of {model_dir}",
        ) from None
    except OSError as exc:
        raise ServingError(
            ServingErrorCode.ARCHIVE_FAILED, f"cannot run torch-model-archiver: {exc}"
        ) from None
    produced = export / f"{name}.mar"
    if completed.returncode != 0 or not produced.is_file():
        output = (completed.stderr or completed.stdout or "").strip()[-2000:]
        raise ServingError(
            ServingErrorCode.ARCHIVE_FAILED,
            f"torch-model-archiver failed for {name} v{version} (exit {completed.returncode}): "
            f"{output or 'no output'}; is torch-model-archiver installed in {sys.executable}?",
        )
    return produced

"""Build TorchServe model archives (.mar) from local MLflow model directories, cached by content.

The caller downloads a version's MLflow model directory (the one holding ``MLmodel``); this
module packs it with ``handler/mlflow_handler.py`` so the MLflow files sit at the archive root.
The archive lands in the model store as ``<served name>-v<version>-<hash12>.mar``, where the
hash covers every file of the model directory and the handler: building the same thing again
is a no-op that returns ``cached=True``. ``find_archive`` finds an archive of a version
without the model directory, so a caller can skip the download.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from serving.errors import ServingError, ServingErrorCode
from serving.naming import archive_file_name, served_name, ts_version

HANDLER_FILE = "mlflow_handler.py"
# Bump when the archive layout changes, so old cached archives are not reused.
_LAYOUT = b"modelreg-mar-v1"
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


def content_hash(model_dir: Path, handler: bytes | None = None) -> str:
    """sha256 over the archive layout, the handler and every file (path + bytes) of model_dir."""
    digest = hashlib.sha256(_LAYOUT)
    source = handler_source() if handler is None else handler
    digest.update(len(source).to_bytes(8, "big") + source)
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
) -> ArchiveResult:
    """Pack ``model_dir`` (an MLflow model) for registry ``model`` ``version`` into the store."""
    started = time.perf_counter()
    model_dir = model_dir.resolve()
    if not (model_dir / "MLmodel").is_file():
        raise ServingError(
            ServingErrorCode.ARCHIVE_FAILED,
            f"{model_dir} is not an MLflow model directory (no MLmodel file); pass the "
            "directory that mlflow.artifacts.download_artifacts returned for the version",
        )
    name = served_name(model)
    handler = handler_source()
    try:
        digest = content_hash(model_dir, handler)
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
            produced = _run_archiver(work, model_dir, name, version, handler, timeout_s)
            # Atomic within the store: TorchServe never sees a half-written archive.
            os.replace(produced, target)
    except OSError as exc:
        raise ServingError(
            ServingErrorCode.ARCHIVE_FAILED,
            f"cannot write the archive into the model store {model_store}: {exc}",
        ) from None
    return result(cached=False)


def find_archive(model_store: Path, model: str, version: int) -> Path | None:
    """The newest archive of ``model`` ``version`` in the store that holds the current handler.

    MLflow versions are immutable, so a caller can skip downloading the model when this finds
    one; a handler upgrade makes old archives invisible here, so they get rebuilt.
    """
    prefix = f"{served_name(model)}-v{ts_version(version)}-"
    handler = handler_source()
    candidates = []
    for path in model_store.glob(f"{prefix}*.mar"):
        digest = path.name[len(prefix) : -len(".mar")]
        if len(digest) == 12 and all(c in "0123456789abcdef" for c in digest):
            candidates.append(path)
    for path in sorted(candidates, key=_mtime, reverse=True):
        try:
            with zipfile.ZipFile(path) as mar:
                if mar.read(HANDLER_FILE) == handler:
                    return path
        except (OSError, KeyError, zipfile.BadZipFile):
            continue
    return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _run_archiver(
    work: Path, model_dir: Path, name: str, version: int, handler: bytes, timeout_s: float
) -> Path:
    handler_path = work / HANDLER_FILE
    handler_path.write_bytes(handler)
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
        str(model_dir),
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

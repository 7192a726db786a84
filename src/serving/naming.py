"""Names TorchServe and the file system accept, derived from registry model names and versions.

Registry names may hold spaces, dots or non-ASCII letters; TorchServe model names and archive
file names may not. ``served_name`` keeps a safe name unchanged and otherwise replaces the
unsafe characters and appends a short hash of the original, so two registry names never map
to the same served name. Registry versions (1, 2, ...) are TorchServe versions "1", "2", ...
"""

from __future__ import annotations

import hashlib
import re

#: What torch-model-archiver accepts as a model name (and what we accept as a file stem).
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_ARCHIVE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.mar$")
_MAX_NAME = 64


def served_name(model: str) -> str:
    """The TorchServe model name for registry model ``model`` (stable, injective)."""
    if not model:
        raise ValueError("model name is empty")
    if _SAFE_NAME.match(model) and len(model) <= _MAX_NAME and ".." not in model:
        return model
    stem = _UNSAFE_CHARS.sub("_", model).replace("..", "_").strip("._-") or "model"
    digest = hashlib.sha256(model.encode("utf-8")).hexdigest()[:8]
    return f"{stem[: _MAX_NAME - 9]}-{digest}"


def ts_version(version: int) -> str:
    """The TorchServe version string of registry version ``version``."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"registry versions are positive integers, got {version!r}")
    return str(version)


def registry_version(version: str) -> int | None:
    """The registry version a TorchServe version string stands for; None if it is not ours."""
    if version.isascii() and version.isdigit() and not version.startswith("0"):
        return int(version)
    return None


def archive_file_name(model: str, version: int, content_hash: str) -> str:
    """``<served name>-v<version>-<hash12>.mar``: unique per content, safe in any model store."""
    return f"{served_name(model)}-v{ts_version(version)}-{content_hash[:12]}.mar"


def is_archive_file_name(name: str) -> bool:
    """True for a bare ``.mar`` file name (no directory, no URL, no ``..``)."""
    return bool(_ARCHIVE_FILE.match(name)) and ".." not in name

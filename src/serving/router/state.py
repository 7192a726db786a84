"""The last accepted routing table on disk, so a restarted router resumes where it stopped.

The file is ``TableState`` as JSON. Writes are atomic: a temporary file in the same
directory, flushed and fsynced, then ``os.replace`` and an fsync of the directory, so a crash
leaves the old table or the new one, never half of one. Mode 0600: the table is not secret,
but nobody else should be able to change what a restarted router serves.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from pydantic import ValidationError

from serving.router.errors import RouterError, RouterErrorCode
from serving.router.table import TableState


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> TableState | None:
        """The saved state; None when there is no file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise self._error(f"cannot read it: {exc}") from None
        try:
            state = TableState.model_validate_json(text)
        except ValidationError as exc:
            raise self._error(f"it does not hold a valid routing table: {exc}") from None
        return state.model_copy(update={"confirmed": None})  # a reply field, never trusted

    def save(self, state: TableState) -> None:
        data = state.model_dump_json(indent=2, exclude={"confirmed"}).encode("utf-8")
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise RouterError(
                RouterErrorCode.STATE_FILE,
                f"cannot write the state file {self.path}: {exc}; the table was not changed",
            ) from None

    def _error(self, detail: str) -> RouterError:
        return RouterError(
            RouterErrorCode.STATE_FILE,
            f"state file {self.path}: {detail}; fix or delete it (the control plane then "
            "writes the table again)",
        )

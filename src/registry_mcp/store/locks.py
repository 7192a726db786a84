"""Per-model locks that serialise promotions across processes.

PostgreSQL: a session-level advisory lock keyed by the model name. SQLite: a lock file
beside the database. Either way a waiter gives up after ``timeout_s`` with LOCK_TIMEOUT.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.store.database import is_postgres


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (PostgreSQL advisory locks take bigint)."""
    digest = hashlib.sha256(f"modelreg:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _timeout(name: str, timeout_s: float) -> RegistryError:
    return RegistryError(
        ErrorCode.LOCK_TIMEOUT,
        f"Another promotion of {name!r} held the lock for more than {timeout_s:g}s; "
        "nothing was changed. Retry, or check for a stuck process.",
    )


def sqlite_lock_dir(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise RegistryError(ErrorCode.INVALID_INPUT, "An in-memory SQLite registry cannot lock.")
    path = Path(database).resolve()
    return path.with_name(path.name + ".locks")


class ModelLocks:
    """Hands out the per-model lock appropriate to the registry's database."""

    def __init__(self, engine: Engine, timeout_s: float) -> None:
        self._engine = engine
        self._timeout_s = timeout_s
        self._lock_dir = None if is_postgres(engine) else sqlite_lock_dir(engine)

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        if self._lock_dir is None:
            with self._advisory(name):
                yield
        else:
            with self._file(name):
                yield

    @contextmanager
    def _file(self, name: str) -> Iterator[None]:
        assert self._lock_dir is not None
        digest = hashlib.sha256(name.encode()).hexdigest()[:32]
        lock = filelock.FileLock(str(self._lock_dir / f"{digest}.lock"))
        try:
            self._lock_dir.mkdir(parents=True, exist_ok=True)
            lock.acquire(timeout=self._timeout_s)
        except filelock.Timeout:
            raise _timeout(name, self._timeout_s) from None
        except OSError as exc:  # a read-only or full disk, a directory made immutable
            raise RegistryError(
                ErrorCode.BACKEND,
                f"Cannot lock {name!r}: cannot write in {self._lock_dir} "
                f"({exc.strerror or exc}); nothing was changed. Make the data home writable, "
                "or set MODELREG_HOME (or --home) to a directory you can write.",
            ) from None
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def _advisory(self, name: str) -> Iterator[None]:
        key = lock_key(name)
        deadline = time.monotonic() + self._timeout_s
        with self._engine.connect() as conn:
            delay = 0.005
            while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                conn.rollback()
                if time.monotonic() >= deadline:
                    raise _timeout(name, self._timeout_s)
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()

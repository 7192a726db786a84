"""Local files: reading what the user hands the CLI, and keeping the data home private.

User input (a card, a prediction request) is read whole but bounded, from a file or stdin,
as strict UTF-8; every failure is one ``RegistryError(INVALID_INPUT)`` naming the source.

The data home is created 0700 and the SQLite database with its journal, WAL, shared-memory
and lock files 0600 (lock directory 0700), whatever the umask: they hold the registry, the
audit trail and pending proposals. Existing database files we own are tightened; files owned
by someone else, and an existing data home that others can enter, are left as they are with
a warning, because a directory the user pointed us at may be shared on purpose.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import tempfile
from pathlib import Path

from registry_mcp.domain.errors import ErrorCode, RegistryError

_log = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_SIDE_SUFFIXES = ("-journal", "-wal", "-shm")
"""Files SQLite keeps beside a database; it creates them with the database file's mode."""

MAX_INPUT_BYTES = 16 * 1024 * 1024
STDIN = "-"


# ----------------------------------------------------------------------- user input


def _invalid(message: str) -> RegistryError:
    return RegistryError(ErrorCode.INVALID_INPUT, message)


def _read_stdin(limit: int) -> bytes:
    if sys.stdin is None:
        raise _invalid("No input: stdin is closed; pass a file instead.")
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is not None:
        data: bytes = buffer.read(limit)
        return data
    # A text-only stream (an embedding application's): surrogates mark undecodable bytes.
    return sys.stdin.read(limit).encode("utf-8", errors="surrogateescape")


def _file_of(source: Path | None) -> Path | None:
    return None if source is None or str(source) == STDIN else source


def source_name(source: Path | None, what: str) -> str:
    """How messages name an input: "standard input" or e.g. "card file card.json"."""
    path = _file_of(source)
    return "standard input" if path is None else f"{what} {path}"


def read_input(source: Path | None, *, what: str, max_bytes: int = MAX_INPUT_BYTES) -> str:
    """The text of ``source``, or of stdin when it is None or '-'.

    ``what`` names the input in errors ("card file"). Raises INVALID_INPUT when the file
    cannot be read, is larger than ``max_bytes``, or is not UTF-8 (a leading BOM is allowed).
    """
    path = _file_of(source)
    label = source_name(source, what)
    try:
        if path is None:
            data = _read_stdin(max_bytes + 1)
        else:
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)
    except OSError as exc:
        instead = (
            "give a file instead"
            if path is None
            else f"give the path of a readable file (or {STDIN} for stdin)"
        )
        raise _invalid(f"Cannot read {label}: {exc.strerror or exc}; {instead}.") from None
    if len(data) > max_bytes:
        raise _invalid(
            f"The {label} is larger than {max_bytes // (1024 * 1024)} MiB; send a smaller document."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid(
            f"The {label} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); save it as UTF-8 and try again."
        ) from None


# ------------------------------------------------------------------- private storage


def _mode(st: os.stat_result) -> str:
    return f"{stat.S_IMODE(st.st_mode):04o}"


def _tighten(path: Path, mode: int) -> None:
    """Remove group and other access from ``path`` if we own it; warn if we cannot."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or not stat.S_IMODE(st.st_mode) & 0o077:
        return
    if st.st_uid == os.geteuid():
        try:
            os.chmod(path, mode)
            return
        except OSError:
            pass
    _log.warning(
        "%s is accessible to other users (mode %s) and modelreg cannot change that; "
        "ask its owner to run `chmod %o %s`.",
        path,
        _mode(st),
        mode,
        path,
    )


def check_not_a_file(home: Path) -> None:
    """Refuse a data home that exists but is not a directory (a file, a broken link)."""
    if os.path.lexists(home) and not home.is_dir():
        raise _invalid(
            f"The data home {home} exists but is not a directory; set MODELREG_HOME "
            "(or --home) to a directory."
        )


def private_dir(path: Path) -> None:
    """Create the data home ``path`` (and missing parents) mode 0700.

    An existing directory is left as it is, with a warning if others can enter it.
    """
    try:
        path.mkdir(parents=True, mode=PRIVATE_DIR_MODE)
    except FileExistsError:
        check_not_a_file(path)
        _check_writable(path)
        st = path.stat()
        if stat.S_IMODE(st.st_mode) & 0o077:
            _log.warning(
                "The data home %s is accessible to other users (mode %s); run `chmod 700 %s` "
                "to keep the registry private.",
                path,
                _mode(st),
                path,
            )
        return
    except OSError as exc:
        raise _invalid(
            f"Cannot create the data home {path}: {exc.strerror or exc}; set MODELREG_HOME "
            "(or --home) to a directory you can write."
        ) from None
    # mkdir's mode is filtered by the umask; the data home must not depend on it.
    os.chmod(path, PRIVATE_DIR_MODE)


def _check_writable(home: Path) -> None:
    """Refuse a data home this process cannot create files in (read-only file system,
    immutable directory, no permission) now, by trying: the database, lock files and
    serving files would fail later, halfway through a command."""
    try:
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as exc:
        raise _invalid(
            f"The data home {home} is not writable ({exc.strerror or exc}); make it writable, "
            "or set MODELREG_HOME (or --home) to a directory you can write."
        ) from None


def private_sqlite(database: Path) -> None:
    """Create the SQLite database file 0600 before SQLite does, and tighten what exists.

    SQLite gives its journal, WAL and shared-memory files the database file's mode, so a
    private database file keeps them private too. The lock directory beside it (see
    ``locks.sqlite_lock_dir``) is made 0700: the lock library creates its files 0644.
    """
    if not database.parent.is_dir():
        return  # SQLite reports the missing directory when it connects
    try:
        fd = os.open(database, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        pass
    except OSError:
        return  # unwritable: SQLite reports it when it connects, with the path
    else:
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)  # the umask may have removed owner bits
        finally:
            os.close(fd)
    for path in (database, *(database.with_name(database.name + s) for s in SQLITE_SIDE_SUFFIXES)):
        _tighten(path, PRIVATE_FILE_MODE)
    lock_dir = database.with_name(database.name + ".locks")
    try:
        lock_dir.mkdir(mode=PRIVATE_DIR_MODE)
        os.chmod(lock_dir, PRIVATE_DIR_MODE)
    except FileExistsError:
        _tighten(lock_dir, PRIVATE_DIR_MODE)
    except OSError:
        pass  # the lock code creates it, or reports why it cannot

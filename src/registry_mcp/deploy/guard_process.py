"""The guard watcher as a background process next to the router: `serve up` starts it,
`serve down` stops it, `serve status` and `guard status` report it.

Like the router, it runs in its own session with a pid file under the data home
(``guard/watcher.pid``); a pid is only trusted after ``/proc`` shows it is still a watcher
of this data home. Each check the watcher makes touches ``guard/heartbeat``, so anyone can
tell whether guarded promotions are being watched right now, and how recently.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.domain.errors import ErrorCode, RegistryError

_MODULE = "registry_mcp.cli"
STALE_AFTER_S = 10.0
"""A heartbeat older than this means nobody watches (the watcher checks every 0.5 s)."""


class WatcherStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    running: bool
    pid: int | None = None
    last_check_s_ago: float | None = Field(
        default=None, description="Seconds since any watcher last checked the guards."
    )
    log_file: str

    @property
    def watching(self) -> bool:
        """Some watcher (ours or a `modelreg guard watch` elsewhere) checked recently."""
        return self.last_check_s_ago is not None and self.last_check_s_ago <= STALE_AFTER_S

    def describe(self) -> str:
        if self.running:
            head = f"Guard watcher running (pid {self.pid})"
        else:
            head = "Guard watcher not running here"
        if self.last_check_s_ago is None:
            return f"{head}; no watcher has checked the guards yet."
        return f"{head}; guards last checked {self.last_check_s_ago:.1f} s ago."


class GuardProcess:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.directory = home / "guard"
        self.pid_file = self.directory / "watcher.pid"
        self.log_file = self.directory / "watcher.log"
        self.heartbeat_file = self.directory / "heartbeat"

    def beat(self) -> None:
        """Record that the guards were just checked (called by the watcher every tick)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = self.heartbeat_file.with_suffix(".tmp")
        partial.write_text(f"{time.time():.3f}\n")
        partial.replace(self.heartbeat_file)

    def status(self) -> WatcherStatus:
        last = None
        with contextlib.suppress(OSError, ValueError):
            last = max(0.0, time.time() - float(self.heartbeat_file.read_text().strip()))
        pid = self._pid()
        return WatcherStatus(
            running=pid is not None,
            pid=pid,
            last_check_s_ago=None if last is None else round(last, 1),
            log_file=str(self.log_file),
        )

    def up(self) -> WatcherStatus:
        """Start the watcher unless one of ours runs already."""
        if self._pid() is None:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            args = [sys.executable, "-m", _MODULE, "--home", str(self.home), "guard", "watch"]
            try:
                pid = os.posix_spawn(
                    sys.executable,
                    args,
                    {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
                    file_actions=[
                        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                        (
                            os.POSIX_SPAWN_OPEN,
                            1,
                            str(self.log_file),
                            os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                            0o600,
                        ),
                        (os.POSIX_SPAWN_DUP2, 1, 2),
                    ],
                    setsid=True,
                )
            except OSError as exc:
                raise RegistryError(
                    ErrorCode.BACKEND, f"cannot start the guard watcher: {exc.strerror or exc}"
                ) from None
            self.pid_file.write_text(f"{pid}\n")
            os.chmod(self.pid_file, 0o600)
            self._wait_started(pid)
        return self.status()

    def _wait_started(self, pid: int, timeout_s: float = 10.0) -> None:
        """Until /proc shows the spawned process as our watcher; a clear error if it died."""
        deadline = time.monotonic() + timeout_s
        while not self._is_ours(pid):
            if _exited(pid) or time.monotonic() > deadline:
                self.pid_file.unlink(missing_ok=True)
                tail = ""
                with contextlib.suppress(OSError):
                    tail = self.log_file.read_text()[-500:].strip()
                raise RegistryError(
                    ErrorCode.BACKEND,
                    f"the guard watcher did not start; see {self.log_file}"
                    + (f": {tail}" if tail else ""),
                )
            time.sleep(0.05)

    def down(self, grace_s: float = 10.0) -> WatcherStatus:
        pid = self._pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while self._is_ours(pid) and not _exited(pid):
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(pid, signal.SIGKILL)
                    break
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return self.status()

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._is_ours(pid) and not _exited(pid) else None

    def _is_ours(self, pid: int) -> bool:
        try:
            if os.stat(f"/proc/{pid}").st_uid != os.geteuid():
                return False
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return (
            _MODULE.encode() in args
            and os.fsencode(str(self.home)) in args
            and args[-3:-1] == [b"guard", b"watch"]
        )


def _exited(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not Path(f"/proc/{pid}").exists()
    return done == pid

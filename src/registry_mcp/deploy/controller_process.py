"""The controller as background processes next to the router: `serve up` starts it, `serve
down` stops it, `serve status` reports it.

Two processes of the same command watch each other: the controller (``controller run``) and
its watchdog (``controller watchdog``). Each restarts the other when it dies (kill -9
included), so a single crash never leaves serving without its safety net; ``serve down``
writes a stop mark first, so neither restarts anything while the stack goes down.

Pid files live under ``<home>/controller/``; a pid is only trusted after ``/proc`` shows it is
still that role of this data home. Every tick the controller touches ``heartbeat`` and writes
what it last observed to ``status.json`` (status apart from spec: anyone can see when it last
looked and what it saw).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.store.settings import controller_heartbeat

_MODULE = "registry_mcp.cli"
STALE_AFTER_S = 10.0
"""A heartbeat older than this means nobody watches (the controller ticks every 0.5 s)."""

Role = Literal["run", "watchdog"]


class ControllerStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    running: bool
    pid: int | None = None
    watchdog_pid: int | None = None
    last_check_s_ago: float | None = Field(
        default=None, description="Seconds since the controller last completed a tick."
    )
    last_tick: dict[str, object] | None = Field(
        default=None, description="What the last tick observed and did (status.json)."
    )
    log_file: str

    @property
    def watching(self) -> bool:
        """Some controller (ours or a `modelreg controller run` elsewhere) ticked recently."""
        return self.last_check_s_ago is not None and self.last_check_s_ago <= STALE_AFTER_S

    def describe(self) -> str:
        if self.running:
            head = f"Controller running (pid {self.pid}"
            head += "" if self.watchdog_pid is None else f", watchdog pid {self.watchdog_pid}"
            head += ")"
        else:
            head = "Controller not running here"
        if self.last_check_s_ago is None:
            return f"{head}; it has not checked serving yet."
        text = f"{head}; serving and guards last checked {self.last_check_s_ago:.1f} s ago"
        tick = self.last_tick or {}
        if tick:
            text += "; " + ("in sync" if tick.get("in_sync") else "converging")
            problems = tick.get("problems")
            if isinstance(problems, list) and problems:
                text += f" ({'; '.join(str(p) for p in problems[:3])})"
        return text + "."


class ControllerProcess:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.directory = home / "controller"
        self.log_file = self.directory / "controller.log"
        self.heartbeat_file = controller_heartbeat(home)  # the registry exporter reads it too
        self.status_file = self.directory / "status.json"
        self.stop_file = self.directory / "stopped"

    def pid_file(self, role: Role) -> Path:
        return self.directory / f"{role}.pid"

    # ------------------------------------------------------------- the loop's side

    def beat(self, tick: dict[str, object] | None = None) -> None:
        """Record that serving and guards were just checked (and what was seen)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_atomic(self.heartbeat_file, f"{time.time():.3f}\n")
        if tick is not None:
            _write_atomic(self.status_file, json.dumps(tick, default=str))

    def stopping(self) -> bool:
        return self.stop_file.exists()

    def claim(self, role: Role) -> bool:
        """Write our pid as ``role``'s; False when another live process holds the role."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        other = self.pid(role)
        if other is not None and other != os.getpid():
            return False
        _write_atomic(self.pid_file(role), f"{os.getpid()}\n")
        return True

    def ensure(self, role: Role) -> int | None:
        """Start ``role`` unless it runs or the stack is stopping; its pid (None if not)."""
        if self.stopping():
            return None
        running = self.pid(role)
        if running is not None:
            return running
        return self._spawn(role)

    # ----------------------------------------------------------------- commands

    def status(self) -> ControllerStatus:
        last = None
        with contextlib.suppress(OSError, ValueError):
            last = max(0.0, time.time() - float(self.heartbeat_file.read_text().strip()))
        tick = None
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(self.status_file.read_text())
            tick = loaded if isinstance(loaded, dict) else None
        pid = self.pid("run")
        return ControllerStatus(
            running=pid is not None,
            pid=pid,
            watchdog_pid=self.pid("watchdog"),
            last_check_s_ago=None if last is None else round(last, 1),
            last_tick=tick,
            log_file=str(self.log_file),
        )

    def up(self, timeout_s: float = 30.0) -> ControllerStatus:
        """Start the controller (which starts its watchdog) unless ours runs already."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.stop_file.unlink(missing_ok=True)
        pid = self.ensure("run")
        assert pid is not None  # not stopping: the mark was just removed
        self._wait_started(pid, timeout_s)
        return self.status()

    def down(self, grace_s: float = 15.0) -> ControllerStatus:
        """Stop both processes; neither restarts the other once the stop mark is written."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.stop_file.write_text(f"{time.time():.3f}\n")
        roles: tuple[Role, ...] = ("watchdog", "run")
        for role in roles:
            pid = self.pid(role)
            if pid is not None:
                _stop(pid, role, self, grace_s)
            self.pid_file(role).unlink(missing_ok=True)
        return self.status()

    def pid(self, role: Role) -> int | None:
        try:
            pid = int(self.pid_file(role).read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._is_ours(pid, role) and not _exited(pid) else None

    # ---------------------------------------------------------------- internals

    def _spawn(self, role: Role) -> int:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        args = [sys.executable, "-m", _MODULE, "--home", str(self.home), "controller", role]
        if role == "run":
            args.append("--with-watchdog")
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
                setsid=True,  # its own session: it outlives `serve up` and its terminal
            )
        except OSError as exc:
            raise RegistryError(
                ErrorCode.BACKEND, f"cannot start the controller: {exc.strerror or exc}"
            ) from None
        _write_atomic(self.pid_file(role), f"{pid}\n")
        return pid

    def _wait_started(self, pid: int, timeout_s: float) -> None:
        """Until /proc shows the spawned process as our controller; a clear error if it died."""
        deadline = time.monotonic() + timeout_s
        while not self._is_ours(pid, "run"):
            if _exited(pid) or time.monotonic() > deadline:
                self.pid_file("run").unlink(missing_ok=True)
                tail = ""
                with contextlib.suppress(OSError):
                    tail = self.log_file.read_text()[-500:].strip()
                raise RegistryError(
                    ErrorCode.BACKEND,
                    f"the controller did not start; see {self.log_file}"
                    + (f": {tail}" if tail else ""),
                )
            time.sleep(0.05)

    def _is_ours(self, pid: int, role: Role) -> bool:
        try:
            if os.stat(f"/proc/{pid}").st_uid != os.geteuid():
                return False
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return (
            _MODULE.encode() in args
            and os.fsencode(str(self.home)) in args
            and b"controller" in args
            and role.encode() in args[args.index(b"controller") :]
        )


def _stop(pid: int, role: Role, process: ControllerProcess, grace_s: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while process._is_ours(pid, role) and not _exited(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            break
        time.sleep(0.05)


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text)
    partial.replace(path)


def _exited(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not Path(f"/proc/{pid}").exists()
    return done == pid

"""Lifecycle of a local KServe model server process: start, health wait, stop, status.

Everything lives under one serving directory::

    model-store/   archives (.mar) that may be loaded (the same files TorchServe loads)
    work/          extracted archives, one directory per loaded version
    token          the management API's bearer token (0600, new on every start)
    kserve.out     the server's stdout and stderr
    kserve.pid     the server's pid

``up`` picks a free loopback port unless one is given, starts ``python -m
serving.kserve.server`` (on ``python``, an interpreter with the ``kserve`` extra) in its own
process group and waits for ``/v2/health/live``; ``down`` terminates that group. The pid
file is trusted only while ``/proc`` shows that pid as the server of this serving directory,
so another process (``modelreg serve down``, the controller) can stop or check a server it
did not start. ``model_store`` may be shared with TorchServe (the same archives).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict, Field

from serving.errors import ServingError, ServingErrorCode

HOST = "127.0.0.1"
_SERVER_MODULE = b"serving.kserve.server"


class KServeStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    running: bool
    healthy: bool | None = Field(description="Answered /v2/health/live; None when not running.")
    pid: int | None
    url: str
    python: str = Field(description="The interpreter that runs the server (kserve installed).")
    serving_dir: Path
    model_store: Path
    token_file: Path = Field(description="The management API's bearer token (path only).")
    log_file: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class LocalKServe:
    """One KServe model server process owned by this project, rooted at ``serving_dir``."""

    def __init__(
        self,
        serving_dir: Path,
        *,
        port: int | None = None,
        python: str | None = None,
        model_store: Path | None = None,
    ):
        self.serving_dir = serving_dir.expanduser().resolve()
        self.port = port or free_port()
        self.python = python or sys.executable
        self._model_store = None if model_store is None else model_store.expanduser().resolve()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def model_store(self) -> Path:
        return self._model_store or self.serving_dir / "model-store"

    @property
    def work_dir(self) -> Path:
        return self.serving_dir / "work"

    @property
    def token_file(self) -> Path:
        return self.serving_dir / "token"

    @property
    def log_file(self) -> Path:
        return self.serving_dir / "kserve.out"

    @property
    def pid_file(self) -> Path:
        return self.serving_dir / "kserve.pid"

    def token(self) -> str:
        return self.token_file.read_text(encoding="utf-8").strip()

    def healthy(self) -> bool:
        try:
            response = httpx.get(f"{self.url}/v2/health/live", timeout=2.0, trust_env=False)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def status(self) -> KServeStatus:
        pid = self.pid
        return KServeStatus(
            running=pid is not None,
            healthy=None if pid is None else self.healthy(),
            pid=pid,
            url=self.url,
            python=self.python,
            serving_dir=self.serving_dir,
            model_store=self.model_store,
            token_file=self.token_file,
            log_file=self.log_file,
        )

    def up(self, *, timeout_s: float = 120.0) -> None:
        """Start the server unless ours runs already; return once it answers."""
        if self.pid is not None:
            self._wait_healthy(time.monotonic() + timeout_s)
            return
        with socket.socket() as sock:
            # As the server binds (uvicorn): connections of a killed server left in TIME_WAIT
            # must not block its restart on the same port.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((HOST, self.port))
            except OSError:
                raise ServingError(
                    ServingErrorCode.PORT_IN_USE,
                    f"port {self.port} on {HOST} is in use; choose another (LocalKServe(port=))",
                ) from None
        for directory in (self.serving_dir, self.model_store, self.work_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.token_file.unlink(missing_ok=True)
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(32))
        command = [
            self.python,
            "-m",
            "serving.kserve.server",
            "--port",
            str(self.port),
            "--model-store",
            str(self.model_store),
            "--work-dir",
            str(self.work_dir),
            "--token-file",
            str(self.token_file),
        ]
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
        with self.log_file.open("ab") as out:
            self._process = subprocess.Popen(
                command,
                cwd=self.serving_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(str(self._process.pid), encoding="utf-8")
        self._wait_healthy(time.monotonic() + timeout_s)

    def _wait_healthy(self, deadline: float) -> None:
        while not self.healthy():
            if self.pid is None:
                code = "" if self._process is None else f" with {self._process.poll()}"
                raise ServingError(
                    ServingErrorCode.BACKEND,
                    f"the KServe model server exited{code}: {self._log_tail()}",
                )
            if time.monotonic() > deadline:
                self.down()
                raise ServingError(
                    ServingErrorCode.TIMEOUT,
                    f"the KServe model server did not answer in time: {self._log_tail()}",
                )
            time.sleep(0.2)

    def down(self, *, grace_s: float = 15.0) -> None:
        """Stop the server and everything in its process group; a no-op when stopped."""
        pid = self.pid
        if pid is not None:
            # The server leads its own process group (start_new_session): kill the group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
            if not self._wait_gone(pid, grace_s):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                self._wait_gone(pid, grace_s)
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=grace_s)  # reap our child
        self._process = None
        self.pid_file.unlink(missing_ok=True)
        self.token_file.unlink(missing_ok=True)

    @property
    def pid(self) -> int | None:
        """The running server of this serving directory (whoever started it), or None."""
        if self._process is not None:
            self._process.poll()  # reap a dead child of ours: a zombie is not running
        try:
            pid = int(self.pid_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None
        return pid if self._is_server(pid) else None

    def _is_server(self, pid: int) -> bool:
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        # A zombie has an empty command line; a reused pid has another one.
        return _SERVER_MODULE in args and os.fsencode(str(self.work_dir)) in args

    def _wait_gone(self, pid: int, grace_s: float) -> bool:
        deadline = time.monotonic() + grace_s
        while self._is_server(pid):
            if self._process is not None:
                self._process.poll()
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"no output in {self.log_file}"
        return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])

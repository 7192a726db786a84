"""Lifecycle of a local KServe model server process: start, health wait, stop, status.

Everything lives under one serving directory::

    model-store/   archives (.mar) that may be loaded (the same files TorchServe loads)
    work/          extracted archives, one directory per loaded version
    token          the management API's bearer token (0600, new on every start)
    kserve.out     the server's stdout and stderr
    kserve.pid     the server's pid

``up`` picks a free loopback port unless one is given, starts ``python -m
serving.kserve.server`` (on ``python``, an interpreter with the ``kserve`` extra) in its own
process group and waits for ``/v2/health/live``; ``down`` terminates that group.
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

from serving.errors import ServingError, ServingErrorCode

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class LocalKServe:
    """One KServe model server process owned by this project, rooted at ``serving_dir``."""

    def __init__(self, serving_dir: Path, *, port: int | None = None, python: str | None = None):
        self.serving_dir = serving_dir.expanduser().resolve()
        self.port = port or free_port()
        self.python = python or sys.executable
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def model_store(self) -> Path:
        return self.serving_dir / "model-store"

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

    def up(self, *, timeout_s: float = 120.0) -> None:
        """Start the server unless ours runs already; return once it answers."""
        if self._process is not None and self._process.poll() is None:
            return
        with socket.socket() as sock:
            try:
                sock.bind((HOST, self.port))
            except OSError:
                raise ServingError(
                    ServingErrorCode.PORT_IN_USE,
                    f"port {self.port} on {HOST} is in use; choose another (LocalKServe(port=))",
                ) from None
        for directory in (self.serving_dir, self.model_store, self.serving_dir / "work"):
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
            str(self.serving_dir / "work"),
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
        deadline = time.monotonic() + timeout_s
        while not self.healthy():
            if self._process.poll() is not None:
                raise ServingError(
                    ServingErrorCode.BACKEND,
                    f"the KServe model server exited with {self._process.returncode}: "
                    f"{self._log_tail()}",
                )
            if time.monotonic() > deadline:
                self.down()
                raise ServingError(
                    ServingErrorCode.TIMEOUT,
                    f"the KServe model server did not answer within {timeout_s:.0f} s: "
                    f"{self._log_tail()}",
                )
            time.sleep(0.2)

    def down(self, *, grace_s: float = 15.0) -> None:
        """Stop the server and everything in its process group; a no-op when stopped."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=grace_s)
        self._process = None
        self.pid_file.unlink(missing_ok=True)
        self.token_file.unlink(missing_ok=True)

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"no output in {self.log_file}"
        return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])

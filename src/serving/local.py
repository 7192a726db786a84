"""Lifecycle of a local TorchServe process: hardened config, start, health wait, stop, status.

Everything lives under one serving directory (the registry passes ``MODELREG_HOME/serving``)::

    config.properties   generated on every `up`: loopback-only addresses, token auth on,
                        model API on, allowed_urls limited to the model store, prometheus
    key_file.json       written by TorchServe (its working directory is the serving dir)
    model-store/        archives (.mar) that may be registered
    logs/               LOG_LOCATION / METRICS_LOCATION, plus the launcher's stdout
    tmp/                TEMP/TMPDIR: pid file, extracted archives, worker sockets; private, so
                        several TorchServes (tests, dev) never share a pid file

``up`` checks Java 17+ (JAVA_MISSING) and the five ports (PORT_IN_USE) before starting and
waits until ``/ping`` answers with the inference token. ``down`` runs ``torchserve --stop
--foreground`` and then kills the process group it started, so no java or worker process is
left behind. ``status`` reports the process and URLs, never a token.

One module, longer than most: writing the config, starting, waiting for health and stopping
share the serving directory's layout and the process bookkeeping above.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serving.errors import ServingError, ServingErrorCode
from serving.schemas import ClientTimeouts, Endpoints
from serving.torchserve import TorchServeClient

HOST = "127.0.0.1"
_SERVER_MARK = "org.pytorch.serve.ModelServer"
_MIN_JAVA = 17

Progress = Callable[[str], None]


class LocalPorts(BaseModel):
    """Ports on 127.0.0.1; gRPC always starts in TorchServe 0.12, so it needs two as well."""

    model_config = ConfigDict(frozen=True)

    inference: int = Field(default=8080, ge=1, le=65535)
    management: int = Field(default=8081, ge=1, le=65535)
    metrics: int = Field(default=8082, ge=1, le=65535)
    grpc_inference: int = Field(default=7070, ge=1, le=65535)
    grpc_management: int = Field(default=7071, ge=1, le=65535)

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        values = list(self.as_dict().values())
        if len(set(values)) != len(values):
            raise ValueError(f"the five TorchServe ports must differ: {self.as_dict()}")
        return self

    def as_dict(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in type(self).model_fields}

    @classmethod
    def free(cls) -> LocalPorts:
        """Five ports free right now on 127.0.0.1 (for tests and side-by-side instances)."""
        sockets = [socket.socket() for _ in range(5)]
        try:
            for sock in sockets:
                sock.bind((HOST, 0))
            ports = [sock.getsockname()[1] for sock in sockets]
        finally:
            for sock in sockets:
                sock.close()
        return cls(**dict(zip(cls.model_fields, ports, strict=True)))


class LocalStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    running: bool
    healthy: bool | None = Field(description="Answered /ping; None when not running.")
    pid: int | None
    inference_url: str
    management_url: str
    metrics_url: str
    serving_dir: Path
    model_store: Path
    key_file: Path = Field(description="Where TorchServe writes its tokens (path only).")
    log_dir: Path


class LocalTorchServe:
    """One TorchServe process owned by this project, rooted at ``serving_dir``."""

    def __init__(
        self,
        serving_dir: Path,
        *,
        ports: LocalPorts | None = None,
        model_store: Path | None = None,
        java: str | None = None,
        token_expiration_min: int = 60,
        response_timeout_s: int = 120,
    ) -> None:
        self.serving_dir = serving_dir.expanduser().resolve()
        self.ports = ports or LocalPorts()
        self.model_store = (model_store or self.serving_dir / "model-store").resolve()
        self.java = java
        self.token_expiration_min = token_expiration_min
        self.response_timeout_s = response_timeout_s

    # ----------------------------------------------------------------- paths and URLs

    @property
    def config_file(self) -> Path:
        return self.serving_dir / "config.properties"

    @property
    def key_file(self) -> Path:
        return self.serving_dir / "key_file.json"

    @property
    def log_dir(self) -> Path:
        return self.serving_dir / "logs"

    @property
    def tmp_dir(self) -> Path:
        return self.serving_dir / "tmp"

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(
            inference=f"http://{HOST}:{self.ports.inference}",
            management=f"http://{HOST}:{self.ports.management}",
            metrics=f"http://{HOST}:{self.ports.metrics}",
        )

    def client(self, timeouts: ClientTimeouts | None = None) -> TorchServeClient:
        """A client for this server (the caller closes it)."""
        return TorchServeClient.create(self.endpoints, self.key_file, timeouts=timeouts)

    # ----------------------------------------------------------------- config

    def render_config(self) -> str:
        store = str(self.model_store)
        if any(ch in store for ch in ",\n\r"):
            raise ServingError(
                ServingErrorCode.CONFIG_INVALID,
                f"model store path {store!r} contains a comma or newline, which TorchServe's "
                "allowed_urls list cannot express; choose another directory",
            )
        # allowed_urls: Java regexes, full match; only file:// URLs of archives in the store.
        allowed = "file://" + re.escape(store) + r"/[A-Za-z0-9_.-]+\.mar"
        p = self.ports
        lines = [
            "# Generated by serving.local on every start; edits are overwritten.",
            f"inference_address=http://{HOST}:{p.inference}",
            f"management_address=http://{HOST}:{p.management}",
            f"metrics_address=http://{HOST}:{p.metrics}",
            f"grpc_inference_address={HOST}",
            f"grpc_inference_port={p.grpc_inference}",
            f"grpc_management_address={HOST}",
            f"grpc_management_port={p.grpc_management}",
            f"model_store={_escape(store)}",
            "load_models=",
            "enable_model_api=true",
            f"allowed_urls={_escape(allowed)}",
            "metrics_mode=prometheus",
            "disable_token_authorization=false",
            f"token_expiration_min={self.token_expiration_min}",
            # TS_* environment variables must not be able to switch the above off.
            "enable_envvars_config=false",
            "install_py_dep_per_model=false",
            "default_workers_per_model=1",
            f"default_response_timeout={self.response_timeout_s}",
        ]
        return "\n".join(lines) + "\n"

    # ----------------------------------------------------------------- lifecycle

    def status(self) -> LocalStatus:
        pid = self._server_pid()
        healthy: bool | None = None
        if pid is not None:
            healthy = self._healthy()
        return LocalStatus(
            running=pid is not None,
            healthy=healthy,
            pid=pid,
            inference_url=self.endpoints.inference,
            management_url=self.endpoints.management,
            metrics_url=self.endpoints.metrics,
            serving_dir=self.serving_dir,
            model_store=self.model_store,
            key_file=self.key_file,
            log_dir=self.log_dir,
        )

    def up(self, progress: Progress | None = None, *, timeout_s: float = 120.0) -> LocalStatus:
        """Start TorchServe unless it runs already; return once /ping answers."""
        say = progress or _quiet
        if self._server_pid() is not None:
            say("TorchServe is already running")
            self._wait_healthy(say, time.monotonic() + timeout_s)
            return self.status()
        say("checking Java")
        java = self._check_java()
        say(f"checking ports {self.ports.as_dict()}")
        self._check_ports()
        for directory in (self.serving_dir, self.model_store, self.log_dir, self.tmp_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.render_config(), encoding="utf-8")
        self.key_file.unlink(missing_ok=True)  # a stale file would hand out dead tokens
        say(f"starting TorchServe (management {self.endpoints.management})")
        started = time.monotonic()
        self._launch(["--start", "--ncs", "--ts-config", str(self.config_file)], java, say)
        self._wait_healthy(say, started + timeout_s)
        say(f"TorchServe is healthy after {time.monotonic() - started:.1f} s")
        return self.status()

    def down(self, progress: Progress | None = None, *, timeout_s: float = 60.0) -> LocalStatus:
        """Stop TorchServe and its workers; a no-op when it is not running."""
        say = progress or _quiet
        pid = self._server_pid()
        if pid is not None:
            group = _process_group(pid)
            say("stopping TorchServe")
            try:
                self._launch(["--stop", "--foreground"], None, say, timeout_s=timeout_s + 5)
            except ServingError as exc:
                say(f"torchserve --stop failed ({exc}); signalling the process instead")
            _terminate(pid, group, self.tmp_dir, grace_s=10.0)
        self.key_file.unlink(missing_ok=True)
        (self.tmp_dir / ".model_server.pid").unlink(missing_ok=True)
        shutil.rmtree(self.tmp_dir / "models", ignore_errors=True)  # extracted archives
        say("TorchServe is stopped")
        return self.status()

    # ----------------------------------------------------------------- internals

    def _env(self, java: str | None) -> dict[str, str]:
        env = dict(os.environ)
        tmp = str(self.tmp_dir)
        env.update(
            TEMP=tmp,  # -> java.io.tmpdir
            TMPDIR=tmp,  # -> Python's tempfile: the launcher's pid file
            TMP=tmp,
            LOG_LOCATION=str(self.log_dir),
            METRICS_LOCATION=str(self.log_dir),
            MLFLOW_DISABLE_TELEMETRY="true",
        )
        env.pop("TS_CONFIG_FILE", None)  # would replace our config
        if java is not None:
            env["JAVA_HOME"] = str(Path(java).resolve().parent.parent)
        return env

    def _launch(
        self, args: list[str], java: str | None, say: Progress, *, timeout_s: float = 60.0
    ) -> None:
        # Workers run on the launcher's Python: this interpreter, which has mlflow and torch.
        command = [sys.executable, "-m", "ts.model_server", *args]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / "torchserve.out").open("ab") as out:
            try:
                completed = subprocess.run(
                    command,
                    cwd=self.serving_dir,  # key_file.json is written into java's cwd
                    env=self._env(java),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # java inherits this process group: down() kills it
                    timeout=timeout_s,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise ServingError(
                    ServingErrorCode.TIMEOUT,
                    f"`torchserve {' '.join(args)}` did not return within {timeout_s:.0f} s",
                ) from None
            except OSError as exc:
                raise ServingError(
                    ServingErrorCode.BACKEND, f"cannot run the torchserve launcher: {exc}"
                ) from None
        if completed.returncode != 0:
            raise ServingError(
                ServingErrorCode.BACKEND,
                f"`torchserve {' '.join(args)}` exited with {completed.returncode}: "
                f"{self._log_tail()}",
            )

    def _wait_healthy(self, say: Progress, deadline: float) -> None:
        say("waiting for /ping")
        with self.client(ClientTimeouts(connect_s=1.0, request_s=2.0)) as client:
            while True:
                if self._server_pid() is None:
                    raise ServingError(
                        ServingErrorCode.BACKEND,
                        f"TorchServe exited during start-up: {self._log_tail()}",
                    )
                if self.key_file.exists():
                    try:
                        if client.ping().healthy:
                            return
                    except ServingError as exc:
                        if exc.code not in (
                            ServingErrorCode.UNAVAILABLE,
                            ServingErrorCode.UNAUTHORIZED,
                            ServingErrorCode.TIMEOUT,
                        ):
                            raise
                if time.monotonic() > deadline:
                    raise ServingError(
                        ServingErrorCode.TIMEOUT,
                        "TorchServe did not answer /ping in time; it is left running, stop it "
                        f"with down(). Last log lines: {self._log_tail()}",
                    )
                time.sleep(0.1)

    def _healthy(self) -> bool:
        if not self.key_file.exists():
            return False
        try:
            with self.client(ClientTimeouts(connect_s=1.0, request_s=2.0)) as client:
                return client.ping().healthy
        except ServingError:
            return False

    def _server_pid(self) -> int | None:
        """The pid of our TorchServe java process, or None if it is not running."""
        try:
            pid = int((self.tmp_dir / ".model_server.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _is_model_server(pid, self.tmp_dir) else None

    def _check_java(self) -> str | None:
        java = self.java
        if java is None:
            java_home = os.environ.get("JAVA_HOME")
            java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
        if java is None or not Path(java).exists():
            raise ServingError(
                ServingErrorCode.JAVA_MISSING,
                f"TorchServe needs Java {_MIN_JAVA}+, and no `java` was found"
                + (f" at {java}" if java else " on PATH or in JAVA_HOME")
                + "; install a JDK (e.g. `apt-get install openjdk-17-jre-headless`)",
            )
        try:
            probe = subprocess.run(
                [java, "-version"], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ServingError(
                ServingErrorCode.JAVA_MISSING, f"cannot run {java} -version: {exc}"
            ) from None
        major = _java_major(probe.stderr + probe.stdout)
        if major is None or major < _MIN_JAVA:
            raise ServingError(
                ServingErrorCode.JAVA_MISSING,
                f"TorchServe needs Java {_MIN_JAVA}+, {java} reports "
                f"{(probe.stderr or probe.stdout).strip().splitlines()[:1]}; install a newer JDK "
                "or set JAVA_HOME",
            )
        # Only pass JAVA_HOME on when the caller chose a java explicitly.
        return java if self.java is not None else None

    def _check_ports(self) -> None:
        for name, port in self.ports.as_dict().items():
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((HOST, port))
                except OSError:
                    raise ServingError(
                        ServingErrorCode.PORT_IN_USE,
                        f"port {port} ({name}) on {HOST} is in use by another process; stop it "
                        f"or choose other ports (LocalPorts({name}=...))",
                    ) from None

    def _log_tail(self, lines: int = 15) -> str:
        for name in ("ts_log.log", "torchserve.out"):
            path = self.log_dir / name
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            tail = [line for line in text.splitlines() if line.strip()][-lines:]
            if tail:
                return f"{path}:\n" + "\n".join(tail)
        return f"no log output in {self.log_dir}"


def _quiet(_: str) -> None:
    return None


def _escape(value: str) -> str:
    """Escape for a Java .properties value: backslashes and non-Latin-1 characters."""
    out = value.replace("\\", "\\\\")
    return "".join(ch if ord(ch) < 128 else f"\\u{ord(ch):04x}" for ch in out)


def _java_major(output: str) -> int | None:
    match = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


def _is_model_server(pid: int, tmp_dir: Path) -> bool:
    """``pid`` is the TorchServe java process whose temp dir is ``tmp_dir`` (ours)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    # A zombie has an empty cmdline; a reused pid has another command line.
    return _SERVER_MARK.encode() in args and f"-Djava.io.tmpdir={tmp_dir}".encode() in args


def _process_group(pid: int) -> int | None:
    try:
        group = os.getpgid(pid)
    except OSError:
        return None
    return None if group == os.getpgrp() else group  # never signal our own group


def _terminate(pid: int, group: int | None, tmp_dir: Path, *, grace_s: float) -> None:
    """Make sure the server and every process in its group are gone."""

    def wait() -> bool:
        deadline = time.monotonic() + grace_s
        while _is_model_server(pid, tmp_dir):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    if not wait():
        _signal(pid, group, signal.SIGTERM)
        if not wait():
            _signal(pid, None, signal.SIGKILL)
    if group is not None:
        # Workers left behind by a java that died hard: nothing of ours may survive down().
        _signal(None, group, signal.SIGKILL)


def _signal(pid: int | None, group: int | None, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone / not ours
        if group is not None:
            os.killpg(group, sig)
        elif pid is not None:
            os.kill(pid, sig)

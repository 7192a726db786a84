"""Start a router: settings, ``serve()`` (blocking, in this process) and ``LocalRouter`` (a
child process with start/stop, the way ``serving.local`` runs TorchServe).

The admin token never travels on a command line (other users can read those): ``serve``
takes it as an argument and the child process reads it from ``MODELREG_ROUTER_ADMIN_TOKEN``.
TorchServe's inference and management keys are read from its ``key_file.json``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
import uvicorn
from pydantic import BaseModel, ConfigDict, Field

from serving.errors import ServingError, ServingErrorCode
from serving.router.app import Limits, RouterApp
from serving.router.auth import AdminAuth, ClientKeys, is_loopback
from serving.router.metrics import RouterMetrics
from serving.router.state import StateFile
from serving.router.switch import Management
from serving.router.upstream import InferenceToken, Upstream
from serving.schemas import ClientTimeouts, Endpoints
from serving.torchserve import TorchServeClient

ADMIN_TOKEN_ENV = "MODELREG_ROUTER_ADMIN_TOKEN"


class RouterSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(default="127.0.0.1", description="Off loopback, clients need API keys.")
    port: int = Field(default=8090, ge=1, le=65535)
    inference_url: str = Field(description="TorchServe's inference API, e.g. http://127.0.0.1:8080")
    management_url: str = Field(description="TorchServe's management API (health, versions)")
    key_file: Path | None = Field(description="TorchServe's key_file.json; None: no token auth")
    state_file: Path = Field(description="Where the last accepted table is kept")
    client_keys_file: Path | None = Field(
        default=None, description="{'keys': {sha256: client}}; required off loopback"
    )
    upstream_connections: int = Field(default=64, ge=1, le=4096)
    upstream_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    max_body_bytes: int = Field(default=1 << 20, ge=1024, le=1 << 30)
    max_rows: int = Field(default=1024, ge=1, le=1_000_000)
    verify_loaded: bool = Field(
        default=True, description="Refuse a table naming versions TorchServe has not loaded"
    )

    def endpoints(self) -> Endpoints:
        return Endpoints(
            inference=self.inference_url,
            management=self.management_url,
            metrics=self.management_url,  # unused by the router
        )

    def to_args(self) -> list[str]:
        """The command-line arguments of ``python -m serving.router`` for these settings."""
        args: list[str] = []
        for name, value in self.model_dump().items():
            flag = "--" + name.replace("_", "-")
            if isinstance(value, bool):
                args.append(flag if value else "--no-" + flag[2:])
            elif value is not None:
                args += [flag, str(value)]
        return args


def build_app(
    settings: RouterSettings,
    admin_token: str,
    management: Management,
    *,
    refresh_token: TorchServeClient | None = None,
) -> RouterApp:
    """A router app for ``settings``; ``management`` answers health and loaded versions."""
    token = InferenceToken(
        settings.key_file, refresh=refresh_token.ping if refresh_token is not None else None
    )
    return RouterApp(
        upstream=Upstream(
            settings.inference_url,
            token,
            max_connections=settings.upstream_connections,
            timeout_s=settings.upstream_timeout_s,
        ),
        management=management,
        state_file=StateFile(settings.state_file),
        admin=AdminAuth(admin_token),
        clients=ClientKeys.load(settings.client_keys_file, required=not is_loopback(settings.host)),
        metrics=RouterMetrics(),
        limits=Limits(max_body_bytes=settings.max_body_bytes, max_rows=settings.max_rows),
        verify_loaded=settings.verify_loaded,
    )


def serve(settings: RouterSettings, admin_token: str) -> None:
    """Run the router in this process until SIGINT/SIGTERM."""
    timeouts = ClientTimeouts(connect_s=2.0, request_s=10.0)
    with TorchServeClient.create(settings.endpoints(), settings.key_file, timeouts=timeouts) as ts:
        app = build_app(settings, admin_token, ts, refresh_token=ts)
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LocalRouter:
    """A router child process: ``start`` waits for /healthz, ``stop`` leaves nothing behind."""

    def __init__(self, settings: RouterSettings, admin_token: str, *, log_file: Path) -> None:
        self.settings = settings
        self._admin_token = admin_token
        self.log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        host = self.settings.host
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{self.settings.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, *, timeout_s: float = 60.0) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        env = {**os.environ, ADMIN_TOKEN_ENV: self._admin_token, "MLFLOW_DISABLE_TELEMETRY": "true"}
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "serving.router", *self.settings.to_args()],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0, trust_env=False) as http:
            while True:
                if self._process.poll() is not None:
                    raise ServingError(
                        ServingErrorCode.BACKEND,
                        f"the router exited during start-up (code {self._process.returncode}); "
                        f"see {self.log_file}",
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(self.url + "/healthz").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServingError(
                        ServingErrorCode.TIMEOUT, f"the router did not start; see {self.log_file}"
                    )
                time.sleep(0.05)

    def stop(self, *, timeout_s: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

"""Start a router: settings, ``serve()`` (blocking, in this process) and ``LocalRouter`` (a
child process with start/stop, the way ``serving.local`` runs TorchServe).

The admin token never travels on a command line (other users can read those): ``serve``
takes it as an argument and the child process reads it from ``MODELREG_ROUTER_ADMIN_TOKEN``.
TorchServe's inference and management keys are read from its ``key_file.json``; they are the
keys of the default TorchServe (``--inference-url``) and go to it only (``TorchServes``).

``--initial-table FILE`` (on Kubernetes, the ConfigMap ``modelreg k8s render`` writes): when
the state file holds no table, ``serve`` installs FILE as generation 1 at once, each model
checked on its own (``Tables.install_initial``): the models whose TorchServe has every
version loaded serve, the others answer 503 MODEL_NOT_READY and are checked again every
few seconds until they serve. /readyz answers 503 until a table is in place and while no
model of it is ready, and names each model's state.

``--follow-table`` (on Kubernetes, where Terraform owns the table's ConfigMap): the
initial-table file is also installed again whenever it changes (``follow``), so a promotion
reaches the router without restarting it.

``--start-unconfirmed`` (the local control plane's router): a table read from the state
file may be one the registry no longer approves (the router was down while it changed), so
it is *unconfirmed* until the control plane accepts it (``POST /admin/confirm``) or replaces
it (``PUT /admin/table``). Meanwhile predictions wait up to ``--unconfirmed-wait-s`` and then
get 503 UNCONFIRMED with ``Retry-After: 1``, and /readyz answers 503. Off by default: on
Kubernetes the router starts from the rendered table (``--initial-table``), which is the
desired state already.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Collection
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
import uvicorn
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from serving.errors import ServingError, ServingErrorCode
from serving.router.app import Limits, RouterApp
from serving.router.auth import AdminAuth, ClientKeys, is_loopback
from serving.router.errors import RouterError, RouterErrorCode
from serving.router.feedback import DEFAULT_MAX_BYTES, FeedbackBook
from serving.router.follow import follow_table
from serving.router.metrics import RouterMetrics
from serving.router.stack import server_stack
from serving.router.state import StateFile
from serving.router.switch import Management, Managements, Tables
from serving.router.table import ModelUpstream, RoutingTable, TableState, base_url
from serving.router.upstream import InferenceToken, Upstream
from serving.schemas import ClientTimeouts, Endpoints, ModelDescription, PingResult
from serving.torchserve import TorchServeClient

ADMIN_TOKEN_ENV = "MODELREG_ROUTER_ADMIN_TOKEN"
#: Seconds between attempts to install the initial table while TorchServe is not ready.
INITIAL_TABLE_RETRY_S = 5.0
_TIMEOUTS = ClientTimeouts(connect_s=2.0, request_s=10.0)
_log = logging.getLogger(__name__)


class RouterSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(default="127.0.0.1", description="Off loopback, clients need API keys.")
    port: int = Field(default=8090, ge=1, le=65535)
    inference_url: str | None = Field(
        default=None,
        description="The default TorchServe's inference API, e.g. http://127.0.0.1:8080; "
        "None: every model of the table names its own upstream",
    )
    management_url: str | None = Field(
        default=None, description="The default TorchServe's management API (health, versions)"
    )
    key_file: Path | None = Field(
        description="The default TorchServe's key_file.json; None: no token auth"
    )
    state_file: Path = Field(description="Where the last accepted table is kept")
    initial_table: Path | None = Field(
        default=None,
        description="A routing table (JSON) installed when the state file holds none, after "
        "the check PUT /admin/table makes",
    )
    follow_table: bool = Field(
        default=False,
        description="Also install initial_table again whenever the file changes (checked "
        "as PUT /admin/table checks a table; retried while refused)",
    )
    client_keys_file: Path | None = Field(
        default=None, description="{'keys': {sha256: client}}; required off loopback"
    )
    upstream_connections: int = Field(default=64, ge=1, le=4096)
    upstream_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    max_body_bytes: int = Field(default=1 << 20, ge=1024, le=1 << 30)
    max_rows: int = Field(default=1024, ge=1, le=1_000_000)
    coalesce_rows: int = Field(
        default=64,
        ge=0,
        le=1_000_000,
        description="Requests to a TorchServe version beyond coalesce_in_flight at once wait "
        "for a free slot and leave merged, up to this many rows (0: each request alone)",
    )
    coalesce_in_flight: int = Field(
        default=2,
        ge=1,
        le=4096,
        description="Requests to one TorchServe version out at once before more are merged",
    )
    verify_loaded: bool = Field(
        default=True, description="Refuse a table naming versions TorchServe has not loaded"
    )
    feedback_store_bytes: int = Field(
        default=DEFAULT_MAX_BYTES,
        ge=64 << 10,
        le=4 << 30,
        description="Memory budget of the answers kept for feedback (oldest dropped first)",
    )
    start_unconfirmed: bool = Field(
        default=False,
        description="A table read from the state file at start is unconfirmed: predictions "
        "wait for PUT /admin/table or POST /admin/confirm, then get 503 with Retry-After",
    )
    unconfirmed_wait_s: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="How long a prediction waits for an unconfirmed table (0: refuse at once)",
    )

    @field_validator("inference_url", "management_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None:
            base_url(value)
        return value

    @model_validator(mode="after")
    def _default_torchserve(self) -> Self:
        if (self.inference_url is None) != (self.management_url is None):
            raise ValueError(
                "give inference_url and management_url together (the default TorchServe), or "
                "neither (every model of the table names its upstream)"
            )
        if self.follow_table and self.initial_table is None:
            raise ValueError("follow_table needs initial_table (the file to follow)")
        if self.key_file is not None and self.inference_url is None:
            raise ValueError(
                "key_file holds the default TorchServe's keys; it needs inference_url and "
                "management_url"
            )
        return self

    def endpoints(self) -> Endpoints | None:
        """The default TorchServe's endpoints; None when the router has none."""
        if self.inference_url is None or self.management_url is None:
            return None
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


class TorchServes:
    """The management side of every TorchServe the router uses (``switch.Managements``).

    The default one (``management``, with the key file's tokens) answers health and, for the
    entries without ``upstream``, loaded versions. A model's own upstream is asked without a
    token (the key file is the default server's), through a client opened for each check:
    tables change rarely, and no client outlives the check. Without a default TorchServe the
    router's health does not hang on any one model's server: ``ping`` is healthy, and each
    model's requests fail or succeed on their own.
    """

    def __init__(
        self,
        default: Management | None,
        management_url: str | None,
        timeouts: ClientTimeouts = _TIMEOUTS,
    ) -> None:
        if (default is None) != (management_url is None):
            raise ValueError("a default TorchServe needs both its client and its management URL")
        self._default = default
        self._default_url = base_url(management_url) if management_url is not None else None
        self._timeouts = timeouts

    def ping(self) -> PingResult:
        if self._default is None:
            return PingResult(healthy=True, status="no default TorchServe: each model has its own")
        return self._default.ping()

    def describe(self, model: str) -> ModelDescription:
        if self._default is None:
            raise ServingError(
                ServingErrorCode.UNAVAILABLE, "this router has no default TorchServe"
            )
        return self._default.describe(model)

    def at(self, upstream: ModelUpstream | None) -> Management | None:
        if upstream is None or upstream.management_url == self._default_url:
            return self._default
        return _OwnTorchServe(upstream, self._timeouts)


class _OwnTorchServe:
    """A model's own TorchServe, asked through a client of its own (no token)."""

    def __init__(self, upstream: ModelUpstream, timeouts: ClientTimeouts) -> None:
        self._endpoints = Endpoints(
            inference=upstream.inference_url,
            management=upstream.management_url,
            metrics=upstream.management_url,  # unused
        )
        self._timeouts = timeouts

    def ping(self) -> PingResult:
        with TorchServeClient.create(self._endpoints, None, timeouts=self._timeouts) as client:
            return client.ping()

    def describe(self, model: str) -> ModelDescription:
        with TorchServeClient.create(self._endpoints, None, timeouts=self._timeouts) as client:
            return client.describe(model)


def build_app(
    settings: RouterSettings,
    admin_token: str,
    management: Management | None,
    *,
    refresh_token: TorchServeClient | None = None,
) -> RouterApp:
    """A router app for ``settings``; ``management`` answers health and loaded versions of
    the default TorchServe (None: the settings name none)."""
    token = InferenceToken(
        settings.key_file, refresh=refresh_token.ping if refresh_token is not None else None
    )
    if not isinstance(management, Managements):
        management = TorchServes(management, settings.management_url)
    metrics = RouterMetrics()
    return RouterApp(
        upstream=Upstream(
            settings.inference_url,
            token,
            max_connections=settings.upstream_connections,
            timeout_s=settings.upstream_timeout_s,
            coalesce_rows=settings.coalesce_rows,
            coalesce_in_flight=settings.coalesce_in_flight,
            coalesce_bytes=settings.max_body_bytes,
            on_merged=metrics.merged,
        ),
        management=management,
        state_file=StateFile(settings.state_file),
        admin=AdminAuth(admin_token),
        clients=ClientKeys.load(settings.client_keys_file, required=not is_loopback(settings.host)),
        metrics=metrics,
        limits=Limits(max_body_bytes=settings.max_body_bytes, max_rows=settings.max_rows),
        verify_loaded=settings.verify_loaded,
        feedback=FeedbackBook(max_bytes=settings.feedback_store_bytes),
        start_unconfirmed=settings.start_unconfirmed,
        unconfirmed_wait_s=settings.unconfirmed_wait_s,
    )


def read_table(path: Path) -> RoutingTable:
    """The routing table in ``path`` (JSON ``{"models": ..., "routes": ...}``), or
    CONFIG_INVALID naming the file and what is wrong."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ServingError(
            ServingErrorCode.CONFIG_INVALID,
            f"cannot read the initial table {path}: {exc.strerror or exc}",
        ) from None
    try:
        return RoutingTable.model_validate_json(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '<file>'}: {e['msg']}" for e in exc.errors()
        ]
        raise ServingError(
            ServingErrorCode.CONFIG_INVALID,
            f"{path} is not a routing table: " + "; ".join(problems[:20]),
        ) from None


async def install_initial_table(
    tables: Tables, table: RoutingTable, *, retry_s: float = INITIAL_TABLE_RETRY_S
) -> TableState | None:
    """Install ``table`` as the first table, its not-ready models pending, then check those
    every ``retry_s`` until each serves (or a table from the control plane replaces it).
    None when the router has a table already, or another writer got there first."""
    state = None
    while state is None:
        if tables.current.generation != 0:
            return None
        try:
            state = await tables.install_initial(table)
        except RouterError as exc:
            if exc.code is RouterErrorCode.CONFLICT:
                return None  # an admin PUT came first: the control plane wins
            _log.warning(  # the state file cannot be written
                "initial routing table not installed (%s: %s); retrying in %g s",
                exc.code.value,
                exc.message,
                retry_s,
            )
            await asyncio.sleep(retry_s)
    _log.info("initial routing table installed (generation %d)", state.generation)
    pending = dict(tables.pending)
    while pending:
        for model, why in sorted(pending.items()):
            _log.warning("model %r not ready (%s); checking again in %g s", model, why, retry_s)
        await asyncio.sleep(retry_s)
        still = await tables.recheck_pending()
        for model in sorted(set(pending) - set(still)):
            _log.info("model %r ready: serving", model)
        pending = still
    return state


def serve(settings: RouterSettings, admin_token: str) -> None:
    """Run the router in this process until SIGINT/SIGTERM."""
    initial = read_table(settings.initial_table) if settings.initial_table is not None else None
    endpoints = settings.endpoints()
    with contextlib.ExitStack() as stack:
        default = None
        if endpoints is not None:
            default = stack.enter_context(
                TorchServeClient.create(endpoints, settings.key_file, timeouts=_TIMEOUTS)
            )
        app = build_app(settings, admin_token, default, refresh_token=default)
        http_stack = server_stack()
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            http=http_stack.http,
            loop=http_stack.loop,
            log_level="warning",
            access_log=False,
            # The peer address is the client's own: no X-Forwarded-For rewriting (a local
            # process could claim any address to the feedback check), and one middleware
            # call less per request. No "server: uvicorn" header either.
            proxy_headers=False,
            server_header=False,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            follow = settings.initial_table if settings.follow_table else None
            _log.info("serving on %s:%d (%s)", settings.host, settings.port, http_stack.name)
            runner.run(_serve(uvicorn.Server(config), app.tables, initial, follow))


async def _serve(
    server: uvicorn.Server, tables: Tables, initial: RoutingTable | None, follow: Path | None
) -> None:
    loaders: list[asyncio.Task[object]] = []
    if initial is not None and tables.current.generation == 0:
        # Per model: the ready models serve at once, the others are held and rechecked.
        loaders.append(asyncio.create_task(install_initial_table(tables, initial)))
    if follow is not None:
        # Later changes of the file; its first read finds the initial table in use.
        loaders.append(asyncio.create_task(follow_table(tables, follow, read_table)))
    try:
        await server.serve()
    finally:
        for loader in loaders:
            loader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loader


def free_port(host: str = "127.0.0.1", *, avoid: Collection[int] = ()) -> int:
    """A port free right now on ``host``, none of ``avoid`` (ports handed out before and
    released, which the kernel may hand out again)."""
    while True:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in avoid:
            return port


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

"""The local router process next to TorchServe: admin token file, start, stop, status.

The router runs detached (its own session, reparented when ``serve up`` exits), so a later
``serve down`` in another process finds it through ``router.pid`` and stops it only after
checking, in ``/proc``, that the pid is still a router of this directory (a reused pid is
left alone). The admin token is generated once into ``admin_token`` (0600, directory 0700),
handed to the router in its environment, never on its command line, and never printed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import stat
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.deploy.router_settings import RouterPlace
from registry_mcp.domain.errors import ErrorCode, RegistryError
from serving.errors import ServingError
from serving.local import LocalTorchServe
from serving.router.auth import MIN_SECRET_LENGTH, is_loopback, read_key_file

if TYPE_CHECKING:
    from serving.router.server import RouterSettings

_MODULE = "serving.router"


class RouterProcessStatus(BaseModel):
    """The router process as seen from its directory (never its token)."""

    model_config = ConfigDict(frozen=True)

    running: bool
    healthy: bool | None = Field(description="Answered /healthz; None when not running.")
    pid: int | None
    url: str
    state_file: Path
    token_file: Path = Field(description="Where the admin token is kept (path only).")
    log_file: Path


def read_admin_token(place: RouterPlace) -> str | None:
    """The admin token, or None before the first ``serve up``; tightens a loose file to 0600."""
    path = place.token_file
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _token_error(path, f"cannot open it: {exc.strerror or exc}") from None
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            raise _token_error(path, "it is not a regular file owned by this user")
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.fchmod(handle.fileno(), 0o600)
        token = handle.read().strip()
    if len(token) < MIN_SECRET_LENGTH:
        raise _token_error(path, "it holds no valid token; delete it and run `modelreg serve up`")
    return token


def ensure_admin_token(place: RouterPlace) -> str:
    """The admin token, generated on first use (0600 from creation, whatever the umask)."""
    _private_dir(place.directory)
    found = read_admin_token(place)
    if found is not None:
        return found
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(place.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:  # another `serve up` won the race: use its token
        again = read_admin_token(place)
        assert again is not None
        return again
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


class RouterProcess:
    """One router for one TorchServe, rooted at ``place.directory``."""

    def __init__(self, place: RouterPlace, server: LocalTorchServe) -> None:
        self.place = place
        self._server = server

    def settings(self) -> RouterSettings:
        # Imported here: the router's server module brings uvicorn, which status reads skip.
        from serving.router.server import RouterSettings

        endpoints = self._server.endpoints
        return RouterSettings(
            host=self.place.host,
            port=self.place.port,
            inference_url=endpoints.inference,
            management_url=endpoints.management,
            key_file=self._server.key_file,
            state_file=self.place.state_file,
            client_keys_file=self.place.client_keys,
            # A restarted router must not answer from a table the registry may no longer
            # approve: it waits for the controller's (or serve up's) confirmation.
            start_unconfirmed=True,
        )

    def running(self) -> bool:
        """Our router process is alive (pid file checked against /proc; no HTTP)."""
        return self._pid() is not None

    def status(self) -> RouterProcessStatus:
        pid = self._pid()
        return RouterProcessStatus(
            running=pid is not None,
            healthy=None if pid is None else self._healthy(),
            pid=pid,
            url=self.place.url,
            state_file=self.place.state_file,
            token_file=self.place.token_file,
            log_file=self.place.log_file,
        )

    def preflight(self) -> None:
        """Everything ``up`` needs that can be checked before starting anything."""
        settings = self.settings()
        keys = self.place.client_keys
        if keys is None and not is_loopback(self.place.host):
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                f"MODELREG_ROUTER_HOST is {self.place.host}, off loopback, so prediction "
                "clients need API keys: set MODELREG_ROUTER_CLIENT_KEYS to a file "
                '{"keys": {"<sha256 of a key>": "<client name>"}}, or bind to 127.0.0.1.',
            )
        if keys is not None:
            try:
                read_key_file(keys)
            except ServingError as exc:
                raise RegistryError(ErrorCode.INVALID_INPUT, str(exc)) from None
        running = self._pid()
        if running is None:
            self._check_port()
        else:
            _check_same_settings(running, settings)

    def up(self, *, timeout_s: float = 60.0) -> RouterProcessStatus:
        """Start the router unless it runs; return once /healthz answers."""
        settings = self.settings()  # invalid settings fail before anything starts
        running = self._pid()
        if running is not None:
            _check_same_settings(running, settings)
            self._wait_healthy(None, time.monotonic() + timeout_s)
            return self.status()
        self._check_port()
        token = ensure_admin_token(self.place)
        pid = self._spawn(settings, token)
        _write_private(self.place.pid_file, f"{pid}\n")  # first: `down` finds it whatever happens
        try:
            self._wait_healthy(pid, time.monotonic() + timeout_s)
        except RegistryError:
            self._terminate(pid)
            self.place.pid_file.unlink(missing_ok=True)
            raise
        return self.status()

    def down(self, *, grace_s: float = 15.0) -> RouterProcessStatus:
        """Stop the router; a no-op when it is not running."""
        pid = self._pid()
        if pid is not None:
            self._terminate(pid, grace_s=grace_s)
        self.place.pid_file.unlink(missing_ok=True)
        return self.status()

    # ----------------------------------------------------------------- internals

    def _spawn(self, settings: RouterSettings, token: str) -> int:
        from serving.router.server import ADMIN_TOKEN_ENV

        env = {**os.environ, ADMIN_TOKEN_ENV: token, "MLFLOW_DISABLE_TELEMETRY": "true"}
        log = str(self.place.log_file)
        try:
            return os.posix_spawn(
                sys.executable,
                [sys.executable, "-m", _MODULE, *settings.to_args()],
                env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
                    (os.POSIX_SPAWN_DUP2, 1, 2),
                ],
                setsid=True,  # its own session: it outlives `serve up`, down() kills its group
            )
        except OSError as exc:
            raise RegistryError(
                ErrorCode.BACKEND, f"cannot start the router: {exc.strerror or exc}"
            ) from None

    def _wait_healthy(self, child: int | None, deadline: float) -> None:
        with httpx.Client(timeout=2.0, trust_env=False) as http:
            while True:
                if child is not None and _exited(child):
                    raise RegistryError(
                        ErrorCode.BACKEND,
                        f"the router exited during start-up; see {self.place.log_file}: "
                        f"{_tail(self.place.log_file)}",
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(self.place.url + "/healthz").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RegistryError(
                        ErrorCode.BACKEND,
                        f"the router did not answer /healthz in time; see {self.place.log_file}",
                    )
                time.sleep(0.05)

    def _healthy(self) -> bool:
        try:
            with httpx.Client(timeout=2.0, trust_env=False) as http:
                return http.get(self.place.url + "/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def _check_port(self) -> None:
        with socket.socket(socket.AF_INET6 if ":" in self.place.host else socket.AF_INET) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.place.host, self.place.port))
            except OSError:
                raise RegistryError(
                    ErrorCode.INVALID_INPUT,
                    f"port {self.place.port} on {self.place.host} is in use by another process; "
                    "stop it or set MODELREG_ROUTER_PORT to a free port.",
                ) from None

    def _pid(self) -> int | None:
        """Our router's pid from the pid file, if that process is still our router."""
        try:
            pid = int(self.place.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._is_ours(pid) else None

    def _is_ours(self, pid: int) -> bool:
        try:
            if os.stat(f"/proc/{pid}").st_uid != os.geteuid():
                return False  # another user's process, whatever its command line says
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        # A zombie has an empty command line; a reused pid has another one.
        state = os.fsencode(str(self.place.state_file))
        return _MODULE.encode() in args and state in args

    def _terminate(self, pid: int, *, grace_s: float = 15.0) -> None:
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while self._is_ours(pid) and not _exited(pid):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)  # its own session: pgid == pid
                break
            time.sleep(0.05)
        _exited(pid)


def _check_same_settings(pid: int, settings: RouterSettings) -> None:
    if _arguments(pid) != [arg.encode() for arg in settings.to_args()]:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"the router (pid {pid}) runs with other settings than the current ones (port, "
            "host, TorchServe ports or client keys changed); restart it with "
            "`modelreg serve down` and `modelreg serve up`.",
        )


def _arguments(pid: int) -> list[bytes]:
    """The arguments after ``-m serving.router`` of a running router."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []
    if _MODULE.encode() not in args:
        return []
    return [a for a in args[args.index(_MODULE.encode()) + 1 :] if a]


def _exited(pid: int) -> bool:
    """Reap ``pid`` if it is our child and has exited; True when it is gone."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child (started by another `serve up`)
        return not Path(f"/proc/{pid}").exists()
    return done == pid


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.stat()
    if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(line for line in text.splitlines()[-lines:] if line.strip()) or "(empty)"


def _token_error(path: Path, detail: str) -> RegistryError:
    return RegistryError(
        ErrorCode.INVALID_INPUT, f"The router's admin token file {path}: {detail}."
    )

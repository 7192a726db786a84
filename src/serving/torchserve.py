"""The only HTTP client of TorchServe: inference, management and metrics APIs, with token auth.

Every call returns a typed result or raises ``ServingError`` (codes in ``serving.errors``):
``httpx`` transport errors become UNAVAILABLE / TIMEOUT, TorchServe's JSON error replies are
mapped by HTTP status and error type. Nothing else in the project speaks HTTP to TorchServe.

Tokens: TorchServe 0.12 writes ``key_file.json`` (management, inference and API keys) into
the working directory it was started from. The management and inference keys expire
(``token_expiration_min``), and a missing, wrong or expired key gets HTTP 400
``InvalidKeyException``. The client reads the file, sends ``Authorization: Bearer <key>``,
and on InvalidKeyException (or shortly before the recorded expiry) re-reads the file and, if
the key there is the one that failed, asks for a fresh key with the API key
(``GET /token?type=management|inference`` on the management port rewrites the file); then it
retries the request once. The metrics port takes no token. Keys are never logged or returned.

One module, longer than most: its three APIs share the token refresh, the retry and the error
mapping above, and keeping every HTTP call to TorchServe in one file is the point.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from serving.errors import ServingError, ServingErrorCode
from serving.keyfile import Key, read_keys
from serving.naming import is_archive_file_name
from serving.schemas import (
    Ack,
    ClientTimeouts,
    Endpoints,
    ModelDescription,
    ModelSummary,
    PingResult,
    Prediction,
    PredictionResult,
    RegisterResult,
    ServedVersion,
    VersionStatus,
    WorkerInfo,
)

Api = Literal["inference", "management", "metrics"]

_INVALID_KEY = "InvalidKeyException"


class _RawWorker(BaseModel):
    id: str
    status: str
    pid: int | None = None


class _RawVersion(BaseModel):
    model_config = ConfigDict(extra="ignore")

    modelVersion: str
    modelUrl: str = ""
    minWorkers: int = 0
    maxWorkers: int = 0
    batchSize: int = 1
    maxBatchDelay: int = 0
    workers: list[_RawWorker] = Field(default_factory=list)


class TorchServeClient:
    """Typed calls to one TorchServe; thread-safe; the ``httpx.Client`` is injected."""

    def __init__(
        self,
        endpoints: Endpoints,
        key_file: Path | None,
        *,
        http: httpx.Client,
        timeouts: ClientTimeouts | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.key_file = key_file
        self._http = http
        self._timeouts = timeouts or ClientTimeouts()
        self._owns_http = False
        self._keys: dict[str, Key] | None = None
        self._key_lock = threading.Lock()

    @classmethod
    def create(
        cls,
        endpoints: Endpoints,
        key_file: Path | None,
        *,
        timeouts: ClientTimeouts | None = None,
        max_connections: int = 32,
    ) -> TorchServeClient:
        """A client with its own connection pool (closed by ``close``)."""
        t = timeouts or ClientTimeouts()
        http = httpx.Client(
            timeout=httpx.Timeout(t.request_s, connect=t.connect_s),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            trust_env=False,  # a proxy from the environment must not see loopback traffic
        )
        client = cls(endpoints, key_file, http=http, timeouts=t)
        client._owns_http = True
        return client

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- health, listing

    def ping(self) -> PingResult:
        response = self._send("inference", "GET", "/ping", what="ping")
        body = _json_or_none(response)
        status = str(body.get("status", "")) if isinstance(body, dict) else ""
        if response.status_code == 200:
            return PingResult(healthy=True, status=status or "Healthy")
        if status:
            return PingResult(healthy=False, status=status)
        raise _translate(response, "ping")

    def list_models(self) -> list[ModelSummary]:
        found: list[ModelSummary] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if token:
                params["next_page_token"] = token
            body = self._json("management", "GET", "/models", params=params, what="list models")
            for entry in _field(body, "models", list, "list models"):
                found.append(
                    ModelSummary(name=str(entry["modelName"]), archive=str(entry["modelUrl"]))
                )
            token = body.get("nextPageToken") if isinstance(body, dict) else None
            if not token:
                return found

    def describe(self, model: str) -> ModelDescription:
        """All versions of ``model`` with workers and which one is the default."""
        what = f"describe {model}"
        default = self.default_version(model)
        raw = self._json("management", "GET", f"/models/{_q(model)}/all", what=what)
        versions = [_served_version(entry, default, what) for entry in _as_list(raw, what)]
        versions.sort(key=lambda v: (v.registry_version is None, v.registry_version, v.version))
        return ModelDescription(name=model, default_version=default, versions=tuple(versions))

    def default_version(self, model: str) -> str:
        what = f"read the default version of {model}"
        raw = self._json("management", "GET", f"/models/{_q(model)}", what=what)
        entries = _as_list(raw, what)
        if not entries:
            raise _backend(f"{what}: TorchServe returned an empty description")
        return _parse_version(entries[0], what).modelVersion

    # ----------------------------------------------------------------- management

    def register(
        self,
        archive_file_name: str,
        model_name: str,
        version: int | str,
        *,
        initial_workers: int = 1,
        batch_size: int = 1,
        max_batch_delay_ms: int = 100,
        response_timeout_s: int | None = None,
        synchronous: bool = True,
    ) -> RegisterResult:
        """Load ``archive_file_name`` (a bare file name in the model store) as ``model_name``.

        ``version`` is the version the archive's manifest holds (``serving.archive`` writes the
        registry version); it is checked after registration.
        """
        if not is_archive_file_name(archive_file_name):
            raise ServingError(
                ServingErrorCode.INVALID_REQUEST,
                f"{archive_file_name!r} is not a bare .mar file name; register archives from "
                "the model store by file name (URLs and paths are refused)",
            )
        expected = str(version)
        params: dict[str, Any] = {
            "url": archive_file_name,
            "model_name": model_name,
            "initial_workers": initial_workers,
            "batch_size": batch_size,
            "max_batch_delay": max_batch_delay_ms,
            "synchronous": str(synchronous).lower(),
        }
        if response_timeout_s is not None:
            params["response_timeout"] = response_timeout_s
        what = f"register {archive_file_name} as {model_name} v{expected}"
        with _stopwatch() as elapsed:
            body = self._json(
                "management",
                "POST",
                "/models",
                params=params,
                what=what,
                timeout=self._timeouts.load_s,
            )
        if self._send(
            "management", "GET", f"/models/{_q(model_name)}/{_q(expected)}", what=what
        ).is_error:
            raise ServingError(
                ServingErrorCode.INVALID_REQUEST,
                f"{archive_file_name} was registered, but not as {model_name} v{expected}: the "
                "archive holds another version; rebuild it with serving.archive.build_archive",
            )
        return RegisterResult(
            model=model_name,
            version=expected,
            archive=archive_file_name,
            initial_workers=initial_workers,
            message=_status(body),
            elapsed_ms=elapsed(),
        )

    def set_default(self, model: str, version: int | str) -> Ack:
        path = f"/models/{_q(model)}/{_q(str(version))}/set-default"
        return self._ack("PUT", path, what=f"set the default of {model} to v{version}")

    def scale(
        self,
        model: str,
        version: int | str,
        min_workers: int,
        max_workers: int,
        *,
        synchronous: bool = True,
    ) -> Ack:
        params = {
            "min_worker": min_workers,
            "max_worker": max_workers,
            "synchronous": str(synchronous).lower(),
        }
        return self._ack(
            "PUT",
            f"/models/{_q(model)}/{_q(str(version))}",
            params=params,
            what=f"scale {model} v{version} to {min_workers}-{max_workers} workers",
            timeout=self._timeouts.load_s,
        )

    def unregister(self, model: str, version: int | str) -> Ack:
        return self._ack(
            "DELETE",
            f"/models/{_q(model)}/{_q(str(version))}",
            what=f"unregister {model} v{version}",
            timeout=self._timeouts.load_s,
        )

    # ----------------------------------------------------------------- inference, metrics

    def predict(
        self,
        model: str,
        payload: Mapping[str, Any] | Sequence[Any],
        version: int | str | None = None,
    ) -> PredictionResult:
        path = f"/predictions/{_q(model)}"
        if version is not None:
            path += f"/{_q(str(version))}"
        what = f"predict with {model}" + (f" v{version}" if version is not None else "")
        body = self._json("inference", "POST", path, json_body=payload, what=what)
        try:
            return PredictionResult(
                model=model,
                model_version=str(body["model_version"]),
                predictions=tuple(Prediction.model_validate(p) for p in body["predictions"]),
            )
        except (KeyError, TypeError, ValidationError) as exc:
            raise _backend(f"{what}: unexpected reply from the handler: {exc}") from None

    def metrics_text(self, names: Sequence[str] | None = None) -> str:
        """Prometheus exposition text from the metrics port (optionally only ``names``)."""
        params = {"name[]": list(names)} if names else None
        response = self._send("metrics", "GET", "/metrics", params=params, what="read metrics")
        if response.is_error:
            raise _translate(response, "read metrics")
        return response.text

    # ----------------------------------------------------------------- plumbing

    def _ack(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Ack:
        with _stopwatch() as elapsed:
            body = self._json("management", method, path, params=params, what=what, timeout=timeout)
        return Ack(message=_status(body), elapsed_ms=elapsed())

    def _json(
        self,
        api: Api,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        timeout: float | None = None,
    ) -> Any:
        response = self._send(
            api, method, path, params=params, json_body=json_body, what=what, timeout=timeout
        )
        if response.is_error:
            raise _translate(response, what)
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _backend(
                f"{what}: TorchServe replied with non-JSON: {response.text[:200]!r}"
            ) from None

    def _send(
        self,
        api: Api,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        url = getattr(self.endpoints, api) + path
        for attempt in (1, 2):
            key = self._key(api)
            response = self._transport(
                method, url, what=what, params=params, json_body=json_body, key=key, timeout=timeout
            )
            if not _is_invalid_key(response) or self.key_file is None or api == "metrics":
                return response
            if attempt == 1:
                self._refresh(api, failed=key)
        raise ServingError(
            ServingErrorCode.UNAUTHORIZED,
            f"{what}: TorchServe refused the {api} token even after refreshing it from "
            f"{self.key_file}; point key_file at the key_file.json of the running TorchServe "
            "(it is written into the directory TorchServe was started from)",
        )

    def _transport(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        key: str | None,
        timeout: float | None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            return self._http.request(
                method,
                url,
                params=params,
                json=json_body,
                headers=headers,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            )
        except httpx.TimeoutException as exc:
            raise ServingError(
                ServingErrorCode.TIMEOUT,
                f"{what}: TorchServe at {url} did not answer in time ({type(exc).__name__}); "
                "it may be loading workers: retry, or raise ClientTimeouts",
            ) from None
        except httpx.TransportError as exc:
            raise ServingError(
                ServingErrorCode.UNAVAILABLE,
                f"{what}: TorchServe is not reachable at {url} ({exc}); start it "
                "(LocalTorchServe.up) or check the endpoints",
            ) from None
        except httpx.HTTPError as exc:
            raise _backend(f"{what}: HTTP error talking to {url}: {exc}") from None

    # ----------------------------------------------------------------- keys

    def _key(self, api: Api) -> str | None:
        if self.key_file is None or api == "metrics":
            return None
        with self._key_lock:
            if self._keys is None:
                # No file yet: send no token, so a stopped server reads as UNAVAILABLE and a
                # running one as UNAUTHORIZED (after _refresh finds no file).
                self._keys = read_keys(self.key_file)
            entry = (self._keys or {}).get(api)
        if entry is None or not entry.expired():
            return entry.key if entry is not None else None
        self._refresh(api, failed=entry.key)
        with self._key_lock:
            fresh = (self._keys or {}).get(api)
        return fresh.key if fresh is not None else None

    def _refresh(self, api: Api, *, failed: str | None) -> None:
        """Make the key file hold a valid ``api`` key other than ``failed``."""
        with self._key_lock:
            keys = self._keys = read_keys(self._require_key_file())
            if keys is None:
                raise ServingError(
                    ServingErrorCode.UNAUTHORIZED,
                    f"TorchServe wants a token but key file {self.key_file} does not exist; "
                    "pass the key_file.json in the directory TorchServe was started from",
                )
            current = keys.get(api)
            if current is not None and current.key != failed and not current.expired():
                return  # refreshed by someone else, or TorchServe restarted with new keys
            api_key = keys.get("API")
            if api_key is None:
                raise ServingError(
                    ServingErrorCode.UNAUTHORIZED,
                    f"the {api} key was refused and {self.key_file} holds no API key to "
                    "refresh it with; restart TorchServe (it writes a new key file)",
                )
            response = self._transport(
                "GET",
                self.endpoints.management + "/token",
                what=f"refresh the {api} key",
                params={"type": api},
                json_body=None,
                key=api_key.key,
                timeout=None,
            )
            if response.is_error:
                raise ServingError(
                    ServingErrorCode.UNAUTHORIZED,
                    f"TorchServe refused the API key from {self.key_file} (HTTP "
                    f"{response.status_code}); the file belongs to another TorchServe run: "
                    "restart TorchServe or point key_file at its current key_file.json",
                )
            # TorchServe rewrote the file with the new key.
            self._keys = read_keys(self._require_key_file())

    def _require_key_file(self) -> Path:
        if self.key_file is None:
            raise ServingError(ServingErrorCode.UNAUTHORIZED, "no key file configured")
        return self.key_file


# --------------------------------------------------------------------- helpers


def _q(part: str) -> str:
    return quote(part, safe="")


@contextmanager
def _stopwatch() -> Iterator[Any]:
    started = time.perf_counter()
    yield lambda: round((time.perf_counter() - started) * 1000, 3)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _error_parts(response: httpx.Response) -> tuple[str, str]:
    body = _json_or_none(response)
    if isinstance(body, dict):
        kind = str(body.get("type", ""))
        message = str(body.get("message") or body.get("error") or body.get("status") or "")
        return kind, message
    return "", response.text[:300]


def _is_invalid_key(response: httpx.Response) -> bool:
    return response.status_code == 400 and _error_parts(response)[0] == _INVALID_KEY


def _translate(response: httpx.Response, what: str) -> ServingError:
    """TorchServe's error reply -> ServingError; the only place that reads its error text."""
    status = response.status_code
    kind, detail = _error_parts(response)
    said = f"{what}: TorchServe answered HTTP {status}" + (f" {kind}" if kind else "")
    said += f": {detail}" if detail else ""
    code = ServingErrorCode.BACKEND
    hint = "see TorchServe's logs (ts_log.log, model_log.log)"
    if status == 400 and kind == _INVALID_KEY:
        code = ServingErrorCode.UNAUTHORIZED
        hint = "token authorization is on: pass the key_file.json TorchServe wrote"
    elif status == 404 and "allowed URL" in detail:
        code = ServingErrorCode.INVALID_REQUEST
        hint = "register archives by bare file name from the model store"
    elif status == 404:
        code = ServingErrorCode.NOT_FOUND
        hint = "check the model name and version (describe / list_models)"
    elif status == 405:
        code = ServingErrorCode.INVALID_REQUEST
        hint = "the model API is off: start TorchServe with enable_model_api=true"
    elif status == 409:
        code = ServingErrorCode.INVALID_REQUEST
        hint = "that version is registered already: use it, or unregister it first"
    elif status == 403:
        code = ServingErrorCode.INVALID_REQUEST
        hint = "move the default to another version before removing this one"
    elif status in (400, 413, 415, 422):
        code = ServingErrorCode.INVALID_REQUEST
        hint = "fix the request"
    elif status in (408, 504):
        code = ServingErrorCode.TIMEOUT
        hint = "the model took too long: raise response_timeout or add workers"
    elif status == 503:
        code = ServingErrorCode.UNAVAILABLE
        hint = "no worker could answer: wait for workers to load or scale the version up"
    return ServingError(code, f"{said}; {hint}")


def _backend(message: str) -> ServingError:
    return ServingError(ServingErrorCode.BACKEND, message)


def _status(body: Any) -> str:
    return str(body.get("status", "")) if isinstance(body, dict) else ""


def _field(body: Any, name: str, kind: type, what: str) -> Any:
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, kind):
        raise _backend(f"{what}: TorchServe's reply has no {name!r} {kind.__name__}")
    return value


def _as_list(raw: Any, what: str) -> list[Any]:
    if not isinstance(raw, list):
        raise _backend(f"{what}: expected a JSON list from TorchServe, got {type(raw).__name__}")
    return raw


def _parse_version(entry: Any, what: str) -> _RawVersion:
    try:
        return _RawVersion.model_validate(entry)
    except ValidationError as exc:
        raise _backend(f"{what}: unexpected model description from TorchServe: {exc}") from None


def _served_version(entry: Any, default: str | None, what: str) -> ServedVersion:
    raw = _parse_version(entry, what)
    workers = tuple(WorkerInfo(id=w.id, status=w.status, pid=w.pid) for w in raw.workers)
    ready = sum(1 for w in workers if w.status == "READY")
    status: VersionStatus
    if not workers:
        status = "NO_WORKERS"
    elif ready == len(workers):
        status = "READY"
    else:
        status = "PARTIAL" if ready else "LOADING"
    return ServedVersion(
        version=raw.modelVersion,
        is_default=raw.modelVersion == default,
        status=status,
        workers=workers,
        min_workers=raw.minWorkers,
        max_workers=raw.maxWorkers,
        batch_size=raw.batchSize,
        max_batch_delay_ms=raw.maxBatchDelay,
        archive=raw.modelUrl,
    )

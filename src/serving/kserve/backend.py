"""``ServingBackend`` over a KServe model server (``serving.kserve.server``): HTTP only.

Inference speaks the Open Inference Protocol v2 (``/v2/models/{name}[/versions/{v}]/infer``
with one input tensor of rows); loading and the default version go through the server's
management API (bearer token). ``httpx`` errors and the server's error replies become
``ServingError`` here: 400/403/409 INVALID_REQUEST, 401 UNAUTHORIZED, 404 NOT_FOUND,
503 UNAVAILABLE, other statuses BACKEND; transport errors UNAVAILABLE or TIMEOUT.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx
import numpy as np
from pydantic import ValidationError

from serving.backend import BackendKind
from serving.errors import ServingError, ServingErrorCode
from serving.schemas import (
    Ack,
    ModelDescription,
    ModelSummary,
    PingResult,
    Prediction,
    PredictionResult,
    RegisterResult,
    ServedVersion,
)

_CODES = {
    400: ServingErrorCode.INVALID_REQUEST,
    401: ServingErrorCode.UNAUTHORIZED,
    403: ServingErrorCode.INVALID_REQUEST,
    404: ServingErrorCode.NOT_FOUND,
    409: ServingErrorCode.INVALID_REQUEST,
    503: ServingErrorCode.UNAVAILABLE,
}


class KServeBackend:
    """Typed calls to one KServe model server; the ``httpx.Client`` is injected. ``token`` may
    be a function, read on every management call (a restarted server draws a new token)."""

    def __init__(self, url: str, token: str | Callable[[], str], *, http: httpx.Client) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._http = http

    @property
    def kind(self) -> BackendKind:
        return "kserve"

    @property
    def metrics_url(self) -> str:
        return f"{self.url}/metrics"

    def load(
        self, archive: str, model: str, version: int | str, *, workers: int = 1
    ) -> RegisterResult:
        started = time.perf_counter()
        body = self._call(
            "POST",
            f"/modelreg/v1/models/{_q(model)}/versions/{_q(str(version))}",
            f"load {archive} as {model} v{version}",
            json_body={"archive": archive},
        )
        return RegisterResult(
            model=model,
            version=str(version),
            archive=archive,
            initial_workers=1,
            message=str(body.get("status", "")),
            elapsed_ms=_ms(started),
        )

    def set_default(self, model: str, version: int | str) -> Ack:
        started = time.perf_counter()
        body = self._call(
            "PUT",
            f"/modelreg/v1/models/{_q(model)}/default",
            f"set the default of {model} to v{version}",
            json_body={"version": str(version)},
        )
        return Ack(message=str(body.get("status", "")), elapsed_ms=_ms(started))

    def default_version(self, model: str) -> str:
        default = self.describe(model).default_version
        if default is None:
            raise ServingError(ServingErrorCode.NOT_FOUND, f"{model} has no default version")
        return default

    def describe(self, model: str) -> ModelDescription:
        body = self._call("GET", f"/modelreg/v1/models/{_q(model)}", f"describe {model}")
        return _description(body)

    def list_models(self) -> list[ModelSummary]:
        body = self._call("GET", "/modelreg/v1/models", "list models")
        found = []
        for entry in body.get("models", []):
            for version in entry["versions"]:
                found.append(ModelSummary(name=entry["name"], archive=version["archive"]))
        return found

    def unload(self, model: str, version: int | str) -> Ack:
        started = time.perf_counter()
        body = self._call(
            "DELETE",
            f"/modelreg/v1/models/{_q(model)}/versions/{_q(str(version))}",
            f"unload {model} v{version}",
        )
        return Ack(message=str(body.get("status", "")), elapsed_ms=_ms(started))

    def health(self) -> PingResult:
        self._call("GET", "/v2/health/live", "check health", auth=False)
        return PingResult(healthy=True, status="Healthy")

    def predict(
        self,
        model: str,
        payload: Mapping[str, Any] | Sequence[Any],
        version: int | str | None = None,
    ) -> PredictionResult:
        path = f"/v2/models/{_q(model)}"
        if version is not None:
            path += f"/versions/{_q(str(version))}"
        what = f"predict with {model}" + (f" v{version}" if version is not None else "")
        body = self._call("POST", path + "/infer", what, json_body=v2_request(payload), auth=False)
        try:
            return PredictionResult(
                model=model,
                model_version=str(body["model_version"]),
                predictions=tuple(predictions_from_v2(body["outputs"])),
            )
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            raise ServingError(
                ServingErrorCode.BACKEND, f"{what}: unexpected v2 reply: {exc}"
            ) from None

    def metrics_text(self) -> str:
        response = self._send("GET", "/metrics", "read metrics", None, auth=False)
        return response.text

    def close(self) -> None:
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

    def _call(
        self, method: str, path: str, what: str, *, json_body: Any = None, auth: bool = True
    ) -> dict[str, Any]:
        response = self._send(method, path, what, json_body, auth=auth)
        try:
            body = response.json()
        except ValueError:
            raise ServingError(
                ServingErrorCode.BACKEND, f"{what}: non-JSON reply {response.text[:200]!r}"
            ) from None
        if not isinstance(body, dict):
            raise ServingError(ServingErrorCode.BACKEND, f"{what}: reply is not a JSON object")
        return body

    def _send(
        self, method: str, path: str, what: str, json_body: Any, *, auth: bool
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._bearer()}"} if auth else {}
        try:
            response = self._http.request(method, self.url + path, json=json_body, headers=headers)
        except httpx.TimeoutException:
            raise ServingError(
                ServingErrorCode.TIMEOUT, f"{what}: the KServe server at {self.url} timed out"
            ) from None
        except httpx.HTTPError as exc:
            raise ServingError(
                ServingErrorCode.UNAVAILABLE,
                f"{what}: the KServe server is not reachable at {self.url} ({exc}); start it "
                "(LocalKServe.up) or check the URL",
            ) from None
        if response.is_error:
            try:
                detail = str(response.json().get("error", ""))
            except (ValueError, AttributeError):
                detail = response.text[:200]
            code = _CODES.get(response.status_code, ServingErrorCode.BACKEND)
            raise ServingError(code, f"{what}: HTTP {response.status_code}: {detail}")
        return response

    def _bearer(self) -> str:
        if isinstance(self._token, str):
            return self._token
        try:
            return self._token()
        except OSError as exc:
            raise ServingError(
                ServingErrorCode.UNAVAILABLE,
                f"no token of the KServe server at {self.url} ({exc}); is it running?",
            ) from None


def v2_request(payload: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    """Our JSON body (``{"inputs"|"instances": rows}`` or rows) as one v2 input tensor."""
    rows: Any = payload
    if isinstance(payload, Mapping):
        keys = [key for key in ("inputs", "instances") if key in payload]
        if len(keys) != 1:
            raise ServingError(
                ServingErrorCode.INVALID_REQUEST,
                'body must contain exactly one of "inputs" or "instances"',
            )
        rows = payload[keys[0]]
    try:
        array = np.asarray(rows)
    except ValueError:
        array = np.asarray([], dtype=object)
    if array.dtype.kind not in "iuf" or array.size == 0:
        raise ServingError(
            ServingErrorCode.INVALID_REQUEST,
            "rows must be a non-empty list of equal-length lists of numbers",
        )
    datatype = "INT64" if array.dtype.kind in "iu" else "FP64"
    return {
        "inputs": [
            {
                "name": "input",
                "shape": list(array.shape),
                "datatype": datatype,
                "data": array.reshape(-1).tolist(),
            }
        ]
    }


def predictions_from_v2(outputs: list[dict[str, Any]]) -> list[Prediction]:
    """One Prediction per row from the v2 output tensors (named after the answer fields)."""
    columns: dict[str, list[Any]] = {}
    for output in outputs:
        shape = [int(d) for d in output["shape"]]
        values = np.asarray(output["data"]).reshape(shape)
        columns[str(output["name"])] = values.tolist()
    count = len(next(iter(columns.values())))
    return [
        Prediction.model_validate({name: column[row] for name, column in columns.items()})
        for row in range(count)
    ]


def _description(body: dict[str, Any]) -> ModelDescription:
    default = body.get("default")
    versions = tuple(
        ServedVersion(
            version=str(entry["version"]),
            is_default=str(entry["version"]) == default,
            status="READY" if entry.get("ready") else "LOADING",
            workers=(),
            min_workers=1,
            max_workers=1,
            batch_size=1,
            max_batch_delay_ms=0,
            archive=str(entry["archive"]),
        )
        for entry in body.get("versions", [])
    )
    return ModelDescription(name=str(body["name"]), default_version=default, versions=versions)


def _q(part: str) -> str:
    return quote(part, safe="")


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)

"""One prediction through the router (``modelreg predict --route`` / ``--via-router``).

The answer names the model and version that answered (the router's ``X-Model-Name`` /
``X-Model-Version`` headers). The router's JSON errors become registry errors: its 4xx
(bad input, unknown model or route) are the user's to fix, anything else is a backend error.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.domain.errors import ErrorCode, RegistryError

_USER_CODES = {
    "INVALID_INPUT": ErrorCode.INVALID_INPUT,
    "BODY_TOO_LARGE": ErrorCode.INVALID_INPUT,
    "UPSTREAM_REJECTED": ErrorCode.INVALID_INPUT,
    "NOT_FOUND": ErrorCode.NOT_FOUND,
    "UNAUTHORIZED": ErrorCode.INVALID_INPUT,
    "FORBIDDEN": ErrorCode.INVALID_INPUT,
}


class RoutedPrediction(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str = Field(description="The model that answered (percent-encoded if not ASCII).")
    version: str = Field(description="The version that answered.")
    route: str | None = Field(default=None, description="The route, when one was asked for.")
    request_id: str | None = None
    response: Any = Field(description="TorchServe's answer, as the router passed it on.")


def check_route_name(route: str) -> str:
    """``route`` if it is a valid route name (one URL path segment)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", route):
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"Route name {route!r} is not valid (letters, digits, '_', '.', '-'; see "
            "`modelreg serve status` for the routes).",
        )
    return route


def parse_headers(pairs: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` pairs as request headers for the router's header rules."""
    headers: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}", key):
            raise RegistryError(
                ErrorCode.INVALID_INPUT, f"--header {pair!r} is not NAME=VALUE (e.g. X-Tier=gold)."
            )
        if not value.isprintable() or not value.isascii() or len(value) > 1000:
            raise RegistryError(
                ErrorCode.INVALID_INPUT, f"--header {key}: the value must be printable ASCII."
            )
        if key.lower() in ("authorization", "x-api-key", "host", "content-length"):
            raise RegistryError(ErrorCode.INVALID_INPUT, f"--header {key} cannot be set here.")
        headers[key] = value
    return headers


def router_path(
    *, model: str | None = None, version: int | None = None, route: str | None = None
) -> str:
    """``/routes/{route}``, or ``/predictions/{model}[/{version}]`` (names percent-encoded)."""
    if route is not None:
        return f"/routes/{quote(route, safe='')}"
    if model is None:
        raise ValueError("a model or a route is needed")
    path = f"/predictions/{quote(model, safe='')}"
    return path if version is None else f"{path}/{version}"


def predict_via_router(
    http: httpx.Client, url: str, path: str, payload: Any, headers: dict[str, str]
) -> RoutedPrediction:
    try:
        reply = http.post(url.rstrip("/") + path, json=payload, headers=headers)
    except httpx.ConnectError:
        raise RegistryError(
            ErrorCode.BACKEND,
            f"The router at {url} is not running; start it with `modelreg serve up`.",
        ) from None
    except httpx.HTTPError as exc:
        raise RegistryError(
            ErrorCode.BACKEND, f"The router at {url} did not answer: {type(exc).__name__}."
        ) from None
    try:
        body = reply.json()
    except ValueError:
        body = None
    if reply.status_code != 200:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        code = str(error.get("code", "BACKEND"))
        message = str(error.get("message", reply.reason_phrase))[:2000]
        raise RegistryError(_USER_CODES.get(code, ErrorCode.BACKEND), f"Router: {code}: {message}")
    route = reply.headers.get("x-route")
    return RoutedPrediction(
        model=reply.headers.get("x-model-name", ""),
        version=reply.headers.get("x-model-version", ""),
        route=route,
        request_id=reply.headers.get("x-request-id"),
        response=body,
    )

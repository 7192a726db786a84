"""The router's one error type, its closed set of codes, and the HTTP status of each.

    RouterError(code, message)
        code: RouterErrorCode
            INVALID_INPUT      the request body does not match the model's input (400)
            BODY_TOO_LARGE     the request body exceeds the configured limit (413)
            UNAUTHORIZED       missing or wrong API key / admin token (401)
            FORBIDDEN          the model's pinned_versions policy refuses calling that
                               version by path (403)
            NOT_FOUND          no such model, version or route in the table (404)
            NOT_SERVED         the model has no Production version in the table (503)
            MODEL_NOT_READY    the model is in the initial table but its TorchServe has not
                               loaded every version yet (503 with Retry-After; /readyz
                               names why); the router's other models serve meanwhile
            UNCONFIRMED        a restarted router's table is not confirmed yet (503 with
                               Retry-After: the control plane confirms or replaces it)
            CONFLICT           a table update named a stale generation (409)
            INVALID_TABLE      a table update is malformed or names versions not loaded (422)
            UNAVAILABLE        TorchServe is not reachable or has no worker (503)
            TIMEOUT            TorchServe did not answer in time (504)
            UPSTREAM_REJECTED  TorchServe refused the request (its 4xx, passed on)
            BACKEND            TorchServe failed in an unexpected way (502)
            STATE_FILE         the state file cannot be read or written (500)

Clients branch on ``code`` (the ``error.code`` field of every JSON error reply; ``code``
beside the Open Inference Protocol's ``{"error": message}`` under ``/v2``), never on the
message, which says what is wrong and what to do next.
"""

from __future__ import annotations

from enum import StrEnum


class RouterErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    BODY_TOO_LARGE = "BODY_TOO_LARGE"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    NOT_SERVED = "NOT_SERVED"
    MODEL_NOT_READY = "MODEL_NOT_READY"
    UNCONFIRMED = "UNCONFIRMED"
    CONFLICT = "CONFLICT"
    INVALID_TABLE = "INVALID_TABLE"
    UNAVAILABLE = "UNAVAILABLE"
    TIMEOUT = "TIMEOUT"
    UPSTREAM_REJECTED = "UPSTREAM_REJECTED"
    BACKEND = "BACKEND"
    STATE_FILE = "STATE_FILE"


HTTP_STATUS: dict[RouterErrorCode, int] = {
    RouterErrorCode.INVALID_INPUT: 400,
    RouterErrorCode.BODY_TOO_LARGE: 413,
    RouterErrorCode.UNAUTHORIZED: 401,
    RouterErrorCode.FORBIDDEN: 403,
    RouterErrorCode.NOT_FOUND: 404,
    RouterErrorCode.NOT_SERVED: 503,
    RouterErrorCode.MODEL_NOT_READY: 503,
    RouterErrorCode.UNCONFIRMED: 503,
    RouterErrorCode.CONFLICT: 409,
    RouterErrorCode.INVALID_TABLE: 422,
    RouterErrorCode.UNAVAILABLE: 503,
    RouterErrorCode.TIMEOUT: 504,
    RouterErrorCode.UPSTREAM_REJECTED: 400,
    RouterErrorCode.BACKEND: 502,
    RouterErrorCode.STATE_FILE: 500,
}


class RouterError(Exception):
    """A request or an update was refused; ``status`` overrides the code's HTTP status."""

    def __init__(self, code: RouterErrorCode, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else HTTP_STATUS[code]

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"RouterError({self.code.value}, {self.message!r})"


def upstream_status_error(server: str, status: int, detail: str, *, busy: str) -> RouterError:
    """A model server's non-2xx answer (``detail``: its error text) as the router's error:
    404 the version is not served, 503 ``busy`` (no worker / not ready), 408/504 a timeout,
    other 4xx the input refused (status kept), the rest the server failing."""
    if status == 404:
        return RouterError(
            RouterErrorCode.UNAVAILABLE,
            f"{server} does not serve the version the table names ({detail}); the table and "
            f"{server} disagree until the control plane reconciles",
        )
    if status == 503:
        return RouterError(RouterErrorCode.UNAVAILABLE, f"{server} {busy}: {detail}")
    if status in (408, 504):
        return RouterError(RouterErrorCode.TIMEOUT, f"{server} timed out: {detail}")
    if 400 <= status < 500:
        return RouterError(
            RouterErrorCode.UPSTREAM_REJECTED,
            f"{server} refused the input: {detail}",
            status=status,
        )
    return RouterError(RouterErrorCode.BACKEND, f"{server} failed (HTTP {status}): {detail}")

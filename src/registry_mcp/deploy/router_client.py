"""The control plane's client of the router's admin API (``GET``/``PUT /admin/table``,
``POST /admin/confirm``, ``GET /admin/stats``).

    RouterCallError(code, message)
        code: RouterCallCode
            NOT_RUNNING   nothing answers at the router's URL, or there is no admin token yet
            UNAUTHORIZED  the router refused the admin token (401)
            CONFLICT      the table changed since it was read (409): read it again and retry
            REFUSED       the router refused the table (422: invalid, or versions not loaded)
            FAILED        any other answer (5xx, timeout, a reply that is not a table)

The token is read from its file at each call (``serve up`` may create it after this client
was built) and only ever travels in the Authorization header: it is in no message, no repr.
The HTTP client is injected, so tests and callers choose its transport and timeouts.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import httpx
from pydantic import ValidationError

from serving.router.table import Confirmation, RoutingTable, TableState, TableUpdate
from serving.router.window import StatsReply


class RouterCallCode(StrEnum):
    NOT_RUNNING = "NOT_RUNNING"
    UNAUTHORIZED = "UNAUTHORIZED"
    CONFLICT = "CONFLICT"
    REFUSED = "REFUSED"
    FAILED = "FAILED"


class RouterCallError(Exception):
    def __init__(self, code: RouterCallCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


class RouterAdmin:
    """``GET``/``PUT /admin/table`` of one router."""

    def __init__(self, url: str, token: Callable[[], str | None], http: httpx.Client) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._http = http

    def get_table(self) -> TableState:
        return self._state(self._send("GET", None))

    def stats(self, since: float, until: float | None = None) -> StatsReply:
        """Requests, errors, p50/p99 and feedback per model version from ``since`` until
        ``until`` (default: now)."""
        query = f"since={since:.3f}" + ("" if until is None else f"&until={until:.3f}")
        response = self._send("GET", None, path=f"/admin/stats?{query}")
        try:
            return StatsReply.model_validate_json(response.content)
        except ValidationError:
            raise RouterCallError(
                RouterCallCode.FAILED, f"the router at {self.url} answered with no statistics"
            ) from None

    def confirm(self, generation: int) -> TableState:
        """The table the router read at start (``generation``) is right: serve it. CONFLICT
        when the router is no longer at that generation."""
        body = Confirmation(generation=generation).model_dump_json().encode()
        return self._state(self._send("POST", body, path="/admin/confirm"))

    def put_table(self, expected_generation: int, table: RoutingTable) -> TableState:
        """Compare-and-set: CONFLICT when the router is no longer at ``expected_generation``."""
        update = TableUpdate(expected_generation=expected_generation, table=table)
        return self._state(self._send("PUT", update.model_dump_json().encode()))

    def _send(self, method: str, body: bytes | None, path: str = "/admin/table") -> httpx.Response:
        token = self._token()
        if token is None:
            raise RouterCallError(
                RouterCallCode.NOT_RUNNING,
                "the router has no admin token yet (it was never started); start it with "
                "`modelreg serve up`",
            )
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._http.request(method, self.url + path, content=body, headers=headers)
        except httpx.ConnectError:
            raise RouterCallError(
                RouterCallCode.NOT_RUNNING,
                f"the router at {self.url} is not running; start it with `modelreg serve up`",
            ) from None
        except httpx.HTTPError as exc:
            raise RouterCallError(
                RouterCallCode.FAILED,
                f"the router at {self.url} did not answer: {type(exc).__name__}",
            ) from None
        if response.status_code == 200:
            return response
        message = _error_message(response)
        if response.status_code == 401:
            raise RouterCallError(
                RouterCallCode.UNAUTHORIZED,
                f"the router at {self.url} refused the admin token (another router, or one "
                "started with another token, holds the port); restart it with "
                "`modelreg serve down` and `modelreg serve up`",
            )
        if response.status_code == 409:
            raise RouterCallError(RouterCallCode.CONFLICT, message)
        if response.status_code == 422:
            raise RouterCallError(RouterCallCode.REFUSED, message)
        raise RouterCallError(
            RouterCallCode.FAILED, f"the router answered HTTP {response.status_code}: {message}"
        )

    def _state(self, response: httpx.Response) -> TableState:
        try:
            return TableState.model_validate_json(response.content)
        except ValidationError:
            raise RouterCallError(
                RouterCallCode.FAILED, f"the router at {self.url} answered with no routing table"
            ) from None


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        return str(error.get("message") or response.reason_phrase)[:2000]
    except (ValueError, AttributeError):
        return response.reason_phrase

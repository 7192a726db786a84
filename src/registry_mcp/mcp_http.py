"""Serve the MCP server over streamable HTTP: loopback by default, bearer token when set."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer

from registry_mcp.errors import ErrorCode, RegistryError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BearerGate:
    """Reject every HTTP request whose ``Authorization`` is not ``Bearer <token>`` (401)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            supplied = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(supplied, self._expected):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="modelreg"'),
                        ],
                    }
                )
                body = b'{"error": "missing or wrong bearer token (Authorization: Bearer ...)"}'
                await send({"type": "http.response.body", "body": body})
                return
        await self._app(scope, receive, send)


def http_app(server: MCPServer, *, host: str, token: str | None) -> ASGIApp:
    """The ASGI app to serve, after the bind policy: non-loopback needs a token."""
    if not is_loopback(host) and not token:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"Refusing to serve MCP on {host} without a token: anyone who can reach it could "
            "request stage changes. Set MODELREG_MCP_TOKEN, or bind to 127.0.0.1.",
        )
    app: ASGIApp = server.streamable_http_app(host=host)
    return BearerGate(app, token) if token else app


def serve_http(server: MCPServer, *, host: str, port: int, token: str | None) -> None:
    app = http_app(server, host=host, token=token)
    uvicorn.run(app, host=host, port=port, log_level="warning")

"""Serve the MCP server over streamable HTTP: a bearer token is required, loopback included.

Every token names the human it belongs to, and that name is what the audit trail records as
the approver of a form answered through it. Tokens come from ``MODELREG_MCP_TOKEN`` (the
actor is the server's ``--actor`` / ``MODELREG_ACTOR``) and from the token book that
``modelreg tokens add NAME`` writes (``$MODELREG_HOME/mcp-tokens.json``, 0600, only sha256
hashes stored). Serving without any token needs the explicit ``--insecure-no-token`` flag,
and is refused off loopback; such requests are audited as ``unauthenticated-http``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer

from registry_mcp.domain import validation
from registry_mcp.domain.errors import ErrorCode, RegistryError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_FILE = "mcp-tokens.json"
UNAUTHENTICATED = "unauthenticated-http"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenBook:
    """Bearer tokens and the actor each one identifies (only hashes are kept).

    The token file is read again whenever it changes (checked on every request), so a token
    revoked with `modelreg tokens revoke` stops working on the next request of a running
    server; a file that cannot be read then accepts none of its tokens (fail closed)."""

    def __init__(
        self,
        actors_by_hash: Mapping[str, str],
        *,
        path: Path | None = None,
        fixed: Mapping[str, str] | None = None,
    ) -> None:
        self._fixed = dict(fixed or {})
        self._path = path
        self._seen: tuple[int, int, int] | None = self._stamp()
        self._actors = {**dict(actors_by_hash), **self._fixed}

    @classmethod
    def load(cls, home: Path, *, token: str | None, token_actor: str) -> TokenBook:
        path = home / TOKEN_FILE
        book = _checked(read_token_file(path), path)
        fixed = {}
        if token:
            validation.bearer_token(token, source="MODELREG_MCP_TOKEN")
            fixed[_hash(token)] = validation.human_actor(token_actor)
        return cls(book, path=path, fixed=fixed)

    def _stamp(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        try:
            stat = self._path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def _refresh(self) -> None:
        if self._path is None:
            return
        stamp = self._stamp()
        if stamp == self._seen:
            return
        self._seen = stamp
        try:
            book = _checked(read_token_file(self._path), self._path)
        except RegistryError:
            book = {}
        self._actors = {**book, **self._fixed}

    def __bool__(self) -> bool:
        self._refresh()
        return bool(self._actors)

    def actor_for(self, authorization: str | bytes | None) -> str | None:
        """The actor of ``Authorization: Bearer <token>``; None if missing or unknown."""
        if isinstance(authorization, bytes):
            authorization = authorization.decode("latin-1")
        if not authorization or not authorization.startswith("Bearer "):
            return None
        self._refresh()
        presented = _hash(authorization.removeprefix("Bearer ").strip())
        found = None
        for digest, actor in self._actors.items():
            # Compare against every entry so timing does not reveal which one matched.
            if hmac.compare_digest(digest, presented):
                found = actor
        return found


def _checked(book: Mapping[str, str], path: Path) -> dict[str, str]:
    """The token file's entries, refusing one that names a reserved actor."""
    for actor in sorted(set(book.values())):
        if actor.strip().lower() in validation.RESERVED_ACTORS:
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                f"The MCP token file {path} has a token for {actor!r}, a name reserved for "
                f"modelreg's own audit entries; revoke it with `modelreg tokens revoke "
                f"{actor}` and add one under a person's name.",
            )
    return dict(book)


def read_token_file(path: Path) -> dict[str, str]:
    """{sha256: actor} from the token file; empty if there is none."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"Cannot read the MCP token file {path}: {exc}. Fix or delete it, then re-add "
            "tokens with `modelreg tokens add NAME`.",
        ) from None
    tokens = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(tokens, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tokens.items()
    ):
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"The MCP token file {path} is not {{'tokens': {{sha256: actor}}}}; fix or delete "
            "it, then re-add tokens with `modelreg tokens add NAME`.",
        )
    return dict(tokens)


def add_token(home: Path, actor: str) -> str:
    """Create a token for ``actor`` (replacing an earlier one); return it (shown once)."""
    actor = validation.human_actor(actor)
    path = home / TOKEN_FILE
    book = {h: a for h, a in read_token_file(path).items() if a != actor}
    token = secrets.token_urlsafe(32)
    book[_hash(token)] = actor
    _write_token_file(path, book)
    return token


def revoke_token(home: Path, actor: str) -> bool:
    path = home / TOKEN_FILE
    book = read_token_file(path)
    kept = {h: a for h, a in book.items() if a != actor}
    if len(kept) == len(book):
        return False
    _write_token_file(path, kept)
    return True


def token_actors(home: Path) -> list[str]:
    return sorted(set(read_token_file(home / TOKEN_FILE).values()))


def _write_token_file(path: Path, book: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"tokens": dict(book)}, handle, indent=1, sort_keys=True)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


class BearerGate:
    """Reject every HTTP request whose ``Authorization`` is not a known bearer token (401)."""

    def __init__(self, app: ASGIApp, book: TokenBook) -> None:
        self._app = app
        self._book = book

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            supplied = dict(scope.get("headers") or []).get(b"authorization")
            if self._book.actor_for(supplied) is None:
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


def check_bind(host: str, book: TokenBook, *, insecure_no_token: bool) -> None:
    """The bind policy: a token always, unless explicitly waived on loopback."""
    if book:
        return
    if not insecure_no_token:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            "Refusing to serve MCP over HTTP without a token: any local process could "
            "connect, answer its own approval form and move Production. Create one with "
            "`modelreg tokens add YOUR_NAME` (or set MODELREG_MCP_TOKEN), or pass "
            "--insecure-no-token to accept that risk on loopback.",
        )
    if not is_loopback(host):
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"Refusing to serve MCP on {host} without a token, even with "
            "--insecure-no-token: anyone who can reach it could request stage changes. "
            "Create a token with `modelreg tokens add YOUR_NAME`, or bind to 127.0.0.1.",
        )


def http_app(
    server: MCPServer, *, host: str, book: TokenBook, insecure_no_token: bool = False
) -> ASGIApp:
    """The ASGI app to serve, after the bind policy."""
    check_bind(host, book, insecure_no_token=insecure_no_token)
    app: ASGIApp = server.streamable_http_app(host=host)
    return BearerGate(app, book) if book else app


def serve_http(
    server: MCPServer, *, host: str, port: int, book: TokenBook, insecure_no_token: bool
) -> None:
    app = http_app(server, host=host, book=book, insecure_no_token=insecure_no_token)
    uvicorn.run(app, host=host, port=port, log_level="warning")

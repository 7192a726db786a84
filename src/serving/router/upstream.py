"""Pooled async HTTP/1.1 client of the serving backends' inference APIs: TorchServe's
``POST /predictions/...`` and, for KServe-backed models, the Open Inference Protocol v2
(``POST /v2/models/.../infer``, translated by ``serving.router.oip_upstream``).

The client was chosen by measurement against the same local TorchServe and model (one-row
digits requests, p50 at concurrency 1): ``httpx.AsyncClient`` 1.8-3.4 ms, ``aiohttp``
1.3-1.5 ms, this plain asyncio keep-alive client (each request written in one ``write``)
1.2 ms. The router exists to add almost nothing, so the hot path uses it. Management calls
(health, loaded versions, token refresh) stay with ``serving.torchserve.TorchServeClient``.

Token: the inference key is read from TorchServe's ``key_file.json``. Shortly before its
recorded expiry, or when TorchServe answers 400 ``InvalidKeyException``, the injected
``refresh`` (a blocking call that makes the file hold a valid key, run in a thread) is called
once for all waiting requests and the file is read again; the request is retried once.
Transport failures become ``RouterError`` UNAVAILABLE / TIMEOUT / BACKEND; a request is
retried once on a fresh connection only when a reused keep-alive connection failed before
any byte of the answer arrived (TorchServe closed it while idle).

One keep-alive pool per TorchServe base URL: the router's default (``--inference-url``) and
each model's own (``upstream`` of its table entry, e.g. its Kubernetes Service), opened on
first use. The key file's token goes to the default TorchServe only (it is that server's
key); a model's own upstream gets no token, so its TorchServe runs without token
authorization behind a network boundary (the README's Kubernetes section says why). KServe's
inference API takes no token.

``forward`` sends a request to whatever serves its target and returns the router's answer
(TorchServe's body as is; a KServe reply turned into the same shape), errors raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from serving.errors import ServingError
from serving.keyfile import EXPIRY_MARGIN, read_keys
from serving.router import oip_upstream
from serving.router.coalesce import Coalescer, Reply
from serving.router.errors import RouterError, RouterErrorCode, upstream_status_error
from serving.router.table import Target, base_url

_INVALID_KEY = b"InvalidKeyException"
_JSON = b"application/json"


UpstreamReply = Reply  # status, body, content type: what a backend answered


class InferenceToken:
    """The inference key of ``key_file`` as a ready-made header line (never logged)."""

    def __init__(self, key_file: Path | None, refresh: Callable[[], object] | None) -> None:
        self._key_file = key_file
        self._refresh = refresh
        self._lock = asyncio.Lock()
        self.header = b""
        self._deadline = float("inf")
        self._load()

    def _load(self) -> None:
        if self._key_file is None:
            return
        keys = read_keys(self._key_file) or {}
        entry = keys.get("inference")
        if entry is None:
            self.header, self._deadline = b"", float("inf")
            return
        self.header = b"Authorization: Bearer " + entry.key.encode("latin-1") + b"\r\n"
        if entry.expires is None:
            self._deadline = float("inf")
        else:
            left = (entry.expires - EXPIRY_MARGIN - datetime.now(UTC)).total_seconds()
            self._deadline = time.monotonic() + left

    @property
    def stale(self) -> bool:
        return time.monotonic() >= self._deadline

    async def renew(self, failed: bytes) -> None:
        """Make ``header`` hold a key other than ``failed`` (once for concurrent callers)."""
        if self._key_file is None:
            return
        async with self._lock:
            if self.header != failed and not self.stale:
                return  # another request renewed it meanwhile
            try:
                await asyncio.to_thread(self._load)
                if (self.header == failed or self.stale) and self._refresh is not None:
                    await asyncio.to_thread(self._refresh)
                    await asyncio.to_thread(self._load)
            except ServingError as exc:
                raise RouterError(
                    RouterErrorCode.UNAVAILABLE, f"cannot renew TorchServe's inference key: {exc}"
                ) from None


class Upstream:
    """The inference APIs of one router's backends: one ``_Pool`` per base URL."""

    def __init__(
        self,
        inference_url: str | None,
        token: InferenceToken,
        *,
        max_connections: int = 64,
        connect_timeout_s: float = 3.0,
        timeout_s: float = 30.0,
        tls: ssl.SSLContext | None = None,
        coalesce_rows: int = 0,
        coalesce_in_flight: int = 2,
        coalesce_bytes: int = 1 << 20,
        on_merged: Callable[[str, int, bool], None] = lambda model, requests, resent: None,
    ) -> None:
        """``inference_url``: the default TorchServe (None: every model names its own);
        ``token`` is sent to it only; ``max_connections`` per base URL; ``tls`` verifies
        https upstreams (default: the system's trust store). ``coalesce_rows`` > 0: requests
        to a TorchServe version beyond ``coalesce_in_flight`` at once leave merged, up to
        that many rows and about ``coalesce_bytes`` (``serving.router.coalesce``;
        ``on_merged`` counts them)."""
        self.url = base_url(inference_url) if inference_url is not None else None
        self._limits = (max_connections, connect_timeout_s, timeout_s)
        self._tls = tls
        self._pools: dict[str, _Pool] = {}
        self._coalescer = (
            Coalescer(
                self._torchserve,
                max_rows=coalesce_rows,
                in_flight=coalesce_in_flight,
                on_merged=on_merged,
                max_bytes=coalesce_bytes,
            )
            if coalesce_rows > 0
            else None
        )
        if self.url is not None:
            self._pools[self.url] = self._open(self.url, token, "check --inference-url")

    @property
    def bases(self) -> list[str]:
        """The base URLs pools were opened for (the default first)."""
        return list(self._pools)

    async def predict(self, path: str, body: bytes, base: str | None = None) -> UpstreamReply:
        """POST ``body`` to ``path`` at ``base`` (a table's ``upstream``; None: the default)."""
        return await self._pool(base).predict(path, body)

    async def forward(
        self, target: Target, raw: bytes, rows: list[Any], *, merges: bool = False
    ) -> UpstreamReply:
        """The answer of ``target``'s backend to a request (``raw``, its checked ``rows``;
        ``merges``: it may travel merged with others, ``inputs.Body.merges``), in the
        router's shape whatever the backend; RouterError for every failure."""
        if target.backend == "torchserve":
            if self._coalescer is None:
                return checked(await self._pool(target.upstream).predict(target.path, raw))
            reply = await self._coalescer.send(
                target.upstream,
                target.path,
                raw,
                rows,
                merges=merges,
                in_flight=target.in_flight,
                label=target.model,
            )
            return checked(reply)
        body = oip_upstream.request_body(rows, target.schema)
        reply = await self._pool(target.upstream, oip_upstream.SERVER).predict(target.path, body)
        return UpstreamReply(200, oip_upstream.answer(reply.status, reply.body), _JSON)

    async def aclose(self) -> None:
        if self._coalescer is not None:
            await self._coalescer.aclose()
        for pool in list(self._pools.values()):
            await pool.aclose()

    async def _torchserve(self, base: str | None, path: str, body: bytes) -> Reply:
        return await self._pool(base).predict(path, body)

    def _pool(self, base: str | None, server: str = "TorchServe") -> _Pool:
        key = base if base is not None else self.url
        if key is None:
            raise RouterError(
                RouterErrorCode.UNAVAILABLE,
                "this router has no default TorchServe (--inference-url) and the table names "
                "no upstream for this model",
            )
        pool = self._pools.get(key)
        if pool is None:  # a model's own server: no token (it is not the key file's server)
            hint = "check the model's upstream in the routing table"
            pool = self._pools[key] = self._open(key, InferenceToken(None, None), hint, server)
        return pool

    def _open(
        self, url: str, token: InferenceToken, hint: str, server: str = "TorchServe"
    ) -> _Pool:
        max_connections, connect_timeout_s, timeout_s = self._limits
        tls = None
        if url.startswith("https://"):
            tls = self._tls = self._tls or ssl.create_default_context()
        return _Pool(
            url,
            token,
            hint=hint,
            server=server,
            max_connections=max_connections,
            connect_timeout_s=connect_timeout_s,
            timeout_s=timeout_s,
            tls=tls,
        )


class _Pool:
    """Keep-alive connections to one inference address, at most ``max_connections``."""

    def __init__(
        self,
        url: str,
        token: InferenceToken,
        *,
        hint: str,
        server: str,
        max_connections: int,
        connect_timeout_s: float,
        timeout_s: float,
        tls: ssl.SSLContext | None,
    ) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None  # base_url checked it
        self.url = url
        self._host = parts.hostname
        self._port = parts.port or (443 if tls is not None else 80)
        self._host_line = f"Host: {parts.netloc}\r\n".encode("latin-1")
        self._token = token
        self._hint = hint
        self._server = server  # who answers here, as error messages name it
        self._tls = tls
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._connect_timeout_s = connect_timeout_s
        self._timeout_s = timeout_s
        self._closed = False

    async def predict(self, path: str, body: bytes) -> UpstreamReply:
        """POST ``body`` to ``path`` (``/predictions/{name}/{version}``)."""
        if self._token.stale:
            await self._token.renew(self._token.header)
        sent_with = self._token.header
        reply = await self._request(path, body, sent_with)
        if reply.status == 400 and _INVALID_KEY in reply.body and _is_invalid_key(reply.body):
            await self._token.renew(sent_with)
            reply = await self._request(path, body, self._token.header)
        return reply

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()
        for _, writer in idle:
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _request(self, path: str, body: bytes, auth: bytes) -> UpstreamReply:
        head = b"".join(
            (
                b"POST ",
                path.encode("ascii"),
                b" HTTP/1.1\r\n",
                self._host_line,
                b"Content-Type: application/json\r\n",
                auth,
                b"Content-Length: ",
                str(len(body)).encode("ascii"),
                b"\r\n\r\n",
            )
        )
        message = head + body
        async with self._slots:
            try:
                async with asyncio.timeout(self._timeout_s):
                    while self._idle:
                        conn = self._idle.pop()
                        try:
                            return await self._exchange(conn, message)
                        except _StaleConnection:
                            continue  # closed by TorchServe while idle: try the next one
                    conn = await self._connect()
                    try:
                        return await self._exchange(conn, message)
                    except _StaleConnection:
                        raise self._unavailable(
                            f"{self._server} at {self.url} closed the connection"
                        ) from None
            except TimeoutError:
                raise RouterError(
                    RouterErrorCode.TIMEOUT,
                    f"{self._server} did not answer within {self._timeout_s:g} s; the model may be "
                    "overloaded or its workers may be loading",
                ) from None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                return await asyncio.open_connection(self._host, self._port, ssl=self._tls)
        except (TimeoutError, OSError) as exc:  # ssl.SSLError (certificate) is an OSError
            raise self._unavailable(
                f"{self._server} is not reachable at {self.url} ({exc!r})"
            ) from None

    def _unavailable(self, message: str) -> RouterError:
        return RouterError(
            RouterErrorCode.UNAVAILABLE, f"{message}; start that server or {self._hint}"
        )

    async def _exchange(
        self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], message: bytes
    ) -> UpstreamReply:
        reader, writer = conn
        reusable = False  # only once the whole answer is read (not on error or cancellation)
        try:
            try:
                if writer.transport.is_closing():
                    # uvloop closes an idle connection as soon as the server does (asyncio
                    # leaves that to the next read), and a write on it raises RuntimeError.
                    raise _StaleConnection
                writer.write(message)
                status_and_headers = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                    raise _backend(f"{self._server} closed the connection mid-answer") from None
                raise _StaleConnection from None
            status, content_type, length, chunked, keep = _parse_head(status_and_headers)
            if chunked:
                body = await _read_chunked(reader)
            else:
                body = await reader.readexactly(length) if length else b""
            reusable = keep
        except asyncio.LimitOverrunError:
            raise _backend(f"{self._server} sent oversized response headers") from None
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError) as exc:
            raise _backend(f"{self._server} broke off its answer ({exc!r})") from None
        finally:
            if reusable and not self._closed:
                self._idle.append(conn)
            else:
                writer.close()
        return UpstreamReply(status, body, content_type)


def checked(reply: UpstreamReply) -> UpstreamReply:
    """TorchServe's non-2xx answer -> RouterError; the only place that reads its error text."""
    status = reply.status
    if 200 <= status < 300:
        return reply
    detail = _upstream_message(reply.body)
    if status == 400 and "InvalidKeyException" in detail:
        raise RouterError(
            RouterErrorCode.BACKEND,
            "TorchServe refused the router's inference key even after renewing it; restart "
            "the router with the key file of the running TorchServe (a model's own upstream "
            "gets no key: run that TorchServe without token authorization)",
        )
    raise upstream_status_error("TorchServe", status, detail, busy="has no worker")


def _upstream_message(body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body[:300].decode("utf-8", "replace")
    if isinstance(parsed, dict):
        parts = [str(parsed.get(k)) for k in ("type", "message", "error") if parsed.get(k)]
        return ": ".join(parts)[:500]
    return str(parsed)[:300]


class _StaleConnection(Exception):
    """A kept-alive connection failed before any byte of the answer arrived."""


def _parse_head(head: bytes) -> tuple[int, bytes, int, bool, bool]:
    """(status, content type, content length, chunked, keep-alive) of a response head."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise _backend(f"TorchServe sent a malformed status line: {lines[0][:100]!r}")
    status = int(parts[1])
    keep = parts[0] == b"HTTP/1.1"
    content_type, length, chunked = b"application/json", 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            value = value.strip()
            if not value.isdigit():
                raise _backend("TorchServe sent a malformed Content-Length")
            length = int(value)
        elif name == b"content-type":
            content_type = value.strip()
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            token = value.strip().lower()
            keep = token == b"keep-alive" or (keep and token != b"close")
    return status, content_type, length, chunked, keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _backend("TorchServe sent a malformed chunk") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _is_invalid_key(body: bytes) -> bool:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(parsed, dict) and parsed.get("type") == "InvalidKeyException"


def _backend(message: str) -> RouterError:
    return RouterError(RouterErrorCode.BACKEND, message)

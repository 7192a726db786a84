"""uvicorn's httptools protocol with the request head capped at ``stack.MAX_HEAD_BYTES``, and
each response's head and first body part sent in one write.

Imported only where httptools is installed (``stack.server_stack``). A head past the cap
raises in the parser's callback; uvicorn turns any parser error into 400 "Invalid HTTP
request received." and closes the connection, as it does for h11's own limit.

uvicorn writes a response's status line and headers as soon as the app sends
``http.response.start``, and the body when it sends ``http.response.body``: two ``send``
calls and, with ``TCP_NODELAY``, two packets for every answer, though the router always sends
both at once; sampled under load (py-spy), that second write was 7 % of the router's time.
``_HeadWithBody`` holds the head until the next write and sends the two together. A write
made before the response starts (``100 Continue``) passes through as is; a HEAD answer
(uvicorn writes no body for it) is not held; a head still held when the connection is closed
(an app that failed after the head) is written before the close.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from serving.router.stack import MAX_HEAD_BYTES


class HeadTooLarge(Exception):
    """The request line and headers passed ``MAX_HEAD_BYTES`` (the parser stops there)."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _head_bytes = 0

    def on_message_begin(self) -> None:
        self._head_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        # A new cycle writes to the connection itself; an upgrade made none (kept as is).
        if cycle is not None and cycle.transport is self.transport:
            cycle.transport = _HeadWithBody(self.transport, cycle)

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            raise HeadTooLarge(f"request head over {MAX_HEAD_BYTES} bytes")


class _HeadWithBody(asyncio.Transport):
    """One request's view of its connection: the response head is held until the write
    that follows it (the body), then both go in one write. Only what a
    ``RequestResponseCycle`` calls is here: ``write``, ``is_closing``, ``close``,
    ``get_extra_info``."""

    __slots__ = ("_connection", "_cycle", "_head", "_passing")

    def __init__(self, connection: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        super().__init__()
        self._connection = connection
        self._cycle = cycle
        self._head: bytes | None = None
        # Passing through: the head went out, or nothing follows it (uvicorn writes no body
        # for HEAD; for every other method it writes one, even an empty one).
        self._passing = cycle.scope["method"] == "HEAD"

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        if self._passing or not self._cycle.response_started:
            self._connection.write(data)  # a body part, or 100 Continue before the response
        elif self._head is None:
            self._head = bytes(data)  # the status line and headers: wait for the body
        else:
            head, self._head, self._passing = self._head, None, True
            self._connection.write(head + data)

    def is_closing(self) -> bool:
        return self._connection.is_closing()

    def close(self) -> None:
        head, self._head, self._passing = self._head, None, True
        if head is not None:  # the app stopped after the head: it goes out, as before
            self._connection.write(head)
        self._connection.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._connection.get_extra_info(name, default)

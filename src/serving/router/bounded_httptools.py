"""uvicorn's httptools protocol with the request head capped at ``stack.MAX_HEAD_BYTES``.

Imported only where httptools is installed (``stack.server_stack``). A head past the cap
raises in the parser's callback; uvicorn turns any parser error into 400 "Invalid HTTP
request received." and closes the connection, as it does for h11's own limit.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            raise HeadTooLarge(f"request head over {MAX_HEAD_BYTES} bytes")

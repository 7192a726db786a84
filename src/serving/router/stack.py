"""The HTTP server stack the router runs on: uvicorn with httptools and uvloop when installed
(the project depends on both), h11 and asyncio otherwise.

Chosen by measurement (``bench/router_overhead.py``, same machine, same TorchServe, rounds
alternating): the router's own CPU per request is what limits it, and httptools' C parser with
uvloop's event loop cost less of it than h11's pure-Python parser with asyncio's loop; worker
processes sharing the port did not add throughput on this 2-core machine (the README's
benchmark section has the numbers).

uvicorn's httptools protocol accepts a request head of any size (llhttp sets no limit): a client
could send megabytes of headers and the router would keep them all. ``bounded_protocol`` caps
the request line and headers at ``MAX_HEAD_BYTES``, as h11 does, and answers a larger head
the way uvicorn answers any malformed request (400, connection closed).
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Literal, NamedTuple

#: Bytes of request line + headers one request may have (h11's default limit is 16 KiB).
MAX_HEAD_BYTES = 64 << 10


class ServerStack(NamedTuple):
    http: type[asyncio.Protocol] | Literal["h11"]
    loop: Literal["uvloop", "asyncio"]
    name: str  # e.g. "httptools/uvloop", for the start-up log


def server_stack() -> ServerStack:
    """httptools (head capped) and uvloop where installed, h11 and asyncio otherwise."""
    loop: Literal["uvloop", "asyncio"] = (
        "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    )
    if importlib.util.find_spec("httptools") is None:
        return ServerStack("h11", loop, f"h11/{loop}")
    from serving.router.bounded_httptools import BoundedHttpToolsProtocol

    return ServerStack(BoundedHttpToolsProtocol, loop, f"httptools/{loop}")

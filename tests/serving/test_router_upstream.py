"""The router's upstream client: token renewal against the real TorchServe, transport failures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from serving.local import LocalTorchServe
from serving.router.errors import RouterError, RouterErrorCode
from serving.router.server import free_port
from serving.router.upstream import InferenceToken, Upstream
from tests.serving.conftest import ROUTER_MODEL, Digits, RouterModels


def test_a_refused_key_is_renewed_once_and_the_request_retried(
    torchserve: LocalTorchServe, router_models: RouterModels, digits: Digits, tmp_path: Path
) -> None:
    real = json.loads(torchserve.key_file.read_text())
    stale = {**real, "inference": {**real["inference"], "key": "stale-key"}}
    key_file = tmp_path / "key_file.json"
    key_file.write_text(json.dumps(stale))
    renewals: list[int] = []

    def renew() -> None:  # what TorchServeClient.ping does: make the file hold a valid key
        renewals.append(1)
        key_file.write_text(json.dumps(real))

    body = json.dumps({"inputs": digits.x[:1].tolist()}).encode()
    path = f"/predictions/{router_models.served[ROUTER_MODEL]}/1"

    async def run() -> list[int]:
        upstream = Upstream(torchserve.endpoints.inference, InferenceToken(key_file, renew))
        try:
            replies = await asyncio.gather(*(upstream.predict(path, body) for _ in range(6)))
        finally:
            await upstream.aclose()
        return [reply.status for reply in replies]

    assert asyncio.run(run()) == [200] * 6
    assert renewals == [1]  # once for all concurrent requests


def test_unreachable_torchserve_is_unavailable() -> None:
    async def run() -> None:
        upstream = Upstream(f"http://127.0.0.1:{free_port()}", InferenceToken(None, None))
        await upstream.predict("/predictions/m/1", b"[]")

    with pytest.raises(RouterError) as caught:
        asyncio.run(run())
    assert caught.value.code is RouterErrorCode.UNAVAILABLE
    assert caught.value.status == 503


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _with_server(handler: Handler, call: Callable[[Upstream], Awaitable[Any]]) -> Any:
    handlers: list[asyncio.Task[None]] = []

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    upstream = Upstream(f"http://127.0.0.1:{port}", InferenceToken(None, None), timeout_s=0.3)
    try:
        return await call(upstream)
    finally:
        await upstream.aclose()
        server.close()
        await server.wait_closed()
        await asyncio.wait_for(asyncio.gather(*handlers, return_exceptions=True), 5)


def test_a_silent_upstream_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers; returns when the client gives up

    async def call(upstream: Upstream) -> Any:
        return await upstream.predict("/predictions/m/1", b"[]")

    with pytest.raises(RouterError) as caught:
        asyncio.run(_with_server(silent, call))
    assert caught.value.code is RouterErrorCode.TIMEOUT


def test_chunked_answers_and_reused_connections() -> None:
    connections: list[int] = []

    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b'Transfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n'
            )
            await writer.drain()

    async def call(upstream: Upstream) -> Any:
        return [await upstream.predict("/predictions/m/1", b"[1]") for _ in range(3)]

    replies = asyncio.run(_with_server(chunked, call))
    assert [(r.status, r.body) for r in replies] == [(200, b'{"a": 1}')] * 3
    assert connections == [1]  # kept alive

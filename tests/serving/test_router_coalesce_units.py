"""The router's request merging (``serving.router.coalesce``): who leaves together, in which
order, and that every caller gets exactly its own answer or error.

``send`` is injected: here it records each body and answers as the test scripts, so the
order of events is exact. ``test_router_coalesce.py`` runs the same through a real
TorchServe.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from serving.router.coalesce import Coalescer, Reply
from serving.router.errors import RouterError, RouterErrorCode

PATH = "/predictions/m/1"


class Upstream:
    """Answers each body with one prediction per row (``{"row": first value}``); a body
    holding a row starting with -1 gets 400 as TorchServe's handler would."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.gate: asyncio.Event | None = None  # when set: requests wait for it
        self.fail_with: RouterError | None = None
        self.short_by = 0  # answer this many predictions fewer than rows

    async def send(self, upstream: str | None, path: str, body: bytes) -> Reply:
        assert path == PATH
        self.bodies.append(json.loads(body))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        rows = self.bodies[-1]["inputs"]
        if any(row[0] == -1 for row in rows):
            return Reply(400, b'{"code": 400, "error": "bad row"}', b"application/json")
        predictions = [{"row": row[0]} for row in rows][: len(rows) - self.short_by]
        answer = {"model_version": "1", "predictions": predictions}
        return Reply(200, json.dumps(answer, indent=2).encode(), b"application/json")


def request(*firsts: float) -> tuple[bytes, list[Any]]:
    rows = [[first, 0.5] for first in firsts]
    return json.dumps({"inputs": rows}).encode(), rows


def answer_rows(reply: Reply) -> list[float]:
    assert reply.status == 200, reply
    return [p["row"] for p in json.loads(reply.body)["predictions"]]


def coalescer(
    upstream: Upstream,
    merged: list[tuple[int, bool]],
    *,
    max_rows: int = 64,
    max_bytes: int = 1 << 20,
) -> Coalescer:
    def told(requests: int, resent: bool) -> None:
        merged.append((requests, resent))

    return Coalescer(
        upstream.send, max_rows=max_rows, in_flight=1, on_merged=told, max_bytes=max_bytes
    )


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def busy_then(
    c: Coalescer, upstream: Upstream, *requests: tuple[bytes, list[Any]]
) -> tuple[asyncio.Task[Reply], list[asyncio.Task[Reply]]]:
    """One request out (held at the gate), then ``requests`` arriving behind it."""
    upstream.gate = asyncio.Event()
    first = asyncio.create_task(c.send(None, PATH, *request(0)))
    await settle()
    waiting = [asyncio.create_task(c.send(None, PATH, raw, rows)) for raw, rows in requests]
    await settle()
    return first, waiting


def test_a_lone_request_leaves_at_once_and_unchanged() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        c = coalescer(upstream, merged)
        raw, rows = request(3, 4)
        reply = await c.send(None, PATH, raw, rows)
        assert answer_rows(reply) == [3, 4]
        assert reply.body.startswith(b"{\n  ")  # TorchServe's own body, not re-encoded
        assert upstream.bodies == [json.loads(raw)]
        assert merged == []
        assert not c._lanes  # nothing left behind once idle

    asyncio.run(run())


def test_requests_arriving_while_busy_leave_as_one_in_order() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        c = coalescer(upstream, merged)
        first, waiting = await busy_then(c, upstream, request(1), request(2, 3), request(4))
        assert len(upstream.bodies) == 1  # only the first is out
        assert upstream.gate is not None
        upstream.gate.set()
        assert answer_rows(await first) == [0]
        assert [answer_rows(await w) for w in waiting] == [[1], [2, 3], [4]]
        assert upstream.bodies[1] == {"inputs": [[1, 0.5], [2, 0.5], [3, 0.5], [4, 0.5]]}
        assert merged == [(3, False)]
        assert len(upstream.bodies) == 2
        assert not c._lanes

    asyncio.run(run())


def test_a_merged_request_holds_at_most_max_rows() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        c = coalescer(upstream, merged, max_rows=3)
        first, waiting = await busy_then(
            c, upstream, request(1, 2), request(3), request(4, 5), request(6, 7, 8, 9)
        )
        assert upstream.gate is not None
        upstream.gate.set()
        await first
        assert [answer_rows(await w) for w in waiting] == [[1, 2], [3], [4, 5], [6, 7, 8, 9]]
        sizes = [len(body["inputs"]) for body in upstream.bodies[1:]]
        assert sizes == [3, 2, 4]  # 2+1 rows; 2 (+4 would pass 3); 4 alone, over the cap
        assert merged == [(2, False)]

    asyncio.run(run())


def test_a_merged_request_stays_under_max_bytes() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        one_row = len(request(1)[0])
        c = coalescer(upstream, merged, max_bytes=2 * one_row)
        first, waiting = await busy_then(c, upstream, request(1), request(2), request(3))
        assert upstream.gate is not None
        upstream.gate.set()
        await first
        assert [answer_rows(await w) for w in waiting] == [[1], [2], [3]]
        assert [len(body["inputs"]) for body in upstream.bodies[1:]] == [2, 1]

    asyncio.run(run())


def test_a_refused_merged_request_is_sent_again_one_by_one() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        c = coalescer(upstream, merged)
        first, waiting = await busy_then(c, upstream, request(1), request(-1), request(2))
        assert upstream.gate is not None
        upstream.gate.set()
        await first
        good, bad, other = [await w for w in waiting]
        assert answer_rows(good) == [1]
        assert answer_rows(other) == [2]
        assert bad.status == 400
        assert b"bad row" in bad.body
        assert [len(body["inputs"]) for body in upstream.bodies[1:]] == [3, 1, 1, 1]
        assert merged == [(3, True)]

    asyncio.run(run())


def test_an_answer_that_does_not_count_one_per_row_is_not_cut() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        c = coalescer(upstream, merged)
        first, waiting = await busy_then(c, upstream, request(1), request(2))
        upstream.short_by = 1
        assert upstream.gate is not None
        upstream.gate.set()
        await first
        replies = [await w for w in waiting]
        # Sent again alone, each answer is the upstream's own: short by one row, not a slice
        # of the merged answer given to the wrong caller.
        assert [json.loads(r.body)["predictions"] for r in replies] == [[], []]
        assert len(upstream.bodies) == 4
        assert merged == [(2, True)]

    asyncio.run(run())


def test_no_answer_at_all_reaches_every_caller_of_the_merged_request() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        c = coalescer(upstream, merged)
        first, waiting = await busy_then(c, upstream, request(1), request(2))
        upstream.fail_with = RouterError(RouterErrorCode.TIMEOUT, "no answer within 30 s")
        assert upstream.gate is not None
        upstream.gate.set()
        for task in (first, *waiting):
            with pytest.raises(RouterError) as caught:
                await task
            assert caught.value.code is RouterErrorCode.TIMEOUT
        assert len(upstream.bodies) == 2
        assert merged == [(2, False)]
        assert not c._lanes

    asyncio.run(run())


def test_a_caller_that_left_while_waiting_is_not_sent() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        c = coalescer(upstream, merged)
        first, waiting = await busy_then(c, upstream, request(1), request(2), request(3))
        waiting[1].cancel()
        await settle()
        assert upstream.gate is not None
        upstream.gate.set()
        await first
        assert answer_rows(await waiting[0]) == [1]
        assert answer_rows(await waiting[2]) == [3]
        assert upstream.bodies[1] == {"inputs": [[1, 0.5], [3, 0.5]]}

    asyncio.run(run())


def test_closing_cancels_what_waits() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        c = coalescer(upstream, merged)
        first, waiting = await busy_then(c, upstream, request(1))
        first.cancel()  # the first caller leaves: its slot frees, the merged one goes out
        await settle()
        await c.aclose()
        with pytest.raises(asyncio.CancelledError):
            await waiting[0]

    asyncio.run(run())

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
from serving.router.inputs import decode

PATH = "/predictions/m/1"


class Upstream:
    """Answers each body with one prediction per row (``{"row": first value}``); a body
    holding a row starting with -1 gets 400 as TorchServe's handler would."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.gate: asyncio.Event | None = None  # when set: requests wait for it
        self.fail_with: RouterError | None = None
        self.short_by = 0  # answer this many predictions fewer than rows
        self.status = 200  # of every answer
        self.extra: dict[str, Any] = {}  # more keys in every answer
        self.pad = 0  # characters of padding in each prediction
        self.out = self.most_out = 0  # requests out now, and at most

    async def send(self, upstream: str | None, path: str, body: bytes) -> Reply:
        assert path == PATH
        payload = json.loads(body)
        self.bodies.append(payload)
        self.out += 1
        self.most_out = max(self.most_out, self.out)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0)
        finally:
            self.out -= 1
        if self.fail_with is not None:
            raise self.fail_with
        rows = payload["inputs"] if isinstance(payload, dict) else payload
        if not isinstance(rows[0], list):
            rows = [rows]  # a bare flat row
        if any(row[0] == -1 for row in rows):
            return Reply(400, b'{"code": 400, "error": "bad row"}', b"application/json")
        if self.status != 200:
            return Reply(self.status, b'{"code": 503, "error": "busy"}', b"application/json")
        predictions = [{"row": row[0], "pad": "x" * self.pad} for row in rows]
        predictions = predictions[: len(rows) - self.short_by]
        answer = {"model_version": "1", "predictions": predictions, **self.extra}
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
    def told(label: str, requests: int, resent: bool) -> None:
        assert label == "m"
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
    first = asyncio.create_task(c.send(None, PATH, *request(0), merges=True, label="m"))
    await settle()
    waiting = [
        asyncio.create_task(c.send(None, PATH, raw, rows, merges=True, label="m"))
        for raw, rows in requests
    ]
    await settle()
    return first, waiting


def test_a_lone_request_leaves_at_once_and_unchanged() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        c = coalescer(upstream, merged)
        raw, rows = request(3, 4)
        reply = await c.send(None, PATH, raw, rows, merges=True, label="m")
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


def test_a_request_that_does_not_merge_goes_alone_and_unchanged() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        c = coalescer(upstream, merged)
        first, _ = await busy_then(c, upstream)
        bare = b"[7, 0.5]"  # a bare flat row: the handler reads it by the model's row shape
        tasks = [
            asyncio.create_task(c.send(None, PATH, *request(1), merges=True, label="m")),
            asyncio.create_task(c.send(None, PATH, bare, [[7, 0.5]], merges=False, label="m")),
            asyncio.create_task(c.send(None, PATH, *request(2), merges=True, label="m")),
            asyncio.create_task(c.send(None, PATH, *request(3), merges=True, label="m")),
        ]
        await settle()
        assert upstream.gate is not None
        upstream.gate.set()
        await first
        assert [answer_rows(await t) for t in tasks] == [[1], [7], [2], [3]]
        assert upstream.bodies[1:] == [
            {"inputs": [[1, 0.5]]},  # alone: the next one does not merge
            [7, 0.5],  # unchanged
            {"inputs": [[2, 0.5], [3, 0.5]]},
        ]
        assert merged == [(2, False)]

    asyncio.run(run())


def test_an_answer_with_other_keys_is_never_copied_to_other_callers() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        c = coalescer(upstream, merged)
        first, waiting = await busy_then(c, upstream, request(1), request(2))
        upstream.extra = {"inputs_seen": "per-row data of every caller"}
        assert upstream.gate is not None
        upstream.gate.set()
        await first
        one, two = [json.loads((await w).body) for w in waiting]
        # Each went again alone: its own answer, whatever keys its own answer has.
        assert one["predictions"] == [{"row": 1, "pad": ""}]
        assert two["predictions"] == [{"row": 2, "pad": ""}]
        assert [len(body["inputs"]) for body in upstream.bodies[1:]] == [2, 1, 1]
        assert merged == [(2, True)]

    asyncio.run(run())


def test_an_error_status_reaches_every_caller_without_a_resend() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        c = coalescer(upstream, merged)
        first, waiting = await busy_then(c, upstream, request(1), request(2))
        upstream.status = 503
        assert upstream.gate is not None
        upstream.gate.set()
        await first
        assert [(await w).status for w in waiting] == [503, 503]
        assert len(upstream.bodies) == 2  # TorchServe is overloaded: not N more requests

    asyncio.run(run())


def test_resent_requests_use_the_same_slots() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        c = coalescer(upstream, merged)
        first, waiting = await busy_then(
            c, upstream, *(request(-1 if i == 3 else i) for i in range(1, 30))
        )
        assert upstream.gate is not None
        upstream.gate.set()
        await first
        replies = [await w for w in waiting]
        assert [r.status for r in replies] == [200, 200, 400] + [200] * 26
        assert upstream.most_out == 1  # in_flight 1, resends included
        assert merged == [(29, True)]

    asyncio.run(run())


def test_a_larger_in_flight_in_a_new_table_sends_what_waits_at_once() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        c = coalescer(upstream, merged)
        first, _ = await busy_then(c, upstream)
        queued = asyncio.create_task(
            c.send(None, PATH, *request(1), merges=True, label="m", in_flight=1)
        )
        await settle()
        assert len(upstream.bodies) == 1
        later = asyncio.create_task(
            c.send(None, PATH, *request(2), merges=True, label="m", in_flight=3)
        )
        await settle()
        # Out beside the first, which still waits: the queued one and the newcomer, merged.
        assert upstream.bodies[1:] == [{"inputs": [[1, 0.5], [2, 0.5]]}]
        assert upstream.gate is not None
        upstream.gate.set()
        assert [answer_rows(await t) for t in (first, queued, later)] == [[0], [1], [2]]

    asyncio.run(run())


def test_closing_answers_everything_waiting_and_sends_nothing_more() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        c = coalescer(upstream, merged)
        first, waiting = await busy_then(c, upstream, request(1), request(2))
        await c.aclose()
        for task in waiting:
            with pytest.raises(asyncio.CancelledError):
                await task
        assert upstream.gate is not None
        upstream.gate.set()
        assert answer_rows(await first) == [0]
        await settle()
        assert len(upstream.bodies) == 1
        with pytest.raises(RouterError) as refused:
            await c.send(None, PATH, *request(3), merges=True, label="m")
        assert refused.value.code is RouterErrorCode.UNAVAILABLE

    asyncio.run(run())


def test_large_answers_make_smaller_merged_requests() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        upstream.pad = 40_000  # ~40 KB of answer per row: about 3 rows per 128 KiB
        c = coalescer(upstream, merged)
        await c.send(None, PATH, *request(0), merges=True, label="m")  # the version's answer size
        assert not c._lanes
        first, waiting = await busy_then(c, upstream, *(request(i) for i in range(1, 7)))
        assert upstream.gate is not None
        upstream.gate.set()
        await first
        assert [answer_rows(await w) for w in waiting] == [[i] for i in range(1, 7)]
        assert [len(body["inputs"]) for body in upstream.bodies[2:]] == [3, 3]

    asyncio.run(run())


def test_a_merged_body_grown_by_encoding_is_cut_to_max_bytes() -> None:
    async def run() -> None:
        upstream, merged = Upstream(), []
        raw = b'{"inputs":[[1e15,0.5]]}'  # encoded again: 1000000000000000.0
        c = coalescer(upstream, merged, max_bytes=4 * len(raw))
        first, waiting = await busy_then(c, upstream, *[(raw, [[1e15, 0.5]])] * 4)
        assert upstream.gate is not None
        upstream.gate.set()
        await first
        assert [answer_rows(await w) for w in waiting] == [[1e15]] * 4
        for body in upstream.bodies[1:]:
            assert len(json.dumps(body, separators=(",", ":"))) <= 4 * len(raw)
        assert sum(len(body["inputs"]) for body in upstream.bodies[1:]) == 4

    asyncio.run(run())


@pytest.mark.parametrize(
    ("raw", "merges"),
    [
        (b'{"inputs": [[1, 2], [3, 4]]}', True),
        (b'{"instances": [[1, 2]]}', True),
        (b"[[1, 2]]", True),
        (b"[1, 2]", False),  # a bare flat row: read by the model's row shape by the handler
        (b'{"inputs": [1, 2]}', False),
        (b'\xef\xbb\xbf{"inputs": [[1, 2]]}', False),  # a byte order mark
        (b'{"inputs": [[1, 2]], "note": "\xed\xa0\x80"}', False),  # a lone surrogate
        (b' {"inputs": [[1, 2]]}', False),
    ],
)
def test_only_bodies_the_handler_reads_as_the_router_does_merge(raw: bytes, merges: bool) -> None:
    assert decode(raw).merges is merges


def test_requests_sent_again_keep_their_arrival_order() -> None:
    async def run() -> None:
        upstream = Upstream()
        c = Coalescer(upstream.send, max_rows=3, in_flight=2, on_merged=lambda label, n, r: None)
        upstream.gate = asyncio.Event()
        firsts = [
            asyncio.create_task(c.send(None, PATH, *request(0), merges=True, label="m"))
            for _ in "ab"
        ]
        await settle()
        waiting = [
            asyncio.create_task(c.send(None, PATH, *request(f), merges=True, label="m"))
            for f in (1, 2, -1, 3, 4, -1)
        ]
        await settle()
        upstream.gate.set()  # both merged requests of three are refused, then resent alone
        await asyncio.gather(*firsts)
        replies = [await w for w in waiting]
        assert [r.status for r in replies] == [200, 200, 400, 200, 200, 400]
        singles = [body["inputs"][0][0] for body in upstream.bodies if len(body["inputs"]) == 1]
        assert singles == [0, 0, 1, 2, -1, 3, 4, -1]

    asyncio.run(run())


def test_a_failing_counter_never_keeps_a_caller_waiting() -> None:
    async def run() -> None:
        upstream = Upstream()

        def broken(label: str, requests: int, resent: bool) -> None:
            raise RuntimeError("metrics registry broken")

        c = Coalescer(upstream.send, max_rows=64, in_flight=1, on_merged=broken)
        upstream.gate = asyncio.Event()
        first = asyncio.create_task(c.send(None, PATH, *request(0), merges=True, label="m"))
        await settle()
        waiting = [
            asyncio.create_task(c.send(None, PATH, *request(f), merges=True, label="m"))
            for f in (1, 2)
        ]
        await settle()
        upstream.fail_with = RouterError(RouterErrorCode.TIMEOUT, "no answer within 30 s")
        upstream.gate.set()
        for task in (first, *waiting):
            with pytest.raises(RouterError):
                await asyncio.wait_for(task, 5)

    asyncio.run(run())

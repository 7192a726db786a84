"""Requests for one TorchServe version that arrive while it is busy leave as one request.

TorchServe batches in its frontend by *waiting*: a worker that takes a request waits up to
``max_batch_delay_ms`` for more, so a lone client pays the delay on every request. The
router batches without waiting instead: a request goes out at once while fewer than
``in_flight`` requests to its version are out; one that arrives beyond that waits for the
next free slot, and everything waiting then leaves together as one request of all their
rows (at most ``max_rows``). One client is never held back; many clients fill a batch in
the time the version takes to answer the one before.

A merged request is ``{"inputs": [every row, in order]}``; TorchServe's answer
``{"model_version": ..., "predictions": [one per row]}`` is cut back into one answer per
request. Anything else (an error status, an answer whose predictions do not count one per
row) sends each request again on its own, so every caller gets exactly the answer, or the
error, its own request gets. Errors that are no answer at all (timeout, connection) reach
every caller of the merged request.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from serving.router.errors import RouterError


class Reply(NamedTuple):
    """What TorchServe answered (status, body, content type), before any error check."""

    status: int
    body: bytes
    content_type: bytes


Send = Callable[[str | None, str, bytes], Awaitable[Reply]]
"""(upstream base or None, path, body) -> TorchServe's reply, RouterError if none came."""


class _Waiting(NamedTuple):
    raw: bytes
    rows: list[Any]
    answer: asyncio.Future[Reply]


class _Lane:
    """One version's requests: how many are out, and who waits for a free slot."""

    __slots__ = ("busy", "in_flight", "queue")

    def __init__(self) -> None:
        self.in_flight = 1
        self.busy = 0
        self.queue: deque[_Waiting] = deque()


class Coalescer:
    """Merge the requests that wait for one (upstream, path) into one request each time a
    slot frees; at most ``in_flight`` requests per path are out at once."""

    def __init__(
        self,
        send: Send,
        *,
        max_rows: int,
        in_flight: int,
        on_merged: Callable[[int, bool], None],
        max_bytes: int = 1 << 20,
    ) -> None:
        """``send`` makes one request; ``on_merged(n, resent)`` is told of each request that
        carried the rows of ``n`` >= 2 callers, ``resent`` when they were then sent again
        one by one. A merged request holds at most ``max_rows`` rows and about ``max_bytes``
        (the callers' bodies' sizes added up: below what TorchServe accepts in one body)."""
        self._send = send
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.in_flight = in_flight
        self._on_merged = on_merged
        self._lanes: dict[tuple[str | None, str], _Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(
        self,
        upstream: str | None,
        path: str,
        raw: bytes,
        rows: list[Any],
        in_flight: int | None = None,
    ) -> Reply:
        """TorchServe's reply to this request (``raw``, whose checked ``rows`` it carries);
        ``in_flight``: this version's own limit (None: the coalescer's)."""
        key = (upstream, path)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        lane.in_flight = in_flight or self.in_flight  # the table in use says it
        if lane.busy < lane.in_flight and not lane.queue:
            lane.busy += 1  # a free slot and nobody ahead: out at once, the body unchanged
            try:
                return await self._send(upstream, path, raw)
            finally:
                self._release(key, lane)
        answer: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        lane.queue.append(_Waiting(raw, rows, answer))
        return await answer  # cancelled (the caller left): the merged request skips it

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _release(self, key: tuple[str | None, str], lane: _Lane) -> None:
        lane.busy -= 1
        while lane.queue and lane.busy < lane.in_flight:
            batch = self._take(lane.queue)
            if not batch:
                continue
            lane.busy += 1
            task = asyncio.create_task(self._run(key, lane, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if not lane.busy and not lane.queue:
            del self._lanes[key]  # a table's old versions leave nothing behind

    def _take(self, queue: deque[_Waiting]) -> list[_Waiting]:
        """The waiting requests that leave together: in arrival order, at most ``max_rows``
        rows and ``max_bytes`` (a larger request alone); callers that left are dropped."""
        batch: list[_Waiting] = []
        rows = size = 0
        while queue:
            waiting = queue[0]
            if waiting.answer.done():
                queue.popleft()
                continue
            more_rows, more_bytes = rows + len(waiting.rows), size + len(waiting.raw)
            if batch and (more_rows > self.max_rows or more_bytes > self.max_bytes):
                break
            batch.append(queue.popleft())
            rows, size = more_rows, more_bytes
        return batch

    async def _run(self, key: tuple[str | None, str], lane: _Lane, batch: list[_Waiting]) -> None:
        upstream, path = key
        try:
            if len(batch) == 1:
                await _settle(batch[0], self._send(upstream, path, batch[0].raw))
                return
            rows = [row for waiting in batch for row in waiting.rows]
            body = json.dumps({"inputs": rows}, separators=(",", ":"))
            try:
                reply = await self._send(upstream, path, body.encode())
            except RouterError as exc:  # no answer at all: the same for each request
                self._on_merged(len(batch), False)
                for waiting in batch:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(exc)
                return
            answers = _split(reply, batch)
            self._on_merged(len(batch), answers is None)
            if answers is None:  # an error or an unexpected answer: each request on its own
                await asyncio.gather(
                    *(_settle(w, self._send(upstream, path, w.raw)) for w in batch)
                )
                return
            for waiting, answer in zip(batch, answers, strict=True):
                if not waiting.answer.done():
                    waiting.answer.set_result(answer)
        except asyncio.CancelledError:  # the router is closing
            for waiting in batch:
                waiting.answer.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - every caller gets it, none waits forever
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_exception(exc)
        finally:
            self._release(key, lane)


async def _settle(waiting: _Waiting, reply: Awaitable[Reply]) -> None:
    try:
        result = await reply
    except RouterError as exc:
        if not waiting.answer.done():
            waiting.answer.set_exception(exc)
        return
    if not waiting.answer.done():
        waiting.answer.set_result(result)


def _split(reply: Reply, batch: list[_Waiting]) -> list[Reply] | None:
    """One reply per request of ``batch`` cut from a merged request's reply; None when the
    reply is not a success whose predictions count one per row."""
    if not 200 <= reply.status < 300:
        return None
    try:
        answer = json.loads(reply.body)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    predictions = answer.get("predictions")
    if not isinstance(predictions, list):
        return None
    if len(predictions) != sum(len(waiting.rows) for waiting in batch):
        return None
    replies: list[Reply] = []
    start = 0
    for waiting in batch:
        end = start + len(waiting.rows)
        body = json.dumps({**answer, "predictions": predictions[start:end]}).encode()
        replies.append(Reply(reply.status, body, reply.content_type))
        start = end
    return replies

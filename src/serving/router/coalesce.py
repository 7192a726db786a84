"""Requests for one TorchServe version that arrive while it is busy leave as one request.

TorchServe batches in its frontend by *waiting*: a worker that takes a request waits up to
``max_batch_delay_ms`` for more, so a lone client pays the delay on every request. The
router batches without waiting instead: a request goes out at once while fewer than
``in_flight`` requests to its version are out; one that arrives beyond that waits for the
next free slot, and what waits then leaves together as one request of all their rows (at
most ``max_rows`` rows and about ``max_bytes``; fewer when the version's answers are large).
One client is never held back; many clients fill a batch in the time the version takes to
answer the one before.

A merged request is ``{"inputs": [every row, in order]}``; TorchServe's answer
``{"model_version": ..., "predictions": [one per row]}`` is cut back into one answer per
request holding exactly those two keys. Only requests the handler reads exactly as the
router does are merged (``inputs.Body.merges``); any other request waits its turn and goes
alone, unchanged. Every caller gets the answer or error its own request gets:

- TorchServe refuses a merged request (400 or 413: one bad request spoils the body), or its
  answer is not one prediction per row with no other key: each request goes again alone,
  in its place in the queue (arrival order) and through the same slots (never all at once);
- any other error status, a timeout or a broken connection: every caller of the merged
  request gets it, as each would have alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from serving.router.errors import RouterError, RouterErrorCode

#: Statuses that blame a request's content: each request of a merged one is tried alone.
_RETRY_ALONE = frozenset({400, 413})
#: Answer keys a merged answer may hold; anything else may be per row and is never copied.
_ANSWER_KEYS = frozenset({"model_version", "predictions"})
#: A merged request's answer is kept to about this size, judged by the version's answers so
#: far (cutting it blocks the event loop ~25 ms per MiB).
MAX_ANSWER_BYTES = 128 << 10


class Reply(NamedTuple):
    """What TorchServe answered (status, body, content type), before any error check."""

    status: int
    body: bytes
    content_type: bytes


Send = Callable[[str | None, str, bytes], Awaitable[Reply]]
"""(upstream base or None, path, body) -> TorchServe's reply, RouterError if none came."""


class _Waiting(NamedTuple):
    arrival: int  # the lane keeps its queue in arrival order, requests sent again included
    raw: bytes
    rows: list[Any]
    merges: bool  # False: goes alone, unchanged
    answer: asyncio.Future[Reply]


class _Lane:
    """One version's requests: how many are out, and who waits for a free slot."""

    __slots__ = ("arrivals", "busy", "in_flight", "label", "queue")

    def __init__(self, label: str) -> None:
        self.label = label  # what the counts of this path's merged requests are told
        self.in_flight = 1
        self.busy = 0
        self.queue: deque[_Waiting] = deque()
        self.arrivals = 0

    def put_back(self, waiting: list[_Waiting]) -> None:
        """Requests taken from the queue go back to their places in arrival order."""
        self.queue = deque(sorted((*self.queue, *waiting), key=_arrival))


class Coalescer:
    """Merge the requests that wait for one (upstream, path) into one request each time a
    slot frees; at most ``in_flight`` requests per path are out at once."""

    def __init__(
        self,
        send: Send,
        *,
        max_rows: int,
        in_flight: int,
        on_merged: Callable[[str, int, bool], None],
        max_bytes: int = 1 << 20,
    ) -> None:
        """``send`` makes one request; ``on_merged(label, n, resent)`` is told of each request
        that carried the rows of ``n`` >= 2 callers (``label``: the one ``send`` was given
        for that path, e.g. the model), ``resent`` when they then went again alone.
        A merged request holds at most ``max_rows`` rows and ``max_bytes`` of body (below
        what TorchServe accepts in one body)."""
        self._send = send
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.in_flight = in_flight
        self._on_merged = on_merged
        self._lanes: dict[tuple[str | None, str], _Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        #: Each path's answer size per row (``_note_size``): bounds a merged answer's size.
        #: Kept when a lane goes idle (a float per version served, at most 4096).
        self._answer_sizes: dict[tuple[str | None, str], float] = {}

    async def send(
        self,
        upstream: str | None,
        path: str,
        raw: bytes,
        rows: list[Any],
        *,
        merges: bool,
        in_flight: int | None = None,
        label: str = "",
    ) -> Reply:
        """TorchServe's reply to this request (``raw``, whose checked ``rows`` it carries;
        ``merges``: it may travel in a merged request); ``in_flight``: this version's own
        limit (None: the coalescer's); ``label``: what ``on_merged`` is told for this path."""
        if self._closed:
            raise RouterError(RouterErrorCode.UNAVAILABLE, "the router is shutting down")
        key = (upstream, path)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(label)
        lane.in_flight = in_flight or self.in_flight  # the table in use says it
        if lane.busy < lane.in_flight and not lane.queue:
            lane.busy += 1  # a free slot and nobody ahead: out at once, the body unchanged
            try:
                reply = await self._send(upstream, path, raw)
            finally:
                lane.busy -= 1
                self._drain(key, lane)
            self._note_size(key, reply, len(rows))
            return reply
        answer: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        lane.arrivals += 1
        lane.queue.append(_Waiting(lane.arrivals, raw, rows, merges, answer))
        self._drain(key, lane)  # a larger in_flight may have freed slots
        return await answer  # cancelled (the caller left): never sent, or its answer unused

    async def aclose(self) -> None:
        """Refuse new requests, cancel what waits and what is out."""
        self._closed = True
        for lane in self._lanes.values():
            for waiting in lane.queue:
                waiting.answer.cancel()
            lane.queue.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _drain(self, key: tuple[str | None, str], lane: _Lane) -> None:
        """Send what waits while slots are free; forget the lane once idle."""
        while lane.queue and lane.busy < lane.in_flight and not self._closed:
            batch = self._take(lane, self._answer_sizes.get(key, 0.0))
            if not batch:
                continue
            lane.busy += 1
            task = asyncio.create_task(self._run(key, lane, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            # A task cancelled before it started never runs its own cleanup: answer here.
            task.add_done_callback(functools.partial(_cancel_if_cancelled, batch))
        if not lane.busy and not lane.queue and self._lanes.get(key) is lane:
            del self._lanes[key]  # a table's old versions leave nothing behind

    def _take(self, lane: _Lane, answer_bytes_per_row: float) -> list[_Waiting]:
        """The waiting requests that leave together, in arrival order: a request that does
        not merge alone; otherwise at most ``max_rows`` rows, ``max_bytes`` of the callers'
        bodies and about ``MAX_ANSWER_BYTES`` of answer (a larger request alone). Callers
        that left are dropped."""
        queue = lane.queue
        max_rows = self.max_rows
        if answer_bytes_per_row:
            max_rows = min(max_rows, max(1, int(MAX_ANSWER_BYTES / answer_bytes_per_row)))
        batch: list[_Waiting] = []
        rows = size = 0
        while queue:
            waiting = queue[0]
            if waiting.answer.done():
                queue.popleft()
                continue
            if not waiting.merges:
                if not batch:
                    batch.append(queue.popleft())
                break
            more_rows, more_bytes = rows + len(waiting.rows), size + len(waiting.raw)
            if batch and (more_rows > max_rows or more_bytes > self.max_bytes):
                break
            batch.append(queue.popleft())
            rows, size = more_rows, more_bytes
        return batch

    async def _run(self, key: tuple[str | None, str], lane: _Lane, batch: list[_Waiting]) -> None:
        upstream, path = key
        merged = 0
        try:
            if len(batch) > 1:
                body = self._body(lane, batch)
                if len(lane.queue) and lane.busy < lane.in_flight:
                    self._drain(key, lane)  # callers the cut sent back: a slot may be free
            if len(batch) == 1:  # alone (also when the cut left one): the body unchanged
                reply = await self._send(upstream, path, batch[0].raw)
                self._note_size(key, reply, len(batch[0].rows))
                _answer(batch[0], reply)
                return
            merged = len(batch)
            reply = await self._send(upstream, path, body)
            self._note_size(key, reply, sum(len(waiting.rows) for waiting in batch))
            answers = _split(reply, batch)
            alone = (answers is None and reply.status in _RETRY_ALONE) or answers == []
            if alone:  # each again on its own, in its place in the queue, through the slots
                lane.put_back([waiting._replace(merges=False) for waiting in batch])
            else:
                if answers is None:  # an error status of TorchServe's: every caller's answer
                    answers = [reply] * len(batch)
                for waiting, answer in zip(batch, answers, strict=True):
                    _answer(waiting, answer)
            self._count(lane.label, merged, alone)
        except RouterError as exc:  # no answer at all: the same for each request
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_exception(exc)
            if merged:
                self._count(lane.label, merged, False)
        except asyncio.CancelledError:  # the router is closing
            _cancel_all(batch)
            raise
        except Exception as exc:  # noqa: BLE001 - never a hang, never a stack trace to a caller
            error = RouterError(RouterErrorCode.BACKEND, f"the merged request failed ({exc!r})")
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_exception(error)
        finally:
            lane.busy -= 1
            self._drain(key, lane)

    def _count(self, label: str, requests: int, resent: bool) -> None:
        with contextlib.suppress(Exception):  # counting never keeps a caller waiting
            self._on_merged(label, requests, resent)

    def _note_size(self, key: tuple[str | None, str], reply: Reply, rows: int) -> None:
        """Keep the path's answer size per row: a larger one at once, a smaller one slowly
        (one large answer does not make every later merged request small)."""
        if 200 <= reply.status < 300 and rows:
            if len(self._answer_sizes) >= 4096 and key not in self._answer_sizes:
                self._answer_sizes.clear()  # paths of versions long gone: start again
            per_row = len(reply.body) / rows
            known = self._answer_sizes.get(key, 0.0)
            self._answer_sizes[key] = per_row if per_row > known else 0.9 * known + 0.1 * per_row

    def _body(self, lane: _Lane, batch: list[_Waiting]) -> bytes:
        """The merged request's body; callers beyond ``max_bytes`` once encoded go back to
        the head of the queue (``batch`` is cut in place, to one caller at least)."""
        while True:
            rows = [row for waiting in batch for row in waiting.rows]
            body = json.dumps({"inputs": rows}, separators=(",", ":")).encode()
            if len(body) <= self.max_bytes or len(batch) == 1:
                return body
            back = batch[len(batch) // 2 :]
            del batch[len(batch) // 2 :]
            lane.put_back(back)


def _arrival(waiting: _Waiting) -> int:
    return waiting.arrival


def _answer(waiting: _Waiting, reply: Reply) -> None:
    if not waiting.answer.done():
        waiting.answer.set_result(reply)


def _cancel_if_cancelled(batch: list[_Waiting], task: asyncio.Task[None]) -> None:
    if task.cancelled():
        _cancel_all(batch)
    elif task.exception() is not None:  # never expected: still, nobody waits forever
        error = RouterError(RouterErrorCode.BACKEND, "the merged request failed")
        for waiting in batch:
            if not waiting.answer.done():
                waiting.answer.set_exception(error)


def _cancel_all(batch: list[_Waiting]) -> None:
    for waiting in batch:
        if not waiting.answer.done():
            waiting.answer.cancel()


def _split(reply: Reply, batch: list[_Waiting]) -> list[Reply] | None:
    """One reply per request of ``batch`` cut from a merged request's reply; None for an
    error status; [] for a success that is not one prediction per row and nothing else."""
    if not 200 <= reply.status < 300:
        return None
    try:
        answer = json.loads(reply.body)
    except (ValueError, RecursionError):
        return []
    if not isinstance(answer, dict) or not answer.keys() <= _ANSWER_KEYS:
        return []
    predictions = answer.get("predictions")
    if not isinstance(predictions, list):
        return []
    if len(predictions) != sum(len(waiting.rows) for waiting in batch):
        return []
    version = answer.get("model_version")
    replies: list[Reply] = []
    start = 0
    for waiting in batch:
        end = start + len(waiting.rows)
        own: dict[str, Any] = {"predictions": predictions[start:end]}
        if "model_version" in answer:
            own = {"model_version": version, **own}
        body = json.dumps(own)
        replies.append(Reply(reply.status, body.encode(), reply.content_type))
        start = end
    return replies

"""Ground truth for answered predictions: production accuracy per model and version.

The router keeps, for its most recent answers, what judging needs and nothing more: the
model and version that answered, the predicted class of each row (4 bytes a row), the
answer's feedback token and who asked. The store is bounded in bytes (``max_bytes``, each
entry accounted as ``ENTRY_OVERHEAD`` + its request id + 4 bytes a row) and in entries;
the oldest answers are dropped first. A client that learns the true label later posts it::

    POST /feedback   {"request_id": "<X-Request-Id>", "token": "<X-Feedback-Token>",
                      "labels": [3, 7]}
                     {"items": [{"request_id": ..., "token": ..., "labels": [...]}, ...]}

Only the client that asked can label an answer: every prediction reply carries
``X-Feedback-Token`` (16 random bytes, hex), known only to whoever received the reply, and
an item counts only with that token (compared in constant time). When a client key was
used, the feedback must come with the same client's key; when either side is off loopback,
from the same address too. On loopback, the token alone is trusted: any local process that
read the reply could post it.

``labels`` has one true class per row of the request, in order (``"label": 3`` for a one-row
request). Each row counts once towards ``modelreg_router_feedback_rows_total`` and, if the
version that answered predicted that class, ``modelreg_router_feedback_correct_total``; a
guard counts labelled *requests* (``serving.router.window``), so one request of many rows
weighs once. A request id is settled once (a replay finds nothing), and an id the router no
longer holds (unknown, already settled, or dropped) is counted in
``modelreg_router_feedback_unmatched_total`` and named in the reply.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from serving.router import entropy
from serving.router.auth import is_loopback
from serving.router.errors import RouterError, RouterErrorCode

DEFAULT_WINDOW = 20_000
DEFAULT_MAX_BYTES = 16 << 20
MAX_ITEMS = 1_000
TOKEN_BYTES = 16
#: Bytes accounted per entry besides its request id and classes: the entry object, the
#: ordered dict's slot and link, the token and the address (measured with tracemalloc).
ENTRY_OVERHEAD = 640
Label = Annotated[StrictInt, Field(ge=0, le=1_000_000)]
_CLASS = re.compile(rb'(?<!\\)"class"\s*:\s*(\d{1,10})(?![\d.eE])')


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    token: str = Field(
        pattern=r"^[0-9a-f]{32}$",
        description="The X-Feedback-Token header of the prediction reply.",
    )
    labels: list[Label] | None = Field(default=None, min_length=1, max_length=10_000)
    label: Label | None = None

    @model_validator(mode="after")
    def _one_of(self) -> FeedbackItem:
        if (self.labels is None) == (self.label is None):
            raise ValueError('give exactly one of "labels" (one per row) or "label"')
        return self

    @property
    def truth(self) -> list[int]:
        return self.labels if self.labels is not None else [int(self.label or 0)]


class FeedbackBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    items: list[FeedbackItem] = Field(min_length=1, max_length=MAX_ITEMS)


class Settled(BaseModel):
    """What one feedback post counted."""

    model_config = ConfigDict(frozen=True)

    rows: int
    correct: int
    unmatched: list[str] = Field(description="Request ids the router does not hold.")
    refused: dict[str, str] = Field(description="Request ids whose labels could not count.")


class FeedbackMetrics(Protocol):
    def feedback(self, model: str, version: str, rows: int, correct: int) -> None: ...

    def feedback_unmatched(self, count: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Asker:
    """Who sent a request: the peer address and, when keys are in use, the client name."""

    address: str | None
    client: str | None = None

    def may_label(self, other: Asker) -> str | None:
        """None when ``other`` may label this one's answer; else why not."""
        if self.client is not None and other.client != self.client:
            return "the request was made with another client's API key; send its key"
        local = _loopback(self.address) and _loopback(other.address)
        if not local and other.address != self.address:
            return "the request came from another address; send feedback from the client that asked"
        return None


class _Answer(NamedTuple):  # a tuple: built on every answer, cheaper than a frozen dataclass
    model: str
    version: str
    classes: array[int] | None  # None: the reply held no classes (not a classifier)
    token: bytes
    asker: Asker
    size: int


class FeedbackBook:
    """The last answers by request id (bounded in entries and bytes), and their labels."""

    def __init__(self, window: int = DEFAULT_WINDOW, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._window = window
        self.max_bytes = max_bytes
        self._answers: OrderedDict[str, _Answer] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def accounted_bytes(self) -> int:
        """Bytes the held answers are accounted for (at most ``max_bytes``)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._answers)

    def remember(
        self, request_id: str, model: str, version: str, reply: bytes, asker: Asker, rows: int
    ) -> str:
        """Keep what judging ``reply`` (to a request of ``rows`` rows) needs; the feedback
        token for its reply (hex)."""
        token = entropy.token_bytes(TOKEN_BYTES)
        classes = compact_classes(reply, rows)
        size = ENTRY_OVERHEAD + len(request_id) + (len(classes) * 4 if classes else 0)
        answer = _Answer(model, version, classes, token, asker, size)
        with self._lock:
            old = self._answers.pop(request_id, None)
            if old is not None:
                self._bytes -= old.size
            if size <= self.max_bytes:
                self._answers[request_id] = answer
                self._bytes += size
            while self._answers and (
                len(self._answers) > self._window or self._bytes > self.max_bytes
            ):
                _, dropped = self._answers.popitem(last=False)
                self._bytes -= dropped.size
        return token.hex()

    def settle(self, items: list[FeedbackItem], metrics: FeedbackMetrics, asker: Asker) -> Settled:
        """Count each item's labels against the answer given under its request id, once."""
        rows = correct = 0
        unmatched: list[str] = []
        refused: dict[str, str] = {}
        for item in items:
            with self._lock:
                answer = self._answers.get(item.request_id)
                if answer is None:
                    unmatched.append(item.request_id)
                    continue
                problem = _problem(answer, item, asker)
                if problem is not None:
                    refused[item.request_id] = problem
                    continue
                del self._answers[item.request_id]  # counts once
                self._bytes -= answer.size
            classes = answer.classes or array("i")
            truth = item.truth
            hits = sum(p == t for p, t in zip(classes, truth, strict=True))
            metrics.feedback(answer.model, answer.version, len(truth), hits)
            rows += len(truth)
            correct += hits
        metrics.feedback_unmatched(len(unmatched))
        return Settled(rows=rows, correct=correct, unmatched=unmatched, refused=refused)


def _problem(answer: _Answer, item: FeedbackItem, asker: Asker) -> str | None:
    if not hmac.compare_digest(answer.token, bytes.fromhex(item.token)):
        return "the token does not match; send the X-Feedback-Token of that prediction's reply"
    refused = answer.asker.may_label(asker)
    if refused is not None:
        return refused
    if answer.classes is None:
        return (
            f"{answer.model} answers no classes (not a classifier); feedback counts only for "
            "classifiers"
        )
    if len(item.truth) != len(answer.classes):
        return (
            f"{len(item.truth)} label(s) for a request of {len(answer.classes)} row(s); send "
            "one label per row, in order"
        )
    return None


def _loopback(address: str | None) -> bool:
    return address is None or is_loopback(address)


def parse(raw: bytes) -> list[FeedbackItem]:
    """One item or a batch; a clear error naming the field otherwise."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise RouterError(RouterErrorCode.INVALID_INPUT, "the body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError, or an integer of > 4300 digits
        raise RouterError(RouterErrorCode.INVALID_INPUT, "the body is not JSON") from None
    try:
        if isinstance(data, dict) and "items" in data:
            return list(FeedbackBatch.model_validate(data).items)
        return [FeedbackItem.model_validate(data)]
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '<body>'}: {e['msg']}" for e in exc.errors()
        ]
        raise RouterError(
            RouterErrorCode.INVALID_INPUT,
            'invalid feedback (expected {"request_id", "token", "labels": [...]} or '
            '{"items": [...]}): ' + "; ".join(problems[:10]),
        ) from None


def compact_classes(reply: bytes, rows: int) -> array[int] | None:
    """The predicted class of each of the ``rows`` rows of a classifier's reply, 4 bytes a
    row; None when the reply holds no class per row (another task, or another answer).

    A scan, not a JSON parse: parsing a 0.5 MiB reply takes ~20 ms of the event loop, the
    scan ~1 ms. An unescaped ``"class": N`` is a key of the reply (inside a JSON string a
    quote is always escaped); the count must equal the request's rows, else nothing is kept.
    """
    found = _CLASS.findall(reply)
    if len(found) != rows or not rows:
        return None
    try:
        return array("i", map(int, found))
    except OverflowError:  # beyond 32 bits: not a class index
        return None

"""Ground truth for answered predictions: production accuracy per model and version.

The router keeps the reply of its most recent answers (bounded, oldest dropped first) under
the request id it returned. A client that learns the true label later posts it::

    POST /feedback   {"request_id": "<X-Request-Id>", "labels": [3, 7]}
                     {"items": [{"request_id": ..., "labels": [...]}, ...]}   (a batch)

``labels`` has one true class per row of the request, in order (``"label": 3`` for a one-row
request). Each row counts once towards ``modelreg_router_feedback_rows_total`` and, if the
version that answered predicted that class, ``modelreg_router_feedback_correct_total``, both
labelled with the model and version that answered: their ratio is production accuracy, the
foundation for drift detection. A request id is settled once (a replay finds nothing), and
an id the router no longer holds (unknown, already settled, or older than the window) is
counted in ``modelreg_router_feedback_unmatched_total`` and named in the reply.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from serving.router.errors import RouterError, RouterErrorCode

DEFAULT_WINDOW = 20_000
MAX_ITEMS = 1_000
Label = Annotated[StrictInt, Field(ge=0, le=1_000_000)]


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
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


@dataclass(frozen=True)
class _Answer:
    model: str
    version: str
    reply: bytes


class FeedbackBook:
    """The last ``window`` answers by request id, and what feedback has counted."""

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        self._window = window
        self._answers: OrderedDict[str, _Answer] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, request_id: str, model: str, version: str, reply: bytes) -> None:
        with self._lock:
            self._answers[request_id] = _Answer(model, version, reply)
            self._answers.move_to_end(request_id)
            while len(self._answers) > self._window:
                self._answers.popitem(last=False)

    def settle(self, items: list[FeedbackItem], metrics: FeedbackMetrics) -> Settled:
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
                try:
                    classes = predicted_classes(answer.reply)
                except (ValueError, KeyError, TypeError):
                    refused[item.request_id] = (
                        f"{answer.model} answers no classes (not a classifier); feedback "
                        "counts only for classifiers"
                    )
                    continue
                truth = item.truth
                if len(truth) != len(classes):
                    refused[item.request_id] = (
                        f"{len(truth)} label(s) for a request of {len(classes)} row(s); send "
                        "one label per row, in order"
                    )
                    continue
                del self._answers[item.request_id]  # counts once
            hits = sum(p == t for p, t in zip(classes, truth, strict=True))
            metrics.feedback(answer.model, answer.version, len(truth), hits)
            rows += len(truth)
            correct += hits
        metrics.feedback_unmatched(len(unmatched))
        return Settled(rows=rows, correct=correct, unmatched=unmatched, refused=refused)


def parse(raw: bytes) -> list[FeedbackItem]:
    """One item or a batch; a clear error naming the field otherwise."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
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
            'invalid feedback (expected {"request_id", "labels": [...]} or '
            '{"items": [...]}): ' + "; ".join(problems[:10]),
        ) from None


def predicted_classes(reply: bytes) -> list[int]:
    """The classes of a classifier's reply, one per row; ValueError for any other reply."""
    body: Any = json.loads(reply)
    predictions = body["predictions"]
    classes = [p["class"] for p in predictions]
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        raise ValueError("the reply holds no classes")
    return classes

"""The answers kept for feedback are bounded in bytes, whatever the size of the replies."""

from __future__ import annotations

import gc
import json
import tracemalloc
import uuid

from serving.router.feedback import ENTRY_OVERHEAD, Asker, FeedbackBook, FeedbackItem
from serving.router.metrics import RouterMetrics

BUDGET = 2 << 20
ROWS = 1024


def large_reply() -> bytes:
    """A 1,024-row classifier answer of about 0.5 MiB, as TorchServe sends one."""
    predictions = [
        {"class": i % 10, "probabilities": [0.012345678901234567 + i / 1e6] * 20}
        for i in range(ROWS)
    ]
    return json.dumps({"model_version": "1", "predictions": predictions}).encode()


def test_a_thousand_large_replies_stay_within_the_budget() -> None:
    reply = large_reply()
    assert len(reply) > 450_000
    book = FeedbackBook(max_bytes=BUDGET)
    ids = [uuid.uuid4().hex for _ in range(2)]  # the first and the last request's ids
    tokens: dict[str, str] = {}
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1000):
            request_id = ids[0] if i == 0 else ids[1] if i == 999 else uuid.uuid4().hex
            address = ".".join(["127", "0", "0", "1"])  # a new string, as each connection has
            token = book.remember(request_id, "m", "1", reply, Asker(address), ROWS)
            if request_id in ids:
                tokens[request_id] = token
            assert book.accounted_bytes <= BUDGET
        del request_id, address, token
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # What the process really holds for the store (and two tokens) stays within the budget;
    # whole replies would have been 1,000 x 0.46 MiB.
    assert held <= BUDGET, f"the store holds {held} bytes, over {BUDGET}"
    per_entry = ENTRY_OVERHEAD + 32 + 4 * ROWS
    assert len(book) == BUDGET // per_entry
    oldest, newest = ids
    labels = [i % 10 for i in range(ROWS)]
    settled = book.settle(
        [
            FeedbackItem(request_id=newest, token=tokens[newest], labels=labels),
            FeedbackItem(request_id=oldest, token=tokens[oldest], labels=labels),
        ],
        RouterMetrics(),
        Asker("127.0.0.1"),
    )
    assert (settled.rows, settled.correct, settled.unmatched) == (ROWS, ROWS, [oldest])


def test_one_answer_larger_than_the_budget_is_not_kept() -> None:
    book = FeedbackBook(max_bytes=ENTRY_OVERHEAD + 100)
    book.remember("small", "m", "1", b'{"predictions": [{"class": 1}]}', Asker(None), 1)
    book.remember("big", "m", "1", large_reply(), Asker(None), ROWS)
    assert len(book) == 1
    assert book.accounted_bytes <= ENTRY_OVERHEAD + 100

"""Ground-truth feedback through the real router and TorchServe: production accuracy per
version, counted once per answered request."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from serving.router.feedback import FeedbackBook, FeedbackItem, parse
from serving.router.metrics import RouterMetrics
from tests.serving.conftest import ROUTER_MODEL, Digits, RouterModels, RunningRouter
from tests.serving.test_router_app import http, install, rows

pytestmark = pytest.mark.slow


def counter(text: str, name: str, version: str) -> float:
    pattern = rf'^{name}\{{model="{re.escape(ROUTER_MODEL)}",version="{version}"\}} (\S+)$'
    found = re.search(pattern, text, re.M)
    return float(found.group(1)) if found else 0.0


def test_feedback_counts_rows_and_hits_per_version_once(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    install(router, router_models, production=2)
    sent: dict[str, list[int]] = {}
    predicted: dict[str, list[int]] = {}
    with http(router) as c:
        for start in range(0, 12, 3):  # four requests of three rows to v2 (Production)
            body = {"inputs": digits.x[start : start + 3].tolist()}
            reply = c.post(f"/predictions/{ROUTER_MODEL}", json=body)
            assert reply.status_code == 200
            request_id = reply.headers["X-Request-Id"]
            predicted[request_id] = [p["class"] for p in reply.json()["predictions"]]
            sent[request_id] = digits.y[start : start + 3].tolist()
        one = c.post(f"/predictions/{ROUTER_MODEL}/1", json=rows(digits))
        ids = list(sent)
        first = c.post("/feedback", json={"request_id": ids[0], "labels": sent[ids[0]]})
        batch = c.post(
            "/feedback",
            json={"items": [{"request_id": i, "labels": sent[i]} for i in ids[1:]]},
        )
        v1 = c.post(
            "/feedback",
            json={"request_id": one.headers["X-Request-Id"], "label": int(digits.y[0])},
        )
        replay = c.post("/feedback", json={"request_id": ids[0], "labels": sent[ids[0]]})
        text = c.get("/metrics").text
    expected_hits = sum(p == t for i in ids for p, t in zip(predicted[i], sent[i], strict=True))
    assert first.status_code == batch.status_code == v1.status_code == 200
    assert first.json()["rows"] + batch.json()["rows"] == 12
    assert first.json()["correct"] + batch.json()["correct"] == expected_hits
    assert counter(text, "modelreg_router_feedback_rows_total", "2") == 12
    assert counter(text, "modelreg_router_feedback_correct_total", "2") == expected_hits
    assert counter(text, "modelreg_router_feedback_rows_total", "1") == 1
    # A replayed request id counts nothing and is named in the reply.
    assert replay.json() == {"rows": 0, "correct": 0, "unmatched": [ids[0]], "refused": {}}
    assert "modelreg_router_feedback_unmatched_total 1.0" in text


def test_bad_feedback_is_refused_with_a_reason_and_changes_nothing(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    install(router, router_models)
    with http(router) as c:
        reply = c.post(f"/predictions/{ROUTER_MODEL}", json=rows(digits, 2))
        request_id = reply.headers["X-Request-Id"]
        cases: list[Any] = [
            "not json",
            {"request_id": request_id},  # no labels
            {"request_id": request_id, "labels": [1], "label": 1},  # both
            {"request_id": request_id, "labels": ["3", "4"]},  # lax: text for a class
            {"request_id": request_id, "labels": [True, False]},  # lax: booleans
            {"request_id": "bad id!", "label": 1},
            {"items": []},
        ]
        refusals = [
            c.post("/feedback", content=case)
            if isinstance(case, str)
            else c.post("/feedback", json=case)
            for case in cases
        ]
        wrong_count = c.post("/feedback", json={"request_id": request_id, "labels": [1]})
        still_counts = c.post("/feedback", json={"request_id": request_id, "labels": [1, 2]})
        text = c.get("/metrics").text
    for response in refusals:
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "INVALID_INPUT"
    assert wrong_count.json()["refused"] == {
        request_id: "1 label(s) for a request of 2 row(s); send one label per row, in order"
    }
    # The refused posts did not use the answer up: the corrected one counts.
    assert still_counts.json()["rows"] == 2
    assert counter(text, "modelreg_router_feedback_rows_total", "1") == 2


def test_the_window_keeps_only_the_newest_answers(tmp_path: Path) -> None:
    book = FeedbackBook(window=2)
    reply = b'{"model_version": "1", "predictions": [{"class": 4, "probabilities": [1.0]}]}'
    for request_id in ("a", "b", "c"):
        book.remember(request_id, "m", "1", reply)
    metrics = RouterMetrics()
    settled = book.settle([FeedbackItem(request_id=i, label=4) for i in ("a", "b", "c")], metrics)
    assert (settled.rows, settled.correct, settled.unmatched) == (2, 2, ["a"])
    assert parse(b'{"request_id": "x", "label": 0}') == [FeedbackItem(request_id="x", label=0)]


def test_feedback_for_a_model_without_classes_is_refused(tmp_path: Path) -> None:
    book = FeedbackBook()
    book.remember("e", "encoder", "1", b'{"predictions": [{"embedding": [0.1, 0.2]}]}')
    settled = book.settle([FeedbackItem(request_id="e", label=1)], RouterMetrics())
    assert settled.rows == 0
    assert "answers no classes" in settled.refused["e"]

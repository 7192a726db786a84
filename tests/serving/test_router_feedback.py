"""Ground-truth feedback through the real router and TorchServe: production accuracy per
version, counted once per answered request."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from serving.router.feedback import Asker, FeedbackBook, FeedbackItem, compact_classes, parse
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
    tokens: dict[str, str] = {}
    with http(router) as c:
        for start in range(0, 12, 3):  # four requests of three rows to v2 (Production)
            body = {"inputs": digits.x[start : start + 3].tolist()}
            reply = c.post(f"/predictions/{ROUTER_MODEL}", json=body)
            assert reply.status_code == 200
            request_id = reply.headers["X-Request-Id"]
            tokens[request_id] = reply.headers["X-Feedback-Token"]
            predicted[request_id] = [p["class"] for p in reply.json()["predictions"]]
            sent[request_id] = digits.y[start : start + 3].tolist()
        one = c.post(
            f"/predictions/{ROUTER_MODEL}/1",
            json=rows(digits),
            headers={"X-Admin-Token": router.admin_token},
        )
        ids = list(sent)
        first = c.post(
            "/feedback",
            json={"request_id": ids[0], "token": tokens[ids[0]], "labels": sent[ids[0]]},
        )
        batch = c.post(
            "/feedback",
            json={
                "items": [{"request_id": i, "token": tokens[i], "labels": sent[i]} for i in ids[1:]]
            },
        )
        v1 = c.post(
            "/feedback",
            json={
                "request_id": one.headers["X-Request-Id"],
                "token": one.headers["X-Feedback-Token"],
                "label": int(digits.y[0]),
            },
        )
        replay = c.post(
            "/feedback",
            json={"request_id": ids[0], "token": tokens[ids[0]], "labels": sent[ids[0]]},
        )
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
        token = reply.headers["X-Feedback-Token"]
        cases: list[Any] = [
            "not json",
            {"request_id": request_id, "token": token},  # no labels
            {"request_id": request_id, "token": token, "labels": [1], "label": 1},  # both
            {"request_id": request_id, "token": token, "labels": ["3", "4"]},  # lax: text
            {"request_id": request_id, "token": token, "labels": [True, False]},  # lax: bools
            {"request_id": "bad id!", "token": token, "label": 1},
            {"request_id": request_id, "labels": [1, 2]},  # no token
            {"request_id": request_id, "token": token.upper(), "labels": [1, 2]},
            {"items": []},
        ]
        refusals = [
            c.post("/feedback", content=case)
            if isinstance(case, str)
            else c.post("/feedback", json=case)
            for case in cases
        ]
        wrong_count = c.post(
            "/feedback", json={"request_id": request_id, "token": token, "labels": [1]}
        )
        forged = c.post(
            "/feedback", json={"request_id": request_id, "token": "0" * 32, "labels": [1, 2]}
        )
        still_counts = c.post(
            "/feedback", json={"request_id": request_id, "token": token, "labels": [1, 2]}
        )
        text = c.get("/metrics").text
    for response in refusals:
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "INVALID_INPUT"
    assert wrong_count.json()["refused"] == {
        request_id: "1 label(s) for a request of 2 row(s); send one label per row, in order"
    }
    assert forged.json()["rows"] == 0
    assert "token does not match" in forged.json()["refused"][request_id]
    # The refused posts did not use the answer up: the corrected one counts.
    assert still_counts.json()["rows"] == 2
    assert counter(text, "modelreg_router_feedback_rows_total", "1") == 2


LOCAL = Asker(address="127.0.0.1")


def item(request_id: str, token: str, label: int) -> FeedbackItem:
    return FeedbackItem(request_id=request_id, token=token, label=label)


def test_the_window_keeps_only_the_newest_answers(tmp_path: Path) -> None:
    book = FeedbackBook(window=2)
    reply = b'{"model_version": "1", "predictions": [{"class": 4, "probabilities": [1.0]}]}'
    tokens = {i: book.remember(i, "m", "1", reply, LOCAL, 1) for i in ("a", "b", "c")}
    metrics = RouterMetrics()
    settled = book.settle([item(i, t, 4) for i, t in tokens.items()], metrics, LOCAL)
    assert (settled.rows, settled.correct, settled.unmatched) == (2, 2, ["a"])
    parsed = parse(b'{"request_id": "x", "token": "' + b"a" * 32 + b'", "label": 0}')
    assert parsed == [item("x", "a" * 32, 0)]


def test_feedback_for_a_model_without_classes_is_refused(tmp_path: Path) -> None:
    book = FeedbackBook()
    token = book.remember("e", "encoder", "1", b'{"predictions": [{"embedding": [0.1]}]}', LOCAL, 1)
    settled = book.settle([item("e", token, 1)], RouterMetrics(), LOCAL)
    assert settled.rows == 0
    assert "answers no classes" in settled.refused["e"]


@pytest.mark.parametrize(
    ("asked", "labelled", "refusal"),
    [
        (Asker("127.0.0.1"), Asker("127.0.0.1"), None),  # loopback: the token is trusted
        (Asker("127.0.0.1"), Asker("::1"), None),
        (Asker("10.0.0.5", "alice"), Asker("10.0.0.5", "alice"), None),
        (Asker("10.0.0.5", "alice"), Asker("10.0.0.6", "alice"), "another address"),
        (Asker("10.0.0.5"), Asker("127.0.0.1"), "another address"),
        (Asker("127.0.0.1"), Asker("10.0.0.5"), "another address"),
        (Asker("10.0.0.5", "alice"), Asker("10.0.0.5", "mallory"), "another client's API key"),
        (Asker("127.0.0.1", "alice"), Asker("127.0.0.1", None), "another client's API key"),
    ],
)
def test_feedback_must_come_from_the_client_that_asked(
    asked: Asker, labelled: Asker, refusal: str | None
) -> None:
    book = FeedbackBook()
    reply = b'{"predictions": [{"class": 2}]}'
    token = book.remember("r", "m", "1", reply, asked, 1)
    settled = book.settle([item("r", token, 2)], RouterMetrics(), labelled)
    if refusal is None:
        assert (settled.rows, settled.refused) == (1, {})
    else:
        assert settled.rows == 0
        assert refusal in settled.refused["r"]
        # Refused: the answer is still held for the client that asked.
        again = book.settle([item("r", token, 2)], RouterMetrics(), asked)
        assert again.rows == 1


@pytest.mark.parametrize(
    ("reply", "rows", "expected"),
    [
        (b'{"predictions": [{"class": 3, "probabilities": [0.1]}, {"class" : 12}]}', 2, [3, 12]),
        (b'{"predictions": [{"class": 3}]}', 2, None),  # fewer classes than rows
        (b'{"predictions": [{"class": 3.0}]}', 1, None),  # not an integer
        (b'{"predictions": [{"class": -1}]}', 1, None),
        (b'{"predictions": [{"class": 99999999999}]}', 1, None),  # beyond 32 bits
        (b'{"predictions": [{"label": "a \\"class\\": 4"}]}', 1, None),  # inside a string
        (b'{"predictions": [{"embedding": [0.1]}]}', 1, None),
    ],
)
def test_classes_are_kept_compactly_only_when_one_per_row(
    reply: bytes, rows: int, expected: list[int] | None
) -> None:
    found = compact_classes(reply, rows)
    assert (None if found is None else list(found)) == expected

"""``GET /admin/stats``: a window [since, until] per version, with what a guard needs to tell
whole evidence from partial, and a version's own failures from its callers' mistakes."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from serving.router.window import Windows
from tests.serving.conftest import ROUTER_MODEL, Digits, RouterModels, RunningRouter
from tests.serving.test_router_app import http, put, rows, table


def test_windows_count_errors_rejections_and_labelled_requests_apart() -> None:
    windows = Windows(capacity=100, started_at=1000.0)
    for outcome in ("ok", "ok", "timeout", "upstream_rejected", "invalid_input"):
        windows.record("m", "1", outcome, 0.002)
    windows.record_feedback("m", "1", rows=120, correct=0)  # one big wrong request
    windows.record_feedback("m", "1", rows=1, correct=1)
    windows.record_feedback("m", "1", rows=1, correct=1)
    reply = windows.stats(0.0)
    seen = reply.models["m"]["1"]
    assert (seen.requests, seen.errors, seen.rejected) == (3, 1, 1)
    assert seen.error_ratio == pytest.approx(1 / 3)
    assert (seen.feedback_requests, seen.feedback_rows, seen.correct) == (3, 122, 2)
    assert seen.request_accuracy == pytest.approx(2 / 3)  # per request, not 2/122 per row
    assert seen.accuracy == pytest.approx(2 / 122)
    assert reply.started_at == 1000.0
    assert seen.complete_since == 1000.0
    assert not seen.truncated


def test_until_closes_the_window_and_complete_since_follows_dropped_samples() -> None:
    windows = Windows(capacity=3, started_at=0.0)
    for _ in range(3):
        windows.record("m", "1", "ok", 0.001)
    middle = time.time()
    time.sleep(0.01)  # the clock must move past ``middle`` (any resolution)
    while time.time() <= middle:
        time.sleep(0.01)
    windows.record("m", "1", "backend_error", 0.001)  # drops the oldest sample
    before = windows.stats(0.0, until=middle).models["m"]["1"]
    assert (before.requests, before.errors) == (2, 0)  # the oldest is gone
    assert before.truncated
    after = windows.stats(0.0).models["m"]["1"]
    assert (after.requests, after.errors) == (3, 1)
    assert 0.0 < after.complete_since <= middle
    assert windows.stats(middle).models["m"]["1"].truncated is False


@pytest.mark.slow
def test_torchserve_refusals_are_rejections_not_errors(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    body = table(router_models, production=1)
    for entry in body["models"].values():
        entry.pop("input_schema")  # the router checks shape only: TorchServe refuses 10 values
    reply = put(router, {"expected_generation": router.app.table.generation, "table": body})
    assert reply.status_code == 200, reply.text
    since = time.time()
    with http(router) as c:
        good = c.post(f"/predictions/{ROUTER_MODEL}", json=rows(digits, 2))
        assert good.status_code == 200, good.text
        short = {"inputs": [digits.x[0][:10].tolist()]}
        refused = [c.post(f"/predictions/{ROUTER_MODEL}", json=short) for _ in range(2)]
        until = time.time()
        later = c.post(f"/predictions/{ROUTER_MODEL}", json=rows(digits))
        assert later.status_code == 200
        stats: dict[str, Any] = c.get(
            "/admin/stats", params={"since": since, "until": until}, headers=router.admin()
        ).json()
        backwards = c.get(
            "/admin/stats", params={"since": until, "until": since}, headers=router.admin()
        )
    for answer in refused:
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "UPSTREAM_REJECTED"
    seen = stats["models"][ROUTER_MODEL]["1"]
    assert (seen["requests"], seen["errors"], seen["rejected"]) == (1, 0, 2)
    assert stats["until"] == pytest.approx(until)
    assert stats["started_at"] <= since <= stats["now"]
    assert seen["complete_since"] == stats["started_at"]
    assert backwards.status_code == 400
    assert "until" in backwards.json()["error"]["message"]


@pytest.mark.slow
def test_stats_refuse_a_non_finite_until(router: RunningRouter) -> None:
    for query in ("until=nan", "until=inf", "since=1&until=-1"):
        reply = httpx.get(
            f"{router.url}/admin/stats?{query}", headers=router.admin(), trust_env=False
        )
        assert reply.status_code == 400, (query, reply.text)
        assert "Unix time" in reply.json()["error"]["message"]

"""Canary and shadow traffic in the router, against the session's real TorchServe.

The split is random per request (or by ``X-Routing-Key``), so counts are checked within a
stated tolerance: with n = 2,000 requests at p = 10 %, the standard deviation of the canary's
count is sqrt(n p (1 - p)) = 13.4 requests; the tolerance of +/- 2 percentage points (40
requests) is three standard deviations, so a correct router fails it about 3 times in 1,000.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.serving.conftest import ROUTER_MODEL, Digits, RouterModels, RunningRouter
from tests.serving.test_router_app import http, put, rows, table

pytestmark = pytest.mark.slow

REQUESTS = 2_000
TOLERANCE_POINTS = 2.0


def install_canary(
    router: RunningRouter, models: RouterModels, canary: dict[str, Any] | None
) -> None:
    body = table(models, production=1)
    if canary is not None:
        body["models"][ROUTER_MODEL]["canary"] = canary
    generation = router.app.table.generation
    response = put(router, {"expected_generation": generation, "table": body})
    assert response.status_code == 200, response.text


def send(router: RunningRouter, digits: Digits, n: int, **headers: str) -> Counter[str]:
    """``n`` predictions of the model from 4 threads; version -> count ("fail" for errors)."""
    payload = rows(digits)

    def one(client: httpx.Client) -> str:
        reply = client.post(f"/predictions/{ROUTER_MODEL}", json=payload, headers=headers)
        if reply.status_code != 200:
            return "fail"
        assert reply.json()["model_version"] == reply.headers["x-model-version"]
        return reply.headers["x-model-version"]

    clients = [http(router) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            return Counter(pool.map(lambda i: one(clients[i % 4]), range(n)))
    finally:
        for client in clients:
            client.close()


def stats(router: RunningRouter, since: float) -> dict[str, Any]:
    reply = httpx.get(
        f"{router.url}/admin/stats",
        params={"since": since},
        headers=router.admin(),
        trust_env=False,
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json()["models"].get(ROUTER_MODEL, {}))


def test_a_ten_percent_canary_gets_ten_percent_and_stopping_returns_to_zero(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    install_canary(router, router_models, {"version": 2, "percent": 10})
    started = time.time()
    counts = send(router, digits, REQUESTS)
    assert counts["fail"] == 0, counts
    share = 100 * counts["2"] / REQUESTS
    assert abs(share - 10) <= TOLERANCE_POINTS, counts
    assert counts["1"] + counts["2"] == REQUESTS

    # The router's own window agrees with what the clients saw.
    seen = stats(router, started)
    assert seen["2"]["requests"] == counts["2"]
    assert seen["1"]["requests"] == counts["1"]
    assert seen["2"]["errors"] == 0
    assert seen["2"]["p99_ms"] is not None

    # Stop it under traffic: nothing fails, and every request sent after the stop was
    # acknowledged is answered by Production.
    answers: list[tuple[float, str]] = []
    stop = threading.Event()

    def client() -> None:
        with http(router) as c:
            while not stop.is_set():
                sent_at = time.monotonic()
                reply = c.post(f"/predictions/{ROUTER_MODEL}", json=rows(digits))
                ok = reply.status_code == 200
                answers.append((sent_at, reply.headers["x-model-version"] if ok else "fail"))

    threads = [threading.Thread(target=client) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    install_canary(router, router_models, None)
    stopped_at = time.monotonic()
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join()
    assert all(version != "fail" for _, version in answers), answers
    after = Counter(version for sent_at, version in answers if sent_at > stopped_at)
    assert set(after) == {"1"}, after
    assert sum(after.values()) > 0


def test_a_routing_key_always_lands_on_the_same_side(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    install_canary(router, router_models, {"version": 2, "percent": 50})
    sides = set()
    for key in ("user-1", "user-2", "user-3", "user-4", "user-5", "user-6"):
        counts = send(router, digits, 12, **{"X-Routing-Key": key})
        assert len(counts) == 1, (key, counts)  # every request of one key: one version
        sides |= set(counts)
    assert sides == {"1", "2"}  # six keys at 50 %: both sides (fails with p = 1/32)


def test_shadow_mode_answers_from_production_and_measures_the_candidate(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    install_canary(router, router_models, {"version": 2, "percent": 50, "mode": "shadow"})
    started = time.time()
    counts = send(router, digits, 200)
    assert counts == Counter({"1": 200}), counts  # the candidate never answers
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # mirrored calls finish after the answers
        seen = stats(router, started)
        if seen.get("2", {}).get("requests", 0) >= 60:
            break
        time.sleep(0.05)
    assert 60 <= seen["2"]["requests"] <= 140, seen  # 50 % of 200, +/- 40 (5.6 sd)
    metrics = httpx.get(router.url + "/metrics", trust_env=False).text
    assert f'modelreg_router_canary_percent{{model="{ROUTER_MODEL}",version="2"}} 50.0' in metrics
    assert 'route="shadow"' in metrics


def test_bad_canaries_are_refused_and_change_nothing(
    router: RunningRouter, router_models: RouterModels
) -> None:
    install_canary(router, router_models, None)
    generation = router.app.table.generation
    for canary, expected in (
        ({"version": 2, "percent": 0}, "greater than 0"),
        ({"version": 2, "percent": 101}, "less than or equal to 100"),
        ({"version": 1, "percent": 10}, "must be the entry's previous or staging"),
        ({"version": 7, "percent": 10}, "must be the entry's previous or staging"),
        ({"version": 2, "percent": 10, "mode": "mirror"}, "mode"),
    ):
        body = table(router_models, production=1)
        body["models"][ROUTER_MODEL]["canary"] = canary
        reply = put(router, {"expected_generation": generation, "table": body})
        assert reply.status_code == 422, reply.text
        assert expected in reply.json()["error"]["message"], reply.text
    assert router.app.table.generation == generation
    assert router.app.table.canaries == {}


def test_stats_need_the_admin_token_and_a_valid_since(router: RunningRouter) -> None:
    no_token = httpx.get(router.url + "/admin/stats", trust_env=False)
    assert no_token.status_code == 401
    bad = httpx.get(
        router.url + "/admin/stats?since=yesterday", headers=router.admin(), trust_env=False
    )
    assert bad.status_code == 400
    assert "Unix time" in bad.json()["error"]["message"]

"""Attacks on a guard's evidence through the real router and TorchServe: malformed requests,
one many-row request labelled wrong, and forged feedback must not make a healthy version
breach its guard."""

from __future__ import annotations

from typing import Any

import pytest

from registry_mcp.deploy.guard_watch import evidence_of
from registry_mcp.domain.releases import GuardSpec, breaches
from serving.router.window import VersionStats
from serving.torchserve import TorchServeClient
from tests.serving.conftest import ROUTER_MODEL, Digits, RouterModels, RunningRouter
from tests.serving.test_router_app import http, install, ts_inferences

pytestmark = pytest.mark.slow

SPEC = GuardSpec(
    window_s=600,
    min_requests=5,
    max_error_ratio=0.05,
    max_p99_ms=60_000,  # latency is not what this test attacks
    min_accuracy=0.8,
    min_feedback_rows=5,
)


def test_forged_evidence_does_not_make_a_healthy_version_breach(
    router: RunningRouter, router_models: RouterModels, digits: Digits, client: TorchServeClient
) -> None:
    install(router, router_models, production=1)
    served = router_models.served[ROUTER_MODEL]
    since = 0.0
    with http(router) as c:
        # Healthy traffic, confirmed right by the clients that asked.
        for i in range(8):
            reply = c.post(f"/predictions/{ROUTER_MODEL}", json={"inputs": [digits.x[i].tolist()]})
            assert reply.status_code == 200, reply.text
            predicted = reply.json()["predictions"][0]["class"]
            settled = c.post(
                "/feedback",
                json={
                    "request_id": reply.headers["X-Request-Id"],
                    "token": reply.headers["X-Feedback-Token"],
                    "label": predicted,
                },
            )
            assert settled.json()["rows"] == 1
        # Attack 1: two nested-row requests (8 x 8 instead of 64 values) never reach TorchServe.
        before = ts_inferences(client, served)
        nested = {"inputs": [digits.x[0].reshape(8, 8).tolist()]}
        malformed = [c.post(f"/predictions/{ROUTER_MODEL}", json=nested) for _ in range(2)]
        assert ts_inferences(client, served) == before
        # Attack 2: one 120-row request, labelled all wrong by the client that sent it.
        big = c.post(f"/predictions/{ROUTER_MODEL}", json={"inputs": digits.x[:120].tolist()})
        assert big.status_code == 200, big.text
        wrong = [(p["class"] + 1) % 10 for p in big.json()["predictions"]]
        counted = c.post(
            "/feedback",
            json={
                "request_id": big.headers["X-Request-Id"],
                "token": big.headers["X-Feedback-Token"],
                "labels": wrong,
            },
        )
        # Attack 3: labels for someone else's answer, without its token or with a guessed one.
        victim = c.post(f"/predictions/{ROUTER_MODEL}", json={"inputs": [digits.x[9].tolist()]})
        victim_id = victim.headers["X-Request-Id"]
        no_token = c.post("/feedback", json={"request_id": victim_id, "label": 0})
        guessed = c.post(
            "/feedback",
            json={"request_id": victim_id, "token": "f" * 32, "labels": [0]},
        )
        stats: dict[str, Any] = c.get(
            "/admin/stats", params={"since": since}, headers=router.admin()
        ).json()
    for refused in malformed:
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "INVALID_INPUT"
        assert "nested as [8, 8]" in refused.json()["error"]["message"]
    assert counted.json()["rows"] == 120
    assert no_token.status_code == 400
    assert "token" in no_token.json()["error"]["message"]
    assert guessed.json()["rows"] == 0
    assert "token does not match" in guessed.json()["refused"][victim_id]

    seen = VersionStats.model_validate(stats["models"][ROUTER_MODEL]["1"])
    assert (seen.requests, seen.errors, seen.rejected) == (10, 0, 0)
    assert (seen.feedback_requests, seen.feedback_rows) == (9, 128)
    # Judged per row, the one wrong request would have outvoted the eight right ones.
    assert seen.accuracy is not None
    assert seen.accuracy < 0.8
    assert seen.request_accuracy == pytest.approx(8 / 9)
    assert breaches(SPEC, evidence_of(seen)) == []

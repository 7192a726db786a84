"""A restarted router process never answers from a table the control plane has not confirmed.

Each test writes a state file (as a router that stopped would have left it), starts a real
router process with ``--start-unconfirmed`` in front of the session's TorchServe, and checks
what clients get before and after the control plane confirms or replaces the table.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.router.server import LocalRouter, RouterSettings, free_port
from serving.router.state import StateFile
from serving.router.table import RoutingTable, TableState
from tests.serving.conftest import ROUTER_MODEL, Digits, RouterModels
from tests.serving.test_router_app import table

pytestmark = pytest.mark.slow

TOKEN = "admin-" + "u" * 26
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def restarted_router(
    torchserve: Any, models: RouterModels, tmp_path: Path, wait_s: float
) -> LocalRouter:
    """A router (not started) whose state file holds generation 1 with v1 in Production."""
    state_file = tmp_path / "state" / "router.json"
    StateFile(state_file).save(
        TableState(generation=1, table=RoutingTable.model_validate(table(models, 1)))
    )
    settings = RouterSettings(
        port=free_port(),
        inference_url=torchserve.endpoints.inference,
        management_url=torchserve.endpoints.management,
        key_file=torchserve.key_file,
        state_file=state_file,
        start_unconfirmed=True,
        unconfirmed_wait_s=wait_s,
    )
    return LocalRouter(settings, TOKEN, log_file=tmp_path / "router.log")


def counted(metrics: str, result: str) -> float:
    found = re.search(
        rf'^modelreg_router_unconfirmed_requests_total\{{result="{result}"\}} (\S+)$', metrics, re.M
    )
    return float(found.group(1)) if found else 0.0


def test_unconfirmed_table_is_refused_with_retry_after_until_confirmed(
    torchserve: Any, router_models: RouterModels, digits: Digits, tmp_path: Path
) -> None:
    router = restarted_router(torchserve, router_models, tmp_path, wait_s=0)
    body = {"inputs": digits.x[:2].tolist()}
    with router, httpx.Client(base_url=router.url, trust_env=False, timeout=30) as c:
        refused = c.post(f"/predictions/{ROUTER_MODEL}", json=body)
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "UNCONFIRMED"
        assert "POST /admin/confirm" in refused.json()["error"]["message"]
        by_route = c.post("/routes/digits", json=body)
        assert (by_route.status_code, by_route.json()["error"]["code"]) == (503, "UNCONFIRMED")
        ready = c.get("/readyz")
        assert ready.status_code == 503
        assert any("not confirmed" in p for p in ready.json()["problems"])
        state = c.get("/admin/table", headers=ADMIN).json()
        assert (state["generation"], state["confirmed"]) == (1, False)

        unauthorised = c.post("/admin/confirm", json={"generation": 1})
        assert unauthorised.status_code == 401
        stale = c.post("/admin/confirm", json={"generation": 0}, headers=ADMIN)
        assert (stale.status_code, stale.json()["error"]["code"]) == (409, "CONFLICT")
        malformed = c.post("/admin/confirm", json={"generation": "one"}, headers=ADMIN)
        assert (malformed.status_code, malformed.json()["error"]["code"]) == (400, "INVALID_INPUT")
        still = c.post(f"/predictions/{ROUTER_MODEL}", json=body)
        assert still.status_code == 503, "a refused confirmation must change nothing"

        confirmed = c.post("/admin/confirm", json={"generation": 1}, headers=ADMIN)
        assert confirmed.status_code == 200, confirmed.text
        assert (confirmed.json()["generation"], confirmed.json()["confirmed"]) == (1, True)
        answer = c.post(f"/predictions/{ROUTER_MODEL}", json=body)
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-model-version"] == "1"
        assert c.get("/admin/table", headers=ADMIN).json()["confirmed"] is True
        assert c.get("/readyz").status_code == 200
        metrics = c.get("/metrics").text
    assert counted(metrics, "refused") == 3
    assert counted(metrics, "waited") == 0
    # The reply field is never written to the state file.
    assert "confirmed" not in router.settings.state_file.read_text()


def test_a_waiting_request_is_answered_by_the_table_that_confirms_it(
    torchserve: Any, router_models: RouterModels, digits: Digits, tmp_path: Path
) -> None:
    router = restarted_router(torchserve, router_models, tmp_path, wait_s=60)
    body = {"inputs": digits.x[:2].tolist()}
    answers: list[httpx.Response] = []

    def ask() -> None:
        with httpx.Client(trust_env=False, timeout=120) as c:
            answers.append(c.post(f"{router.url}/predictions/{ROUTER_MODEL}", json=body))

    with router, httpx.Client(base_url=router.url, trust_env=False, timeout=30) as c:
        waiting = threading.Thread(target=ask)
        waiting.start()
        deadline = time.monotonic() + 60
        while "modelreg_router_unconfirmed_waiting 1.0" not in c.get("/metrics").text:
            assert waiting.is_alive(), f"the request did not wait: {answers[0].text}"
            assert time.monotonic() < deadline, "the request never reached the router"
            time.sleep(0.05)
        # The control plane replaces the table: v2 is Production now.
        put = c.put(
            "/admin/table",
            json={"expected_generation": 1, "table": table(router_models, 2)},
            headers=ADMIN,
        )
        assert put.status_code == 200, put.text
        assert put.json()["confirmed"] is True
        waiting.join(timeout=60)
        assert not waiting.is_alive()
        metrics = c.get("/metrics").text
    assert len(answers) == 1
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].headers["x-model-version"] == "2", "answered from the unconfirmed table"
    assert counted(metrics, "waited") == 1
    assert counted(metrics, "refused") == 0


def test_without_the_setting_a_restarted_router_answers_from_its_state_file(
    torchserve: Any, router_models: RouterModels, digits: Digits, tmp_path: Path
) -> None:
    router = restarted_router(torchserve, router_models, tmp_path, wait_s=0)
    router.settings = router.settings.model_copy(update={"start_unconfirmed": False})
    with router, httpx.Client(base_url=router.url, trust_env=False, timeout=30) as c:
        answer = c.post(f"/predictions/{ROUTER_MODEL}", json={"inputs": digits.x[:1].tolist()})
        assert answer.status_code == 200, answer.text
        assert c.get("/admin/table", headers=ADMIN).json()["confirmed"] is True

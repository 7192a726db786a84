"""Switching the router's table under load, and a router process resuming from its state file."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.router.server import LocalRouter, RouterSettings, free_port
from tests.serving.conftest import ROUTER_MODEL, Digits, RouterModels, RunningRouter
from tests.serving.test_router_app import install, put, table

pytestmark = pytest.mark.slow

SWAPS = 24


class Load:
    """Threads posting one-row predictions; every answer is recorded with its send time."""

    def __init__(self, url: str, body: dict[str, Any], threads: int = 4) -> None:
        self.url = url
        self.body = body
        self.stop = threading.Event()
        self.answers: list[tuple[float, int, str, str]] = []  # sent, status, header, body version
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run) for _ in range(threads)]

    def run(self) -> None:
        with httpx.Client(timeout=30.0, trust_env=False) as c:
            while not self.stop.is_set():
                sent = time.monotonic()
                try:
                    r = c.post(self.url, json=self.body)
                    answer = (
                        sent,
                        r.status_code,
                        r.headers.get("x-model-version", ""),
                        str(r.json().get("model_version", "")),
                    )
                except httpx.HTTPError as exc:
                    answer = (sent, 0, "", repr(exc))
                with self.lock:
                    self.answers.append(answer)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def test_table_swaps_under_load_drop_and_misroute_nothing(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    generation = install(router, router_models, production=1)
    swaps: list[tuple[float, float, str]] = []  # put started, put returned, new production
    with Load(
        f"{router.url}/predictions/{ROUTER_MODEL}", {"inputs": digits.x[:1].tolist()}
    ) as load:
        time.sleep(0.3)
        for i in range(SWAPS):
            production = 2 if i % 2 == 0 else 1
            started = time.monotonic()
            response = put(
                router,
                {"expected_generation": generation, "table": table(router_models, production)},
            )
            returned = time.monotonic()
            assert response.status_code == 200, response.text
            generation = response.json()["generation"]
            swaps.append((started, returned, str(production)))
            time.sleep(0.05)
        time.sleep(0.2)
    answers = sorted(load.answers)
    failed = [a for a in answers if a[1] != 200]
    assert not failed, failed[:5]
    assert all(header == body for _, _, header, body in answers)  # attribution is TorchServe's
    checked = 0
    misrouted = []
    for k, (_, returned, production) in enumerate(swaps):
        window_end = swaps[k + 1][0] if k + 1 < len(swaps) else float("inf")
        for sent, _, version, _ in answers:
            if returned <= sent < window_end:
                checked += 1
                if version != production:
                    misrouted.append((k, sent, version, production))
    assert not misrouted, misrouted[:5]
    assert checked >= SWAPS  # every window saw traffic
    assert generation == SWAPS + 1
    metrics = httpx.get(router.url + "/metrics", trust_env=False).text
    expected = f'modelreg_router_version_changes_total{{model="{ROUTER_MODEL}",stage="production"}}'
    assert f"{expected} {SWAPS + 1}.0" in metrics


def test_a_restarted_router_resumes_from_its_state_file(
    torchserve: Any, router_models: RouterModels, digits: Digits, tmp_path: Path
) -> None:
    settings = RouterSettings(
        port=free_port(),
        inference_url=torchserve.endpoints.inference,
        management_url=torchserve.endpoints.management,
        key_file=torchserve.key_file,
        state_file=tmp_path / "state" / "router.json",
    )
    token = "admin-" + "r" * 26
    router = LocalRouter(settings, token, log_file=tmp_path / "router.log")
    admin = {"Authorization": f"Bearer {token}"}
    body = {"inputs": digits.x[:2].tolist()}
    with router:
        first_pid = router.pid
        for expected, production in ((0, 1), (1, 2)):
            response = httpx.put(
                router.url + "/admin/table",
                json={"expected_generation": expected, "table": table(router_models, production)},
                headers=admin,
                trust_env=False,
            )
            assert response.status_code == 200, response.text
    assert first_pid is not None
    assert not _alive(first_pid), "the router process survived stop()"
    assert settings.state_file.exists()

    with router, httpx.Client(base_url=router.url, trust_env=False, timeout=30) as c:
        assert router.pid != first_pid
        state = c.get("/admin/table", headers=admin).json()
        assert state["generation"] == 2
        assert c.get("/readyz").json()["ready"] is True
        answer = c.post(f"/predictions/{ROUTER_MODEL}", json=body)
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-model-version"] == "2"
        stale = c.put(
            "/admin/table",
            json={"expected_generation": 1, "table": table(router_models, 1)},
            headers=admin,
        )
        assert stale.status_code == 409
        metrics = c.get("/metrics").text
        assert (
            f'modelreg_router_active_version{{model="{ROUTER_MODEL}",stage="production"}} 2.0'
            in metrics
        )
        assert "modelreg_router_table_generation 2.0" in metrics
        second_pid = router.pid
    assert second_pid is not None
    assert not _alive(second_pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0

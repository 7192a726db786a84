"""The router in front of a real KServe model server: models whose table entry names
``upstream.backend: kserve`` are called over the Open Inference Protocol v2 and answered
exactly as TorchServe-backed ones (body, version headers, error codes, statistics, metrics).

Mirrors test_router_app.py, test_router_canary.py and test_router_switch.py on the KServe
server (one per module, on the interpreter test_kserve.py uses); the comparison with a
TorchServe-backed model of the same weights also uses the session's TorchServe.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from serving.archive import build_archive
from serving.kserve.backend import KServeBackend
from serving.kserve.local import LocalKServe
from serving.naming import served_name
from serving.router.server import INITIAL_TABLE_RETRY_S, LocalRouter, RouterSettings, build_app
from serving.router.server import free_port as router_port
from tests.serving.conftest import (
    ROUTER_MODEL,
    Digits,
    RouterModels,
    RunningRouter,
    SavedModels,
    running_router,
)
from tests.serving.test_kserve import _kserve_python
from tests.serving.test_router_app import put
from tests.serving.test_router_app import table as torchserve_table
from tests.serving.test_router_canary import REQUESTS, TOLERANCE_POINTS
from tests.serving.test_router_switch import SWAPS, Load

pytestmark = pytest.mark.slow

KS_MODEL = "kserve digits"  # registry name; served as served_name(KS_MODEL)
LATE = "kserve digits late"  # not loaded until a test loads it
SCHEMA = {"n_features": 64, "dtype": "float32"}


class KServe:
    """The module's KServe model server and a management client of it."""

    def __init__(self, local: LocalKServe, backend: KServeBackend) -> None:
        self.local = local
        self.backend = backend

    def upstream(self) -> dict[str, str]:
        url = self.local.url
        return {"inference_url": url, "management_url": url, "backend": "kserve"}


@pytest.fixture(scope="module")
def kserve(tmp_path_factory: pytest.TempPathFactory, saved_models: SavedModels) -> Iterator[KServe]:
    """``kserve digits`` v1 and v2 (the weights of saved_models v1 and v2) loaded."""
    python = _kserve_python()
    if python is None:
        pytest.skip(
            "kserve is not installed here: install the extra (pip install -e '.[kserve]') or "
            "set MODELREG_TEST_KSERVE_PYTHON to a Python that has it"
        )
    local = LocalKServe(tmp_path_factory.mktemp("kserve-router"), python=python)
    local.up()
    try:
        for name in (KS_MODEL, LATE):
            for version in (1, 2):
                build_archive(saved_models.dirs[version], name, version, local.model_store)
        http = httpx.Client(timeout=httpx.Timeout(120.0, connect=5.0), trust_env=False)
        with KServeBackend(local.url, local.token(), http=http) as backend:
            for version in (1, 2):
                backend.load(_archive(local, KS_MODEL, version), served_name(KS_MODEL), version)
            yield KServe(local, backend)
    finally:
        local.down()


def _archive(local: LocalKServe, model: str, version: int) -> str:
    (found,) = local.model_store.glob(f"{served_name(model)}-v{version}-*.mar")
    return found.name


def ks_table(
    kserve: KServe, production: int = 1, *, schema: bool = True, **entry: Any
) -> dict[str, Any]:
    model: dict[str, Any] = {
        "served_name": served_name(KS_MODEL),
        "production": production,
        "staging": 3 - production,
        "upstream": kserve.upstream(),
        **entry,
    }
    if schema:
        model["input_schema"] = SCHEMA
    return {"models": {KS_MODEL: model}, "routes": {"digits-ks": {"default": KS_MODEL}}}


@pytest.fixture
def router(kserve: KServe, tmp_path: Path) -> Iterator[RunningRouter]:
    """A fresh router with no default TorchServe: its models name their upstream."""
    settings = RouterSettings(key_file=None, state_file=tmp_path / "router-state.json")
    token = "admin-" + "k" * 26
    with running_router(build_app(settings, token, None), token) as running:
        yield running


def install(router: RunningRouter, table: dict[str, Any]) -> int:
    generation = router.app.table.generation
    reply = put(router, {"expected_generation": generation, "table": table})
    assert reply.status_code == 200, reply.text
    return int(reply.json()["generation"])


def open_client(router: RunningRouter) -> httpx.Client:
    return httpx.Client(base_url=router.url, timeout=30.0, trust_env=False)


def rows(digits: Digits, n: int = 1) -> dict[str, Any]:
    return {"inputs": digits.x[:n].tolist()}


# --------------------------------------------------------------------- predictions


def test_predictions_answer_with_production_or_the_named_version(
    router: RunningRouter, kserve: KServe, digits: Digits
) -> None:
    install(router, ks_table(kserve, production=2))
    started = time.time()
    with open_client(router) as c:
        default = c.post(f"/predictions/{KS_MODEL}", json=rows(digits, 3))
        assert default.status_code == 200, default.text
        assert default.headers["x-model-name"] == KS_MODEL
        assert default.headers["x-model-version"] == "2"
        assert default.headers["content-type"] == "application/json"
        assert default.headers["x-feedback-token"]
        body = default.json()
        assert body["model_version"] == "2"  # what the KServe server itself says
        assert [set(p) for p in body["predictions"]] == [{"class", "probabilities"}] * 3
        for prediction in body["predictions"]:
            assert prediction["class"] == int(np.argmax(prediction["probabilities"]))
        direct = kserve.backend.predict(served_name(KS_MODEL), rows(digits, 3), version=2)
        assert [p["class"] for p in body["predictions"]] == [p.label for p in direct.predictions]

        pinned = c.post(
            f"/predictions/{KS_MODEL}/1",
            json=rows(digits),
            headers={"X-Admin-Token": router.admin_token},
        )
        assert pinned.status_code == 200, pinned.text
        assert pinned.headers["x-model-version"] == pinned.json()["model_version"] == "1"
        refused = c.post(f"/predictions/{KS_MODEL}/1", json=rows(digits))
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "FORBIDDEN")

        routed = c.post("/routes/digits-ks", json={"instances": digits.x[:2].tolist()})
        assert routed.status_code == 200, routed.text
        assert routed.headers["x-route"] == "digits-ks"
        assert routed.json()["model_version"] == "2"
        assert len(routed.json()["predictions"]) == 2

        one_flat_row = c.post(f"/predictions/{KS_MODEL}", json=digits.x[0].tolist())
        assert len(one_flat_row.json()["predictions"]) == 1

        narrow = c.post(f"/predictions/{KS_MODEL}", json={"inputs": [[0.5] * 63]})
        assert (narrow.status_code, narrow.json()["error"]["code"]) == (400, "INVALID_INPUT")
    assert router.app.upstream.bases == [kserve.local.url]  # one pool: the model's server

    stats = httpx.get(
        f"{router.url}/admin/stats",
        params={"since": started},
        headers=router.admin(),
        trust_env=False,
    ).json()["models"][KS_MODEL]
    assert stats["2"]["requests"] == 3  # default, route, one flat row (refusals not charged)
    assert stats["1"]["requests"] == 1
    assert stats["2"]["errors"] == 0
    metrics = httpx.get(router.url + "/metrics", trust_env=False).text
    line = re.search(
        r'^modelreg_router_requests_total\{model="kserve digits",outcome="ok",route="",'
        r'version="2"\} (\S+)$',
        metrics,
        re.M,
    )
    assert line is not None, metrics[:2000]
    assert float(line[1]) == 2.0  # the default and the flat row; the route has its label
    assert f'modelreg_router_active_version{{model="{KS_MODEL}",stage="production"}} 2.0' in metrics


def test_the_servers_refusal_is_passed_on_with_the_routers_code(
    router: RunningRouter, kserve: KServe
) -> None:
    """Without an input schema the router checks only the shape; the server refuses the width."""
    install(router, ks_table(kserve, schema=False))
    with open_client(router) as c:
        reply = c.post(f"/predictions/{KS_MODEL}", json={"inputs": [[0.5] * 63]})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "UPSTREAM_REJECTED"
    assert "KServe model server refused the input" in error["message"]
    assert "64" in error["message"]
    assert reply.headers["x-model-version"] == "1"


def test_a_table_naming_a_version_the_server_has_not_loaded_is_refused(
    router: RunningRouter, kserve: KServe
) -> None:
    generation = install(router, ks_table(kserve))
    body = ks_table(kserve)
    body["models"][KS_MODEL]["staging"] = 7
    reply = put(router, {"expected_generation": generation, "table": body})
    assert reply.status_code == 422, reply.text
    message = reply.json()["error"]["message"]
    assert "staging version 7 is not loaded and ready in the KServe model server" in message
    assert router.app.table.generation == generation  # nothing changed

    stopped = ks_table(kserve)
    stopped["models"][KS_MODEL]["upstream"] = {
        "inference_url": f"http://127.0.0.1:{router_port()}",
        "management_url": f"http://127.0.0.1:{router_port()}",
        "backend": "kserve",
    }
    down = put(router, {"expected_generation": generation, "table": stopped})
    assert (down.status_code, down.json()["error"]["code"]) == (503, "UNAVAILABLE")
    assert "cannot check the table against the KServe model server" in down.text
    assert router.app.table.generation == generation


# --------------------------------------------------------------------- canary and shadow


def send(router: RunningRouter, digits: Digits, n: int, **headers: str) -> Counter[str]:
    """``n`` predictions from 4 threads; version -> count ("fail" for errors)."""
    payload = rows(digits)

    def one(c: httpx.Client) -> str:
        reply = c.post(f"/predictions/{KS_MODEL}", json=payload, headers=headers)
        if reply.status_code != 200:
            return "fail"
        assert reply.json()["model_version"] == reply.headers["x-model-version"]
        return reply.headers["x-model-version"]

    clients = [open_client(router) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            return Counter(pool.map(lambda i: one(clients[i % 4]), range(n)))
    finally:
        for c in clients:
            c.close()


def stats(router: RunningRouter, since: float) -> dict[str, Any]:
    reply = httpx.get(
        f"{router.url}/admin/stats",
        params={"since": since},
        headers=router.admin(),
        trust_env=False,
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json()["models"].get(KS_MODEL, {}))


def test_a_ten_percent_canary_gets_ten_percent(
    router: RunningRouter, kserve: KServe, digits: Digits
) -> None:
    """Tolerance as in test_router_canary.py: +/- 2 points of 2,000 requests (3 sd)."""
    install(router, ks_table(kserve, canary={"version": 2, "percent": 10}))
    started = time.time()
    counts = send(router, digits, REQUESTS)
    assert counts["fail"] == 0, counts
    assert counts["1"] + counts["2"] == REQUESTS
    assert abs(100 * counts["2"] / REQUESTS - 10) <= TOLERANCE_POINTS, counts
    seen = stats(router, started)
    assert (seen["1"]["requests"], seen["2"]["requests"]) == (counts["1"], counts["2"])
    assert seen["2"]["errors"] == 0


def test_a_routing_key_always_lands_on_the_same_side(
    router: RunningRouter, kserve: KServe, digits: Digits
) -> None:
    install(router, ks_table(kserve, canary={"version": 2, "percent": 50}))
    sides = set()
    for key in ("user-1", "user-2", "user-3", "user-4", "user-5", "user-6"):
        counts = send(router, digits, 12, **{"X-Routing-Key": key})
        assert len(counts) == 1, (key, counts)
        sides |= set(counts)
    assert sides == {"1", "2"}  # six keys at 50 %: both sides (fails with p = 1/32)


def test_shadow_mode_answers_from_production_and_measures_the_candidate(
    router: RunningRouter, kserve: KServe, digits: Digits
) -> None:
    install(router, ks_table(kserve, canary={"version": 2, "percent": 50, "mode": "shadow"}))
    started = time.time()
    counts = send(router, digits, 200)
    assert counts == Counter({"1": 200}), counts
    deadline = time.monotonic() + 30
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:  # mirrored calls finish after the answers
        seen = stats(router, started)
        if seen.get("2", {}).get("requests", 0) >= 60:
            break
        time.sleep(0.05)
    assert 60 <= seen["2"]["requests"] <= 140, seen  # 50 % of 200, +/- 40 (5.6 sd)
    assert seen["2"]["errors"] == 0
    metrics = httpx.get(router.url + "/metrics", trust_env=False).text
    assert 'route="shadow"' in metrics


# --------------------------------------------------------------------- switch under load


def test_production_switches_under_load_drop_and_misroute_nothing(
    router: RunningRouter, kserve: KServe, digits: Digits
) -> None:
    generation = install(router, ks_table(kserve, production=1))
    swaps: list[tuple[float, float, str]] = []  # put started, put returned, new production
    with Load(f"{router.url}/predictions/{KS_MODEL}", rows(digits)) as load:
        time.sleep(0.3)
        for i in range(SWAPS):
            production = 2 if i % 2 == 0 else 1
            started = time.monotonic()
            reply = put(
                router,
                {"expected_generation": generation, "table": ks_table(kserve, production)},
            )
            returned = time.monotonic()
            assert reply.status_code == 200, reply.text
            generation = reply.json()["generation"]
            swaps.append((started, returned, str(production)))
            time.sleep(0.05)
        time.sleep(0.2)
    answers = sorted(load.answers)
    failed = [a for a in answers if a[1] != 200]
    assert not failed, failed[:5]
    assert all(header == body for _, _, header, body in answers)  # attribution is the server's
    checked = 0
    stale = []
    for k, (_, returned, production) in enumerate(swaps):
        window_end = swaps[k + 1][0] if k + 1 < len(swaps) else float("inf")
        for sent, _, version, _ in answers:
            if returned <= sent < window_end:
                checked += 1
                if version != production:
                    stale.append((k, sent, version, production))
    assert not stale, stale[:5]
    assert checked >= SWAPS  # every window saw traffic
    assert generation == SWAPS + 1


# --------------------------------------------------------------------- readiness


def test_a_model_not_loaded_yet_answers_model_not_ready_until_it_is(
    kserve: KServe, digits: Digits, tmp_path: Path
) -> None:
    """A router process started from an initial table: the loaded model serves at once, the
    one the server has not loaded answers 503 MODEL_NOT_READY until it is loaded."""
    initial = ks_table(kserve)
    initial["models"][LATE] = {
        "served_name": served_name(LATE),
        "production": 1,
        "input_schema": SCHEMA,
        "upstream": kserve.upstream(),
    }
    table_file = tmp_path / "initial-table.json"
    table_file.write_text(json.dumps(initial))
    settings = RouterSettings(
        port=router_port(),
        key_file=None,
        state_file=tmp_path / "state.json",
        initial_table=table_file,
    )
    local = LocalRouter(settings, "admin-" + "i" * 26, log_file=tmp_path / "router.log")
    with local, httpx.Client(base_url=local.url, timeout=30.0, trust_env=False) as c:
        deadline = time.monotonic() + 60
        while c.get("/readyz").json()["generation"] != 1:
            assert time.monotonic() < deadline, "the initial table was not installed"
            time.sleep(0.1)
        ready = c.get("/readyz")
        assert ready.status_code == 200  # one model serves: the router is in its Service
        models = ready.json()["models"]
        assert models[KS_MODEL] == {"ready": True}
        assert models[LATE]["ready"] is False
        assert "not loaded and ready in the KServe model server" in models[LATE]["problem"]

        assert c.post(f"/predictions/{KS_MODEL}", json=rows(digits)).status_code == 200
        late = c.post(f"/predictions/{LATE}", json=rows(digits))
        assert late.status_code == 503, late.text
        assert late.json()["error"]["code"] == "MODEL_NOT_READY"
        assert late.headers["retry-after"] == "5"

        kserve.backend.load(_archive(kserve.local, LATE, 1), served_name(LATE), 1)
        try:
            deadline = time.monotonic() + 20 * INITIAL_TABLE_RETRY_S
            while (reply := c.post(f"/predictions/{LATE}", json=rows(digits))).status_code != 200:
                assert reply.json()["error"]["code"] == "MODEL_NOT_READY", reply.text
                assert time.monotonic() < deadline, "the model did not become ready"
                time.sleep(0.5)
            assert reply.headers["x-model-version"] == reply.json()["model_version"] == "1"
            assert c.get("/readyz").json()["models"][LATE] == {"ready": True}
        finally:
            kserve.backend.unload(served_name(LATE), 1)


# --------------------------------------------------------------------- same answer as TorchServe


def test_a_kserve_backed_model_answers_exactly_as_a_torchserve_backed_one(
    router: RunningRouter,
    kserve: KServe,
    digits: Digits,
    torchserve: Any,
    client: Any,
    router_models: RouterModels,
    tmp_path: Path,
) -> None:
    """One router, both backends, the same weights: the same body, headers and labels."""
    settings = RouterSettings(
        inference_url=torchserve.endpoints.inference,
        management_url=torchserve.endpoints.management,
        key_file=torchserve.key_file,
        state_file=tmp_path / "mixed-state.json",
    )
    token = "admin-" + "m" * 26
    app = build_app(settings, token, client, refresh_token=client)
    both = torchserve_table(router_models, production=2)
    both["models"][KS_MODEL] = ks_table(kserve, production=2)["models"][KS_MODEL]
    with (
        running_router(app, token) as mixed,
        httpx.Client(base_url=mixed.url, timeout=30.0, trust_env=False) as c,
    ):
        install(mixed, both)
        payload = rows(digits, 4)
        replies = {m: c.post(f"/predictions/{m}", json=payload) for m in (ROUTER_MODEL, KS_MODEL)}
        for reply in replies.values():
            assert reply.status_code == 200, reply.text
        ts, ks = (replies[m] for m in (ROUTER_MODEL, KS_MODEL))
        skip = {"x-request-id", "x-feedback-token", "x-model-name", "content-length", "date"}
        assert {k: v for k, v in ts.headers.items() if k not in skip} == {
            k: v for k, v in ks.headers.items() if k not in skip
        }
        ts_body, ks_body = ts.json(), ks.json()
        assert list(ts_body) == list(ks_body) == ["model_version", "predictions"]
        assert ts_body["model_version"] == ks_body["model_version"] == "2"
        for a, b in zip(ts_body["predictions"], ks_body["predictions"], strict=True):
            assert list(a) == list(b) == ["class", "probabilities"]
            assert a["class"] == b["class"]
            assert np.allclose(a["probabilities"], b["probabilities"], atol=1e-6)

        wrong = {"inputs": [[0.5] * 63]}
        refusals = [c.post(f"/predictions/{m}", json=wrong) for m in (ROUTER_MODEL, KS_MODEL)]
        assert [r.json()["error"]["code"] for r in refusals] == ["INVALID_INPUT"] * 2

        metrics = c.get("/metrics").text
        for model in (ROUTER_MODEL, KS_MODEL):
            assert (
                f'modelreg_router_requests_total{{model="{model}",outcome="ok",route="",'
                'version="2"} 1.0' in metrics
            )


def test_the_kserve_upstream_needs_no_default_torchserve(
    router: RunningRouter, kserve: KServe
) -> None:
    """The router of these tests has none: its /readyz still answers for the KServe models."""
    install(router, ks_table(kserve))
    ready = httpx.get(router.url + "/readyz", trust_env=False)
    assert ready.status_code == 200, ready.text
    assert ready.json()["models"] == {KS_MODEL: {"ready": True}}
    assert router.app.upstream.bases == []  # nothing opened before the first prediction

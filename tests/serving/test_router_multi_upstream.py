"""One router in front of several TorchServes, as on Kubernetes: each model is served, and its
table entry checked, by the TorchServe the entry names (``upstream``), else by the router's
default one; a router without a default starts from ``--initial-table``.

The second TorchServe runs with token authorization off, the setting of the rendered cluster
config (``modelreg k8s render``), and the router sends it no token; the session's TorchServe
(token auth on) is the router's default. The last test stops the second TorchServe.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry_mcp.deploy.kubernetes.probe import check
from registry_mcp.deploy.kubernetes.render import torchserve_properties
from registry_mcp.deploy.kubernetes.tsconfig import read_properties
from serving.archive import build_archive
from serving.local import LocalPorts, LocalTorchServe
from serving.naming import served_name
from serving.router.server import LocalRouter, RouterSettings, build_app, free_port
from serving.torchserve import TorchServeClient
from tests.serving.conftest import (
    ROUTER_CRITICAL,
    ROUTER_MODEL,
    Digits,
    RouterModels,
    RunningRouter,
    SavedModels,
    leftover_processes,
    running_router,
)
from tests.serving.test_router_app import put, table, ts_inferences

pytestmark = pytest.mark.slow


class ClusterTorchServe(LocalTorchServe):
    """serving.local's TorchServe with the cluster's token setting (off)."""

    def render_config(self) -> str:
        cluster = read_properties(torchserve_properties())["disable_token_authorization"]
        return (
            super()
            .render_config()
            .replace("disable_token_authorization=false", f"disable_token_authorization={cluster}")
        )

    @property
    def key_file(self) -> Path:
        """serving.local waits for a key file before it pings; without tokens TorchServe
        writes none, so an empty one stands in (no keys: its client sends no token)."""
        path = self.serving_dir / "no-keys.json"
        if self.serving_dir.is_dir() and not path.exists():
            path.write_text("{}")
        return path


@pytest.fixture(scope="module")
def second(
    java: str, saved_models: SavedModels, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClusterTorchServe]:
    """A second TorchServe serving ``router-digits-critical`` v1 (the session's weights)."""
    server = ClusterTorchServe(tmp_path_factory.mktemp("second"), ports=LocalPorts.free())
    server.up()
    try:
        archive = build_archive(saved_models.dirs[2], ROUTER_CRITICAL, 1, server.model_store)
        with server.client() as ts:
            ts.register(archive.file_name, served_name(ROUTER_CRITICAL), 1, initial_workers=1)
        yield server
    finally:
        server.down()
        assert not leftover_processes(server), "TorchServe processes survived down()"


def on(server: LocalTorchServe) -> dict[str, str]:
    return {
        "inference_url": server.endpoints.inference,
        "management_url": server.endpoints.management,
    }


def critical_on(models: RouterModels, upstream: dict[str, str] | None) -> dict[str, Any]:
    """The router tests' table with ``router-digits-critical`` served through ``upstream``."""
    found = table(models)
    if upstream is not None:
        found["models"][ROUTER_CRITICAL]["upstream"] = upstream
    return found


def rows(digits: Digits) -> dict[str, Any]:
    return {"inputs": digits.x[:2].tolist()}


def default_base(router: RunningRouter) -> str:
    """The base URL of the router's default TorchServe (its first pool)."""
    return str(router.app.upstream.url)


def _counts(
    client: TorchServeClient, second: ClusterTorchServe, served: str
) -> tuple[float, float]:
    with second.client() as other:
        return ts_inferences(client, served), ts_inferences(other, served)


def test_without_tokens_torchserve_writes_no_key_file_and_the_pod_probe_passes(
    second: ClusterTorchServe, tmp_path: Path
) -> None:
    assert not (second.serving_dir / "key_file.json").exists()
    assert check(tmp_path / "key_file.json", *on(second).values()) is None


def test_each_model_is_served_by_the_torchserve_its_entry_names(
    router: RunningRouter,
    router_models: RouterModels,
    client: TorchServeClient,
    second: ClusterTorchServe,
    digits: Digits,
) -> None:
    answer = put(
        router, {"expected_generation": 0, "table": critical_on(router_models, on(second))}
    )
    assert answer.status_code == 200, answer.text
    served = router_models.served[ROUTER_CRITICAL]
    before = _counts(client, second, served)
    with httpx.Client(base_url=router.url, timeout=30.0, trust_env=False) as http:
        direct = http.post(f"/predictions/{ROUTER_CRITICAL}", json=rows(digits))
        routed = http.post("/routes/digits", json=rows(digits), headers={"X-Priority": "critical"})
        default = http.post(f"/predictions/{ROUTER_MODEL}", json=rows(digits))
    for response in (direct, routed, default):
        assert response.status_code == 200, response.text
    assert routed.headers["x-model-name"] == ROUTER_CRITICAL
    after = _counts(client, second, served)
    assert after[0] == before[0]  # the default TorchServe did not see them
    assert after[1] == before[1] + 2  # the model's own TorchServe answered both
    assert router.app.upstream.bases == [
        default_base(router),
        second.endpoints.inference,
    ]


def test_an_upstream_equal_to_the_default_is_the_default(
    router: RunningRouter, router_models: RouterModels, digits: Digits, torchserve: Any
) -> None:
    """The same TorchServe named explicitly (another spelling of its URL): one pool, and the
    key file's token, which the session's TorchServe needs."""
    same = {
        "inference_url": torchserve.endpoints.inference.replace("http://", "HTTP://") + "/",
        "management_url": torchserve.endpoints.management,
    }
    answer = put(router, {"expected_generation": 0, "table": critical_on(router_models, same)})
    assert answer.status_code == 200, answer.text
    response = httpx.post(
        f"{router.url}/predictions/{ROUTER_CRITICAL}", json=rows(digits), trust_env=False
    )
    assert response.status_code == 200, response.text
    assert router.app.upstream.bases == [default_base(router)]


def test_the_key_goes_to_the_default_address_only(
    router: RunningRouter, router_models: RouterModels, torchserve: Any
) -> None:
    """The session's TorchServe under another host name is another upstream: no token, so
    its management API refuses the check (and the table) rather than see the router's key."""
    elsewhere = {
        key: url.replace("127.0.0.1", "localhost")
        for key, url in (
            ("inference_url", torchserve.endpoints.inference),
            ("management_url", torchserve.endpoints.management),
        )
    }
    answer = put(router, {"expected_generation": 0, "table": critical_on(router_models, elsewhere)})
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "UNAVAILABLE"
    assert (
        f"TorchServe at {elsewhere['management_url']} (model '{ROUTER_CRITICAL}')"
        in (error["message"])
    )
    assert router.app.table.generation == 0


def test_a_table_naming_a_dead_upstream_is_refused_and_changes_nothing(
    router: RunningRouter, router_models: RouterModels
) -> None:
    dead = {
        "inference_url": f"http://127.0.0.1:{free_port()}",
        "management_url": f"http://127.0.0.1:{free_port()}",
    }
    answer = put(router, {"expected_generation": 0, "table": critical_on(router_models, dead)})
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "UNAVAILABLE"
    assert dead["management_url"] in error["message"]
    assert ROUTER_CRITICAL in error["message"]
    assert router.app.table.generation == 0


def test_a_dead_upstream_fails_its_model_only(
    torchserve: Any,
    client: TorchServeClient,
    router_models: RouterModels,
    digits: Digits,
    tmp_path: Path,
) -> None:
    """A table in use whose entry names a dead port (the check is off here, as it would be
    when the server died after the check): that model answers 503 UNAVAILABLE, the other
    model and the route's other targets keep answering."""
    settings = RouterSettings(
        inference_url=torchserve.endpoints.inference,
        management_url=torchserve.endpoints.management,
        key_file=torchserve.key_file,
        state_file=tmp_path / "router-state.json",
        verify_loaded=False,
    )
    token = "admin-" + "d" * 26
    dead_port = free_port()
    dead = {
        "inference_url": f"http://127.0.0.1:{dead_port}",
        "management_url": f"http://127.0.0.1:{free_port()}",
    }
    app = build_app(settings, token, client, refresh_token=client)
    with running_router(app, token) as router:
        answer = put(router, {"expected_generation": 0, "table": critical_on(router_models, dead)})
        assert answer.status_code == 200, answer.text
        with httpx.Client(base_url=router.url, timeout=30.0, trust_env=False) as http:
            failed = http.post(f"/predictions/{ROUTER_CRITICAL}", json=rows(digits))
            routed = http.post(
                "/routes/digits", json=rows(digits), headers={"X-Priority": "critical"}
            )
            fine = http.post(f"/predictions/{ROUTER_MODEL}", json=rows(digits))
            default_route = http.post("/routes/digits", json=rows(digits))
            metrics = http.get("/metrics").text
    for response in (failed, routed):
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "UNAVAILABLE"
        assert f"127.0.0.1:{dead_port}" in response.json()["error"]["message"]
        assert response.headers["x-model-name"] == ROUTER_CRITICAL
    assert fine.status_code == 200, fine.text
    assert default_route.status_code == 200, default_route.text
    assert default_route.headers["x-model-name"] == ROUTER_MODEL
    labels = f'model="{ROUTER_CRITICAL}",outcome="unavailable",route="",version="1"'
    assert f"modelreg_router_errors_total{{{labels}}} 1.0" in metrics


# --------------------------------------------------------------------- --initial-table


def _wait_ready(http: httpx.Client, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        ready = http.get("/readyz")
        if ready.status_code == 200 or time.monotonic() > deadline:
            return dict(ready.json())
        time.sleep(0.1)


def _log_has(router: LocalRouter, text: str, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in router.log_file.read_text(encoding="utf-8", errors="replace"):
            return True
        time.sleep(0.1)
    return False


def _cluster_router(tmp_path: Path, initial: dict[str, Any] | None) -> LocalRouter:
    """``python -m serving.router`` as the cluster runs it: no default TorchServe, no key."""
    table_file = tmp_path / "table.json"
    if initial is not None:
        table_file.write_text(json.dumps(initial))
    settings = RouterSettings(
        port=free_port(),
        key_file=None,
        state_file=tmp_path / "state" / "router.json",
        initial_table=table_file,
    )
    return LocalRouter(settings, "admin-" + "i" * 26, log_file=tmp_path / "router.log")


def _critical_only(models: RouterModels, second: ClusterTorchServe, version: int = 1) -> Any:
    return {
        "models": {
            ROUTER_CRITICAL: {
                "served_name": models.served[ROUTER_CRITICAL],
                "production": version,
                "input_schema": {"n_features": 64, "dtype": "float32"},
                "upstream": on(second),
            }
        },
        "routes": {"digits": {"default": ROUTER_CRITICAL}},
    }


def test_a_router_without_default_starts_from_its_initial_table(
    router_models: RouterModels, second: ClusterTorchServe, digits: Digits, tmp_path: Path
) -> None:
    initial = _critical_only(router_models, second)
    router = _cluster_router(tmp_path, initial)
    admin = {"Authorization": "Bearer admin-" + "i" * 26}
    with router, httpx.Client(base_url=router.url, timeout=30.0, trust_env=False) as http:
        ready = _wait_ready(http)
        assert ready == {
            "ready": True,
            "generation": 1,
            "problems": [],
            "models": {ROUTER_CRITICAL: {"ready": True}},
        }
        state = http.get("/admin/table", headers=admin).json()
        assert state["generation"] == 1
        assert state["table"]["models"][ROUTER_CRITICAL]["upstream"] == {
            **on(second),
            "backend": "torchserve",  # the default, written out
        }
        log = router.log_file.read_text(encoding="utf-8")
        assert "initial routing table installed (generation 1)" in log
        assert "HTTP Request:" not in log  # httpx's per-request INFO lines stay out
        answer = http.post("/routes/digits", json=rows(digits))
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-model-version"] == "1"
        # An entry without upstream has no TorchServe to go to on this router: refused.
        plain = json.loads(json.dumps(initial))
        del plain["models"][ROUTER_CRITICAL]["upstream"]
        refused = http.put(
            "/admin/table", json={"expected_generation": 1, "table": plain}, headers=admin
        )
        assert refused.status_code == 422, refused.text
        assert "this router has no default TorchServe" in refused.json()["error"]["message"]

    # Restarted with its state file: that wins over the initial table (now an empty one).
    (tmp_path / "table.json").write_text(json.dumps({"models": {}, "routes": {}}))
    with router, httpx.Client(base_url=router.url, timeout=30.0, trust_env=False) as http:
        assert _wait_ready(http)["generation"] == 1
        state = http.get("/admin/table", headers=admin).json()
        assert set(state["table"]["models"]) == {ROUTER_CRITICAL}


def test_an_initial_table_serves_its_ready_models_and_holds_the_others(
    router_models: RouterModels, second: ClusterTorchServe, digits: Digits, tmp_path: Path
) -> None:
    """A version no TorchServe loaded (7) holds its model only: the other model serves, the
    held one answers 503 MODEL_NOT_READY, /readyz names it and stays 200."""
    initial = _critical_only(router_models, second)
    held = dict(initial["models"][ROUTER_CRITICAL], production=7)
    initial["models"]["held"] = held
    router = _cluster_router(tmp_path, initial)
    admin = {"Authorization": "Bearer admin-" + "i" * 26}
    with router, httpx.Client(base_url=router.url, timeout=30.0, trust_env=False) as http:
        ready = _wait_ready(http)
        assert (ready["ready"], ready["generation"]) == (True, 1)
        assert ready["models"][ROUTER_CRITICAL] == {"ready": True}
        assert ready["models"]["held"]["ready"] is False
        assert "version 7 is not loaded in TorchServe at " in ready["models"]["held"]["problem"]
        assert _log_has(router, "model 'held' not ready (")
        answer = http.post("/routes/digits", json=rows(digits))
        assert answer.status_code == 200, answer.text
        refused = http.post("/predictions/held", json=rows(digits))
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "MODEL_NOT_READY"
        assert refused.headers["retry-after"] == "5"
        # The control plane's table replaces it, checked whole; nothing is held after that.
        valid = _critical_only(router_models, second)
        answer = http.put(
            "/admin/table", json={"expected_generation": 1, "table": valid}, headers=admin
        )
        assert answer.status_code == 200, answer.text
        ready = http.get("/readyz").json()
        assert ready["models"] == {ROUTER_CRITICAL: {"ready": True}}


def test_an_unreadable_initial_table_stops_the_start(tmp_path: Path) -> None:
    from serving.errors import ServingError

    router = _cluster_router(tmp_path, {"models": {"m": {"served_name": "../x"}}})
    with pytest.raises(ServingError):
        router.start(timeout_s=30)
    log = router.log_file.read_text(encoding="utf-8")
    assert "CONFIG_INVALID" in log
    assert "is not a routing table: models.m.served_name" in log


# --------------------------------------------------------------------- last: stops `second`


def test_when_a_models_torchserve_stops_only_that_model_fails(
    router: RunningRouter,
    router_models: RouterModels,
    second: ClusterTorchServe,
    digits: Digits,
) -> None:
    answer = put(
        router, {"expected_generation": 0, "table": critical_on(router_models, on(second))}
    )
    assert answer.status_code == 200, answer.text
    with httpx.Client(base_url=router.url, timeout=30.0, trust_env=False) as http:
        assert http.post(f"/predictions/{ROUTER_CRITICAL}", json=rows(digits)).status_code == 200
        second.down()  # the fixture's down() is then a no-op
        failed = http.post(f"/predictions/{ROUTER_CRITICAL}", json=rows(digits))
        fine = http.post(f"/predictions/{ROUTER_MODEL}", json=rows(digits))
        ready = http.get("/readyz")
    assert failed.status_code == 503, failed.text
    assert failed.json()["error"]["code"] == "UNAVAILABLE"
    assert fine.status_code == 200, fine.text
    assert ready.status_code == 200  # the router stays ready: other models still answer

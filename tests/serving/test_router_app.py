"""The router in front of the session's real TorchServe: routing, rules, validation, admin.

Each test gets a fresh router (empty table, own state file) served by uvicorn in a thread;
all share the one TorchServe and the models of the ``router_models`` fixture.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.router.auth import digest
from serving.router.server import RouterSettings, build_app
from serving.torchserve import TorchServeClient
from tests.serving.conftest import (
    ROUTER_CRITICAL,
    ROUTER_MODEL,
    Digits,
    RouterModels,
    RunningRouter,
    running_router,
)

pytestmark = pytest.mark.slow


def table(models: RouterModels, production: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "models": {
            ROUTER_MODEL: {
                "served_name": models.served[ROUTER_MODEL],
                "production": production,
                "staging": 3 - production,
                "input_schema": {"n_features": 64, "dtype": "float32"},
            },
            ROUTER_CRITICAL: {
                "served_name": models.served[ROUTER_CRITICAL],
                "production": 1,
                "input_schema": {"n_features": 64, "dtype": "float32"},
            },
        },
        "routes": {
            "digits": {
                "default": ROUTER_MODEL,
                "rules": [
                    {
                        "kind": "header",
                        "header": "X-Priority",
                        "equals": "critical",
                        "model": ROUTER_CRITICAL,
                    },
                    {"kind": "batch_at_least", "rows": 5, "model": ROUTER_CRITICAL},
                ],
            }
        },
        **extra,
    }


def put(router: RunningRouter, body: Any, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or router.admin_token}"}
    return httpx.put(router.url + "/admin/table", json=body, headers=headers, trust_env=False)


def install(router: RunningRouter, models: RouterModels, production: int = 1) -> int:
    generation = router.app.table.generation
    response = put(router, {"expected_generation": generation, "table": table(models, production)})
    assert response.status_code == 200, response.text
    return int(response.json()["generation"])


def rows(digits: Digits, n: int = 1) -> dict[str, Any]:
    return {"inputs": digits.x[:n].tolist()}


def http(router: RunningRouter) -> httpx.Client:
    return httpx.Client(base_url=router.url, timeout=30.0, trust_env=False)


def ts_inferences(client: TorchServeClient, served: str) -> float:
    """TorchServe's own count of inferences for ``served`` (all versions)."""
    text = client.metrics_text(["ts_inference_requests_total"])
    pattern = re.compile(
        r'^ts_inference_requests_total\{[^}]*model_name="' + re.escape(served) + r'"[^}]*\} (\S+)$',
        re.M,
    )
    return sum(float(value) for value in pattern.findall(text))


# --------------------------------------------------------------------- predictions


def test_predictions_go_to_production_or_the_named_version(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    install(router, router_models, production=2)
    with http(router) as c:
        default = c.post(f"/predictions/{ROUTER_MODEL}", json=rows(digits, 3))
        assert default.status_code == 200, default.text
        assert default.headers["x-model-name"] == ROUTER_MODEL
        assert default.headers["x-model-version"] == "2"
        assert default.json()["model_version"] == "2"  # what TorchServe itself says
        assert len(default.json()["predictions"]) == 3
        assert re.fullmatch(r"[0-9a-f]{32}", default.headers["x-request-id"])

        explicit = c.post(
            f"/predictions/{ROUTER_MODEL}/1",
            json=rows(digits),
            headers={"X-Request-Id": "client-id-42", "X-Admin-Token": router.admin_token},
        )
        assert explicit.status_code == 200, explicit.text
        assert explicit.headers["x-model-version"] == "1"
        assert explicit.json()["model_version"] == "1"
        assert explicit.headers["x-request-id"] == "client-id-42"

        bad_id = c.post(
            f"/predictions/{ROUTER_MODEL}", json=rows(digits), headers={"X-Request-Id": "a b"}
        )
        assert bad_id.headers["x-request-id"] != "a b"

        unknown = c.post("/predictions/nope", json=rows(digits))
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "NOT_FOUND")
        not_served = c.post(f"/predictions/{ROUTER_MODEL}/7", json=rows(digits))
        assert not_served.status_code == 404
        assert "served versions: ['1', '2']" in not_served.json()["error"]["message"]


def test_a_route_sends_critical_requests_to_the_second_model(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    install(router, router_models)
    with http(router) as c:
        normal = c.post("/routes/digits", json=rows(digits))
        critical = c.post("/routes/digits", json=rows(digits), headers={"X-Priority": "critical"})
        other = c.post("/routes/digits", json=rows(digits), headers={"X-Priority": "low"})
        batch = c.post("/routes/digits", json=rows(digits, 5))
        missing = c.post("/routes/nope", json=rows(digits))
    assert normal.headers["x-model-name"] == ROUTER_MODEL
    assert critical.headers["x-model-name"] == ROUTER_CRITICAL
    assert other.headers["x-model-name"] == ROUTER_MODEL
    assert batch.headers["x-model-name"] == ROUTER_CRITICAL
    assert all(r.headers["x-route"] == "digits" for r in (normal, critical, other, batch))
    assert all(r.headers["x-model-version"] == "1" for r in (normal, critical, other, batch))
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"{bad json", "not valid JSON"),
        (
            json.dumps({"inputs": [[0.5] * 63]}).encode(),
            "row 0 has 63 values; the model expects 64",
        ),
        (json.dumps({"inputs": [["x"] * 64]}).encode(), "non-numeric"),
        (json.dumps({"values": [[0.5] * 64]}).encode(), '"inputs" or "instances"'),
    ],
)
def test_invalid_bodies_never_reach_torchserve(
    router: RunningRouter,
    router_models: RouterModels,
    client: TorchServeClient,
    body: bytes,
    reason: str,
) -> None:
    install(router, router_models)
    served = router_models.served[ROUTER_MODEL]
    before = ts_inferences(client, served)
    with http(router) as c:
        response = c.post(f"/predictions/{ROUTER_MODEL}", content=body)
        routed = c.post("/routes/digits", content=body)
        metrics = c.get("/metrics").text
    for answer in (response, routed):
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "INVALID_INPUT"
        assert reason in answer.json()["error"]["message"]
    assert ts_inferences(client, served) == before
    assert 'outcome="invalid_input"' in metrics


def test_body_limit_and_unknown_endpoints(
    router: RunningRouter, router_models: RouterModels
) -> None:
    install(router, router_models)
    with http(router) as c:
        big = c.post(f"/predictions/{ROUTER_MODEL}", content=b"[" + b"0.5," * 400_000 + b"0]")
        assert (big.status_code, big.json()["error"]["code"]) == (413, "BODY_TOO_LARGE")
        assert c.get(f"/predictions/{ROUTER_MODEL}").status_code == 404
        assert c.post("/predictions/a/b/c", json=[1]).status_code == 404
        assert c.delete("/admin/table").status_code == 404


def test_metrics_carry_the_version_that_answered(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    install(router, router_models, production=2)
    with http(router) as c:
        assert c.post(f"/predictions/{ROUTER_MODEL}", json=rows(digits)).status_code == 200
        staging = c.post(
            f"/predictions/{ROUTER_MODEL}/1",
            json=rows(digits),
            headers={"X-Admin-Token": router.admin_token},
        )
        assert staging.status_code == 200
        response = c.get("/metrics")
    text = response.text
    assert response.headers["content-type"].startswith("text/plain")
    model = f'model="{ROUTER_MODEL}"'
    for version in ("1", "2"):
        line = (
            f'modelreg_router_requests_total{{{model},outcome="ok",route="",version="{version}"}}'
        )
        assert line + " 1.0" in text
    assert f'modelreg_router_active_version{{{model},stage="production"}} 2.0' in text
    assert f'modelreg_router_active_version{{{model},stage="staging"}} 1.0' in text
    assert 'modelreg_router_request_duration_seconds_bucket{le="0.0005"' in text
    assert "modelreg_router_table_generation 1.0" in text


def test_health_readiness_and_docs(router: RunningRouter, router_models: RouterModels) -> None:
    with http(router) as c:
        assert c.get("/healthz").json() == {"status": "alive"}
        not_ready = c.get("/readyz")
        assert not_ready.status_code == 503
        assert "no routing table yet" in not_ready.json()["problems"][0]
        install(router, router_models)
        assert c.get("/readyz").json()["ready"] is True
        spec = c.get("/openapi.json").json()
        assert {"/predictions/{model}", "/routes/{route}", "/admin/table"} <= set(spec["paths"])
        assert "TableUpdate" in spec["components"]["schemas"]
        assert "/openapi.json" in c.get("/docs").text


# --------------------------------------------------------------------- admin


def test_admin_needs_the_token(router: RunningRouter, router_models: RouterModels) -> None:
    body = {"expected_generation": 0, "table": table(router_models)}
    with http(router) as c:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-wrong-token"},
            {"X-Api-Key": "x"},
        ):
            assert c.get("/admin/table", headers=headers).status_code == 401
            refused = c.put("/admin/table", json=body, headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "UNAUTHORIZED"
            assert refused.headers["www-authenticate"] == "Bearer"
        assert c.get("/admin/table", headers=router.admin()).json()["generation"] == 0


def test_stale_generation_is_refused_and_changes_nothing(
    router: RunningRouter, router_models: RouterModels
) -> None:
    assert install(router, router_models) == 1
    assert install(router, router_models, production=2) == 2
    stale = put(router, {"expected_generation": 1, "table": table(router_models, 1)})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "CONFLICT"
    assert "router is at generation 2" in stale.json()["error"]["message"]
    with http(router) as c:
        state = c.get("/admin/table", headers=router.admin()).json()
    assert state["generation"] == 2
    assert state["table"]["models"][ROUTER_MODEL]["production"] == 2


@pytest.mark.parametrize(
    ("mutate", "status", "reason"),
    [
        (lambda t: t["models"][ROUTER_MODEL].update(production=9), 422, "version 9 is not loaded"),
        (
            lambda t: t["models"][ROUTER_CRITICAL].update(served_name="not-in-torchserve"),
            422,
            "TorchServe has no model 'not-in-torchserve'",
        ),
        (lambda t: t["routes"]["digits"].update(default="ghost"), 422, "not in models"),
        (lambda t: t["routes"]["digits"]["rules"][0].update(kind="regex"), 422, "rules.0"),
    ],
)
def test_bad_tables_are_refused_and_change_nothing(
    router: RunningRouter,
    router_models: RouterModels,
    tmp_path: Path,
    mutate: Any,
    status: int,
    reason: str,
) -> None:
    install(router, router_models)
    state_file = router.app.tables.state_file.path
    saved = state_file.read_bytes()
    bad = table(router_models, production=2)
    mutate(bad)
    refused = put(router, {"expected_generation": 1, "table": bad})
    assert refused.status_code == status, refused.text
    assert refused.json()["error"]["code"] == "INVALID_TABLE"
    assert reason in refused.json()["error"]["message"]
    assert router.app.table.generation == 1
    assert router.app.table.production[ROUTER_MODEL].version == "1"
    assert state_file.read_bytes() == saved


def test_malformed_admin_bodies_are_refused(
    router: RunningRouter, router_models: RouterModels
) -> None:
    with http(router) as c:
        for body in (b"", b"{", b"[]", b'{"expected_generation": -1, "table": {}}'):
            refused = c.put("/admin/table", content=body, headers=router.admin())
            assert refused.status_code == 422, body
            assert refused.json()["error"]["code"] == "INVALID_TABLE"
    assert router.app.table.generation == 0


# --------------------------------------------------------------------- client keys


def test_off_loopback_predictions_need_an_api_key(
    torchserve: Any,
    client: TorchServeClient,
    router_models: RouterModels,
    digits: Digits,
    tmp_path: Path,
) -> None:
    """The rule at app level: a router configured for 0.0.0.0, served here on loopback."""
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": {digest("client-key-0123456789"): "app"}}))
    settings = RouterSettings(
        host="0.0.0.0",  # never bound: only the key rule is under test
        inference_url=torchserve.endpoints.inference,
        management_url=torchserve.endpoints.management,
        key_file=torchserve.key_file,
        state_file=tmp_path / "state.json",
        client_keys_file=keys,
    )
    token = "admin-" + "y" * 26
    app = build_app(settings, token, client, refresh_token=client)
    assert app.clients.required
    with running_router(app, token) as router:
        install(router, router_models)
        with http(router) as c:
            url = f"/predictions/{ROUTER_MODEL}"
            no_key = c.post(url, json=rows(digits))
            wrong = c.post(url, json=rows(digits), headers={"X-Api-Key": "wrong"})
            bearer = c.post(
                url, json=rows(digits), headers={"Authorization": "Bearer client-key-0123456789"}
            )
            header = c.post(
                "/routes/digits", json=rows(digits), headers={"X-Api-Key": "client-key-0123456789"}
            )
            assert c.get("/healthz").status_code == 200
    assert (no_key.status_code, no_key.json()["error"]["code"]) == (401, "UNAUTHORIZED")
    assert wrong.status_code == 401
    assert bearer.status_code == 200
    assert header.status_code == 200


def test_binding_off_loopback_without_keys_is_refused(
    torchserve: Any, client: TorchServeClient, tmp_path: Path
) -> None:
    from serving.errors import ServingError

    settings = RouterSettings(
        host="0.0.0.0",
        inference_url=torchserve.endpoints.inference,
        management_url=torchserve.endpoints.management,
        key_file=torchserve.key_file,
        state_file=tmp_path / "state.json",
    )
    with pytest.raises(ServingError, match="need API keys"):
        build_app(settings, "admin-" + "z" * 26, client)

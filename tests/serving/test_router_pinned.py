"""The version-pinning policy (``pinned_versions``) enforced by the real router in front of
the real TorchServe: who may call a non-Production version by path."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from serving.router.table import CompiledTable, TableState, compile_table
from tests.serving.conftest import ROUTER_MODEL, Digits, RouterModels, RunningRouter
from tests.serving.test_router_app import http, put, rows, table

pytestmark = pytest.mark.slow


def install_policy(router: RunningRouter, models: RouterModels, policy: str | None) -> None:
    body: dict[str, Any] = table(models, production=2)  # v1 is Staging
    if policy is not None:
        body["models"][ROUTER_MODEL]["pinned_versions"] = policy
    reply = put(router, {"expected_generation": router.app.table.generation, "table": body})
    assert reply.status_code == 200, reply.text


def call(c: httpx.Client, digits: Digits, version: int, **headers: str) -> httpx.Response:
    return c.post(f"/predictions/{ROUTER_MODEL}/{version}", json=rows(digits), headers=headers)


def test_by_default_staging_by_path_needs_the_admin_token(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    install_policy(router, router_models, None)
    assert router.app.table.state.table.models[ROUTER_MODEL].pinned_versions == "admin"
    with http(router) as c:
        production = call(c, digits, 2)
        anonymous = call(c, digits, 1)
        wrong = call(c, digits, 1, **{"X-Admin-Token": "not-the-token-at-all"})
        operator = call(c, digits, 1, **{"X-Admin-Token": router.admin_token})
        bearer = call(c, digits, 1, Authorization=f"Bearer {router.admin_token}")
        metrics = c.get("/metrics").text
    assert production.status_code == 200, production.text
    for refused in (anonymous, wrong):
        assert refused.status_code == 403, refused.text
        error = refused.json()["error"]
        assert error["code"] == "FORBIDDEN"
        assert "pinned_versions: admin" in error["message"]
        assert "X-Admin-Token" in error["message"]
    assert operator.status_code == bearer.status_code == 200
    assert operator.headers["x-model-version"] == "1"
    assert re.search(
        rf'modelreg_router_requests_total\{{model="{ROUTER_MODEL}",outcome="forbidden",'
        r'route="",version="1"\} 2\.0',
        metrics,
    )


def test_production_policy_refuses_every_other_version_even_to_the_admin(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    install_policy(router, router_models, "production")
    with http(router) as c:
        assert call(c, digits, 2).status_code == 200
        refused = call(c, digits, 1, **{"X-Admin-Token": router.admin_token})
        unversioned = c.post(f"/predictions/{ROUTER_MODEL}", json=rows(digits))
    assert refused.status_code == 403
    assert "pinned_versions: production" in refused.json()["error"]["message"]
    assert unversioned.status_code == 200
    assert unversioned.headers["x-model-version"] == "2"


def test_approved_policy_lets_any_client_call_the_tables_versions(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    install_policy(router, router_models, "approved")
    with http(router) as c:
        staging = call(c, digits, 1)
        archived = call(c, digits, 7)  # never in the table: not reachable whatever the policy
    assert staging.status_code == 200
    assert staging.headers["x-model-version"] == "1"
    assert archived.status_code == 404


def test_a_bad_policy_in_a_table_is_refused(
    router: RunningRouter, router_models: RouterModels
) -> None:
    body = table(router_models, production=2)
    body["models"][ROUTER_MODEL]["pinned_versions"] = "everyone"
    reply = put(router, {"expected_generation": router.app.table.generation, "table": body})
    assert reply.status_code == 422
    assert "pinned_versions" in reply.json()["error"]["message"]


def test_the_policy_is_compiled_into_every_target() -> None:
    raw = {
        "models": {
            "m": {"served_name": "m", "production": 2, "staging": 1, "pinned_versions": "approved"}
        }
    }
    compiled: CompiledTable = compile_table(
        TableState.model_validate({"generation": 1, "table": raw})
    )
    assert {t.pinned for t in compiled.versions.values()} == {"approved"}

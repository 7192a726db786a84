"""A router following its table file (``--follow-table``, as on Kubernetes, where Terraform
owns ConfigMap ``router-table`` and the kubelet swaps the mounted file in place): against
the session's real TorchServe, a new table written to the file becomes the one in use
without restarting the router (same process), after the check ``PUT /admin/table`` makes;
a file that is not a table, or names a version TorchServe has not loaded, leaves the table in
use in place and is retried when the file changes again; a table put into the router by hand
is replaced by the file's again (the file is compared with the table in use at every poll)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.router.server import LocalRouter, RouterSettings, free_port
from tests.serving.conftest import ROUTER_MODEL, Digits, RouterModels
from tests.serving.test_router_app import table

pytestmark = pytest.mark.slow
TOKEN = "admin-" + "f" * 26
DEADLINE_S = 60.0


def _swap(path: Path, text: str) -> None:
    """Replace the file in one rename, as the kubelet updates a ConfigMap volume."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    os.replace(tmp, path)


def _state(c: httpx.Client) -> dict[str, Any]:
    reply = c.get("/admin/table", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200, reply.text
    state: dict[str, Any] = reply.json()
    return state


def _wait_production(c: httpx.Client, production: int, generation: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        state = _state(c)
        entry = state["table"]["models"].get(ROUTER_MODEL, {})
        if state["generation"] == generation and entry.get("production") == production:
            return
        assert time.monotonic() < deadline, f"table never reached v{production}: {state}"
        time.sleep(0.1)


def _answered_by(c: httpx.Client, digits: Digits) -> str:
    reply = c.post(f"/predictions/{ROUTER_MODEL}", json={"inputs": digits.x[:1].tolist()})
    assert reply.status_code == 200, reply.text
    return reply.headers["x-model-version"]


def _wait_log(router: LocalRouter, text: str) -> str:
    deadline = time.monotonic() + DEADLINE_S
    while text not in (log := router.log_file.read_text(encoding="utf-8")):
        assert time.monotonic() < deadline, log
        time.sleep(0.1)
    return log


def test_a_changed_table_file_is_installed_without_a_restart(
    torchserve: Any, router_models: RouterModels, digits: Digits, tmp_path: Path
) -> None:
    table_file = tmp_path / "router-table" / "table.json"
    table_file.parent.mkdir()
    table_file.write_text(json.dumps(table(router_models, 1)))
    settings = RouterSettings(
        port=free_port(),
        inference_url=torchserve.endpoints.inference,
        management_url=torchserve.endpoints.management,
        key_file=torchserve.key_file,
        state_file=tmp_path / "state" / "router.json",
        initial_table=table_file,
        follow_table=True,
    )
    router = LocalRouter(settings, TOKEN, log_file=tmp_path / "router.log")
    with router, httpx.Client(base_url=router.url, trust_env=False, timeout=30) as c:
        pid = router.pid
        _wait_production(c, 1, generation=1)
        assert _answered_by(c, digits) == "1"

        _swap(table_file, json.dumps(table(router_models, 2)))  # a promotion: v2
        _wait_production(c, 2, generation=2)
        assert _answered_by(c, digits) == "2"

        # Not a table, then a version TorchServe has not loaded: both refused, v2 stays.
        _swap(table_file, "{not json")
        unloaded = table(router_models, 2)
        unloaded["models"][ROUTER_MODEL]["staging"] = 9
        _wait_log(router, "ignored until it changes")
        _swap(table_file, json.dumps(unloaded))
        log = _wait_log(router, "version 9 is not loaded")
        assert log.count("ignored until it changes") == 1  # logged once, not every poll
        assert _state(c)["generation"] == 2
        assert _answered_by(c, digits) == "2"

        _swap(table_file, json.dumps(table(router_models, 1)))  # the rollback
        _wait_production(c, 1, generation=3)
        assert _answered_by(c, digits) == "1"

        # A table put into this pod by hand (drift from the owner's): the file's comes back.
        put = c.put(
            "/admin/table",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"expected_generation": 3, "table": table(router_models, 2)},
        )
        assert put.status_code == 200, put.text
        assert put.json()["generation"] == 4
        _wait_production(c, 1, generation=5)
        assert _answered_by(c, digits) == "1"
        assert router.pid == pid  # one process throughout: no restart

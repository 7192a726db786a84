"""Merged requests through a real TorchServe: many callers at once on one version, each
answered exactly as its own request alone is answered, a bad request failing alone."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.local import LocalTorchServe
from serving.torchserve import TorchServeClient
from tests.serving.conftest import (
    ROUTER_MODEL,
    Digits,
    RouterModels,
    RunningRouter,
    router_in_front,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def merging_router(
    torchserve: LocalTorchServe,
    client: TorchServeClient,
    router_models: RouterModels,
    tmp_path: Path,
) -> Iterator[RunningRouter]:
    """One request per version out at once: everything arriving meanwhile is merged."""
    merging = {"coalesce_rows": 64, "coalesce_in_flight": 1}
    with router_in_front(torchserve, client, tmp_path, **merging) as running:
        table: dict[str, Any] = {
            "models": {
                ROUTER_MODEL: {
                    "served_name": router_models.served[ROUTER_MODEL],
                    "production": 1,
                    "staging": 2,
                }
            }
        }
        response = httpx.put(
            running.url + "/admin/table",
            json={"expected_generation": 0, "table": table},
            headers=running.admin(),
            trust_env=False,
        )
        assert response.status_code == 200, response.text
        yield running


def rows_of(body: Any) -> int:
    if isinstance(body, dict):
        return len(body.get("inputs", body.get("instances")))
    return 1  # one bare flat row


def merged_so_far(router: RunningRouter) -> tuple[float, float, float]:
    """Merged requests to TorchServe, callers' requests they carried, merged ones resent."""
    text = httpx.get(router.url + "/metrics", trust_env=False).text
    found = []
    for name in ("merged_upstream_requests", "merged_requests", "merged_resent"):
        pattern = rf'^modelreg_router_{name}_total\{{model="([^"]*)"\}} (\S+)$'
        values = re.findall(pattern, text, re.M)
        assert {model for model, _ in values} <= {ROUTER_MODEL}, values
        found.append(sum(float(value) for _, value in values))  # no series before a merge
    return found[0], found[1], found[2]


async def at_once(url: str, bodies: list[Any]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=60.0, trust_env=False) as c:
        return await asyncio.gather(
            *(c.post(f"/predictions/{ROUTER_MODEL}", json=b) for b in bodies)
        )


def test_callers_at_once_get_their_own_answers(
    merging_router: RunningRouter, digits: Digits
) -> None:
    bodies: list[Any] = [{"inputs": digits.x[i : i + 1 + i % 3].tolist()} for i in range(40)]
    for i in range(0, 40, 5):  # bare flat rows: never merged, the handler reads them alone
        bodies[i] = digits.x[i].tolist()
    for i in range(3, 40, 7):
        bodies[i] = {"instances": digits.x[i : i + 2].tolist()}
    with httpx.Client(base_url=merging_router.url, timeout=60.0, trust_env=False) as c:
        alone = [c.post(f"/predictions/{ROUTER_MODEL}", json=b).json() for b in bodies]
    assert merged_so_far(merging_router) == (0, 0, 0)  # one at a time: nothing to merge
    for _ in range(10):  # merging needs requests to meet in the router: on a slow box, again
        replies = asyncio.run(at_once(merging_router.url, bodies))
        for reply, own, body in zip(replies, alone, bodies, strict=True):
            assert reply.status_code == 200, reply.text
            assert reply.headers["x-model-version"] == "1"
            assert re.fullmatch(r"[0-9a-f]+", reply.headers["x-feedback-token"])
            got = reply.json()
            assert got["model_version"] == own["model_version"] == "1"
            assert len(got["predictions"]) == len(own["predictions"]) == rows_of(body)
            for mine, single in zip(got["predictions"], own["predictions"], strict=True):
                assert mine["class"] == single["class"]
                assert mine["probabilities"] == pytest.approx(single["probabilities"], abs=1e-5)
        upstream, callers, resent = merged_so_far(merging_router)
        if upstream:
            break
    assert upstream >= 1, "40 callers at once were never merged"
    assert callers >= 2 * upstream
    assert resent == 0


def test_a_request_torchserve_refuses_fails_alone(
    merging_router: RunningRouter, digits: Digits
) -> None:
    # No input schema in this table, so the router passes 10-value rows on and the handler
    # refuses them: inside a merged request that refusal must reach only its own caller.
    good = [{"inputs": digits.x[i : i + 1].tolist()} for i in range(30)]
    bad = {"inputs": [[0.5] * 10]}
    for _ in range(10):
        replies = asyncio.run(at_once(merging_router.url, [*good[:15], bad, *good[15:]]))
        assert [r.status_code for r in replies] == [200] * 15 + [400] + [200] * 15
        assert replies[15].json()["error"]["code"] == "UPSTREAM_REJECTED", replies[15].text
        for reply, body in zip([*replies[:15], *replies[16:]], good, strict=True):
            assert len(reply.json()["predictions"]) == len(body["inputs"])
        if merged_so_far(merging_router)[2]:
            break
    assert merged_so_far(merging_router)[2] >= 1, "the bad request never met others"

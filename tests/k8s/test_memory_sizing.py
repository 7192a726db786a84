"""The TorchServe pods' memory in models.yaml covers what bench/worker_memory.py measured
with the real TorchServe (bench/results/worker_memory.json), by the rule models.yaml states:
request >= the pod's RSS with Production and the warm previous version, rounded up to
256 MiB; limit >= the RSS with a Staging version too, plus 40 %, rounded up to 256 MiB.
The committed tree's Deployments carry those numbers."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest

from tests.k8s.conftest import ROOT, by_kind, packaged

MEASURED = ROOT / "bench" / "results" / "worker_memory.json"
HEADROOM = 1.4
STEP_MIB = 256
UNITS = {"Mi": 1, "Gi": 1024}


def mib(quantity: str) -> float:
    found = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    assert found, f"unexpected memory quantity {quantity!r}"
    return int(found[1]) * UNITS[found[2]]


def rounded_up(value: float) -> int:
    return math.ceil(value / STEP_MIB) * STEP_MIB


def _measured() -> dict[str, dict[int, float]]:
    """model -> versions loaded -> the pod's RSS (JVM + workers) in MiB."""
    data = json.loads(MEASURED.read_text(encoding="utf-8"))
    return {
        result["model"]: {s["versions_loaded"]: s["pod_rss_mib"] for s in result["steps"]}
        for result in data["results"]
    }


def test_every_served_model_was_measured_with_three_versions() -> None:
    measured = _measured()
    assert set(measured) == set(packaged().models)
    for model, steps in measured.items():
        assert set(steps) == {1, 2, 3}, model
        # Each loaded version adds a worker: the pod grows with every version.
        assert steps[1] < steps[2] < steps[3], (model, steps)


@pytest.mark.parametrize("model", sorted(packaged().models))
def test_requests_and_limits_cover_the_measured_pod(
    model: str, repo_overlays: dict[str, list[dict[str, Any]]]
) -> None:
    steps = _measured()[model]
    resources = packaged().get(model).kubernetes
    request, limit = mib(resources.memory), mib(resources.limits.memory or resources.memory)
    assert request >= rounded_up(steps[2]), (model, request, steps)
    assert limit >= rounded_up(steps[3] * HEADROOM), (model, limit, steps)
    for overlay in ("cpu", "gpu"):
        deployment = by_kind(repo_overlays[overlay], "Deployment")[f"ts-{model}"]
        (serve,) = deployment["spec"]["template"]["spec"]["containers"]
        assert serve["resources"]["requests"]["memory"] == resources.memory
        assert serve["resources"]["limits"]["memory"] == resources.limits.memory

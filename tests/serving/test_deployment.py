"""Serving follows the registry: real MLflow registry + the session's real TorchServe."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import numpy as np
import pytest
from mcp import Client

from registry_mcp.core.approvals import Approvals
from registry_mcp.core.change_requests import Approval, Outcome
from registry_mcp.core.registry import Registry
from registry_mcp.deploy.deployment import Deployment
from registry_mcp.domain.plans import ChangeKind
from registry_mcp.mcp.server import build_server
from serving.config import ModelsConfig
from serving.local import LocalTorchServe
from serving.torchserve import TorchServeClient
from tests.conftest import Backend
from tests.helpers import add_versions
from tests.mcp_support import Human

pytestmark = pytest.mark.slow
MODEL = "digits-registry"


@pytest.fixture(scope="module")
def loaded(client: TorchServeClient) -> Iterator[None]:
    """The model's versions stay loaded in the shared TorchServe from one test of this module
    to the next (each test reconciles its own fresh registry onto them: a set-default at
    most, instead of registering and starting two workers again); unloaded at the end."""
    try:
        yield
    finally:
        # Leave the shared TorchServe without this model for the next module.
        for served in client.describe(MODEL).versions:
            if not served.is_default:
                client.unregister(MODEL, served.version)
        default = client.default_version(MODEL)
        if default is not None:
            client.unregister(MODEL, default)


@pytest.fixture
def deployed(
    loaded: None, sqlite_backend: Backend, torchserve: LocalTorchServe, client: TorchServeClient
) -> Iterator[tuple[Registry, Deployment]]:
    registry = Registry.open(sqlite_backend.settings)
    add_versions(registry, sqlite_backend.model_uris[0], MODEL, 1)
    add_versions(registry, sqlite_backend.model_uris[1], MODEL, 1)
    for version, stage in [(1, "staging"), (1, "production"), (2, "staging")]:
        registry.stages.transition(MODEL, version, stage, rationale="setup", actor="t")
    deployment = Deployment(registry, torchserve, client, ModelsConfig())
    (report,) = deployment.reconcile([MODEL])
    assert report.in_sync, report.remaining
    try:
        yield registry, deployment
    finally:
        registry.close()


def _approvals(registry: Registry, deployment: Deployment) -> Approvals:
    return Approvals.for_registry(registry, after_change=deployment.follow)


def _approve(approvals: Approvals, kind: ChangeKind, **kw: object) -> Outcome:
    """A human's yes through the one apply path (what the CLI does after confirmation)."""
    req = approvals.request(kind, MODEL, requested_by="erin", client="test", **kw)  # type: ignore[arg-type]
    return approvals.apply(req, approvals.plan(req), Approval(approver="erin", via="test"))


def test_reconcile_serves_production_and_predictions_match_mlflow(
    deployed: tuple[Registry, Deployment], client: TorchServeClient, tmp_path: Path
) -> None:
    import mlflow.pytorch
    import torch
    from sklearn.datasets import load_digits

    registry, deployment = deployed
    status = deployment.status(MODEL)
    assert (status.registry_production, status.serving_default) == (1, 1)
    assert status.loaded_versions == [1, 2]
    assert status.in_sync
    rows = (load_digits().data[:16] / 16.0).astype(np.float32)
    served = client.predict(MODEL, {"inputs": rows.tolist()})
    assert served.model_version == "1"
    model = mlflow.pytorch.load_model(str(registry.download_version(MODEL, 1, tmp_path)))
    with torch.no_grad():
        expected = model(torch.from_numpy(rows)).numpy()
    got = np.array([p.probabilities for p in served.predictions])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert [p.label for p in served.predictions] == expected.argmax(axis=1).tolist()


def test_promotion_and_rollback_move_the_serving_default(
    deployed: tuple[Registry, Deployment], client: TorchServeClient
) -> None:
    registry, deployment = deployed
    approvals = _approvals(registry, deployment)
    outcome = _approve(
        approvals, ChangeKind.PROMOTE, version=2, stage="Production", rationale="better"
    )
    assert outcome.serving is not None
    assert outcome.serving.switched_to == 2
    assert outcome.serving.switch is not None
    assert outcome.serving.switch.verified
    assert client.default_version(MODEL) == "2"
    assert outcome.serving.in_sync
    # The replaced version stays loaded (warm) for rollback.
    assert deployment.status(MODEL).loaded_versions == [1, 2]

    server = build_server(registry, serving=deployment, approver="erin")

    async def rollback_over_mcp() -> dict[str, object]:
        async with Client(server, elicitation_callback=Human()) as session:
            result = await session.call_tool(
                "rollback_model", {"model_name": MODEL, "rationale": "regression"}
            )
            assert not result.is_error, result.content
            status = await session.call_tool("get_serving_version", {"model_name": MODEL})
            assert status.structured_content is not None
            return {"rollback": result.structured_content, "status": status.structured_content}

    answers = anyio.run(rollback_over_mcp)
    assert answers["rollback"]["serving"]["switched_to"] == 1  # type: ignore[index]
    serving = answers["status"]["serving"]  # type: ignore[index]
    assert serving["configured"] is True
    assert (serving["default_version"], serving["in_sync"]) == (1, True)
    assert client.default_version(MODEL) == "1"


def test_drift_behind_our_back_is_reported_and_repaired(
    deployed: tuple[Registry, Deployment], client: TorchServeClient
) -> None:
    _, deployment = deployed
    client.set_default(MODEL, "2")  # a manual change, not through the registry
    status = deployment.status(MODEL)
    assert not status.in_sync
    assert status.serving_default == 2
    assert any("default" in reason for reason in status.drift_reasons)
    probe = deployment.probe(MODEL, 1)
    assert probe.in_sync is False
    assert probe.detail.startswith("Drift")
    (report,) = deployment.reconcile([MODEL])
    assert report.in_sync
    assert client.default_version(MODEL) == "1"


def test_no_failed_request_while_promoting_and_rolling_back(
    deployed: tuple[Registry, Deployment], torchserve: LocalTorchServe, client: TorchServeClient
) -> None:
    registry, deployment = deployed
    approvals = _approvals(registry, deployment)
    _approve(approvals, ChangeKind.PROMOTE, version=2, stage="Production", rationale="release")
    stop = threading.Event()
    counts = {"sent": 0, "failed": 0}
    versions_seen: set[str] = set()
    row = [[0.5] * 64]

    def load() -> None:
        key = torchserve.client()
        with key:
            while not stop.is_set():
                try:
                    result = key.predict(MODEL, {"inputs": row})
                    versions_seen.add(result.model_version)
                except Exception:  # noqa: BLE001  (any failure counts as a dropped request)
                    counts["failed"] += 1
                counts["sent"] += 1

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    switches = 0
    try:
        time.sleep(0.3)
        for _ in range(20):
            outcome = _approve(approvals, ChangeKind.ROLLBACK, rationale="drill")
            assert outcome.serving is not None
            assert outcome.serving.switch is not None
            assert outcome.serving.switch.verified
            switches += 1
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert switches == 20
    assert counts["sent"] > 100
    assert counts["failed"] == 0
    assert versions_seen == {"1", "2"}
    assert httpx.get(torchserve.endpoints.metrics + "/metrics").status_code == 200


def test_approving_a_proposal_at_the_cli_makes_serving_follow(
    deployed: tuple[Registry, Deployment],
    sqlite_backend: Backend,
    torchserve: LocalTorchServe,
    client: TorchServeClient,
) -> None:
    """`modelreg approvals approve ID --yes` as a real process: the registry moves and the
    running TorchServe's default follows (verified), without a manual reconcile."""
    registry, _ = deployed
    approvals = Approvals.for_registry(registry)
    req = approvals.request(
        ChangeKind.PROMOTE,
        MODEL,
        version=2,
        stage="Production",
        rationale="better",
        requested_by="bot",
        client="mcp:bot",
    )
    proposal_id = approvals.propose(req, approvals.plan(req)).proposal_id
    ports = torchserve.ports
    env = {
        "PATH": "/usr/bin:/bin",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MODELREG_ACTOR": "erin",
        "MODELREG_SERVING_DIR": str(torchserve.serving_dir),
        "MODELREG_SERVING_INFERENCE_PORT": str(ports.inference),
        "MODELREG_SERVING_MANAGEMENT_PORT": str(ports.management),
        "MODELREG_SERVING_METRICS_PORT": str(ports.metrics),
        "MODELREG_SERVING_GRPC_INFERENCE_PORT": str(ports.grpc_inference),
        "MODELREG_SERVING_GRPC_MANAGEMENT_PORT": str(ports.grpc_management),
        "MODELREG_ARTIFACT_ROOT": sqlite_backend.settings.resolved_artifact_root,
    }
    modelreg = str(Path(sys.executable).with_name("modelreg"))
    home = str(sqlite_backend.settings.home)
    done = subprocess.run(
        [modelreg, "--home", home, "approvals", "approve", str(proposal_id), "-r", "ok", "--yes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "approved and applied" in done.stdout
    assert "Serving: Serving default is v2 (verified)" in done.stdout
    assert registry.get_model(MODEL).model.production_version == 2
    assert client.default_version(MODEL) == "2"


def test_a_stopped_torchserve_leaves_the_registry_change_and_says_so(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    """No separate ping before the switch: a TorchServe that does not answer the switch
    reads as not running, the registry change stands, and nothing claims serving followed."""
    from serving.local import LocalPorts

    registry = Registry.open(sqlite_backend.settings)
    try:
        add_versions(registry, sqlite_backend.model_uris[0], MODEL, 2)
        for version, stage in [(1, "staging"), (1, "production"), (2, "staging")]:
            registry.stages.transition(MODEL, version, stage, rationale="setup", actor="t")
        stopped = LocalTorchServe(tmp_path / "serving", ports=LocalPorts.free())  # never started
        deployment = Deployment(registry, stopped, stopped.client(), ModelsConfig())
        outcome = _approve(
            _approvals(registry, deployment),
            ChangeKind.PROMOTE,
            version=2,
            stage="Production",
            rationale="serving is down",
        )
        assert outcome.status == "applied"
        assert registry.get_model(MODEL).model.production_version == 2
        assert outcome.serving is not None
        assert outcome.serving.switched_to is None
        assert outcome.serving.switch is None
        assert outcome.serving.detail.startswith("TorchServe is not running; the registry moved.")
        deployment.close()
    finally:
        registry.close()

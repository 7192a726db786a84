"""A pickled model registered through modelreg: refused when serving builds its archive,
served only after an operator trusts that exact version (audited, in our own table)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from mlflow import MlflowClient

from registry_mcp.core.registry import Registry
from registry_mcp.deploy.deployment import Deployment
from registry_mcp.domain.errors import RegistryError
from registry_mcp.domain.schemas import AuditAction
from serving.config import ModelsConfig
from serving.local import LocalPorts, LocalTorchServe
from tests.conftest import Backend
from tests.serving.test_unsafe_models import Payload, save_pickled

MODEL = "pickled"


def _register_pickled(registry: Registry, backend: Backend, model_dir: Path) -> int:
    settings = backend.settings
    client = MlflowClient(settings.resolved_tracking_uri, settings.resolved_registry_uri)
    experiment = client.create_experiment(
        "pickled", artifact_location=settings.resolved_artifact_root
    )
    run = client.create_run(experiment)
    logged = client.create_logged_model(
        experiment, name="model", source_run_id=run.info.run_id, model_type="pytorch"
    )
    client.log_model_artifacts(logged.model_id, str(model_dir))
    client.finalize_logged_model(logged.model_id, "READY")
    client.set_terminated(run.info.run_id)
    info = registry.register(MODEL, f"models:/{logged.model_id}", actor="mallory")
    registry.stages.transition(MODEL, info.version, "staging", rationale="try it", actor="mallory")
    return info.version


def test_a_pickled_version_is_refused_until_an_operator_trusts_it(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    sentinel = tmp_path / "PAYLOAD-RAN"
    saved = save_pickled(tmp_path / "saved", Payload(sentinel))
    registry = Registry.open(sqlite_backend.settings)
    try:
        version = _register_pickled(registry, sqlite_backend, saved)
        server = LocalTorchServe(tmp_path / "serving", ports=LocalPorts.free())
        deployment = Deployment(registry, server, server.client(), ModelsConfig())
        with pytest.raises(RegistryError) as info:
            deployment.desired(MODEL, build=True)
        assert "UNSAFE_MODEL" in info.value.message or "run code" in info.value.message
        assert not list(server.model_store.glob("*.mar"))

        assert registry.trust.set_trusted(
            MODEL, version, trusted=True, actor="olivia", rationale="our own legacy model"
        )
        assert registry.trust.is_trusted(MODEL, version)
        entry = registry.audit_log(model=MODEL, limit=1).items[0]
        assert (entry.action, entry.actor, entry.to_version) == (
            AuditAction.TRUST,
            "olivia",
            version,
        )
        desired = deployment.desired(MODEL, build=True)
        archive = server.model_store / desired.archives[version]
        with zipfile.ZipFile(archive) as mar:
            assert "modelreg-trust.json" in mar.namelist()
        # Withdrawn trust: the trusted archive is no longer used; a new build is refused.
        registry.trust.set_trusted(MODEL, version, trusted=False, actor="olivia", rationale="gone")
        with pytest.raises(RegistryError):
            deployment.desired(MODEL, build=True)
        deployment.close()
    finally:
        registry.close()
    assert not sentinel.exists()  # building and refusing never loaded the model

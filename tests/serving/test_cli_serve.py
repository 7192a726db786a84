"""`modelreg serve status --json` against the session's real, running TorchServe."""

from __future__ import annotations

import json

import pytest

from registry_mcp.core.registry import Registry
from serving.local import LocalTorchServe
from tests.conftest import Backend
from tests.helpers import add_versions
from tests.test_cli import invoke

pytestmark = pytest.mark.slow
MODEL = "digits-cli-status"


def test_serve_status_json_lists_models_of_a_running_server(
    sqlite_backend: Backend,
    torchserve: LocalTorchServe,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MODELREG_HOME", str(sqlite_backend.settings.home))
    monkeypatch.setenv("MODELREG_ARTIFACT_ROOT", sqlite_backend.settings.resolved_artifact_root)
    monkeypatch.setenv("MODELREG_SERVING_DIR", str(torchserve.serving_dir))
    for name, port in torchserve.ports.as_dict().items():
        monkeypatch.setenv(f"MODELREG_SERVING_{name.upper()}_PORT", str(port))
    registry = Registry.open(sqlite_backend.settings)
    add_versions(registry, sqlite_backend.model_uris[0], MODEL, 1)
    for stage in ("staging", "production"):
        registry.stages.transition(MODEL, 1, stage, rationale="setup", actor="t")
    registry.close()
    code, out, err = invoke(capsys, "serve", "status", MODEL, "--json")
    assert code == 0, err
    assert "Traceback" not in err
    shown = json.loads(out)
    assert shown["server"]["running"] is True
    # No router was started for this serving directory: reported, with where it would run.
    router = shown["router"]
    assert router["configured"] is True
    assert router["process"]["running"] is False
    assert router["process"]["url"].startswith("http://127.0.0.1:")
    assert router["table"] is None
    assert "serve up" in router["detail"]
    # Nothing was deployed for this model: the row reports the drift instead of crashing.
    (row,) = shown["models"]
    assert (row["model"], row["registry_production"], row["in_sync"]) == (MODEL, 1, False)
    assert row["drift_reasons"]

"""Which Python runs the local KServe server, and `serve up` without one: one clear line,
nothing started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from registry_mcp.core.registry import Registry
from registry_mcp.deploy.kserve_side import find_kserve_python
from registry_mcp.store.settings import Settings
from serving.local import LocalPorts, LocalTorchServe
from serving.router.server import free_port
from tests.conftest import make_backend
from tests.helpers import add_versions

MODEL = "ks-missing"


def test_a_configured_interpreter_that_does_not_exist_names_the_fix(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kserve_python=tmp_path / "nope" / "python")
    python, problem = find_kserve_python(settings)
    assert python is None
    assert problem is not None
    assert f"MODELREG_KSERVE_PYTHON is {tmp_path / 'nope' / 'python'}, which is not a file" in (
        problem
    )
    assert "`make kserve-venv`" in problem


def test_a_configured_interpreter_is_used(tmp_path: Path) -> None:
    python, problem = find_kserve_python(
        Settings(home=tmp_path, kserve_python=Path(sys.executable))
    )
    assert (python, problem) == (sys.executable, None)


def test_serve_up_without_a_kserve_python_fails_in_one_line_and_starts_nothing(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    backend = make_backend(request, "sqlite", tmp_path)
    models_file = tmp_path / "models.yaml"
    models_file.write_text(
        f"models:\n  {MODEL}:\n    backend: kserve\n    task: classification\n"
        "    primary_metric: accuracy\n    latency_sla_ms: 1000\n"
    )
    registry = Registry.open(backend.settings)
    add_versions(registry, backend.model_uris[0], MODEL, 1)
    for stage in ("staging", "production"):
        registry.stages.transition(MODEL, 1, stage, rationale="setup", actor="t")
    registry.close()
    ports = LocalPorts.free()
    missing = tmp_path / "no-venv" / "bin" / "python"
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MODELREG_HOME": str(backend.settings.home),
        "MODELREG_ARTIFACT_ROOT": backend.settings.resolved_artifact_root,
        "MODELREG_SERVING_DIR": str(tmp_path / "serving"),
        "MODELREG_ROUTER_PORT": str(free_port()),
        "MODELREG_MODELS_CONFIG": str(models_file),
        "MODELREG_KSERVE_PYTHON": str(missing),
        **{f"MODELREG_SERVING_{k.upper()}_PORT": str(v) for k, v in ports.as_dict().items()},
    }
    done = subprocess.run(
        [sys.executable, "-m", "registry_mcp.cli", "serve", "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    message = " ".join(done.stderr.split())
    assert message.startswith("error (")
    assert "has backend: kserve" in message
    assert f"MODELREG_KSERVE_PYTHON is {missing}, which is not a file" in message
    assert "`make kserve-venv`" in message
    assert not LocalTorchServe(tmp_path / "serving", ports=ports).status().running
    assert not (tmp_path / "serving" / "kserve" / "kserve.pid").exists()

"""The built wheel, installed into a fresh virtual environment and run from another
directory, behaves like the checkout: the shipped models.yaml is found and in effect."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from serving.config import TorchServeSettings, load_models_config
from serving.local import LocalPorts, LocalTorchServe
from serving.router.server import free_port

ROOT = Path(__file__).resolve().parents[1]
MODEL = "mnist-classifier"  # the shipped models.yaml gives it batching of its own


def _run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


@pytest.mark.slow
def test_the_installed_wheel_serves_with_the_shipped_models_yaml(tmp_path: Path) -> None:
    if shutil.which("java") is None:
        pytest.skip("Java 17 is needed to start TorchServe")
    wheels = tmp_path / "wheels"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        cwd=tmp_path,
        env=dict(os.environ),
    )
    (wheel,) = wheels.glob("modelreg-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path, env=dict(os.environ))
    python = venv / "bin" / "python"
    _run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        cwd=tmp_path,
        env=dict(os.environ),
    )
    # Dependencies come from this environment's site-packages, appended after the fresh
    # venv's own: a path line in a .pth file does not run that directory's .pth files, so
    # the checkout's editable install stays out and modelreg is the wheel's copy.
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ports = LocalPorts.free()
    env = {
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MODELREG_HOME": str(tmp_path / "home"),
        "MODELREG_ACTOR": "pat",
        "MODELREG_SERVING_INFERENCE_PORT": str(ports.inference),
        "MODELREG_SERVING_MANAGEMENT_PORT": str(ports.management),
        "MODELREG_SERVING_METRICS_PORT": str(ports.metrics),
        "MODELREG_SERVING_GRPC_INFERENCE_PORT": str(ports.grpc_inference),
        "MODELREG_SERVING_GRPC_MANAGEMENT_PORT": str(ports.grpc_management),
        # `serve up` starts the router too: never on the default port another run may hold.
        "MODELREG_ROUTER_PORT": str(free_port()),
    }
    modelreg = str(venv / "bin" / "modelreg")
    where = _run(
        [str(python), "-c", "import registry_mcp; print(registry_mcp.__file__)"],
        cwd=elsewhere,
        env=env,
    )
    assert where.strip().startswith(purelib), where

    _run([modelreg, "train", "--epochs", "2", "--hidden", "8"], cwd=elsewhere, env=env)
    _run(
        [modelreg, "promote", MODEL, "1", "--stage", "staging", "-r", "try", "--yes"],
        cwd=elsewhere,
        env=env,
    )
    server = LocalTorchServe(tmp_path / "home" / "serving", ports=ports)
    try:
        shown = _run([modelreg, "serve", "up"], cwd=elsewhere, env=env)
        shipped = Path(purelib, "registry_mcp", "defaults", "models.yaml")
        assert f"models config {shipped} (packaged default)" in " ".join(shown.split())
        with server.client() as client:
            (served,) = client.describe(MODEL).versions
        batching = load_models_config(shipped).get(MODEL).torchserve
        fallback = TorchServeSettings()  # what a missing or unread file would give
        assert (batching.batch_size, batching.max_batch_delay_ms) != (
            fallback.batch_size,
            fallback.max_batch_delay_ms,
        )
        assert (served.batch_size, served.max_batch_delay_ms) == (
            batching.batch_size,
            batching.max_batch_delay_ms,
        )
    finally:
        subprocess.run([modelreg, "serve", "down"], cwd=elsewhere, env=env, timeout=120)

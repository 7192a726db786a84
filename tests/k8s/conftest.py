"""Shared helpers for the Kubernetes/Terraform checks: render a tree, run the real tools.

kubectl only ever runs `kubectl kustomize` (offline); nothing here talks to a cluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from registry_mcp.deploy.kubernetes.render import render_tree
from serving.config import ModelsConfig, load_models_config

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
TERRAFORM = ROOT / "terraform"
PACKAGED = ROOT / "src" / "registry_mcp" / "defaults" / "models.yaml"
OVERLAYS = ("cpu", "gpu")
KUBE_VERSION = "1.33.0"


def need(tool: str, path: str | None = None) -> str:
    found = path if path is not None and Path(path).is_file() else shutil.which(tool)
    if found is None:
        pytest.skip(f"{tool} is not installed (run `make tools` / `make install`)")
    return found


def run(args: list[str], *, cwd: Path | None = None, timeout: float = 300) -> str:
    """Run a tool; fail the test with its output when it fails."""
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "CHECKPOINT_DISABLE": "1"}
    done = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def kustomize(overlay_dir: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize DIR` (offline), parsed."""
    text = run([need("kubectl"), "kustomize", str(overlay_dir)])
    return [doc for doc in yaml.safe_load_all(text) if doc]


def packaged() -> ModelsConfig:
    return load_models_config(PACKAGED)


def render_into(out: Path, config: ModelsConfig | None = None) -> Path:
    config = config or packaged()
    render_tree(config, sorted(config.models)).write(out)
    return out


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.fixture(scope="session")
def repo_overlays() -> dict[str, list[dict[str, Any]]]:
    """The committed k8s/ overlays, rendered once per session."""
    return {overlay: kustomize(K8S / "overlays" / overlay) for overlay in OVERLAYS}

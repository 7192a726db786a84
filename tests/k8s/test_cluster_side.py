"""What the cluster side can be given, and which side `k8s diff` blames, with a real registry
(MLflow on SQLite): `k8s render` and `tf vars` refuse versions stored under file:// (pods
cannot fetch them) unless told the output is only validated offline; after a rollback in the
registry, `k8s diff` says the written side is behind and names the command that rewrites it
(never `modelreg rollback`, which would undo the rollback), for both --tfvars and
--rendered; a registry older than the file (restored from a copy) is named as the side
behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Literal

import pytest

from registry_mcp.deploy.kubernetes.fetchable import is_local
from tests.conftest import Backend
from tests.k8s.test_registry_flow import LOCAL, MODEL, env, promote
from tests.test_cli import invoke

__all__ = ["env"]  # the fixture, shared with test_registry_flow

Side = Literal["tfvars", "rendered"]


@pytest.mark.parametrize(
    ("uri", "local"),
    [
        ("file:///home/alice/.modelreg/artifacts/1/models/m-1/artifacts", True),
        ("/home/alice/.modelreg/artifacts/1", True),
        ("C:/Users/alice/artifacts/1", True),
        ("mlflow-artifacts:/modelreg/1/models/m-1/artifacts", False),
        ("s3://models/modelreg/1/models/m-1/artifacts", False),
        ("gs://models/modelreg/1", False),
    ],
)
def test_local_artifact_uris(uri: str, local: bool) -> None:
    assert is_local(uri) is local


def test_render_and_tf_vars_refuse_versions_pods_cannot_fetch(
    env: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Nothing promoted: nothing to fetch, nothing refused.
    out, tfvars = tmp_path / "k8s", tmp_path / "tf" / "model_versions.auto.tfvars.json"
    tfvars.parent.mkdir()
    code, _, err = invoke(capsys, "tf", "vars", "--out", str(tfvars))
    assert code == 0, err
    tfvars.unlink()
    promote(capsys, "1", "staging")
    promote(capsys, "1", "production")
    promote(capsys, "2", "staging")
    for args in (("k8s", "render", "--out", str(out)), ("tf", "vars", "--out", str(tfvars))):
        code, text, err = invoke(capsys, *args)
        assert code == 2, text
        message = " ".join(err.split())
        assert f"pods cannot fetch {MODEL} v1, {MODEL} v2: stored under file://" in message
        assert "MODELREG_ARTIFACT_ROOT" in message
        assert "--serve-artifacts" in message
        assert LOCAL in message
        assert "Traceback" not in err
    assert not out.exists()  # nothing written
    assert not tfvars.exists()
    code, _, err = invoke(capsys, "k8s", "render", LOCAL, "--out", str(out))
    assert code == 0, err
    assert (out / "base" / "kustomization.yaml").is_file()


def write_side(capsys: pytest.CaptureFixture[str], side: Side, path: Path) -> None:
    command = ("tf", "vars") if side == "tfvars" else ("k8s", "render")
    code, text, err = invoke(capsys, *command, LOCAL, "--out", str(path))
    assert code == 0, text + err


def diff(
    capsys: pytest.CaptureFixture[str], side: Side, path: Path, *extra: str
) -> tuple[int, str]:
    code, out, err = invoke(capsys, "k8s", "diff", f"--{side}", str(path), *extra)
    assert "Traceback" not in err
    return code, out


@pytest.mark.parametrize("side", ["tfvars", "rendered"])
def test_diff_after_a_registry_rollback_names_the_written_side(
    env: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path, side: Side
) -> None:
    path = tmp_path / ("v.auto.tfvars.json" if side == "tfvars" else "k8s")
    for version in ("1", "2"):
        promote(capsys, version, "staging")
        promote(capsys, version, "production")
    write_side(capsys, side, path)
    code, out = diff(capsys, side, path)
    assert code == 0, out
    code, _, err = invoke(capsys, "rollback", MODEL, "-r", "p99 above SLA since v2", "--yes")
    assert code == 0, err

    code, out = diff(capsys, side, path, "--json")
    assert code == 3
    drift = json.loads(out)["drift"]
    assert {(d["stage"], d["registry"], d["cluster"], d["behind"]) for d in drift} == {
        ("production", 1, 2, "cluster"),
        ("previous", 2, 1, "cluster"),
    }
    (item, *_) = drift
    assert item["registry_change"] > item["cluster_change"]
    code, out = diff(capsys, side, path)
    assert code == 3
    text = " ".join(out.split())
    assert "the cluster side is behind" in text
    assert "modelreg rollback" not in text  # it would re-promote what was rolled back
    if side == "tfvars":
        assert (
            f"`modelreg tf vars --out {path}` then `terraform -chdir={path.parent} apply`" in text
        )
        assert "k8s render" not in text
    else:
        assert f"`modelreg k8s render --out {path}`" in text
        assert "tf vars" not in text

    write_side(capsys, side, path)  # the command it named
    code, out = diff(capsys, side, path)
    assert code == 0, out


@pytest.mark.parametrize("side", ["tfvars", "rendered"])
def test_diff_names_a_registry_older_than_the_written_side(
    env: Backend,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    side: Side,
) -> None:
    """The rollback is written from the registry; then diff runs against a copy of that
    registry taken before the rollback (a restore from backup): the registry is behind."""
    path = tmp_path / ("v.auto.tfvars.json" if side == "tfvars" else "k8s")
    for version in ("1", "2"):
        promote(capsys, version, "staging")
        promote(capsys, version, "production")
    before = tmp_path / "registry-before-rollback"
    shutil.copytree(env.settings.home, before)
    code, _, err = invoke(capsys, "rollback", MODEL, "-r", "p99 above SLA since v2", "--yes")
    assert code == 0, err
    write_side(capsys, side, path)

    monkeypatch.setenv("MODELREG_HOME", str(before))
    code, out = diff(capsys, side, path, "--json")
    assert code == 3
    drift = json.loads(out)["drift"]
    assert {(d["stage"], d["registry"], d["cluster"], d["behind"]) for d in drift} == {
        ("production", 2, 1, "registry"),
        ("previous", 1, 2, "registry"),
    }
    code, out = diff(capsys, side, path)
    text = " ".join(out.split())
    assert "the registry is behind" in text
    assert "newer than this registry's" in text
    assert "MLFLOW_REGISTRY_URI" in text

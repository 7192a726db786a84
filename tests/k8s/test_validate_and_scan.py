"""The rendered overlays against Kubernetes' schemas (kubernetes-validate --strict); k8s/,
terraform/ and the Dockerfile through checkov (one run per session, skips from .checkov.yaml)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.k8s.conftest import KUBE_VERSION, OVERLAYS, ROOT, TERRAFORM, need, run

CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"
VALIDATE = str(Path(sys.executable).parent / "kubernetes-validate")


def _write(docs: list[dict[str, Any]], path: Path) -> Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_passes_strict_schema_validation(
    repo_overlays: dict[str, list[dict[str, Any]]], overlay: str, tmp_path: Path
) -> None:
    tool = need("kubernetes-validate", VALIDATE)
    path = _write(repo_overlays[overlay], tmp_path / f"{overlay}.yaml")
    out = run([tool, "--strict", "-k", KUBE_VERSION, str(path)])
    passed = [line for line in out.splitlines() if " passed for resource " in line]
    assert len(passed) == len(repo_overlays[overlay])


def test_strict_validation_catches_a_typo(
    repo_overlays: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """The validator really validates: an unknown field fails (--strict, given a file)."""
    import subprocess

    tool = need("kubernetes-validate", VALIDATE)
    docs = [dict(d) for d in repo_overlays["cpu"]]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"] = {**deployment["spec"], "replicaz": 2}
    path = _write(docs, tmp_path / "typo.yaml")
    done = subprocess.run(
        [tool, "--strict", "-k", KUBE_VERSION, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "replicaz" in done.stdout + done.stderr


def _skips_in_config() -> dict[str, str]:
    """check id -> the comment block justifying it, from .checkov.yaml."""
    text = (ROOT / ".checkov.yaml").read_text(encoding="utf-8")
    found: dict[str, str] = {}
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped)
        elif stripped.startswith("- "):
            found[stripped[2:].strip()] = " ".join(comment)
            comment = []
        else:
            comment = []
    return found


@pytest.fixture(scope="session")
def checkov_reports(
    repo_overlays: dict[str, list[dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, Any]]:
    tool = need("checkov", str(CHECKOV))
    # One checkov run (its start-up costs seconds) over a copy holding all three: the
    # rendered overlays, terraform/ (modules included) and the Dockerfile.
    scanned = tmp_path_factory.mktemp("checkov")
    for overlay in OVERLAYS:
        _write(repo_overlays[overlay], scanned / f"{overlay}.yaml")
    shutil.copytree(
        TERRAFORM,
        scanned / "terraform",
        ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"),
    )
    shutil.copy2(ROOT / "Dockerfile", scanned / "Dockerfile")
    args = [tool, "--config-file", str(ROOT / ".checkov.yaml"), "--output", "json"]
    frameworks = ["--framework", "kubernetes", "terraform", "dockerfile"]
    reports = json.loads(run([*args, *frameworks, "-d", str(scanned)]))
    return reports if isinstance(reports, list) else [reports]


def test_checkov_finds_nothing_beyond_the_justified_skips(
    checkov_reports: list[dict[str, Any]],
) -> None:
    skips = _skips_in_config()
    assert skips
    assert all(len(why) > 40 for why in skips.values()), skips  # each one justified
    types = set()
    for report in checkov_reports:
        types.add(report["check_type"])
        results = report["results"]
        failed = [(c["check_id"], c["resource"]) for c in results.get("failed_checks", [])]
        assert failed == [], failed
        assert {c["check_id"] for c in results.get("skipped_checks", [])} <= set(skips)
        assert report["summary"]["passed"] > 0
    assert types == {"kubernetes", "terraform", "dockerfile"}

"""Every benchmark still runs: each one in its quick mode through `bench/run_all.py`, with its
results checked for what they must say. Nothing here is timed (speed lives in bench/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each benchmark loads the machine (TorchServe, load threads, many processes); with -n,
# --dist loadfile runs them on one worker, one after the other.
# A quick run took up to two minutes on an idle machine: the deadlines only catch a hang.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def quick_run(name: str, out: Path) -> dict[str, Any]:
    script = str(ROOT / "bench" / "run_all.py")
    done = subprocess.run(
        [sys.executable, script, "--quick", "--only", name, "--out", str(out)],
        env=dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true"),
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = (out / "summary.md").read_text()
    assert f"| {name} |" in summary
    assert "FAILED" not in summary
    data: dict[str, Any] = json.loads((out / f"{name}.json").read_text())
    assert data["benchmark"] == name
    return data


def test_mcp_latency(tmp_path: Path) -> None:
    results = quick_run("mcp_latency", tmp_path)["results"]
    assert set(results) == {"list_models", "get_model_info"}
    for row in results.values():
        for key in (
            "core",
            "mcp_stdio",
            "client_schema_validation",
            "sdk_noop_stdio",
            "sdk_same_result_stdio",
        ):
            assert row[key]["n"] == 20
        assert row["ratio_to_sdk_same_result"] > 0


def test_rollback_under_load(tmp_path: Path) -> None:
    if subprocess.run(["java", "-version"], capture_output=True, check=False).returncode:
        pytest.skip("Java 17 is needed for TorchServe")
    results = quick_run("rollback_under_load", tmp_path)["results"]
    assert results["end_to_end"]["n"] == 5
    assert results["requests"]["sent"] > 0
    assert results["requests"]["failed"] == 0, results["requests"]["first_errors"]


def test_registry_scale(tmp_path: Path) -> None:
    data = quick_run("registry_scale", tmp_path)
    assert data["models"] == 200
    for backend in data["results"]:
        assert all(backend["correctness"].values()), backend["correctness"]
        jobs = backend["jobs"]
        assert jobs["first-page-prod"]["ours"]["items"] == 50
        assert jobs["list-production"]["ours"]["items"] == 200
        assert jobs["tag-search"]["ours"]["items"] == 100
        # Both sides found the same models.
        for job in ("first-page-prod", "first-page-tag", "list-production", "tag-search"):
            assert jobs[job]["ours"]["items"] == jobs[job]["mlflow"]["items"], job


def test_cli_startup(tmp_path: Path) -> None:
    rows = {row["command"]: row for row in quick_run("cli_startup", tmp_path)["results"]}
    assert {"python -c pass", "modelreg --help", "rollback --yes (serving down)"} <= set(rows)
    assert all(len(row["samples_s"]) == 1 for row in rows.values())


def test_router_overhead(tmp_path: Path) -> None:
    if subprocess.run(["java", "-version"], capture_output=True, check=False).returncode:
        pytest.skip("Java 17 is needed for TorchServe")
    (level,) = quick_run("router_overhead", tmp_path)["results"]
    for path in ("direct", "router"):
        assert level[path]["n"] == 40
        assert level[path]["failed"] == 0


def test_convergence(tmp_path: Path) -> None:
    if subprocess.run(["java", "-version"], capture_output=True, check=False).returncode:
        pytest.skip("Java 17 is needed for TorchServe")
    results = quick_run("convergence", tmp_path)["results"]
    assert results["commit_to_verified"]["n"] == 2
    assert results["wrong_answers_after_convergence"] == 0
    assert all(run["requests_after"] > 0 for run in results["runs"])


def test_backends(tmp_path: Path) -> None:
    if subprocess.run(["java", "-version"], capture_output=True, check=False).returncode:
        pytest.skip("Java 17 is needed for TorchServe")
    own = ROOT / ".venv-kserve" / "bin" / "python"
    given = ("MODELREG_KSERVE_PYTHON", "MODELREG_TEST_KSERVE_PYTHON")
    if not (own.exists() or any(os.environ.get(name) for name in given)):
        pytest.skip("no Python with kserve: make kserve-venv (make test builds it)")
    data = quick_run("backends", tmp_path)
    (level,) = data["results"]
    for path in ("torchserve/direct", "torchserve/router", "kserve/direct", "kserve/router"):
        assert level[path]["n"] == 40
        assert level[path]["failed"] == 0
    assert len(set(data["checks"]["same_class_through_router"].values())) == 1


def test_batching(tmp_path: Path) -> None:
    if subprocess.run(["java", "-version"], capture_output=True, check=False).returncode:
        pytest.skip("Java 17 is needed for TorchServe")
    (model,) = quick_run("batching", tmp_path)["results"]
    settings = {(row["batch_size"], row["max_batch_delay_ms"]) for row in model["sweep"]}
    assert settings == {(1, 0), (8, 1)}
    for row in model["sweep"]:
        for level in ("c1", "c8", "c16"):
            assert row[level]["n"] > 0, row
            assert row[level]["failed"] == 0, row
    assert (model["knee"]["batch_size"], model["knee"]["max_batch_delay_ms"]) in settings
    assert model["client_vs_null_server"]["c16"]["n"] > 0
    compared = model["configured_vs_before"]
    for label in ("configured", "before"):
        for path in ("direct", "router"):
            for level in ("c1", "c16"):
                assert compared[label][path][level]["n"] > 0
                assert compared[label][path][level]["failed"] == 0


def test_coalescing(tmp_path: Path) -> None:
    if subprocess.run(["java", "-version"], capture_output=True, check=False).returncode:
        pytest.skip("Java 17 is needed for TorchServe")
    (model,) = quick_run("coalescing", tmp_path)["results"]
    measured = {(row["path"], row["served"], row["concurrency"]) for row in model["rows"]}
    assert ("merge, 2 out", "configured", 16) in measured
    assert ("merge off", "ts_batching", 1) in measured
    for row in model["rows"]:
        assert row["n"] > 0, row
        assert row["failed"] == 0, row
    assert model["merged"]["merge off"]["merged_upstream_requests_total"] == 0
    assert model["merged"]["merge, 1 out"]["merged_upstream_requests_total"] > 0

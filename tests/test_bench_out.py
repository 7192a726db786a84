"""A benchmark's --out is checked before anything is measured: a directory gets the
benchmark's own file, a path under a file stops the run at once with what to give instead."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench.out_path import out_file

ROOT = Path(__file__).resolve().parents[1]


def test_a_directory_gets_the_benchmarks_own_file(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    assert out_file(parser, tmp_path, "mcp_latency") == tmp_path / "mcp_latency.json"
    assert out_file(parser, tmp_path / "new" / "x.json", "mcp_latency") == (
        tmp_path / "new" / "x.json"
    )


def test_a_path_under_a_file_stops_the_benchmark_before_it_measures(tmp_path: Path) -> None:
    blocker = tmp_path / "results.json"
    blocker.write_text("{}")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "cli_startup.py"), "--out", str(blocker / "x.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true"),
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{blocker} is a file, not a directory" in done.stderr
    assert "Traceback" not in done.stderr
    assert blocker.read_text() == "{}"


@pytest.mark.parametrize(
    "name",
    [
        "auto_rollback",
        "backends",
        "batching",
        "cli_startup",
        "convergence",
        "mcp_latency",
        "registry_scale",
        "rollback_under_load",
        "router_overhead",
        "router_restart",
        "worker_memory",
    ],
)
def test_every_benchmark_checks_its_out_before_measuring(name: str) -> None:
    source = (ROOT / "bench" / f"{name}.py").read_text()
    parsed = source.index("args = parser.parse_args()")
    assert source.index(f'args.out = out_file(parser, args.out, "{name}")') > parsed

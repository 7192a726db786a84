"""Each CLI command imports only what it uses: MLflow, torch and the agent stack stay out of
start-up, `--help` and catalog reads. Timings belong to bench/cli_startup.py, not here."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from registry_mcp.core.registry import Registry
from serving.local import LocalPorts
from tests.conftest import Backend
from tests.helpers import add_versions

HEAVY = {
    "mlflow",
    "torch",
    "sklearn",
    "pandas",
    "langgraph",
    "langchain",
    "langchain_core",
    "mcp",
    "uvicorn",
}
"""Packages that cost from a tenth of a second to seconds to import."""

PROBE = """
import json, sys
from registry_mcp.cli.app import app, run

code = None
if sys.argv[1:]:
    try:
        run(lambda: app(sys.argv[1:], prog_name="modelreg"))
    except SystemExit as exc:
        code = exc.code
print("PROBE=" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def probe(*args: str, env: dict[str, str] | None = None) -> tuple[object, set[str]]:
    """(exit code, top-level packages imported) of `modelreg ARGS` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("PROBE="))
    found = json.loads(line.removeprefix("PROBE="))
    return found["code"], {name.split(".")[0] for name in found["modules"]}


def test_importing_the_cli_imports_no_heavy_package() -> None:
    _, imported = probe()
    # Nor the registry's database layer: nothing is opened until a command runs.
    assert imported & (HEAVY | {"sqlalchemy"}) == set()


def test_help_imports_no_heavy_package() -> None:
    code, imported = probe("--help")
    assert code == 0
    assert imported & (HEAVY | {"sqlalchemy"}) == set()


def test_catalog_reads_do_not_import_mlflow(sqlite_backend: Backend) -> None:
    """Listing models and serving status read the catalog with plain SQL: no MLflow client."""
    registry = Registry.open(sqlite_backend.settings)
    add_versions(registry, sqlite_backend.model_uris[0], "digits", 1)
    registry.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(
        MLFLOW_DISABLE_TELEMETRY="true",
        MODELREG_HOME=str(sqlite_backend.settings.home),
        MODELREG_ARTIFACT_ROOT=sqlite_backend.settings.resolved_artifact_root,
        MODELREG_ACTOR="tester",
    )
    # Ports nothing listens on: TorchServe is stopped for this registry.
    ports = LocalPorts.free().model_dump()
    env.update({f"MODELREG_SERVING_{k.upper()}_PORT": str(v) for k, v in ports.items()})
    for args in (("models", "list", "--json"), ("serve", "status", "--json")):
        code, imported = probe(*args, env=env)
        assert code == 0, args
        assert imported & HEAVY == set(), args


@pytest.mark.parametrize("args", [("models", "--help"), ("serve", "--help")])
def test_group_help_imports_no_heavy_package(args: tuple[str, ...]) -> None:
    code, imported = probe(*args)
    assert code == 0
    assert imported & HEAVY == set()

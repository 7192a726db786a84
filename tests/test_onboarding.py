"""What a new user meets first: client configs made by the tool, a Prometheus config for the
running stack, one card format, the card in the MLflow UI, output that survives a pipe."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from rich.console import Console

from registry_mcp.cli import render
from registry_mcp.core.registry import Registry
from registry_mcp.domain.cards import ModelCard
from registry_mcp.domain.schemas import AuditEntry, Page
from serving.router.server import free_port
from tests.conftest import Backend
from tests.mcp_support import structured
from tests.test_cli import cli_env, invoke, seeded

__all__ = ["cli_env", "seeded"]  # fixtures shared with test_cli

MODELREG = str(Path(sys.executable).with_name("modelreg"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ------------------------------------------------------------------ modelreg mcp config


def _ports(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    ports = {
        "MODELREG_ROUTER_PORT": str(free_port()),
        "MODELREG_SERVING_INFERENCE_PORT": "18180",
        "MODELREG_SERVING_MANAGEMENT_PORT": "18181",
        "MODELREG_SERVING_METRICS_PORT": "18182",
    }
    for key, value in ports.items():
        monkeypatch.setenv(key, value)
    return ports


@pytest.mark.anyio
async def test_mcp_config_starts_the_server_of_this_registry_and_stack(
    seeded: Backend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The printed Claude Desktop entry, started exactly as a client would (its command, args
    and env only), serves this data home with this shell's serving ports."""
    ports = _ports(monkeypatch)
    monkeypatch.setenv("MODELREG_MCP_TOKEN", "not-for-a-config-file")
    code, out, err = invoke(capsys, "mcp", "config")
    assert code == 0, err
    entry = json.loads(out)["mcpServers"]["modelreg"]
    env = entry["env"]
    assert entry["args"][-3:] == ["--home", str(seeded.settings.home), "mcp"]
    assert Path(entry["command"]).is_absolute()
    for key, value in ports.items():
        assert env[key] == value
    assert env["MLFLOW_TRACKING_URI"] == seeded.settings.resolved_tracking_uri
    assert env["MODELREG_ACTOR"] == "carol"
    assert "MODELREG_MCP_TOKEN" not in env
    params = StdioServerParameters(
        command=entry["command"], args=entry["args"], env={"PATH": "/usr/bin:/bin", **env}
    )
    async with Client(params) as session:
        listed = await structured(session, "list_models", {})
        assert [m["name"] for m in listed["items"]] == ["digits"]
        serving = await structured(session, "get_serving_version", {"model_name": "digits"})
        assert serving["serving"]["configured"] is True


def test_mcp_config_merges_into_the_client_file_with_a_backup(
    seeded: Backend,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A terminal narrower than the paths printed: each path stays on one line (pastes whole).
    monkeypatch.setenv("COLUMNS", "40")
    target = tmp_path / ".vscode" / "mcp.json"
    target.parent.mkdir()
    before = {"servers": {"other": {"type": "stdio", "command": "other"}}, "inputs": []}
    target.write_text(json.dumps(before))
    code, _, err = invoke(
        capsys, "mcp", "config", "--client", "vscode", "--write", "--file", str(target)
    )
    assert code == 0, err
    assert f"{target}.bak" in err
    after = json.loads(target.read_text())
    assert after["servers"]["other"] == before["servers"]["other"]
    assert after["inputs"] == []
    assert after["servers"]["modelreg"]["type"] == "stdio"
    assert after["servers"]["modelreg"]["args"][-1] == "mcp"
    assert json.loads(Path(f"{target}.bak").read_text()) == before
    assert target.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("content", "fragment"),
    [("not json", "is not readable JSON"), ('{"mcpServers": []}', "must hold a JSON object")],
)
def test_mcp_config_refuses_a_broken_client_file_and_changes_nothing(
    seeded: Backend,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str,
    fragment: str,
) -> None:
    target = tmp_path / "claude_desktop_config.json"
    target.write_text(content)
    code, _, err = invoke(capsys, "mcp", "config", "--write", "--file", str(target))
    assert code == 2
    assert fragment in err
    assert err.count("\n") == 1, err
    assert target.read_text() == content
    assert not Path(f"{target}.bak").exists()


def test_mcp_config_for_the_inspector_is_one_command_line(
    seeded: Backend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ports = _ports(monkeypatch)
    code, out, _ = invoke(capsys, "mcp", "config", "--client", "inspector")
    assert code == 0
    assert out.startswith("npx @modelcontextprotocol/inspector -e ")
    assert f"-e MODELREG_ROUTER_PORT={ports['MODELREG_ROUTER_PORT']}" in out
    assert out.rstrip().endswith(f"--home {seeded.settings.home} mcp")
    assert out.count("\n") == 1
    code, _, err = invoke(capsys, "mcp", "config", "--client", "inspector", "--write")
    assert code == 2
    assert "keeps no config file" in err
    code, _, err = invoke(capsys, "mcp", "config", "--client", "zed")
    assert code == 2
    assert "claude-desktop, cursor, vscode, inspector" in err


# ------------------------------------------------------------ modelreg monitoring config


def test_monitoring_config_scrapes_the_stack_in_effect_and_passes_promtool(
    seeded: Backend,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    ports = _ports(monkeypatch)
    out_file = tmp_path / "prometheus.yml"
    code, _, err = invoke(
        capsys, "monitoring", "config", "--out", str(out_file), "--exporter-port", "19109"
    )
    assert code == 0, err
    import yaml  # type: ignore[import-untyped]

    config = yaml.safe_load(out_file.read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert targets == {
        "modelreg-router": [f"127.0.0.1:{ports['MODELREG_ROUTER_PORT']}"],
        "modelreg-registry": ["127.0.0.1:19109"],
        "torchserve": ["127.0.0.1:18182"],
    }
    assert {Path(p).name for p in config["rule_files"]} == {"alerts.yml", "recording.yml"}
    assert all(Path(p).is_absolute() for p in config["rule_files"])
    code, _, err = invoke(capsys, "monitoring", "config", "--interval", "often")
    assert code == 2
    assert "not a Prometheus duration" in err
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`)")
    checked = subprocess.run(
        [promtool, "check", "config", str(out_file)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # rule paths are absolute: any working directory
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "2 rule files found" in checked.stdout


# ------------------------------------------------------------------------ one card format


def test_card_json_output_is_what_card_file_accepts(
    seeded: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = invoke(capsys, "models", "card", "digits", "1", "--json")
    assert code == 0
    shown = json.loads(out)
    shown["card"]["owner"] = "edited-owner"
    shown["complete"] = True  # recomputed, never taken from the file
    shown["missing_fields"] = []
    shown["card"]["limitations"] = ""
    edited = tmp_path / "card.json"
    edited.write_text(json.dumps(shown))
    code, out, err = invoke(
        capsys, "models", "card", "digits", "1", "--file", str(edited), "--json"
    )
    assert code == 0, err
    stored = json.loads(out)
    assert stored["card"]["owner"] == "edited-owner"
    assert stored["complete"] is False
    assert "limitations" in stored["missing_fields"]
    # The plain card is the same format, and a wrapper with anything else is refused.
    edited.write_text(json.dumps(stored["card"]))
    code, _, err = invoke(capsys, "models", "card", "digits", "1", "--file", str(edited))
    assert code == 0, err
    edited.write_text(json.dumps({**stored, "notes": "x"}))
    code, _, err = invoke(capsys, "models", "card", "digits", "1", "--file", str(edited))
    assert code == 2
    assert "card: unknown field" in err


# ------------------------------------------------------------------- the MLflow UI's view


def test_mlflow_description_starts_with_the_card_summary(seeded: Backend) -> None:
    from mlflow import MlflowClient

    registry = Registry.open(seeded.settings)
    card = ModelCard(
        description="Small MLP for 8x8 digits. Trained on scikit-learn's copy.",
        baseline_metrics={"accuracy": 0.826667, "p50_latency_ms": 0.031234, "loss": 0.51234},
    )
    registry.set_card("digits", 2, card, actor="carol")
    registry.close()
    client = MlflowClient(
        tracking_uri=seeded.settings.resolved_tracking_uri,
        registry_uri=seeded.settings.resolved_registry_uri,
    )
    description = client.get_model_version("digits", "2").description
    first = description.splitlines()[0]
    # The version list shows only the first line: name, summary, formatted metrics, state.
    assert first.startswith("**digits v2 · Small MLP for 8x8 digits · accuracy 82.67%")
    assert "p50_latency_ms 0.0312 ms" in first
    assert "card incomplete" in first
    assert "- loss 0.5123" in description
    assert "0.826667" not in description


# --------------------------------------------------------------------- output in a pipe


def test_piped_output_is_wide_and_unwrapped(tmp_path: Path) -> None:
    """Redirected to a file, a long line (a deep data home in a printed URI) stays whole."""
    home = tmp_path / ("deep-" * 12) / "data-home-with-a-long-name"
    env = {
        "PATH": "/usr/bin:/bin",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    done = subprocess.run(
        [MODELREG, "--home", str(home), "init"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert f"sqlite:///{home}/mlflow.db" in done.stdout
    assert done.stdout.count("\n") == 1


# ------------------------------------------------------------ wording of changes and audit


def _entry(**fields: object) -> AuditEntry:
    base: dict[str, object] = {
        "id": 7,
        "at": datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        "actor": "dana",
        "model": "mnist-classifier",
        "action": "canary",
        "decision": "done",
    }
    return AuditEntry.model_validate({**base, **fields})


def _rendered(entry: AuditEntry) -> str:
    console = Console(width=400, record=True)
    console.print(render.audit_table(Page[AuditEntry](items=[entry], next_cursor=None)))
    return console.export_text()


def test_a_canary_row_names_no_stage_move() -> None:
    shown = _rendered(_entry(to_version=2, from_stage="Staging", to_stage="Staging"))
    assert "Staging -> Staging" not in shown
    assert "mnist-classifier v2: stays Staging" in shown
    promoted = _rendered(
        _entry(action="transition", to_version=2, from_stage="Staging", to_stage="Production")
    )
    assert "Staging -> Production" in promoted


def test_an_automatic_rollback_row_shows_the_guard_evidence_once() -> None:
    evidence = "p99 73.1 ms above the 50 ms SLA over 120 requests; error ratio 0.0%"
    shown = _rendered(
        _entry(
            action="rollback",
            actor="modelreg-guard",
            to_version=1,
            from_stage="Archived",
            to_stage="Production",
            rationale=f"automatic rollback under approval #5 (guard #2): {evidence}",
            reason=f"approved by modelreg-guard: {evidence}",
        )
    )
    assert shown.count(evidence) == 1, shown
    assert "approved by modelreg-guard (as in the rationale)" in shown

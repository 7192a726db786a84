"""The Grafana dashboard: rendered from models.yaml, committed as rendered, and well formed
(ids, grid, targets, datasource uid); every query parses as PromQL (promtool)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from registry_mcp.metrics.dashboard import ANNOTATION, DATASOURCE_UID, PANELS, render
from registry_mcp.store.models_file import load_models_file
from registry_mcp.store.settings import Settings

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
COMMITTED = MONITORING / "grafana" / "dashboards" / "modelreg.json"


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    text = render(load_models_file(settings).config)
    assert COMMITTED.read_text() == text, (
        "monitoring/grafana/dashboards/modelreg.json is stale: run `modelreg dashboards "
        "render --out monitoring/grafana/dashboards/modelreg.json`"
    )
    loaded: dict[str, object] = json.loads(text)
    return loaded


def test_panels_have_unique_ids_and_fit_the_grid(board: dict[str, object]) -> None:
    panels = board["panels"]
    assert isinstance(panels, list)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)) == len(PANELS)
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0, panel["title"]
        assert 0 < pos["w"] <= 24 - pos["x"], panel["title"]
        assert pos["h"] > 0


def test_every_target_names_the_provisioned_datasource(board: dict[str, object]) -> None:
    provisioned = yaml.safe_load(
        (MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    assert [d["uid"] for d in provisioned["datasources"]] == [DATASOURCE_UID]
    panels = board["panels"]
    assert isinstance(panels, list)
    for panel in panels:
        assert panel["datasource"]["uid"] == DATASOURCE_UID
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert ref_ids, panel["title"]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID
            assert target["expr"] in PANELS[panel["title"]]


def test_the_model_variable_lists_the_models_file(board: dict[str, object]) -> None:
    templating = board["templating"]
    assert isinstance(templating, dict)
    [variable] = templating["list"]
    assert variable["name"] == "model"
    assert variable["query"] == "digits-encoder,mnist-classifier,mnist-cnn"


def test_every_query_parses_as_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`; `make tools`)")
    exprs = [e for targets in PANELS.values() for e in targets] + [ANNOTATION]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": e.replace("$model", ".*")}
                    for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in done.stdout

"""The Grafana dashboard of which version serves what, built with grafana-foundation-sdk.

``modelreg dashboards render`` writes it (deterministic JSON) for Grafana's file provisioning
(monitoring/grafana). Every query reads the router's series or the registry exporter's, or
the recording rules in monitoring/prometheus/rules; the datasource is the provisioned
Prometheus by its fixed uid. The ``model`` variable lists the models of models.yaml.

Panels (``PANELS`` names them for the README and the tests):

- Production version per model (stat) and versions over time per stage (state timeline);
- Request rate per version; error ratio per version against the model's error budget;
- p50 and p99 latency per version against the model's latency SLA;
- Production accuracy per version (from feedback);
- Registry vs serving: the registry's Production version minus the router's (0 = in sync);
- Canary share per version; the router's merging: callers' requests per request it sent to
  TorchServe (README "Batching").

Annotations mark every change of a Production version (promotion, rollback, automatic).
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, statetimeline, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos

from serving.config import ModelsConfig

DATASOURCE_UID = "modelreg-prometheus"
DASHBOARD_UID = "modelreg-serving"
_DS = DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
_SEL = 'model=~"$model"'

#: title -> the PromQL of each of its targets (the integration test evaluates all of them)
PANELS: dict[str, list[str]] = {
    "Production version": [
        f'max by (model) (modelreg_router_active_version{{stage="production", {_SEL}}})'
    ],
    "Versions over time": [f"max by (model, stage) (modelreg_router_active_version{{{_SEL}}})"],
    "Requests per second by version": [f"model_version:modelreg_router_requests:rate1m{{{_SEL}}}"],
    "Error ratio by version (vs error budget)": [
        f"model_version:modelreg_router_error_ratio:rate5m{{{_SEL}}}",
        f"max by (model) (modelreg_model_error_budget_ratio{{{_SEL}}})",
    ],
    "Latency p50 / p99 by version (vs SLA)": [
        f"model_version:modelreg_router_latency_seconds:p50_5m{{{_SEL}}}",
        f"model_version:modelreg_router_latency_seconds:p99_5m{{{_SEL}}}",
        f"max by (model) (modelreg_model_latency_sla_seconds{{{_SEL}}})",
    ],
    "Production accuracy by version (feedback)": [
        f"model_version:modelreg_router_accuracy:ratio30m{{{_SEL}}}"
    ],
    "Registry vs serving (Production version difference)": [
        f'max by (model) (modelreg_registry_version{{stage="production", {_SEL}}})'
        f' - on (model) max by (model) (modelreg_router_active_version{{stage="production", '
        f"{_SEL}}})"
    ],
    "Canary share by version (% of Production traffic)": [
        f"max by (model, version) (modelreg_router_canary_percent{{{_SEL}}})"
    ],
    "Router merging (callers' requests per request to TorchServe)": [
        f"sum by (model) (rate(modelreg_router_merged_requests_total{{{_SEL}}}[5m]))"
        f" / sum by (model) (rate(modelreg_router_merged_upstream_requests_total{{{_SEL}}}[5m]))"
    ],
}
ANNOTATION = (
    "changes(max by (model) "
    f'(modelreg_router_active_version{{stage="production", {_SEL}}})[2m:15s]) > 0'
)
_LEGENDS = {
    "model_version:": "{{model}} v{{version}}",
    "max by (model) (modelreg_model_": "{{model}} limit",
}


def _targets(exprs: list[str]) -> list[prometheus.Dataquery]:
    out = []
    for index, expr in enumerate(exprs):
        legend = next((v for k, v in _LEGENDS.items() if expr.startswith(k)), "{{model}}")
        out.append(
            prometheus.Dataquery()
            .expr(expr)
            .legend_format(legend)
            .ref_id(chr(ord("A") + index))
            .datasource(_DS)
        )
    return out


def _place(builder: Any, panel_id: int, x: int, y: int, w: int, h: int) -> Any:
    return builder.id(panel_id).grid_pos(GridPos(x=x, y=y, w=w, h=h)).datasource(_DS)


def build_dashboard(models: ModelsConfig) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (a plain dict, stable key order)."""
    names = sorted(models.models)
    titles = list(PANELS)
    variable = (
        dashboard.CustomVariable("model")
        .label("Model")
        .values(",".join(names))
        .multi(True)
        .include_all(True)
    )
    board = (
        dashboard.Dashboard("modelreg: which version serves what")
        .uid(DASHBOARD_UID)
        .tags(["modelreg", "serving"])
        .refresh("10s")
        .time("now-1h", "now")
        .editable()
        .with_variable(variable)
        .annotation(
            dashboard.AnnotationQuery()
            .name("Production version changes")
            .datasource(_DS)
            .enable(True)
            .icon_color("orange")
            .expr(ANNOTATION)
        )
    )
    production = stat.Panel().title(titles[0]).unit("none").decimals(0)
    for target in _targets(PANELS[titles[0]]):
        production = production.with_target(target)
    board = board.with_panel(_place(production, 1, 0, 0, 8, 6))
    timeline = statetimeline.Panel().title(titles[1])
    for target in _targets(PANELS[titles[1]]):
        timeline = timeline.with_target(target)
    board = board.with_panel(_place(timeline, 2, 8, 0, 16, 6))
    layout = [
        (titles[2], "reqps", 0, 6),
        (titles[3], "percentunit", 12, 6),
        (titles[4], "s", 0, 14),
        (titles[5], "percentunit", 12, 14),
    ]
    for panel_id, (title, unit, x, y) in enumerate(layout, start=3):
        panel = timeseries.Panel().title(title).unit(unit)
        for target in _targets(PANELS[title]):
            panel = panel.with_target(target)
        board = board.with_panel(_place(panel, panel_id, x, y, 12, 8))
    drift = timeseries.Panel().title(titles[6]).unit("none").decimals(0)
    for target in _targets(PANELS[titles[6]]):
        drift = drift.with_target(target)
    board = board.with_panel(_place(drift, 7, 0, 22, 24, 6))
    canary = timeseries.Panel().title(titles[7]).unit("percent").min(0).max(100)
    for target in _targets(PANELS[titles[7]]):
        canary = canary.with_target(target.legend_format("{{model}} v{{version}}"))
    board = board.with_panel(_place(canary, 8, 0, 28, 24, 6))
    merging = timeseries.Panel().title(titles[8]).unit("none").min(0)
    for target in _targets(PANELS[titles[8]]):
        merging = merging.with_target(target)
    board = board.with_panel(_place(merging, 9, 0, 34, 24, 6))
    data: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True, indent=2).encode(board.build()))
    return data


def render(models: ModelsConfig) -> str:
    return json.dumps(build_dashboard(models), indent=2, sort_keys=True) + "\n"

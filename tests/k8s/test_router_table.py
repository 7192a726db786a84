"""The router on the cluster: no default TorchServe and no key file; it follows the routing
table Terraform owns (ConfigMap `router-table`, from `modelreg tf vars`), whose entries name
each model's own Services (those of the rendered tree) and whose routes are models.yaml's
with names resolved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry_mcp.deploy.kubernetes.desired import DesiredVersions, ModelVersions
from registry_mcp.deploy.kubernetes.routertable import router_table
from registry_mcp.deploy.kubernetes.tfvars import build_tfvars
from registry_mcp.deploy.kubernetes.workloads import router_objects
from serving.config import parse_models_config
from serving.router.server import RouterSettings, read_table
from serving.router.table import RoutingTable
from tests.k8s.conftest import OVERLAYS, by_kind, kustomize, packaged, render_into

Docs = dict[str, list[dict[str, Any]]]
DESIRED = DesiredVersions(
    models={
        "mnist-classifier": ModelVersions(production=3, previous=2, staging=4),
        "mnist-cnn": ModelVersions(production=1),
        "digits-encoder": ModelVersions(staging=2),  # no Production: in no route
    }
)
CARDS = {
    ("mnist-classifier", 3): {"accuracy": 0.95},
    ("mnist-cnn", 1): {"accuracy": 0.98},
}


def _router(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    template = by_kind(docs, "Deployment")["modelreg-router"]["spec"]["template"]
    (container,) = template["spec"]["containers"]
    return template, container


def _args(container: dict[str, Any]) -> dict[str, str]:
    args = container["args"]
    return dict(zip(args[::2], args[1::2], strict=True))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_router_follows_terraforms_table(repo_overlays: Docs, overlay: str) -> None:
    docs = repo_overlays[overlay]
    template, container = _router(docs)
    args = container["args"]
    # No default TorchServe and no TorchServe key: every model names its own Services.
    assert not {"--inference-url", "--management-url", "--key-file"} & set(args)
    assert "--follow-table" in args
    table_file = Path(args[args.index("--initial-table") + 1])
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(table_file.parent)]
    assert mount["readOnly"] is True
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    assert volumes[mount["name"]]["configMap"]["name"] == "router-table"
    # Terraform's, not kustomize's: the tree holds no table and no checksum of one.
    assert "router-table" not in by_kind(docs, "ConfigMap")
    assert "annotations" not in template["metadata"]


def test_the_rendered_arguments_are_what_the_router_accepts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The router's own command line takes the rendered arguments (serve() not run)."""
    from serving.router import __main__ as router_main

    started: list[RouterSettings] = []
    monkeypatch.setattr(router_main, "serve", lambda settings, token: started.append(settings))
    monkeypatch.setenv("MODELREG_ROUTER_ADMIN_TOKEN", "admin-" + "k" * 26)
    (container,) = router_objects()[0]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "serving.router"]
    router_main.main(container["args"])
    (settings,) = started
    assert (settings.inference_url, settings.management_url, settings.key_file) == (
        None,
        None,
        None,
    )
    assert settings.initial_table == Path("/etc/modelreg-router-table/table.json")
    assert settings.follow_table is True
    assert settings.host == "0.0.0.0"


def test_entries_name_each_models_services(tmp_path: Path) -> None:
    out = render_into(tmp_path / "k8s")
    config = packaged()
    table_file = tmp_path / "table.json"  # ConfigMap router-table's file, as Terraform writes it
    table_text = build_tfvars(config, DESIRED, sorted(config.models)).router_table
    assert table_text is not None
    table_file.write_text(table_text)
    table = read_table(table_file)  # what the router reads
    assert set(table.models) == {"mnist-classifier", "mnist-cnn", "digits-encoder"}
    classifier = table.models["mnist-classifier"]
    assert classifier.versions() == {"production": 3, "previous": 2, "staging": 4}
    assert classifier.input_schema == packaged().get("mnist-classifier").input_schema
    assert table.models["digits-encoder"].versions() == {"staging": 2}
    services = by_kind(kustomize(out / "overlays" / "cpu"), "Service")
    for model, entry in table.models.items():
        assert entry.canary is None
        assert entry.upstream is not None
        for url, port in (
            (entry.upstream.inference_url, 8080),
            (entry.upstream.management_url, 8081),
        ):
            host, _, service_port = url.removeprefix("http://").partition(":")
            assert int(service_port) == port
            assert port in {p["port"] for p in services[host]["spec"]["ports"]}, model
            assert services[host]["spec"]["selector"]["app.kubernetes.io/name"] == (f"ts-{model}")


def test_routes_resolve_best_of_task_from_the_cards() -> None:
    rendered = router_table(packaged(), DESIRED, sorted(packaged().models), CARDS)
    route = rendered.table.routes["digits"]
    assert route.default == "mnist-classifier"
    header, batch = route.rules
    assert header.model == "mnist-cnn"
    assert batch.model == "mnist-cnn"  # the better accuracy of task classification
    assert batch.resolved_from is not None
    assert batch.resolved_from.best_of_task == "classification"
    assert rendered.omitted == []
    # What the router checks on PUT /admin/table, it accepts from the file too.
    assert RoutingTable.model_validate_json(rendered.text()) == rendered.table
    assert json.loads(rendered.text())["models"]["mnist-cnn"] == {
        "served_name": "mnist-cnn",
        "production": 1,
        "input_schema": {"n_features": 64, "dtype": "float32"},
        "pinned_versions": "admin",
        "upstream": {
            "inference_url": "http://ts-mnist-cnn:8080",
            "management_url": "http://ts-mnist-cnn-management:8081",
            "backend": "torchserve",
        },
        # Requests out at once before the router merges: two per worker of 2 pods x 1 worker.
        "in_flight": 4,
    }


MIXED = """
models:
  a: {task: classification, primary_metric: accuracy, latency_sla_ms: 50}
  b: {task: classification, primary_metric: f1, latency_sla_ms: 50}
routes:
  plain: {default: a}
  best: {default: {best_of_task: classification}}
"""


@pytest.mark.parametrize(
    ("cards", "reason"),
    [
        (None, "ranking needs the Production cards in the registry (written with --no-registry)"),
        (
            {("a", 1): {"accuracy": 0.9}, ("b", 1): {"f1": 0.8}},
            "rank by different metrics or directions",
        ),
        ({("a", 1): {"f1": 0.9}}, "no Production model of this task has its primary metric"),
    ],
)
def test_routes_the_render_cannot_resolve_are_left_out_with_the_reason(
    cards: dict[tuple[str, int], dict[str, float]] | None, reason: str
) -> None:
    config = parse_models_config(MIXED, source="test")
    desired = DesiredVersions(
        models={"a": ModelVersions(production=1, previous=1), "b": ModelVersions(production=1)}
    )
    rendered = router_table(config, desired, ["a", "b"], cards)
    assert set(rendered.table.routes) == {"plain"}  # the whole route, never a rule dropped
    assert rendered.table.models["a"].previous is None  # previous == production: not warm
    (task_reason,) = [r for r in rendered.omitted if r.startswith("best_of_task")]
    assert reason in task_reason
    assert "route 'best': default is {best_of_task: classification}, which has no winner" in (
        rendered.omitted
    )


def test_a_model_without_production_leaves_its_routes_out() -> None:
    desired = DesiredVersions(models={"mnist-classifier": ModelVersions(production=1)})
    rendered = router_table(packaged(), desired, sorted(packaged().models), CARDS)
    assert set(rendered.table.models) == {"mnist-classifier"}
    assert rendered.table.routes == {}
    assert "model 'mnist-cnn': no version to serve" in rendered.omitted
    assert "route 'digits': rules.0.model model 'mnist-cnn' has no Production version" in (
        rendered.omitted
    )

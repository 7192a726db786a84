"""Monitoring in the rendered tree: Prometheus scrapes every router, TorchServe and exporter
pod on its own (kubernetes_sd_configs role pod), the exporter runs, Prometheus may list the
pods, and the PodMonitors select the same pods and ports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.k8s.conftest import K8S, by_kind

Docs = dict[str, list[dict[str, Any]]]
EXPECTED = {  # job -> (Deployments it scrapes, port number)
    "modelreg-router": ({"modelreg-router"}, 8090),
    "torchserve": ({"ts-digits-encoder", "ts-mnist-classifier", "ts-mnist-cnn"}, 8082),
    "modelreg-registry": ({"modelreg-exporter"}, 9109),
}


def _scrape_config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    maps = by_kind(docs, "ConfigMap")
    (name,) = [n for n in maps if n.startswith("prometheus-scrape-")]
    config: dict[str, Any] = yaml.safe_load(maps[name]["data"]["prometheus.yml"])
    return config


def _meta(name: str) -> str:
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^A-Za-z0-9]", "_", name)


def _targets(job: dict[str, Any], deployments: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Deployment -> port of the targets the job's keep/drop rules leave, evaluated on the
    meta labels Prometheus' pod discovery gives each (pod, container port) of a running pod."""
    found: dict[str, int] = {}
    for name, deployment in deployments.items():
        template = deployment["spec"]["template"]
        for container in template["spec"]["containers"]:
            for port in container.get("ports", []):
                meta = {_meta(k): v for k, v in template["metadata"]["labels"].items()}
                meta["__meta_kubernetes_pod_container_port_name"] = port.get("name", "")
                meta["__meta_kubernetes_pod_phase"] = "Running"
                meta["__meta_kubernetes_namespace"] = deployment["metadata"]["namespace"]
                if _kept(job["relabel_configs"], meta):
                    found[name] = port["containerPort"]
    return found


def _kept(rules: list[dict[str, Any]], meta: dict[str, str]) -> bool:
    for rule in rules:
        action = rule.get("action", "replace")
        if action not in ("keep", "drop"):
            continue
        value = ";".join(meta.get(label, "") for label in rule["source_labels"])
        matched = re.fullmatch(rule["regex"], value) is not None
        if matched != (action == "keep"):
            return False
    return True


def test_every_metrics_pod_is_its_own_target(repo_overlays: Docs) -> None:
    docs = repo_overlays["cpu"]
    config = _scrape_config(docs)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == set(EXPECTED)
    deployments = by_kind(docs, "Deployment")
    for name, job in jobs.items():
        # Pods, not a Service: each scrape of a Service would reach one random replica.
        assert "static_configs" not in job, name
        assert job["kubernetes_sd_configs"] == [
            {"role": "pod", "namespaces": {"names": ["modelreg"]}}
        ]
        want, port = EXPECTED[name]
        assert _targets(job, deployments) == dict.fromkeys(want, port), name
        kept = {r["target_label"] for r in job["relabel_configs"] if "target_label" in r}
        assert {"namespace", "pod"} <= kept, name
    # The router runs two replicas: both are targets (the sum test is in alerts_test.yml).
    assert deployments["modelreg-router"]["spec"]["replicas"] == 2
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]


def test_the_keep_rules_can_reject(repo_overlays: Docs) -> None:
    """The evaluation above can fail: a pod of another component is not a router target."""
    docs = repo_overlays["cpu"]
    router = next(
        j for j in _scrape_config(docs)["scrape_configs"] if j["job_name"] == "modelreg-router"
    )
    deployments = by_kind(docs, "Deployment")
    assert "modelreg-mcp" not in _targets(router, deployments)
    pending = {_meta("app.kubernetes.io/component"): "router"}
    pending["__meta_kubernetes_pod_container_port_name"] = "http"
    assert _kept(router["relabel_configs"], {**pending, "__meta_kubernetes_pod_phase": "Running"})
    assert not _kept(
        router["relabel_configs"], {**pending, "__meta_kubernetes_pod_phase": "Pending"}
    )


def test_the_scrape_config_passes_promtool(repo_overlays: Docs, tmp_path: Path) -> None:
    """Debian's promtool is built without Kubernetes discovery: the relabel rules and the
    rest are checked with each job's discovery swapped for a static target."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (`make tools` installs Debian's prometheus)")
    config = _scrape_config(repo_overlays["cpu"])
    config["rule_files"] = []
    for job in config["scrape_configs"]:
        del job["kubernetes_sd_configs"]
        job["static_configs"] = [{"targets": ["127.0.0.1:9"]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [promtool, "check", "config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_exporter_runs_in_the_cluster(repo_overlays: Docs) -> None:
    docs = repo_overlays["cpu"]
    deployment = by_kind(docs, "Deployment")["modelreg-exporter"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["modelreg", "metrics"]
    assert container["args"] == ["--host", "0.0.0.0", "--port", "9109", "--public"]
    env = {e["name"]: e for e in container["env"]}
    assert env["MLFLOW_REGISTRY_URI"]["valueFrom"]["secretKeyRef"]["name"] == "modelreg-db-readonly"
    service = by_kind(docs, "Service")["modelreg-exporter"]
    assert [p["port"] for p in service["spec"]["ports"]] == [9109]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    policy = by_kind(docs, "NetworkPolicy")["exporter-ingress"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["ingress"] == [
        {"from": [{"namespaceSelector": {}}], "ports": [{"protocol": "TCP", "port": 9109}]}
    ]


def test_prometheus_may_only_list_the_pods(repo_overlays: Docs) -> None:
    docs = repo_overlays["cpu"]
    role = by_kind(docs, "Role")["prometheus-pod-discovery"]
    assert role["metadata"]["namespace"] == "modelreg"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    ]
    binding = by_kind(docs, "RoleBinding")["prometheus-pod-discovery"]
    assert binding["roleRef"]["name"] == "prometheus-pod-discovery"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"}
    ]


def test_pod_monitors_select_the_same_pods(repo_overlays: Docs) -> None:
    """For prometheus-operator: one PodMonitor per job, the same pods and ports."""
    text = (K8S / "base" / "prometheus" / "podmonitors.yaml").read_text(encoding="utf-8")
    monitors = list(yaml.safe_load_all(text))
    assert {m["metadata"]["name"] for m in monitors} == set(EXPECTED)
    deployments = by_kind(repo_overlays["cpu"], "Deployment")
    for monitor in monitors:
        want, port = EXPECTED[monitor["metadata"]["name"]]
        selector = monitor["spec"]["selector"]["matchLabels"]
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        selected = {}
        for name, deployment in deployments.items():
            template = deployment["spec"]["template"]
            if selector.items() <= template["metadata"]["labels"].items():
                ports = [p for c in template["spec"]["containers"] for p in c.get("ports", [])]
                selected[name] = next(
                    p["containerPort"] for p in ports if p["name"] == endpoint["port"]
                )
        assert selected == dict.fromkeys(want, port)
        job = {"targetLabel": "job", "replacement": monitor["metadata"]["name"]}
        assert job in endpoint["relabelings"]

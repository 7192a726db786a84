"""Monitoring objects of the kustomize tree: the registry exporter's Deployment, Service and
NetworkPolicy, Prometheus' scrape config (per pod, by Kubernetes service discovery), the
Role that lets Prometheus list the namespace's pods, and PodMonitors for prometheus-operator.

Every pod is a target of its own: a Service target would send each scrape to one random
replica, so two router pods would read as one pod's counters jumping between two values.
Targets keep ``namespace`` and ``pod`` labels, so the rules sum replicas (``sum by (model,
version)``) and ``up`` names the pod that is down.
"""

from __future__ import annotations

from typing import Any

from registry_mcp.deploy.kubernetes.workloads import (
    COMPONENT,
    PART_OF,
    Obj,
    container_security,
    disruption_budget,
    empty_dir,
    http_probe,
    image_ref,
    make_deployment,
    make_pod,
    make_service,
    registry_env,
    resource_block,
)

EXPORTER = "modelreg-exporter"
EXPORTER_COMPONENT = "registry-exporter"
EXPORTER_PORT = 9109
# Prometheus' ServiceAccount; the RoleBinding names it (change both when yours differs).
PROMETHEUS_SA, PROMETHEUS_NAMESPACE = "prometheus", "monitoring"
RULES_DIR = "/etc/prometheus/rules"

# job -> (the pods' app.kubernetes.io/component, the container port's name)
SCRAPE_JOBS: dict[str, tuple[str, str]] = {
    "modelreg-router": ("router", "http"),
    "torchserve": ("torchserve", "metrics"),
    "modelreg-registry": (EXPORTER_COMPONENT, "metrics"),
}


def exporter_objects() -> list[Obj]:
    """``modelreg metrics`` in a pod: what the registry says should serve and each model's
    SLO, the series the registry-side alerts compare with the router's. It only reads (one
    SELECT per scrape), with the read-only DSN (``credentials``): never the registry's own."""
    container = {
        "name": "exporter",
        "image": image_ref(),
        "command": ["modelreg", "metrics"],
        # --public: off loopback on purpose; the NetworkPolicy below is the boundary.
        "args": ["--host", "0.0.0.0", "--port", str(EXPORTER_PORT), "--public"],
        "env": registry_env(),
        "ports": [{"name": "metrics", "containerPort": EXPORTER_PORT}],
        "resources": resource_block("100m", "256Mi", "500m", "512Mi"),
        "readinessProbe": http_probe("/metrics", EXPORTER_PORT, delay=10),
        "livenessProbe": http_probe("/metrics", EXPORTER_PORT, delay=30, period=30),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "modelreg-home", "mountPath": "/var/lib/modelreg"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    volumes = [empty_dir("modelreg-home"), empty_dir("tmp")]
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "exporter-ingress", "labels": {PART_OF: "modelreg"}},
        "spec": {
            "podSelector": {"matchLabels": {COMPONENT: EXPORTER_COMPONENT}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"namespaceSelector": {}}],
                    "ports": [{"protocol": "TCP", "port": EXPORTER_PORT}],
                }
            ],
        },
    }
    deployment = make_deployment(
        EXPORTER, EXPORTER_COMPONENT, 1, make_pod([container], volumes), None
    )
    return [
        deployment,
        disruption_budget(deployment),
        make_service(EXPORTER, EXPORTER_COMPONENT, EXPORTER, [("metrics", EXPORTER_PORT)]),
        policy,
    ]


def discovery_rbac() -> list[Obj]:
    """Read access to this namespace's pods for Prometheus' ServiceAccount (service
    discovery lists and watches pods; nothing else)."""
    name = "prometheus-pod-discovery"
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name},
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [
                {"kind": "ServiceAccount", "name": PROMETHEUS_SA, "namespace": PROMETHEUS_NAMESPACE}
            ],
        },
    ]


def _label(name: str) -> str:
    """Prometheus' meta label of a pod label (non-alphanumerics become ``_``)."""
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in name)


def _pod_job(job: str, component: str, port: str, namespace: str) -> dict[str, Any]:
    return {
        "job_name": job,
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [namespace]}}],
        "relabel_configs": [
            # One target per pod and named container port: this component's pods, that port.
            {"source_labels": [_label(COMPONENT)], "regex": component, "action": "keep"},
            {
                "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                "regex": port,
                "action": "keep",
            },
            # A pod that is not running yet (or any more) is not a target that is down.
            {
                "source_labels": ["__meta_kubernetes_pod_phase"],
                "regex": "Pending|Succeeded|Failed",
                "action": "drop",
            },
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"source_labels": [_label("app.kubernetes.io/name")], "target_label": "deployment"},
        ],
    }


def prometheus_config(namespace: str) -> dict[str, Any]:
    """The scrape config: each router, TorchServe and exporter pod is its own target."""
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        # monitoring/prometheus/rules, mounted there (README: Monitoring in the cluster).
        "rule_files": [f"{RULES_DIR}/*.yml"],
        "scrape_configs": [
            _pod_job(job, component, port, namespace)
            for job, (component, port) in SCRAPE_JOBS.items()
        ],
    }


def pod_monitors() -> list[Obj]:
    """The same targets for prometheus-operator (CRD ``monitoring.coreos.com/v1``): one
    PodMonitor per job, outside the kustomization's resources (clusters without the
    operator have no such kind). The operator adds ``namespace`` and ``pod`` labels itself."""
    monitors = []
    for job, (component, port) in SCRAPE_JOBS.items():
        monitors.append(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PodMonitor",
                "metadata": {"name": job, "labels": {PART_OF: "modelreg"}},
                "spec": {
                    "selector": {"matchLabels": {COMPONENT: component}},
                    "podMetricsEndpoints": [
                        {
                            "port": port,
                            "path": "/metrics",
                            "interval": "15s",
                            "relabelings": [
                                {"targetLabel": "job", "replacement": job},
                                {
                                    "sourceLabels": [_label("app.kubernetes.io/name")],
                                    "targetLabel": "deployment",
                                },
                            ],
                        }
                    ],
                },
            }
        )
    return monitors

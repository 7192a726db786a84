"""The registry's own services on Kubernetes: MLflow (PostgreSQL backend, artifacts on a
PVC), PostgreSQL (a StatefulSet), and the network policies around TorchServe."""

from __future__ import annotations

from registry_mcp.deploy.kubernetes.workloads import (
    COMPONENT,
    DB_SECRET,
    INFERENCE_PORT,
    MANAGEMENT_PORT,
    MCP_PORT,
    METRICS_PORT,
    MLFLOW_PORT,
    PART_OF,
    POSTGRES_PORT,
    ROUTER_PORT,
    Obj,
    container_security,
    disruption_budget,
    empty_dir,
    http_probe,
    image_ref,
    labels,
    make_deployment,
    make_pod,
    make_service,
    pod_security,
    resource_block,
    secret_env,
    selector_labels,
)

POSTGRES_IMAGE = "postgres:16.6"
POSTGRES_UID = 10001  # the official image runs as any UID that owns PGDATA


def mlflow_objects() -> list[Obj]:
    name = "mlflow"
    container = {
        "name": "mlflow",
        "image": image_ref(),
        "command": ["mlflow", "server"],
        "args": [
            "--host",
            "0.0.0.0",
            "--port",
            str(MLFLOW_PORT),
            "--backend-store-uri",
            "$(MLFLOW_BACKEND_STORE_URI)",
            "--artifacts-destination",
            "/mlartifacts",
            "--serve-artifacts",
        ],
        "env": [
            secret_env("MLFLOW_BACKEND_STORE_URI", DB_SECRET, "dsn"),
            {"name": "MLFLOW_DISABLE_TELEMETRY", "value": "true"},
        ],
        "ports": [{"name": "http", "containerPort": MLFLOW_PORT}],
        "resources": resource_block("500m", "1Gi", "2", "2Gi"),
        "readinessProbe": http_probe("/health", MLFLOW_PORT, delay=10),
        "livenessProbe": http_probe("/health", MLFLOW_PORT, delay=30, period=20),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "artifacts", "mountPath": "/mlartifacts"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    volumes = [
        {"name": "artifacts", "persistentVolumeClaim": {"claimName": "mlflow-artifacts"}},
        empty_dir("tmp"),
    ]
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "mlflow-artifacts", "labels": labels("mlflow", name)},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "20Gi"}},
        },
    }
    deployment = make_deployment(name, "mlflow", 1, make_pod([container], volumes), None)
    deployment["spec"]["strategy"] = {"type": "Recreate"}  # one writer of a ReadWriteOnce PVC
    return [
        deployment,
        disruption_budget(deployment),
        make_service(name, "mlflow", name, [("http", MLFLOW_PORT)]),
        pvc,
    ]


def postgres_objects() -> list[Obj]:
    name = "postgres"
    ready = {
        "exec": {"command": ["pg_isready", "-U", "modelreg", "-d", "modelreg"]},
        "initialDelaySeconds": 10,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 6,
    }
    container = {
        "name": "postgres",
        "image": POSTGRES_IMAGE,
        "env": [
            {"name": "POSTGRES_USER", "value": "modelreg"},
            {"name": "POSTGRES_DB", "value": "modelreg"},
            {"name": "POSTGRES_PASSWORD_FILE", "value": "/etc/postgres-secret/password"},
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
        ],
        "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}],
        "resources": resource_block("500m", "1Gi", "2", "2Gi"),
        "readinessProbe": ready,
        "livenessProbe": {**ready, "initialDelaySeconds": 30},
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/postgresql/data"},
            {"name": "run", "mountPath": "/var/run/postgresql"},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "password", "mountPath": "/etc/postgres-secret", "readOnly": True},
        ],
    }
    password = {
        "name": "password",
        "secret": {"secretName": DB_SECRET, "items": [{"key": "password", "path": "password"}]},
    }
    pod = make_pod([container], [empty_dir("run", "64Mi"), empty_dir("tmp"), password])
    pod["securityContext"] = pod_security(POSTGRES_UID)
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "labels": labels("postgres", name)},
        "spec": {
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": selector_labels("postgres", name)},
            "template": {"metadata": {"labels": labels("postgres", name)}, "spec": pod},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "10Gi"}},
                    },
                }
            ],
        },
    }
    service = make_service(name, "postgres", name, [("postgres", POSTGRES_PORT)])
    return [statefulset, service]


def network_policies() -> list[Obj]:
    """Every pod has a policy. TorchServe: inference and management only from the router's
    pods (TorchServe runs without token authorization on the cluster: this policy is its
    boundary), metrics from anywhere in the cluster (Prometheus); PostgreSQL and MLflow only
    from modelreg pods; the router (the prediction entry point) and MCP from the cluster."""
    modelreg_pods = [{"podSelector": {"matchLabels": {PART_OF: "modelreg"}}}]
    router_pods = [{"podSelector": {"matchLabels": selector_labels("router", "modelreg-router")}}]
    cluster: list[Obj] = [{"namespaceSelector": {}}]

    def policy(name: str, component: str, ingress: list[Obj]) -> Obj:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "labels": {PART_OF: "modelreg"}},
            "spec": {
                "podSelector": {"matchLabels": {COMPONENT: component}},
                "policyTypes": ["Ingress"],
                "ingress": ingress,
            },
        }

    def tcp(*ports: int) -> list[Obj]:
        return [{"protocol": "TCP", "port": port} for port in ports]

    return [
        policy(
            "torchserve-ingress",
            "torchserve",
            [
                {"from": router_pods, "ports": tcp(INFERENCE_PORT, MANAGEMENT_PORT)},
                {"from": cluster, "ports": tcp(METRICS_PORT)},
            ],
        ),
        policy(
            "postgres-ingress", "postgres", [{"from": modelreg_pods, "ports": tcp(POSTGRES_PORT)}]
        ),
        policy("mlflow-ingress", "mlflow", [{"from": modelreg_pods, "ports": tcp(MLFLOW_PORT)}]),
        policy("router-ingress", "router", [{"from": cluster, "ports": tcp(ROUTER_PORT)}]),
        policy("mcp-ingress", "mcp", [{"from": cluster, "ports": tcp(MCP_PORT)}]),
    ]

"""Kubernetes objects of the platform as plain dicts: TorchServe per model, the router, the
MCP server, MLflow, PostgreSQL, the network policies. Pure functions of models.yaml.

Conventions every object follows (tests/k8s checks them on the rendered output): labels
``app.kubernetes.io/part-of: modelreg`` and ``.../component``; pods run as non-root with a
read-only root filesystem (emptyDirs for what they write), no service-account token, no
privilege escalation, all capabilities dropped; every container has requests, limits and
probes (init containers: requests and limits); Services are ClusterIP; Secrets are only
referenced (created by the operator, never rendered).
"""

from __future__ import annotations

from typing import Any

from serving.config import ModelConfig

Obj = dict[str, Any]

IMAGE = "modelreg"
IMAGE_TAG = "0.1.0"
PART_OF = "app.kubernetes.io/part-of"
COMPONENT = "app.kubernetes.io/component"
MODEL_LABEL = "modelreg.io/model"
TS_HOME = "/srv/torchserve"
MODEL_STORE = f"{TS_HOME}/model-store"
TS_CONFIG_DIR = "/etc/torchserve"  # the shared torchserve-config ConfigMap
TS_POD_CONFIG_DIR = "/srv/torchserve-config"  # the pod's config, written by the init container
INFERENCE_PORT, MANAGEMENT_PORT, METRICS_PORT = 8080, 8081, 8082
ROUTER_PORT, MCP_PORT, MLFLOW_PORT, POSTGRES_PORT = 8090, 8765, 5000, 5432
DB_SECRET = "modelreg-db"  # keys: dsn (postgresql+psycopg://...), password
# keys: dsn, password of the SELECT-only role (credentials.READONLY_ROLE_SQL creates it)
DB_READONLY_SECRET = "modelreg-db-readonly"
MCP_SECRET = "modelreg-mcp"  # key: token
ROUTER_SECRET = "modelreg-router"  # keys: admin-token, client-keys.json
UID = 10001


def labels(component: str, name: str, model: str | None = None) -> dict[str, str]:
    found = {PART_OF: "modelreg", COMPONENT: component, "app.kubernetes.io/name": name}
    if model is not None:
        found[MODEL_LABEL] = model
    return found


def selector_labels(component: str, name: str) -> dict[str, str]:
    return {COMPONENT: component, "app.kubernetes.io/name": name}


def image_ref() -> str:
    return f"{IMAGE}:{IMAGE_TAG}"


def container_security() -> Obj:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def pod_security(uid: int = UID) -> Obj:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def resource_block(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> Obj:
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"cpu": cpu_limit, "memory": memory_limit},
    }


def secret_env(name: str, secret: str, key: str) -> Obj:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def empty_dir(name: str, limit: str = "1Gi") -> Obj:
    return {"name": name, "emptyDir": {"sizeLimit": limit}}


def http_probe(path: str, port: int, *, delay: int, period: int = 10) -> Obj:
    return {
        "httpGet": {"path": path, "port": port},
        "initialDelaySeconds": delay,
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": 6,
    }


TORCHSERVE_PROBE = ["python", "-m", "registry_mcp.deploy.kubernetes.probe"]


def _exec_probe(command: list[str], *, delay: int, period: int) -> Obj:
    return {
        "exec": {"command": command},
        "initialDelaySeconds": delay,
        "periodSeconds": period,
        "timeoutSeconds": 10,
        "failureThreshold": 6,
    }


def topology_spread(component: str, name: str) -> list[Obj]:
    """Spread a Deployment's replicas over nodes, then zones: one node or zone going down
    takes at most its share. ``ScheduleAnyway``: a one-node cluster (or a GPU pool of one
    node) still schedules every replica rather than leaving pods pending."""
    selector = {"matchLabels": selector_labels(component, name)}
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": selector,
        }
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]


def make_deployment(name: str, component: str, replicas: int, pod: Obj, model: str | None) -> Obj:
    meta_labels = labels(component, name, model)
    spec = {**pod, "topologySpreadConstraints": topology_spread(component, name)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": meta_labels},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector_labels(component, name)},
            "template": {"metadata": {"labels": meta_labels}, "spec": spec},
        },
    }


def disruption_budget(deployment: Obj) -> Obj:
    """The PodDisruptionBudget of a Deployment: a voluntary disruption (a node drain, a
    cluster upgrade) evicts at most one of its pods at a time. ``maxUnavailable: 1`` rather
    than ``minAvailable``: with one replica, ``minAvailable: 1`` would block every drain
    forever; with two or more, one stays serving while the other moves."""
    meta = deployment["metadata"]
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": meta["name"], "labels": dict(meta["labels"])},
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": dict(deployment["spec"]["selector"]["matchLabels"])},
        },
    }


def make_service(name: str, component: str, target: str, ports: list[tuple[str, int]]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels(component, target)},
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(component, target),
            "ports": [
                {"name": port_name, "port": port, "targetPort": port, "protocol": "TCP"}
                for port_name, port in ports
            ],
        },
    }


def make_pod(containers: list[Obj], volumes: list[Obj], init: list[Obj] | None = None) -> Obj:
    pod: Obj = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
    }
    if init:
        pod["initContainers"] = init
    pod["containers"] = containers
    pod["volumes"] = volumes
    return pod


def registry_env(secret: str = DB_READONLY_SECRET) -> list[Obj]:
    """How a modelreg container reaches the registry: the registry (and our audit tables) in
    PostgreSQL by the DSN of a Secret (the read-only one unless the pod writes: see
    ``credentials.WRITERS``); runs and artifacts through the MLflow server, which proxies
    the artifact store (``mlflow-artifacts:`` URIs resolve against it)."""
    return [
        {"name": "MLFLOW_TRACKING_URI", "value": f"http://mlflow:{MLFLOW_PORT}"},
        secret_env("MLFLOW_REGISTRY_URI", secret, "dsn"),
        {"name": "MODELREG_HOME", "value": "/var/lib/modelreg"},
        {"name": "MLFLOW_DISABLE_TELEMETRY", "value": "true"},
    ]


# ----------------------------------------------------------------- TorchServe per model


def torchserve_name(k8s: str) -> str:
    return f"ts-{k8s}"


def versions_configmap(k8s: str) -> str:
    """The model's desired versions: a ConfigMap of this fixed name that Terraform writes
    (terraform/), never kustomize."""
    return f"model-versions-{k8s}"


def torchserve_objects(model: ModelConfig, k8s: str) -> list[Obj]:
    """Deployment (base: no GPU; the gpu overlay adds it), inference+metrics Service and the
    management Service of one model. No version data: the init container reads the versions
    from ConfigMap ``model-versions-<model>`` (Terraform's), and Terraform sets the pod
    template's ``checksum/model-versions`` annotation, so a version change rolls these pods."""
    name = torchserve_name(k8s)
    res = model.kubernetes
    shared_config = f"{TS_CONFIG_DIR}/config.properties"
    pod_config = f"{TS_POD_CONFIG_DIR}/config.properties"
    fetch = {
        "name": "fetch-archives",
        "image": image_ref(),
        # The same command builds the archives locally: `modelreg k8s archives`. It also
        # writes TorchServe's config: the shared one + load_models (Production first: the
        # default version) + models (workers and batching of models.yaml per version).
        "command": ["modelreg", "k8s", "archives"],
        "args": [
            "--model",
            model.name,
            "--out",
            MODEL_STORE,
            "--versions",
            "$(VERSIONS)",
            "--production",
            "$(PRODUCTION)",
            "--ts-config-base",
            shared_config,
            "--ts-config-out",
            pod_config,
        ],
        # The one owner of the versions: Terraform's ConfigMap (the pod waits until it exists).
        "envFrom": [{"configMapRef": {"name": versions_configmap(k8s)}}],
        "env": registry_env(),
        "resources": resource_block("250m", "512Mi", "1", "2Gi"),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "model-store", "mountPath": MODEL_STORE},
            {"name": "torchserve-config", "mountPath": TS_CONFIG_DIR, "readOnly": True},
            {"name": "torchserve-pod-config", "mountPath": TS_POD_CONFIG_DIR},
            {"name": "modelreg-home", "mountPath": "/var/lib/modelreg"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    serve = {
        "name": "torchserve",
        "image": image_ref(),
        "command": ["torchserve"],
        # No --models: the config's load_models lists the archives, Production first.
        "args": ["--start", "--foreground", "--ncs", "--ts-config", pod_config],
        "workingDir": TS_HOME,  # TorchServe writes key_file.json into its working directory
        "env": [
            {"name": "TEMP", "value": "/tmp"},
            {"name": "TMPDIR", "value": "/tmp"},
            {"name": "LOG_LOCATION", "value": f"{TS_HOME}/logs"},
            {"name": "METRICS_LOCATION", "value": f"{TS_HOME}/logs"},
            {"name": "MLFLOW_DISABLE_TELEMETRY", "value": "true"},
        ],
        "ports": [
            {"name": "inference", "containerPort": INFERENCE_PORT},
            {"name": "management", "containerPort": MANAGEMENT_PORT},
            {"name": "metrics", "containerPort": METRICS_PORT},
        ],
        "resources": resource_block(
            res.cpu, res.memory, res.limits.cpu or res.cpu, res.limits.memory or res.memory
        ),
        # /ping needs TorchServe's inference token: the probe reads (and renews) it.
        "readinessProbe": _exec_probe(TORCHSERVE_PROBE, delay=10, period=10),
        "livenessProbe": _exec_probe(TORCHSERVE_PROBE, delay=60, period=30),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "torchserve-home", "mountPath": TS_HOME},
            {"name": "model-store", "mountPath": MODEL_STORE},
            {"name": "torchserve-pod-config", "mountPath": TS_POD_CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    volumes = [
        empty_dir("torchserve-home"),
        empty_dir("model-store", "10Gi"),
        empty_dir("torchserve-pod-config", "1Mi"),
        empty_dir("modelreg-home"),
        empty_dir("tmp", "4Gi"),
        {"name": "torchserve-config", "configMap": {"name": "torchserve-config"}},
    ]
    deployment = make_deployment(
        name, "torchserve", res.replicas, make_pod([serve], volumes, [fetch]), model.name
    )
    return [
        deployment,
        disruption_budget(deployment),
        make_service(
            name,
            "torchserve",
            name,
            [("inference", INFERENCE_PORT), ("metrics", METRICS_PORT)],
        ),
        make_service(f"{name}-management", "torchserve", name, [("management", MANAGEMENT_PORT)]),
    ]


GPU_IMAGE_TAG = f"{IMAGE_TAG}-cuda"  # the Dockerfile built with TORCH_INDEX_URL=.../cu128
GPU_NODE_SELECTOR = {"nvidia.com/gpu.present": "true"}
GPU_TOLERATIONS = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def gpu_patch(k8s: str, gpus: int) -> Obj:
    """Strategic-merge patch of the gpu overlay: GPU limit, node selector, toleration, and a
    rollout that fits a pool sized for the replicas: an old pod goes before a new one starts
    (maxSurge 0, maxUnavailable 1); the default (one extra pod first) waits for a GPU that a
    pool of exactly ``replicas`` GPUs does not have, and the rollout stalls. Only the
    TorchServe container runs the image with torch's CUDA wheels (Dockerfile
    ``TORCH_INDEX_URL``); its init container and every other pod keep the CPU image."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": torchserve_name(k8s)},
        "spec": {
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
            },
            "template": {
                "spec": {
                    "nodeSelector": dict(GPU_NODE_SELECTOR),
                    "tolerations": [dict(t) for t in GPU_TOLERATIONS],
                    "containers": [
                        {
                            "name": "torchserve",
                            "image": f"{IMAGE}:{GPU_IMAGE_TAG}",
                            "resources": {
                                "limits": {"nvidia.com/gpu": str(gpus)},
                                "requests": {"nvidia.com/gpu": str(gpus)},
                            },
                        }
                    ],
                }
            },
        },
    }


# ----------------------------------------------------------------- control plane


#: Written by Terraform (file table.json: routertable.RouterTable.text()), never by kustomize.
ROUTER_TABLE_CONFIGMAP = "router-table"
ROUTER_TABLE_DIR = "/etc/modelreg-router-table"


def router_objects() -> list[Obj]:
    """The router: no default TorchServe and no key file; each model of its table names its
    own Services (``upstream``), whose TorchServe runs without token authorization behind the
    ``torchserve-ingress`` NetworkPolicy. Its table is the file of ConfigMap ``router-table``
    (Terraform's), mounted as a directory so the kubelet updates it in place: the router
    installs it at start and again whenever it changes (``--follow-table``, each time checked
    against each model's TorchServe; /readyz is 503 until a first table is in place). A
    promotion therefore changes the router's table without restarting a router pod."""
    name = "modelreg-router"
    container = {
        "name": "router",
        "image": image_ref(),
        "command": ["python", "-m", "serving.router"],
        "args": [
            "--host",
            "0.0.0.0",  # off loopback: the router then requires client API keys
            "--port",
            str(ROUTER_PORT),
            "--state-file",
            "/var/lib/modelreg-router/state.json",
            "--initial-table",
            f"{ROUTER_TABLE_DIR}/table.json",
            "--follow-table",
            "--client-keys-file",
            "/etc/modelreg-router/client-keys.json",
        ],
        "env": [secret_env("MODELREG_ROUTER_ADMIN_TOKEN", ROUTER_SECRET, "admin-token")],
        "ports": [{"name": "http", "containerPort": ROUTER_PORT}],
        "resources": resource_block("250m", "256Mi", "1", "512Mi"),
        "readinessProbe": http_probe("/readyz", ROUTER_PORT, delay=5),
        "livenessProbe": http_probe("/healthz", ROUTER_PORT, delay=15, period=20),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "state", "mountPath": "/var/lib/modelreg-router"},
            {"name": "client-keys", "mountPath": "/etc/modelreg-router", "readOnly": True},
            {"name": "routing-table", "mountPath": ROUTER_TABLE_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    volumes = [
        empty_dir("state"),
        empty_dir("tmp"),
        {
            "name": "client-keys",
            "secret": {
                "secretName": ROUTER_SECRET,
                "items": [{"key": "client-keys.json", "path": "client-keys.json"}],
            },
        },
        {"name": "routing-table", "configMap": {"name": ROUTER_TABLE_CONFIGMAP}},
    ]
    deployment = make_deployment(name, "router", 2, make_pod([container], volumes), None)
    return [
        deployment,
        disruption_budget(deployment),
        make_service(name, "router", name, [("http", ROUTER_PORT)]),
    ]


def mcp_objects() -> list[Obj]:
    name = "modelreg-mcp"
    container = {
        "name": "mcp",
        "image": image_ref(),
        "command": ["modelreg", "mcp"],
        "args": ["--transport", "http", "--host", "0.0.0.0", "--port", str(MCP_PORT)],
        "env": [
            *registry_env(DB_SECRET),  # a writer: promotions, proposals, the audit trail
            secret_env("MODELREG_MCP_TOKEN", MCP_SECRET, "token"),
        ],
        "ports": [{"name": "http", "containerPort": MCP_PORT}],
        "resources": resource_block("250m", "512Mi", "1", "1Gi"),
        "readinessProbe": _tcp_probe(MCP_PORT, delay=10),
        "livenessProbe": _tcp_probe(MCP_PORT, delay=30),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "modelreg-home", "mountPath": "/var/lib/modelreg"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    volumes = [empty_dir("modelreg-home"), empty_dir("tmp")]
    deployment = make_deployment(name, "mcp", 1, make_pod([container], volumes), None)
    return [
        deployment,
        disruption_budget(deployment),
        make_service(name, "mcp", name, [("http", MCP_PORT)]),
    ]


def _tcp_probe(port: int, *, delay: int) -> Obj:
    return {
        "tcpSocket": {"port": port},
        "initialDelaySeconds": delay,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 6,
    }

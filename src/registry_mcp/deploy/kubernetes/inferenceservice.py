"""A KServe-backed model on Kubernetes: one InferenceService (``serving.kserve.io/v1beta1``)
whose custom predictor runs our image with ``python -m serving.kserve.server``, in place of
the ``ts-<model>`` Deployment of a TorchServe-backed model.

What the predictor's pod shares with a TorchServe pod (``workloads.torchserve_objects``):
the init container ``modelreg k8s archives`` with the registry's read-only DSN (here writing
the server's load plan, ``--kserve-load-out``), the pod and container security context, and
models.yaml's replicas, CPU and memory. What differs:

- **The versions come from the pod's own annotations**, through the downward API:
  ``modelreg.io/production`` and ``modelreg.io/versions``, which Terraform sets on the
  InferenceService (``terraform/``) and KServe copies into the predictor's pod template. So
  each Knative revision carries the versions it was created with, and a pod of an older
  revision that restarts during a canary loads that revision's versions again, not the
  newest ones (an ``envFrom`` of the mutable ConfigMap would).
- **Knative deployment mode** (annotation ``serving.kserve.io/deploymentMode: Knative``):
  KServe's ``canaryTrafficPercent`` splits traffic between the latest revision and the last
  one that took all of it only in this mode; Terraform sets it (``canary_percent``).
- The OIP health endpoints are the probes; the management API keeps its bearer token
  (Secret ``modelreg-kserve``, key ``token``, at least 32 characters).

The router reaches it at ``http://ks-<model>-predictor`` (port 80 of the Service KServe
creates for the predictor), ``backend: kserve`` in its table.
"""

from __future__ import annotations

from typing import Any, Literal

from registry_mcp.deploy.kubernetes.workloads import (
    COMPONENT,
    GPU_IMAGE_TAG,
    GPU_NODE_SELECTOR,
    GPU_TOLERATIONS,
    IMAGE,
    PART_OF,
    Obj,
    container_security,
    empty_dir,
    http_probe,
    image_ref,
    labels,
    pod_security,
    registry_env,
    resource_block,
)
from serving.config import ModelConfig

Backend = Literal["torchserve", "kserve"]

API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"
DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
DEPLOYMENT_MODE = "Knative"
#: Set by Terraform on the InferenceService; KServe copies them into the predictor's pods.
PRODUCTION_ANNOTATION = "modelreg.io/production"
VERSIONS_ANNOTATION = "modelreg.io/versions"
KSERVE_PORT = 8080  # KServe's default container port for a custom predictor
QUEUE_PROXY_PORT = 8012  # Knative's queue-proxy sidecar: where Knative sends the requests
KSERVE_SECRET = "modelreg-kserve"  # key: token, the management API's bearer token
KSERVE_HOME = "/srv/kserve"
KSERVE_STORE = f"{KSERVE_HOME}/model-store"
KSERVE_WORK = f"{KSERVE_HOME}/work"
LOAD_DIR = "/srv/kserve-load"
TOKEN_DIR = "/etc/modelreg-kserve"
#: The Python of the image's KServe environment (kserve pins libraries of its own).
KSERVE_PYTHON = "/opt/kserve/bin/python"


def backend_of(model: ModelConfig) -> Backend:
    """models.yaml's ``backend`` of a model; torchserve when the schema has no such key."""
    value = getattr(model, "backend", "torchserve")
    if value == "kserve":
        return "kserve"
    if value == "torchserve":
        return "torchserve"
    raise ValueError(f"model {model.name!r}: unknown backend {value!r}")


def inference_service_name(k8s: str) -> str:
    return f"ks-{k8s}"


def predictor_service(k8s: str) -> str:
    """The Service KServe creates for the predictor (``constants.PredictorServiceName``)."""
    return f"{inference_service_name(k8s)}-predictor"


def _annotation_env(name: str, annotation: str) -> Obj:
    return {
        "name": name,
        "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{annotation}']"}},
    }


def inference_service(model: ModelConfig, k8s: str) -> Obj:
    """The model's InferenceService: no version data (Terraform's annotations carry it)."""
    name = inference_service_name(k8s)
    res = model.kubernetes
    load_file = f"{LOAD_DIR}/load.json"
    fetch: Obj = {
        "name": "fetch-archives",
        "image": image_ref(),
        # The TorchServe pods' command, writing the KServe server's load plan instead of a
        # TorchServe config: the archives of $(VERSIONS), $(PRODUCTION) the default.
        "command": ["modelreg", "k8s", "archives"],
        "args": [
            "--model",
            model.name,
            "--out",
            KSERVE_STORE,
            "--versions",
            "$(VERSIONS)",
            "--production",
            "$(PRODUCTION)",
            "--kserve-load-out",
            load_file,
        ],
        "env": [
            _annotation_env("PRODUCTION", PRODUCTION_ANNOTATION),
            _annotation_env("VERSIONS", VERSIONS_ANNOTATION),
            *registry_env(),  # the read-only DSN, as a TorchServe pod's init container
        ],
        "resources": resource_block("250m", "512Mi", "1", "2Gi"),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "model-store", "mountPath": KSERVE_STORE},
            {"name": "kserve-load", "mountPath": LOAD_DIR},
            {"name": "modelreg-home", "mountPath": "/var/lib/modelreg"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    serve: Obj = {
        "name": "kserve-container",
        "image": image_ref(),
        "command": [KSERVE_PYTHON, "-m", "serving.kserve.server"],
        "args": [
            "--host",
            "0.0.0.0",  # the pod's interfaces; the management API still needs the token
            "--port",
            str(KSERVE_PORT),
            "--model-store",
            KSERVE_STORE,
            "--work-dir",
            KSERVE_WORK,
            "--token-file",
            f"{TOKEN_DIR}/token",
            "--load",
            load_file,
        ],
        "env": [
            {"name": "TMPDIR", "value": "/tmp"},
            {"name": "MLFLOW_DISABLE_TELEMETRY", "value": "true"},
        ],
        "ports": [{"name": "http1", "containerPort": KSERVE_PORT, "protocol": "TCP"}],
        "resources": resource_block(
            res.cpu, res.memory, res.limits.cpu or res.cpu, res.limits.memory or res.memory
        ),
        "readinessProbe": http_probe("/v2/health/ready", KSERVE_PORT, delay=10),
        "livenessProbe": http_probe("/v2/health/live", KSERVE_PORT, delay=60, period=30),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "kserve-home", "mountPath": KSERVE_HOME},
            {"name": "model-store", "mountPath": KSERVE_STORE},
            {"name": "kserve-load", "mountPath": LOAD_DIR, "readOnly": True},
            {"name": "kserve-token", "mountPath": TOKEN_DIR, "readOnly": True},
            # The image user's home: whatever a library caches there stays off the
            # read-only root filesystem.
            {"name": "modelreg-home", "mountPath": "/var/lib/modelreg"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    volumes = [
        empty_dir("kserve-home"),
        empty_dir("model-store", "10Gi"),
        empty_dir("kserve-load", "1Mi"),
        empty_dir("modelreg-home"),
        empty_dir("tmp", "4Gi"),
        {
            "name": "kserve-token",
            "secret": {"secretName": KSERVE_SECRET, "items": [{"key": "token", "path": "token"}]},
        },
    ]
    predictor: dict[str, Any] = {
        # A fixed size like a TorchServe Deployment's replicas (maxReplicas 0 would mean
        # "no limit" to KServe, so a parked model keeps a maximum of one).
        "minReplicas": res.replicas,
        "maxReplicas": max(res.replicas, 1),
        "labels": labels("kserve", name, model.name),
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
        "initContainers": [fetch],
        "containers": [serve],
        "volumes": volumes,
    }
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "labels": labels("kserve", name, model.name),
            "annotations": {DEPLOYMENT_MODE_ANNOTATION: DEPLOYMENT_MODE},
        },
        "spec": {"predictor": predictor},
    }


def inference_service_gpu_patch(k8s: str, gpus: int) -> tuple[list[Obj], Obj]:
    """The gpu overlay's JSON patch of a KServe-backed model (and its target): the GPU limit,
    node selector and toleration of ``workloads.gpu_patch`` and the CUDA image on the server
    container. A JSON patch, not a strategic merge: kustomize merges a custom resource's
    lists by replacing them whole, which would drop the container's other fields."""
    container = "/spec/predictor/containers/0"
    ops: list[Obj] = [
        {"op": "replace", "path": f"{container}/image", "value": f"{IMAGE}:{GPU_IMAGE_TAG}"},
        {"op": "add", "path": f"{container}/resources/limits/nvidia.com~1gpu", "value": str(gpus)},
        {
            "op": "add",
            "path": f"{container}/resources/requests/nvidia.com~1gpu",
            "value": str(gpus),
        },
        {"op": "add", "path": "/spec/predictor/nodeSelector", "value": GPU_NODE_SELECTOR},
        {"op": "add", "path": "/spec/predictor/tolerations", "value": GPU_TOLERATIONS},
    ]
    target = {"group": "serving.kserve.io", "version": "v1beta1", "kind": KIND}
    return ops, {**target, "name": inference_service_name(k8s)}


def kserve_network_policy() -> Obj:
    """Ingress of the predictor pods. In Knative mode requests arrive through Knative's
    gateway and activator (other namespaces, unknown here), at the queue-proxy's port 8012,
    so the cluster is admitted there; 8080 (the server: OIP, ``/metrics``, the management
    API behind its token) is admitted from the cluster too, for Prometheus. Unlike
    TorchServe's, this policy does not keep other pods from predicting directly."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "kserve-ingress", "labels": {PART_OF: "modelreg"}},
        "spec": {
            "podSelector": {"matchLabels": {COMPONENT: "kserve"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"namespaceSelector": {}}],
                    "ports": [
                        {"protocol": "TCP", "port": QUEUE_PROXY_PORT},
                        {"protocol": "TCP", "port": KSERVE_PORT},
                    ],
                }
            ],
        },
    }

"""Invariants of the rendered overlays (parsed from `kubectl kustomize` output), and the
committed k8s/ tree being exactly what `modelreg k8s render --no-registry` writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from registry_mcp.cli.app import app, run
from registry_mcp.deploy.kubernetes.desired import ModelVersions, k8s_name
from tests.k8s.conftest import K8S, OVERLAYS, by_kind, packaged, render_into

Docs = dict[str, list[dict[str, Any]]]
WORKLOADS = ("Deployment", "StatefulSet")


def _pods(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(d["metadata"]["name"], d["spec"]["template"]) for d in docs if d["kind"] in WORKLOADS]


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_committed_tree_is_the_packaged_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELREG_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MODELREG_MODELS_CONFIG", raising=False)
    out = tmp_path / "k8s"
    try:
        run(lambda: app(["k8s", "render", "--no-registry", "--out", str(out)], prog_name="m"))
    except SystemExit as exc:
        assert exc.code in (0, None), capsys.readouterr().err
    assert _files(out) == _files(K8S), "k8s/ is stale: run `modelreg k8s render --no-registry`"
    again = tmp_path / "again"
    render_into(again)
    assert _files(again) == _files(out)  # deterministic


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_model_deployments_match_models_yaml(repo_overlays: Docs, overlay: str) -> None:
    config = packaged()
    deployments = by_kind(repo_overlays[overlay], "Deployment")
    for name, model in config.models.items():
        res = model.kubernetes
        deployment = deployments[f"ts-{k8s_name(name)}"]
        assert deployment["spec"]["replicas"] == res.replicas
        pod = deployment["spec"]["template"]["spec"]
        (serve,) = [c for c in pod["containers"] if c["name"] == "torchserve"]
        resources = serve["resources"]
        gpus = res.gpu if overlay == "gpu" else 0
        want_limits = {"cpu": res.limits.cpu or res.cpu, "memory": res.limits.memory or res.memory}
        want_requests = {"cpu": res.cpu, "memory": res.memory}
        if gpus:
            want_limits["nvidia.com/gpu"] = want_requests["nvidia.com/gpu"] = str(gpus)
            assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
            assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
            # Fits a pool of exactly `replicas` GPUs: an old pod goes before a new one starts.
            assert deployment["spec"]["strategy"] == {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
            }
        else:
            assert "strategy" not in deployment["spec"]
            assert "nodeSelector" not in pod
            assert "tolerations" not in pod
        assert resources == {"limits": want_limits, "requests": want_requests}
    assert any(m.kubernetes.gpu for m in config.models.values())  # the gpu case is exercised
    # Only a GPU model's TorchServe container runs the CUDA image; everything else the CPU one.
    images = {
        (name, c["name"]): c["image"]
        for name, d in deployments.items()
        for c in d["spec"]["template"]["spec"].get("initContainers", [])
        + d["spec"]["template"]["spec"]["containers"]
    }
    cuda = {key for key, image in images.items() if image == "modelreg:0.1.0-cuda"}
    gpu_models = {f"ts-{k8s_name(n)}" for n, m in config.models.items() if m.kubernetes.gpu}
    assert cuda == ({(d, "torchserve") for d in gpu_models} if overlay == "gpu" else set())
    assert set(images.values()) - {"modelreg:0.1.0-cuda"} == {"modelreg:0.1.0"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_limited_probed_and_unprivileged(
    repo_overlays: Docs, overlay: str
) -> None:
    pods = _pods(repo_overlays[overlay])
    assert len(pods) >= 7  # 3 models, router, MCP, MLflow, PostgreSQL
    for name, template in pods:
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] >= 10000, name
        assert spec["automountServiceAccountToken"] is False, name
        writable = {v["name"] for v in spec["volumes"] if "emptyDir" in v or "ephemeral" in v}
        writable |= {v["name"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
        claims = template.get("volumeClaimTemplates", [])
        writable |= {c["metadata"]["name"] for c in claims}
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = f"{name}/{container['name']}"
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            if container in spec["containers"]:
                assert "readinessProbe" in container, where
                assert "livenessProbe" in container, where
            mounts = container.get("volumeMounts", [])
            assert "/tmp" in {m["mountPath"] for m in mounts}, where  # writable scratch
            for mount in mounts:
                assert mount.get("readOnly") or mount["name"] in writable | {"data"}, where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_disruption_budget_and_spreads(
    repo_overlays: Docs, overlay: str
) -> None:
    """A drain evicts at most one pod of each Deployment at a time, and a Deployment's
    replicas spread over nodes and zones; a budget never selects pods of another workload."""
    docs = repo_overlays[overlay]
    deployments = by_kind(docs, "Deployment")
    budgets = by_kind(docs, "PodDisruptionBudget")
    assert len(deployments) >= 7  # 3 models, router, MCP, MLflow, exporter
    assert set(budgets) == set(deployments)
    for name, deployment in deployments.items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        budget = budgets[name]["spec"]
        assert budget["maxUnavailable"] == 1, name  # minAvailable 1 would block drains
        assert budget["selector"]["matchLabels"] == selector, name
        others = [
            d["metadata"]["name"]
            for d in deployments.values()
            if d is not deployment
            and selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert others == [], name
        spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {
            "kubernetes.io/hostname",
            "topology.kubernetes.io/zone",
        }, name
        for constraint in spread:
            assert constraint["labelSelector"]["matchLabels"] == selector, name
            assert constraint["maxSkew"] == 1, name
            # A one-node cluster still schedules every replica.
            assert constraint["whenUnsatisfiable"] == "ScheduleAnyway", name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_management_port_stays_inside_and_secrets_are_referenced(
    repo_overlays: Docs, overlay: str
) -> None:
    docs = repo_overlays[overlay]
    assert by_kind(docs, "Secret") == {}  # referenced, never rendered
    for name, service in by_kind(docs, "Service").items():
        assert service["spec"]["type"] == "ClusterIP", name
        ports = {p["port"] for p in service["spec"]["ports"]}
        if 8081 in ports:
            assert name.endswith("-management"), name
            assert ports == {8081}, name
    for name in packaged().models:
        ts = f"ts-{k8s_name(name)}"
        assert {p["port"] for p in by_kind(docs, "Service")[ts]["spec"]["ports"]} == {8080, 8082}
    policy = by_kind(docs, "NetworkPolicy")["torchserve-ingress"]["spec"]
    assert policy["podSelector"]["matchLabels"] == {"app.kubernetes.io/component": "torchserve"}
    assert policy["policyTypes"] == ["Ingress"]
    # TorchServe runs without token authorization on the cluster: this policy is the boundary.
    # Only the router's pods reach inference and management; metrics (no token anyway) are
    # open to the cluster for Prometheus.
    router = by_kind(docs, "Deployment")["modelreg-router"]["spec"]["selector"]["matchLabels"]
    assert router == {
        "app.kubernetes.io/component": "router",
        "app.kubernetes.io/name": "modelreg-router",
    }
    router_pods = [{"podSelector": {"matchLabels": router}}]
    by_port = {p["port"]: rule["from"] for rule in policy["ingress"] for p in rule["ports"]}
    assert by_port == {8080: router_pods, 8081: router_pods, 8082: [{"namespaceSelector": {}}]}
    # Every workload has a policy selecting it.
    selected = {
        p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for p in by_kind(docs, "NetworkPolicy").values()
    }
    components = {t["metadata"]["labels"]["app.kubernetes.io/component"] for _, t in _pods(docs)}
    assert components <= selected


def test_torchserve_config_is_the_hardened_one(repo_overlays: Docs) -> None:
    maps = by_kind(repo_overlays["cpu"], "ConfigMap")
    (name,) = [n for n in maps if n.startswith("torchserve-config-")]
    props = dict(
        line.split("=", 1)
        for line in maps[name]["data"]["config.properties"].splitlines()
        if line and not line.startswith("#")
    )
    # Off on the cluster: every TorchServe pod draws random keys at start that the router
    # (another pod, in front of several replicas) cannot know; the NetworkPolicy is the
    # boundary (test above). Local serving keeps token authorization on (serving.local).
    assert props["disable_token_authorization"] == "true"
    assert props["enable_envvars_config"] == "false"
    # only archives in the pod's model store (a Java regex, escaped for .properties)
    assert props["allowed_urls"] == r"file:///srv/torchserve/model\\-store/[A-Za-z0-9_.-]+\\.mar"
    assert props["metrics_mode"] == "prometheus"
    assert props["inference_address"] == "http://0.0.0.0:8080"
    assert props["grpc_management_address"] == "127.0.0.1"


def test_torchserve_starts_from_the_config_the_init_container_writes(repo_overlays: Docs) -> None:
    deployments = by_kind(repo_overlays["cpu"], "Deployment")
    keys = set(ModelVersions().configmap_data())  # the keys Terraform's ConfigMap also holds
    for name in packaged().models:
        pod = deployments[f"ts-{k8s_name(name)}"]["spec"]["template"]["spec"]
        (init,) = pod["initContainers"]
        (serve,) = [c for c in pod["containers"] if c["name"] == "torchserve"]
        assert init["command"] == ["modelreg", "k8s", "archives"]
        args = dict(zip(init["args"][::2], init["args"][1::2], strict=True))
        assert args["--model"] == name
        assert args["--versions"] == "$(VERSIONS)"
        assert args["--production"] == "$(PRODUCTION)"  # a Terraform rollback moves it too
        assert {"VERSIONS", "PRODUCTION"} <= keys
        written = args["--ts-config-out"]
        assert serve["args"] == ["--start", "--foreground", "--ncs", "--ts-config", written]
        volumes = {v["name"]: v for v in pod["volumes"]}

        def mount(container: dict[str, Any], path: str) -> dict[str, Any]:
            (found,) = [
                m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/")
            ]
            return found

        # The shared, hardened config comes read-only from its ConfigMap.
        base = mount(init, args["--ts-config-base"])
        assert base.get("readOnly") is True
        assert volumes[base["name"]]["configMap"]["name"].startswith("torchserve-config")
        # The written one lives in an emptyDir: writable for the init container only.
        out = mount(init, written)
        assert "emptyDir" in volumes[out["name"]]
        assert not out.get("readOnly")
        assert mount(serve, written) == {**out, "readOnly": True}
        assert mount(init, args["--out"] + "/x")["name"] == "model-store"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_read_the_versions_terraform_owns(repo_overlays: Docs, overlay: str) -> None:
    """The TorchServe pods take their versions from Terraform's ConfigMap only (no second
    source), and the routers mount Terraform's table as a directory, which the kubelet
    updates in place (a subPath mount never changes), and follow it."""
    deployments = by_kind(repo_overlays[overlay], "Deployment")
    for name in packaged().models:
        k8s = k8s_name(name)
        pod = deployments[f"ts-{k8s}"]["spec"]["template"]["spec"]
        (init,) = pod["initContainers"]
        assert init["envFrom"] == [{"configMapRef": {"name": f"model-versions-{k8s}"}}]
    router = deployments["modelreg-router"]["spec"]["template"]
    assert "annotations" not in router["metadata"]  # a promotion restarts no router pod
    (container,) = router["spec"]["containers"]
    args = container["args"]
    assert "--follow-table" in args
    table = args[args.index("--initial-table") + 1]
    volumes = {v["name"]: v for v in router["spec"]["volumes"]}
    (mount,) = [m for m in container["volumeMounts"] if table.startswith(m["mountPath"] + "/")]
    assert "subPath" not in mount
    assert volumes[mount["name"]]["configMap"] == {"name": "router-table"}


@pytest.mark.parametrize("group", ["k8s", "tf"])
def test_new_command_groups_start_light(group: str) -> None:
    from tests.test_cli_startup import HEAVY, probe

    code, imported = probe(group, "--help")
    assert code == 0
    assert imported & (HEAVY | {"sqlalchemy"}) == set()

"""A kserve-backed model on Kubernetes (fixture: the packaged models.yaml with mnist-cnn on
KServe, written from the packaged file so that it follows its changes): an InferenceService
in place of its TorchServe Deployment, valid against the vendored KServe CRD (strictly), its
pod built like a TorchServe pod's, the gpu overlay's JSON patch, the router's table pointing
at the predictor Service, Terraform's tfvars and module for it, and checkov on the rendered
tree."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from registry_mcp.deploy.kubernetes import inferenceservice as isvc
from registry_mcp.deploy.kubernetes.desired import DesiredVersions, ModelVersions
from registry_mcp.deploy.kubernetes.routertable import router_table
from registry_mcp.deploy.kubernetes.tfvars import (
    build_tfvars,
    kserve_canaries,
    parse_canary,
    tfvars_text,
)
from registry_mcp.domain.errors import ErrorCode, RegistryError
from serving.config import ModelsConfig, load_models_config
from tests.k8s import kserve_crd
from tests.k8s.conftest import (
    KUBE_VERSION,
    OVERLAYS,
    PACKAGED,
    ROOT,
    TERRAFORM,
    by_kind,
    kustomize,
    need,
    packaged,
    render_into,
    run,
)

KSERVE_MODEL = "mnist-cnn"
Docs = dict[str, list[dict[str, Any]]]


def write_kserve_models(path: Path) -> Path:
    """The packaged models.yaml with ``backend: kserve`` under mnist-cnn (whose TorchServe
    settings then do not apply and are removed)."""
    import yaml  # type: ignore[import-untyped]

    data = yaml.safe_load(PACKAGED.read_text(encoding="utf-8"))
    data["models"][KSERVE_MODEL]["backend"] = "kserve"
    data["models"][KSERVE_MODEL].pop("torchserve", None)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> ModelsConfig:
    return load_models_config(write_kserve_models(tmp_path_factory.mktemp("models") / "m.yaml"))


@pytest.fixture(scope="module")
def overlays(config: ModelsConfig, tmp_path_factory: pytest.TempPathFactory) -> Docs:
    tree = render_into(tmp_path_factory.mktemp("k8s-kserve"), config)
    return {overlay: kustomize(tree / "overlays" / overlay) for overlay in OVERLAYS}


def _services(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return by_kind(docs, "InferenceService")


def test_the_fixture_differs_from_the_packaged_file_only_by_the_backend_and_its_settings(
    config: ModelsConfig,
) -> None:
    assert isvc.backend_of(config.get(KSERVE_MODEL)) == "kserve"
    assert [m for m in config.models if isvc.backend_of(config.get(m)) == "kserve"] == [
        KSERVE_MODEL
    ]
    shipped = packaged().models[KSERVE_MODEL]
    moved = config.models[KSERVE_MODEL].model_copy(
        update={"backend": "torchserve", "torchserve": shipped.torchserve}
    )
    assert moved == shipped
    assert all(isvc.backend_of(m) == "torchserve" for m in packaged().models.values())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_kserve_model_is_an_inference_service_instead_of_a_deployment(
    overlays: Docs, overlay: str
) -> None:
    docs = overlays[overlay]
    assert sorted(_services(docs)) == ["ks-mnist-cnn"]
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for kind in ("Deployment", "Service", "PodDisruptionBudget"):
        assert (kind, "ts-mnist-cnn") not in names
        assert (kind, "ts-mnist-classifier") in names  # the others stay on TorchServe
    assert ("Service", "ts-mnist-cnn-management") not in names
    assert ("NetworkPolicy", "kserve-ingress") in names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_inference_service_is_valid_against_the_vendored_crd(
    overlays: Docs, overlay: str
) -> None:
    services = _services(overlays[overlay])
    assert services
    for doc in services.values():
        assert kserve_crd.problems(doc) == []


def test_the_vendored_crd_is_the_recorded_release() -> None:
    assert kserve_crd.crd_sha256() == kserve_crd.CRD_SHA256
    recorded = (ROOT / "vendor" / "kserve" / "README.md").read_text(encoding="utf-8")
    assert f"`{kserve_crd.CRD_SHA256}`" in recorded
    assert "| Release | v0.20.0 " in recorded


def test_strict_validation_refuses_unknown_fields_and_wrong_types(overlays: Docs) -> None:
    (good,) = _services(overlays["cpu"]).values()
    typo = copy.deepcopy(good)
    typo["spec"]["predictor"]["minReplica"] = 2
    assert any("minReplica" in p for p in kserve_crd.problems(typo))
    nested = copy.deepcopy(good)
    nested["spec"]["predictor"]["containers"][0]["readinesProbe"] = {}
    assert any("readinesProbe" in p for p in kserve_crd.problems(nested))
    wrong_type = copy.deepcopy(good)
    wrong_type["spec"]["predictor"]["minReplicas"] = "two"
    assert any(p.startswith("spec.predictor.minReplicas:") for p in kserve_crd.problems(wrong_type))
    canary = copy.deepcopy(good)
    canary["spec"]["predictor"]["canaryTrafficPercent"] = 10  # the field Terraform sets
    assert kserve_crd.problems(canary) == []
    bad_name = copy.deepcopy(good)
    bad_name["metadata"]["name"] = "9-cnn"
    assert any(p.startswith("metadata.name:") for p in kserve_crd.problems(bad_name))


def test_kubernetes_validate_checks_the_rest_and_cannot_check_a_crd(
    overlays: Docs, tmp_path: Path
) -> None:
    """Why the CRD is checked with jsonschema: kubernetes-validate only warns that it has no
    schema for an InferenceService; every other object still passes --strict."""
    import yaml  # type: ignore[import-untyped]

    tool = need("kubernetes-validate", str(Path(sys.executable).parent / "kubernetes-validate"))
    docs = overlays["gpu"]
    path = tmp_path / "gpu.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    out = run([tool, "--strict", "-k", KUBE_VERSION, str(path)])
    passed = [line for line in out.splitlines() if " passed for resource " in line]
    assert len(passed) == len(docs) - 1
    assert re.search(r"WARN .*InferenceService", out), out


def test_the_predictor_pod_is_built_like_a_torchserve_pod(
    config: ModelsConfig, overlays: Docs
) -> None:
    doc = _services(overlays["cpu"])["ks-mnist-cnn"]
    deployment = by_kind(overlays["cpu"], "Deployment")["ts-mnist-classifier"]
    ts_pod = deployment["spec"]["template"]["spec"]
    meta, predictor = doc["metadata"], doc["spec"]["predictor"]
    assert meta["namespace"] == "modelreg"
    assert meta["annotations"] == {"serving.kserve.io/deploymentMode": "Knative"}
    assert "canaryTrafficPercent" not in predictor  # Terraform's field, never kustomize's
    assert predictor["labels"]["modelreg.io/model"] == KSERVE_MODEL
    res = config.get(KSERVE_MODEL).kubernetes
    assert predictor["minReplicas"] == predictor["maxReplicas"] == res.replicas
    for key in ("securityContext", "automountServiceAccountToken"):
        assert predictor[key] == ts_pod[key]
    (fetch,) = predictor["initContainers"]
    (ts_fetch,) = ts_pod["initContainers"]
    assert fetch["command"] == ts_fetch["command"] == ["modelreg", "k8s", "archives"]
    args = fetch["args"]
    assert args[args.index("--versions") + 1] == "$(VERSIONS)"
    assert args[args.index("--production") + 1] == "$(PRODUCTION)"
    load = args[args.index("--kserve-load-out") + 1]
    env = {e["name"]: e for e in fetch["env"]}
    assert env["PRODUCTION"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['modelreg.io/production']"
    )
    assert env["VERSIONS"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['modelreg.io/versions']"
    )
    # The read-only DSN, as a TorchServe pod's init container: never the writers' Secret.
    assert (
        env["MLFLOW_REGISTRY_URI"] == {e["name"]: e for e in ts_fetch["env"]}["MLFLOW_REGISTRY_URI"]
    )
    assert "envFrom" not in fetch  # the versions come from the revision, not a mutable ConfigMap
    (server,) = predictor["containers"]
    assert server["command"][1:] == ["-m", "serving.kserve.server"]
    sargs = server["args"]
    assert sargs[sargs.index("--host") + 1] == "0.0.0.0"
    assert sargs[sargs.index("--load") + 1] == load
    token = sargs[sargs.index("--token-file") + 1]
    mounts = {m["mountPath"]: m for m in server["volumeMounts"]}
    assert mounts[str(Path(token).parent)]["readOnly"] is True
    volumes = {v["name"]: v for v in predictor["volumes"]}
    token_volume = volumes[mounts[str(Path(token).parent)]["name"]]
    assert token_volume["secret"]["secretName"] == "modelreg-kserve"
    assert server["resources"] == {
        "requests": {"cpu": res.cpu, "memory": res.memory},
        "limits": {"cpu": res.limits.cpu, "memory": res.limits.memory},
    }
    port = server["ports"][0]["containerPort"]
    assert server["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": port}
    assert server["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": port}
    for container in (fetch, server):
        assert container["securityContext"] == ts_fetch["securityContext"]
        assert container["resources"]["limits"]
        assert container["resources"]["requests"]


def test_terraform_writes_the_annotations_the_pod_reads() -> None:
    """The annotation names the predictor's pods read are the ones the module sets."""
    module = (TERRAFORM / "modules" / "model-versions" / "main.tf").read_text(encoding="utf-8")
    for name in (isvc.PRODUCTION_ANNOTATION, isvc.VERSIONS_ANNOTATION):
        assert f'"{name}"' in module
    root = (TERRAFORM / "main.tf").read_text(encoding="utf-8")
    assert 'kind        = "InferenceService"' in root
    assert "canaryTrafficPercent = each.value.canary_traffic_percent" in root
    assert 'name      = "ks-${local.k8s_names[each.key]}"' in root


def test_the_gpu_overlay_patches_the_inference_service(overlays: Docs) -> None:
    cpu = _services(overlays["cpu"])["ks-mnist-cnn"]["spec"]["predictor"]
    gpu = _services(overlays["gpu"])["ks-mnist-cnn"]["spec"]["predictor"]
    (server,) = gpu["containers"]
    assert server["image"] == "modelreg:0.1.0-cuda"
    assert server["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert server["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert gpu["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert gpu["tolerations"][0]["key"] == "nvidia.com/gpu"
    # Everything else is the cpu overlay's: the JSON patch replaced no list whole.
    assert gpu["initContainers"] == cpu["initContainers"]
    assert gpu["initContainers"][0]["image"] == "modelreg:0.1.0"
    same = {k: v for k, v in server.items() if k not in ("image", "resources")}
    assert same == {
        k: v for k, v in cpu["containers"][0].items() if k not in ("image", "resources")
    }


def _desired() -> DesiredVersions:
    return DesiredVersions(
        models={
            KSERVE_MODEL: ModelVersions(production=2, previous=1, change_id=7),
            "mnist-classifier": ModelVersions(production=1),
        }
    )


def test_the_router_table_points_at_the_predictor_service(config: ModelsConfig) -> None:
    rendered = router_table(config, _desired(), sorted(config.models), None)
    data = json.loads(rendered.text())
    assert data["models"][KSERVE_MODEL]["upstream"] == {
        "backend": "kserve",
        "inference_url": "http://ks-mnist-cnn-predictor",
        "management_url": "http://ks-mnist-cnn-predictor",
    }
    assert data["models"][KSERVE_MODEL]["production"] == 2
    assert data["models"]["mnist-classifier"]["upstream"] == {
        "inference_url": "http://ts-mnist-classifier:8080",
        "management_url": "http://ts-mnist-classifier-management:8081",
        "backend": "torchserve",
    }


def test_tfvars_carry_the_backend_and_the_canary(config: ModelsConfig) -> None:
    models = sorted(config.models)
    text = tfvars_text(build_tfvars(config, _desired(), models, None, {KSERVE_MODEL: 10}))
    data = json.loads(text)["models"]
    assert data[KSERVE_MODEL]["backend"] == "kserve"
    assert data[KSERVE_MODEL]["canary_percent"] == 10
    # Defaults stay out: a TorchServe-only platform's file reads as before.
    assert "backend" not in data["mnist-classifier"]
    assert "canary_percent" not in data["mnist-classifier"]
    base = packaged()
    plain = tfvars_text(build_tfvars(base, DesiredVersions(), sorted(base.models)))
    assert plain == (TERRAFORM / "model_versions.auto.tfvars.json").read_text()


def test_the_module_accepts_what_tf_vars_writes(config: ModelsConfig, tmp_path: Path) -> None:
    import shutil

    tf = need("terraform")
    work = tmp_path / "model-versions"
    shutil.copytree(TERRAFORM / "modules" / "model-versions", work)
    run([tf, "init", "-input=false", "-no-color"], cwd=work)
    tfvars = build_tfvars(config, _desired(), sorted(config.models), None, {KSERVE_MODEL: 10})
    (work / "k.tfvars.json").write_text(tfvars_text(tfvars))
    apply = [tf, "apply", "-auto-approve", "-input=false", "-no-color", "-var-file=k.tfvars.json"]
    run(apply, cwd=work)
    outputs = json.loads(run([tf, "output", "-json", "-no-color"], cwd=work))
    services = outputs["inference_services"]["value"]
    assert services == {
        KSERVE_MODEL: {
            "annotations": {
                "modelreg.io/production": "2",
                "modelreg.io/versions": "1,2",
                "checksum/model-versions": _desired().of(KSERVE_MODEL).checksum(),
            },
            "canary_traffic_percent": 10,
        }
    }
    assert KSERVE_MODEL not in outputs["annotations"]["value"]


def _refused(call: Any) -> str:
    with pytest.raises(RegistryError) as caught:
        call()
    assert caught.value.code is ErrorCode.INVALID_INPUT
    message = str(caught.value)
    assert "\n" not in message
    assert "Traceback" not in message
    return message


def test_a_kserve_canary_needs_the_version_in_the_revision_it_splits_with(
    config: ModelsConfig,
) -> None:
    models = sorted(config.models)
    before_staging = build_tfvars(
        config,
        DesiredVersions(models={KSERVE_MODEL: ModelVersions(production=1, staging=2)}),
        models,
    )
    before_without = build_tfvars(
        config, DesiredVersions(models={KSERVE_MODEL: ModelVersions(production=1)}), models
    )
    asked = {KSERVE_MODEL: 10}
    # v2 was Staging: loaded by the revision before, so both revisions answer for v2.
    assert kserve_canaries(config, _desired(), models, before_staging, asked) == asked
    message = _refused(lambda: kserve_canaries(config, _desired(), models, before_without, asked))
    assert "does not load v2" in message
    assert "promote v2 to Staging" in message
    _refused(lambda: kserve_canaries(config, _desired(), models, None, asked))
    # 0 (every request back to the previous revision) needs nothing loaded before.
    assert kserve_canaries(config, _desired(), models, None, {KSERVE_MODEL: 0}) == {KSERVE_MODEL: 0}
    message = _refused(
        lambda: kserve_canaries(config, _desired(), models, None, {"mnist-classifier": 10})
    )
    assert "torchserve-backed" in message
    assert "no model" in _refused(
        lambda: kserve_canaries(config, _desired(), models, None, {"nope": 10})
    )
    assert "from 0 to 100" in _refused(
        lambda: kserve_canaries(config, _desired(), models, before_staging, {KSERVE_MODEL: 101})
    )
    assert parse_canary("mnist-cnn=10") == ("mnist-cnn", 10)
    for bad in ("mnist-cnn", "mnist-cnn=ten", "=10", "mnist-cnn=-1"):
        assert "MODEL=PERCENT" in _refused(lambda bad=bad: parse_canary(bad))


def test_checkov_finds_nothing_in_the_kserve_tree(overlays: Docs, tmp_path: Path) -> None:
    import yaml

    from tests.k8s.test_validate_and_scan import CHECKOV, _skips_in_config

    tool = need("checkov", str(CHECKOV))
    for overlay in OVERLAYS:
        (tmp_path / f"{overlay}.yaml").write_text(
            yaml.safe_dump_all(overlays[overlay], sort_keys=False), encoding="utf-8"
        )
    args = [tool, "--config-file", str(ROOT / ".checkov.yaml"), "--output", "json"]
    done = subprocess.run(
        [*args, "--framework", "kubernetes", "-d", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(done.stdout)
    results = report["results"]
    failed = [(c["check_id"], c["resource"]) for c in results.get("failed_checks", [])]
    assert failed == []
    assert {c["check_id"] for c in results.get("skipped_checks", [])} <= set(_skips_in_config())
    assert report["summary"]["passed"] > 0

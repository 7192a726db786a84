"""terraform/: the built-ins module under `terraform test` (offline); the owner split (the
ConfigMaps Terraform owns are exactly the fixed names the rendered pods reference, and the
kustomize tree holds no version data); its checksum equal to `ModelVersions.checksum`; a
rollback plan that updates the versions and the router's table in place and replaces only
that model's restart trigger (no router restart); bad input and a router table edited apart
from the versions refused with the variable's message. The provider root module is only
`terraform fmt -check`-ed here (its provider cannot be installed offline) and scanned by
checkov."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from registry_mcp.deploy.kubernetes.desired import DesiredVersions, ModelVersions, k8s_name
from registry_mcp.deploy.kubernetes.routertable import router_table
from registry_mcp.deploy.kubernetes.tfvars import TfVars, build_tfvars, tfvars_text
from tests.k8s.conftest import OVERLAYS, TERRAFORM, need, packaged, run

MODULE = TERRAFORM / "modules" / "model-versions"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the module, initialised (no providers: works offline)."""
    tf = need("terraform")
    work = tmp_path_factory.mktemp("tf") / "model-versions"
    shutil.copytree(MODULE, work)
    run([tf, "init", "-input=false", "-no-color"], cwd=work)
    return work


def _tf(work: Path, *args: str) -> str:
    return run([need("terraform"), *args, "-no-color"], cwd=work)


def _vars(work: Path, desired: DesiredVersions, name: str) -> Path:
    config = packaged()
    path = work / name
    path.write_text(tfvars_text(build_tfvars(config, desired, sorted(config.models))))
    return path


def test_terraform_test_scenarios(workdir: Path) -> None:
    out = _tf(workdir, "test")
    assert "24 passed, 0 failed" in out, out


def test_fmt(workdir: Path) -> None:
    _tf(TERRAFORM, "fmt", "-recursive", "-check", "-diff")


def test_committed_tfvars_are_the_packaged_ones() -> None:
    """terraform/model_versions.auto.tfvars.json == `modelreg tf vars --no-registry`."""
    config = packaged()
    fresh = tfvars_text(build_tfvars(config, DesiredVersions(), sorted(config.models)))
    assert (TERRAFORM / "model_versions.auto.tfvars.json").read_text() == fresh


def _plan_changes(work: Path, var_file: Path) -> dict[str, list[str]]:
    _tf(work, "plan", "-input=false", f"-var-file={var_file.name}", "-out=plan.bin")
    plan = json.loads(_tf(work, "show", "-json", "plan.bin"))
    return {
        c["address"]: c["change"]["actions"]
        for c in plan["resource_changes"]
        if c["change"]["actions"] != ["no-op"]
    }


def _plan_refused(work: Path, var_file: Path) -> str:
    """`terraform plan` that must fail; its error text, on one line."""
    done = subprocess.run(
        [need("terraform"), "plan", "-input=false", "-no-color", f"-var-file={var_file.name}"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout
    return " ".join(done.stderr.split())


def _router_table(desired: DesiredVersions) -> str:
    config = packaged()
    return router_table(config, desired, sorted(config.models), None).text()


def _referenced_configmaps(docs: list[dict[str, Any]]) -> set[str]:
    """Every ConfigMap name a pod template of the rendered overlay refers to."""
    found: set[str] = set()
    for doc in docs:
        pod = doc.get("spec", {}).get("template", {}).get("spec")
        if pod is None:
            continue
        for container in pod.get("initContainers", []) + pod["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    found.add(source["configMapRef"]["name"])
        found |= {v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v}
    return found


def test_one_owner_of_the_versions(workdir: Path, repo_overlays: dict[str, Any]) -> None:
    """What Terraform owns and what the kustomize tree holds do not overlap, and every
    ConfigMap a pod needs comes from exactly one of them."""
    desired = DesiredVersions(models={"mnist-classifier": ModelVersions(production=2)})
    var_file = _vars(workdir, desired, "owner.tfvars.json")
    _tf(workdir, "apply", "-input=false", "-auto-approve", f"-var-file={var_file.name}")
    owned = set(json.loads(_tf(workdir, "output", "-json", "configmaps")))
    assert owned == {f"model-versions-{k8s_name(m)}" for m in packaged().models} | {"router-table"}
    for overlay in OVERLAYS:
        docs = repo_overlays[overlay]
        kustomized = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
        assert kustomized & owned == set(), overlay  # kustomize writes none of them
        for name in kustomized:  # and none under a hash-suffixed name either
            assert not name.startswith(("model-versions", "router-table")), name
        assert _referenced_configmaps(docs) <= kustomized | owned
        assert owned <= _referenced_configmaps(docs)  # the pods read all of them
        for doc in docs:  # no version data: no checksum annotation Terraform also writes
            template = doc.get("spec", {}).get("template", {}).get("metadata", {})
            assert "checksum/model-versions" not in template.get("annotations", {})
            assert "checksum/router-table" not in template.get("annotations", {})


def test_same_checksum_as_the_versions_and_rollback_touches_only_versions(workdir: Path) -> None:
    v2 = DesiredVersions(
        models={
            "mnist-classifier": ModelVersions(production=2, previous=1, staging=3),
            "mnist-cnn": ModelVersions(production=1),
        }
    )
    _tf(
        workdir,
        "apply",
        "-input=false",
        "-auto-approve",
        f"-var-file={_vars(workdir, v2, 'v2.tfvars.json').name}",
    )
    before: dict[str, Any] = json.loads(_tf(workdir, "output", "-json"))
    for model in packaged().models:
        # Terraform's sha256(jsonencode(data)) == modelreg's ModelVersions.checksum
        assert before["checksums"]["value"][model] == v2.of(model).checksum()
        assert before["configmap_data"]["value"][model] == v2.of(model).configmap_data()
    # The router's table is modelreg's, byte for byte, in ConfigMap router-table.
    table = _router_table(v2)
    assert before["router_table_data"]["value"] == {"table.json": table}
    assert before["configmaps"]["value"]["router-table"]["data"] == {"table.json": table}
    assert json.loads(table)["models"]["mnist-classifier"]["production"] == 2

    v1 = DesiredVersions(
        models={**v2.models, "mnist-classifier": ModelVersions(production=1, previous=2, staging=3)}
    )
    v1_vars = _vars(workdir, v1, "v1.tfvars.json")
    changes = _plan_changes(workdir, v1_vars)
    # In place: the model's ConfigMap and the router's table; replaced: that model's restart
    # trigger only (its TorchServe pods roll; the routers reload the table, no restart).
    assert changes == {
        'terraform_data.configmap["model-versions-mnist-classifier"]': ["update"],
        'terraform_data.configmap["router-table"]': ["update"],
        'terraform_data.restart["mnist-classifier"]': ["delete", "create"],
    }
    _tf(workdir, "apply", "-input=false", "-auto-approve", f"-var-file={v1_vars.name}")
    after: dict[str, Any] = json.loads(_tf(workdir, "output", "-json"))
    table = after["router_table_data"]["value"]["table.json"]
    assert table == _router_table(v1)
    entry = json.loads(table)["models"]["mnist-classifier"]
    assert (entry["production"], entry["previous"]) == (1, 2)
    assert after["configmap_ids"]["value"] == before["configmap_ids"]["value"]

    # The same versions again: nothing to change.
    assert _plan_changes(workdir, v1_vars) == {}


def test_router_table_edited_apart_from_the_versions_is_refused(workdir: Path) -> None:
    """A rollback written by hand to `models` only: the plan names `modelreg tf vars`."""
    v2 = DesiredVersions(models={"mnist-classifier": ModelVersions(production=2, previous=1)})
    data = json.loads(_vars(workdir, v2, "v2-hand.tfvars.json").read_text())
    data["models"]["mnist-classifier"].update(version=1, previous=2)
    hand = workdir / "hand.tfvars.json"
    hand.write_text(json.dumps(data))
    message = _plan_refused(workdir, hand)
    assert "router_table disagrees with models" in message
    assert "modelreg tf vars" in message


def test_tfvars_read_back_with_and_without_router_table() -> None:
    config = packaged()
    desired = DesiredVersions(models={"mnist-classifier": ModelVersions(production=2)})
    written = build_tfvars(config, desired, sorted(config.models))
    assert written.router_table == _router_table(desired)
    assert TfVars.model_validate_json(tfvars_text(written)) == written
    older = json.loads(tfvars_text(written))
    del older["router_table"]  # written before the router's table was part of it
    read = TfVars.model_validate(older)
    assert read.router_table is None
    assert read.desired() == written.desired()


def test_kubernetes_names_agree_with_render(workdir: Path) -> None:
    names = ["mnist-classifier", "My_Model.v2", "edge--name-", "x" * 60 + "-tail", "a__b"]
    models = {n: {"replicas": 1, "cpu": "1", "memory": "1Gi", "gpu": 0} for n in names}
    path = workdir / "names.tfvars.json"
    path.write_text(json.dumps({"models": models}))
    _tf(workdir, "apply", "-input=false", "-auto-approve", f"-var-file={path.name}")
    outputs = json.loads(_tf(workdir, "output", "-json", "k8s_names"))
    assert outputs == {n: k8s_name(n) for n in names}


def test_bad_input_is_refused_with_the_variable_message(workdir: Path) -> None:
    bad = workdir / "bad.tfvars.json"
    bad.write_text(
        json.dumps(
            {"models": {"m": {"version": 0, "replicas": 1, "cpu": "1", "memory": "1Gi", "gpu": 0}}}
        )
    )
    message = _plan_refused(workdir, bad)
    assert "Versions (version, previous, staging) must be whole numbers >= 1, or null." in message

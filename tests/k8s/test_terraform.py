"""terraform/: the built-ins module under `terraform test` (offline), its checksums (model
versions and router table) equal to the rendered annotations, a rollback plan that touches
only the versions and the router's table, bad input and a router table edited apart from the
versions refused with the variable's message; the provider root module is only
`terraform fmt -check`-ed here (its provider cannot be installed offline) and scanned by
checkov."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from registry_mcp.deploy.kubernetes.desired import DesiredVersions, ModelVersions, k8s_name
from registry_mcp.deploy.kubernetes.render import render_tree
from registry_mcp.deploy.kubernetes.tfvars import TfVars, build_tfvars, tfvars_text
from tests.k8s.conftest import TERRAFORM, need, packaged, run

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
    assert "16 passed, 0 failed" in out, out


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


def _rendered_router_table(desired: DesiredVersions) -> str:
    config = packaged()
    return render_tree(config, desired, sorted(config.models)).files["base/router/table.json"]


def test_same_checksum_as_render_and_rollback_touches_only_versions(workdir: Path) -> None:
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
        # Terraform's sha256(jsonencode(data)) == the annotation `modelreg k8s render` writes
        assert before["checksums"]["value"][model] == v2.of(model).checksum()
        assert before["configmap_data"]["value"][model] == v2.of(model).configmap_data()
    # The router's table is the rendered table.json, byte for byte, and so is its checksum.
    table = _rendered_router_table(v2)
    assert before["router_table_data"]["value"] == {"table.json": table}
    assert before["router_checksum"]["value"] == hashlib.sha256(table.encode()).hexdigest()
    assert json.loads(table)["models"]["mnist-classifier"]["production"] == 2

    v1 = DesiredVersions(
        models={**v2.models, "mnist-classifier": ModelVersions(production=1, previous=2, staging=3)}
    )
    v1_vars = _vars(workdir, v1, "v1.tfvars.json")
    changes = _plan_changes(workdir, v1_vars)
    assert changes == {
        'terraform_data.configmap["mnist-classifier"]': ["update"],
        'terraform_data.restart["mnist-classifier"]': ["delete", "create"],
        "terraform_data.router_table[0]": ["update"],
        "terraform_data.router_restart[0]": ["delete", "create"],
    }
    _tf(workdir, "apply", "-input=false", "-auto-approve", f"-var-file={v1_vars.name}")
    after: dict[str, Any] = json.loads(_tf(workdir, "output", "-json"))
    table = after["router_table_data"]["value"]["table.json"]
    assert table == _rendered_router_table(v1)
    entry = json.loads(table)["models"]["mnist-classifier"]
    assert (entry["production"], entry["previous"]) == (1, 2)
    assert after["router_checksum"]["value"] != before["router_checksum"]["value"]
    assert after["router_restart_id"]["value"] != before["router_restart_id"]["value"]

    # The same versions again: nothing to change, the router keeps its checksum.
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
    assert written.router_table == _rendered_router_table(desired)
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

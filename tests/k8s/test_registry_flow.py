"""With a real registry (MLflow on SQLite): `modelreg tf vars` writes the registry's
versions and the router's table for them, `modelreg k8s diff` reports drift after a
promotion not yet written and none after `tf vars`; a rollback through Terraform moves the
versions and the router's table together; `k8s render` writes a Deployment per registered
model and no version data; `tf vars` resolves best_of_task routes from the registry's cards;
`k8s archives` builds .mar files with the archive code `serve up` uses. All in-process
through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from registry_mcp.core.registry import Registry
from serving.local import LocalPorts
from tests.conftest import Backend
from tests.helpers import COMPLETE_CARD, add_versions
from tests.k8s.conftest import TERRAFORM, need, run
from tests.test_cli import invoke

MODEL = "mnist-classifier"
LOCAL = "--allow-local-artifacts"  # the fixtures' versions are stored under file://


@pytest.fixture
def env(sqlite_backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Backend:
    monkeypatch.setenv("MODELREG_HOME", str(sqlite_backend.settings.home))
    monkeypatch.setenv("MODELREG_ARTIFACT_ROOT", sqlite_backend.settings.resolved_artifact_root)
    monkeypatch.setenv("MODELREG_ACTOR", "carol")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.delenv("MODELREG_MODELS_CONFIG", raising=False)
    # Ports nothing listens on: no TorchServe or router of another test answers.
    for name, port in LocalPorts.free().model_dump().items():
        monkeypatch.setenv(f"MODELREG_SERVING_{name.upper()}_PORT", str(port))
    monkeypatch.setenv("MODELREG_ROUTER_PORT", str(LocalPorts.free().inference))
    registry = Registry.open(sqlite_backend.settings)
    add_versions(registry, sqlite_backend.model_uris[0], MODEL, 3)
    registry.close()
    return sqlite_backend


def promote(capsys: pytest.CaptureFixture[str], version: str, stage: str) -> None:
    code, _, err = invoke(capsys, "promote", MODEL, version, "--stage", stage, "-r", "ok", "--yes")
    assert code == 0, err


def test_drift_after_a_promotion_until_tf_vars(
    env: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tfvars = tmp_path / "model_versions.auto.tfvars.json"
    promote(capsys, "1", "staging")
    promote(capsys, "1", "production")
    code, out, _ = invoke(capsys, "tf", "vars", LOCAL, "--out", str(tfvars))
    assert code == 0, out
    written = json.loads(tfvars.read_text())["models"]
    assert isinstance(written[MODEL].pop("change_id"), int)  # the promotion's audit id
    assert written[MODEL] == {
        "version": 1,
        "previous": None,
        "staging": None,
        "replicas": 2,
        "cpu": "500m",
        "memory": "1280Mi",
        "gpu": 0,
    }
    assert written["mnist-cnn"]["version"] is None
    assert written["mnist-cnn"]["gpu"] == 1
    assert router_entry(tfvars) == {"production": 1}
    code, out, _ = invoke(capsys, "k8s", "diff", "--tfvars", str(tfvars))
    assert code == 0
    assert "In sync" in out

    promote(capsys, "2", "staging")
    promote(capsys, "2", "production")
    code, out, _ = invoke(capsys, "k8s", "diff", "--tfvars", str(tfvars), "--json")
    assert code == 3
    report = json.loads(out)
    assert report["in_sync"] is False
    assert {
        (d["model"], d["stage"], d["registry"], d["cluster"], d["behind"]) for d in report["drift"]
    } == {
        (MODEL, "production", 2, 1, "cluster"),
        (MODEL, "previous", 1, None, "cluster"),
    }
    code, out, _ = invoke(capsys, "k8s", "diff", "--tfvars", str(tfvars))
    assert code == 3
    assert "Terraform's side is behind" in out
    assert "apply the new desired versions: `modelreg tf vars" in out

    code, _, _ = invoke(capsys, "tf", "vars", LOCAL, "--out", str(tfvars))
    assert code == 0
    assert router_entry(tfvars) == {"production": 2, "previous": 1}
    code, out, _ = invoke(capsys, "k8s", "diff", "--tfvars", str(tfvars))
    assert code == 0, out

    # A rollback written to the tfvars by hand (same change id as the registry: the runbook's
    # rollback in Terraform first): the registry is the side behind, and must record it.
    data = json.loads(tfvars.read_text())
    data["models"][MODEL].update(version=1, previous=2)
    tfvars.write_text(json.dumps(data))
    code, out, _ = invoke(capsys, "k8s", "diff", "--tfvars", str(tfvars), "--json")
    assert code == 3
    drift = json.loads(out)["drift"]
    assert {d["behind"] for d in drift} == {"registry"}
    assert all("was edited after it was written" in d["why"] for d in drift)
    assert drift[0]["fix"].startswith(f"record it: `modelreg rollback {MODEL} --to 1 -r")


def router_entry(tfvars: Path) -> dict[str, Any]:
    """The versions the router's table in the tfvars names for MODEL."""
    entry = json.loads(json.loads(tfvars.read_text())["router_table"])["models"][MODEL]
    return {k: entry[k] for k in ("production", "previous", "staging") if k in entry}


def test_rollback_through_terraform_moves_the_router_table(
    env: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The README's runbook: promote v2, `tf vars`, roll back in the registry, `tf vars`
    again; the module's plan v2 -> v1 updates the model's versions and the router's table in
    place and replaces that model's restart trigger only (the routers reload the table)."""
    tf = need("terraform")
    work = tmp_path / "model-versions"
    shutil.copytree(TERRAFORM / "modules" / "model-versions", work)
    run([tf, "init", "-input=false", "-no-color"], cwd=work)
    for version in ("1", "2"):
        promote(capsys, version, "staging")
        promote(capsys, version, "production")
    v2, v1 = work / "v2.tfvars.json", work / "v1.tfvars.json"
    code, out, _ = invoke(capsys, "tf", "vars", LOCAL, "--out", str(v2))
    assert code == 0, out
    code, _, err = invoke(capsys, "rollback", MODEL, "-r", "p99 above SLA since v2", "--yes")
    assert code == 0, err
    code, out, _ = invoke(capsys, "k8s", "diff", "--tfvars", str(v2))
    assert code == 3
    assert "production: registry 1, Terraform 2" in out, out
    code, out, _ = invoke(capsys, "tf", "vars", LOCAL, "--out", str(v1))
    assert code == 0, out
    assert router_entry(v2)["production"] == 2
    assert router_entry(v1)["production"] == 1

    def outputs() -> dict[str, Any]:
        found: dict[str, Any] = json.loads(run([tf, "output", "-json", "-no-color"], cwd=work))
        return found

    run(
        [tf, "apply", "-input=false", "-auto-approve", "-no-color", f"-var-file={v2.name}"],
        cwd=work,
    )
    before = outputs()
    run([tf, "plan", "-input=false", "-no-color", f"-var-file={v1.name}", "-out=p"], cwd=work)
    plan = json.loads(run([tf, "show", "-json", "-no-color", "p"], cwd=work))
    changes = {
        c["address"]: c["change"]["actions"]
        for c in plan["resource_changes"]
        if c["change"]["actions"] != ["no-op"]
    }
    assert changes == {
        f'terraform_data.configmap["model-versions-{MODEL}"]': ["update"],
        f'terraform_data.restart["{MODEL}"]': ["delete", "create"],
        'terraform_data.configmap["router-table"]': ["update"],
    }
    run([tf, "apply", "-input=false", "-no-color", "p"], cwd=work)
    after = outputs()
    assert after["configmap_data"]["value"][MODEL]["PRODUCTION"] == "1"
    table = json.loads(after["router_table_data"]["value"]["table.json"])
    assert table["models"][MODEL]["production"] == 1
    assert after["restart_ids"]["value"][MODEL] != before["restart_ids"]["value"][MODEL]
    change = after["configmaps"]["value"][f"model-versions-{MODEL}"]["annotations"]
    assert int(change["modelreg.io/change-id"]) > int(
        before["configmaps"]["value"][f"model-versions-{MODEL}"]["annotations"][
            "modelreg.io/change-id"
        ]
    )
    code, out, _ = invoke(capsys, "k8s", "diff", "--tfvars", str(v1))
    assert code == 0, out


def test_render_writes_no_versions_and_tf_vars_all_of_them(
    env: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out, tfvars = tmp_path / "k8s", tmp_path / "model_versions.auto.tfvars.json"
    promote(capsys, "1", "staging")
    promote(capsys, "1", "production")
    promote(capsys, "2", "staging")
    # A registered model models.yaml does not list gets a Deployment with the defaults.
    registry = Registry.open(env.settings)
    add_versions(registry, env.model_uris[0], "extra.model", 1)
    registry.close()
    code, _, err = invoke(
        capsys, "promote", "extra.model", "1", "--stage", "staging", "-r", "ok", "--yes"
    )
    assert code == 0, err
    code, text, err = invoke(capsys, "k8s", "render", LOCAL, "--out", str(out))
    assert code == 0, err
    assert "extra.model" in text
    extra = (out / "base" / "models" / "extra-model.yaml").read_text()
    assert "name: ts-extra-model" in extra
    assert "replicas: 1" in extra
    assert "name: model-versions-extra-model" in extra  # the fixed name Terraform writes
    kustomization = yaml.safe_load((out / "base" / "kustomization.yaml").read_text())
    generated = {g["name"] for g in kustomization["configMapGenerator"]}
    assert generated == {"torchserve-config", "prometheus-scrape", "postgres-readonly-role"}
    assert not (out / "base" / "router" / "table.json").exists()
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    promote(capsys, "2", "production")
    code, _, err = invoke(capsys, "k8s", "render", LOCAL, "--out", str(out))
    assert code == 0, err
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before

    code, text, err = invoke(capsys, "tf", "vars", LOCAL, "--out", str(tfvars))
    assert code == 0, err
    assert f"{MODEL}: production 2, staging -, previous 1" in text
    assert "extra.model: production -, staging 1, previous -" in text
    # The router's table holds the same versions; `digits` can pick mnist-cnn, which has no
    # Production version: the whole route is left out, and `tf vars` says so.
    table = json.loads(json.loads(tfvars.read_text())["router_table"])
    assert {m: (e.get("production"), e.get("staging")) for m, e in table["models"].items()} == {
        MODEL: (2, None),
        "extra.model": (None, 1),
    }
    assert table["models"]["extra.model"]["upstream"]["inference_url"] == (
        "http://ts-extra-model:8080"
    )
    assert table["routes"] == {}
    assert "route 'digits': rules.0.model model 'mnist-cnn' has no Production version" in text


def test_tf_vars_resolves_best_of_task_from_the_registry_cards(
    env: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    registry = Registry.open(env.settings)
    metrics = {**COMPLETE_CARD.baseline_metrics, "accuracy": 0.99}
    better = COMPLETE_CARD.model_copy(update={"baseline_metrics": metrics})
    add_versions(registry, env.model_uris[0], "mnist-cnn", 1, card=better)
    registry.close()
    for model in (MODEL, "mnist-cnn"):
        for stage in ("staging", "production"):
            code, _, err = invoke(
                capsys, "promote", model, "1", "--stage", stage, "-r", "ok", "--yes"
            )
            assert code == 0, err
    tfvars = tmp_path / "model_versions.auto.tfvars.json"
    code, text, err = invoke(capsys, "tf", "vars", LOCAL, "--out", str(tfvars))
    assert code == 0, err
    assert "Left out of the router's table" in text  # digits-encoder: no version
    table = json.loads(json.loads(tfvars.read_text())["router_table"])
    assert table["routes"]["digits"]["default"] == MODEL
    header, batch = table["routes"]["digits"]["rules"]
    assert header["model"] == "mnist-cnn"
    assert batch == {  # mnist-cnn's card (0.99) beats mnist-classifier's (0.95)
        "kind": "batch_at_least",
        "rows": 64,
        "model": "mnist-cnn",
        "resolved_from": {"best_of_task": "classification"},
    }


def test_bad_input_changes_nothing(
    env: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    code, _, err = invoke(
        capsys, "k8s", "archives", "--model", MODEL, "--out", str(store), "--versions", "1,x"
    )
    assert code == 2
    assert "'x' is not a version number" in err
    code, _, err = invoke(
        capsys, "k8s", "archives", "--model", MODEL, "--out", str(store), "--versions", "1,9"
    )
    assert code == 2
    assert "9" in err
    assert not store.exists()  # every version is checked before anything is built
    code, _, err = invoke(capsys, "tf", "vars", "--out", str(tmp_path / "nope" / "x.json"))
    assert code == 2
    assert "does not exist" in err
    code, _, err = invoke(capsys, "k8s", "diff", "--tfvars", str(tmp_path / "missing.json"))
    assert code == 2
    assert "modelreg tf vars --out" in err
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"models": {MODEL: {"version": "two"}}}))
    code, _, err = invoke(capsys, "k8s", "diff", "--tfvars", str(broken))
    assert code == 2
    assert "broken.json" in err


@pytest.mark.slow
def test_archives_builds_mar_files(
    env: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    code, out, err = invoke(
        capsys,
        "k8s",
        "archives",
        "--model",
        MODEL,
        "--out",
        str(store),
        "--versions",
        "2",
        "--json",
    )
    assert code == 0, err
    (built,) = json.loads(out)
    assert built["version"] == 2
    assert (store / built["file_name"]).is_file()
    assert [p.name for p in store.glob("*.mar")] == [built["file_name"]]
    code, out, _ = invoke(
        capsys, "k8s", "archives", "--model", MODEL, "--out", str(store), "--versions", ""
    )
    assert code == 0
    assert "nothing built" in out


def _shared_config(tmp_path: Path, store: Path) -> Path:
    """The shared TorchServe config, serving ``store`` (as the ConfigMap serves the pod's)."""
    from serving.local import LocalTorchServe

    base = tmp_path / f"shared-{store.name}.properties"
    base.write_text(LocalTorchServe(tmp_path / "ts", model_store=store).render_config())
    return base


def test_ts_config_bad_input_changes_nothing(
    env: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store, out = tmp_path / "store", tmp_path / "config.properties"
    base = _shared_config(tmp_path, store)
    elsewhere = _shared_config(tmp_path, tmp_path / "other")
    archives = ("k8s", "archives", "--model", MODEL, "--out", str(store), "--versions", "1,2")
    cases = [
        (["--production", "3", "--ts-config-base", str(base), "--ts-config-out", str(out)], "3"),
        (["--production", "1,2"], "give one version"),
        (["--ts-config-out", str(out)], "go together"),
        (["--ts-config-base", str(base)], "go together"),
        (
            ["--ts-config-base", str(elsewhere), "--ts-config-out", str(out)],
            "would not find them",
        ),
        (
            ["--ts-config-base", str(base), "--ts-config-out", str(tmp_path / "no" / "c")],
            "does not exist",
        ),
    ]
    for extra, fragment in cases:
        code, _, err = invoke(capsys, *archives, *extra)
        assert code == 2, extra
        assert fragment in err, (extra, err)
    assert not store.exists()  # refused before anything was built
    assert not out.exists()


@pytest.mark.slow
def test_archives_writes_the_ts_config_with_the_registry_production(
    env: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from registry_mcp.deploy.kubernetes.tsconfig import read_properties

    promote(capsys, "1", "staging")
    promote(capsys, "1", "production")
    promote(capsys, "2", "staging")
    store, out = tmp_path / "store", tmp_path / "config.properties"
    base = _shared_config(tmp_path, store)
    code, text, err = invoke(
        capsys,
        "k8s",
        "archives",
        "--model",
        MODEL,
        "--out",
        str(store),
        "--ts-config-base",
        str(base),
        "--ts-config-out",
        str(out),
    )
    assert code == 0, err
    assert "v1:" in text
    assert "(default version)" in text
    props = read_properties(out.read_text())
    names = [entry.split("=", 1) for entry in props["load_models"].split(",")]
    assert [n for n, _ in names] == [MODEL, MODEL]
    assert [f.split("-v")[-1].split("-")[0] for _, f in names] == ["1", "2"]  # Production first
    assert {p.name for p in store.glob("*.mar")} == {f for _, f in names}
    versions = json.loads(props["models"])[MODEL]
    assert {v: e["defaultVersion"] for v, e in versions.items()} == {"1": True, "2": False}

"""What the cluster side can be given, and which side `k8s diff` blames, with a real registry
(MLflow on SQLite): `k8s render` and `tf vars` refuse versions stored under file:// (pods
cannot fetch them) unless told the output is only validated offline. Terraform's side is
compared as the tfvars file, or live: the ConfigMaps the Terraform module computes from that
file, served by a fake Kubernetes API server and read with `--kubeconfig`. After a rollback
in the registry (the registry newer), `k8s diff` says Terraform's side is behind and names
the one command that applies the new desired versions (never `modelreg rollback`, which
would undo the rollback); Terraform's side newer (written from a newer registry, or edited
after it was written) names the registry as the side behind."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml  # type: ignore[import-untyped]

from registry_mcp.deploy.kubernetes.fetchable import is_local
from tests.conftest import Backend
from tests.k8s.conftest import TERRAFORM, need, run
from tests.k8s.fake_kube import FakeKube, fake_kube
from tests.k8s.test_registry_flow import LOCAL, MODEL, env, promote
from tests.test_cli import invoke

__all__ = ["env"]  # the fixture, shared with test_registry_flow

Side = Literal["tfvars", "live"]
NAMESPACE = "modelreg"


@pytest.mark.parametrize(
    ("uri", "local"),
    [
        ("file:///home/alice/.modelreg/artifacts/1/models/m-1/artifacts", True),
        ("/home/alice/.modelreg/artifacts/1", True),
        ("C:/Users/alice/artifacts/1", True),
        ("mlflow-artifacts:/modelreg/1/models/m-1/artifacts", False),
        ("s3://models/modelreg/1/models/m-1/artifacts", False),
        ("gs://models/modelreg/1", False),
    ],
)
def test_local_artifact_uris(uri: str, local: bool) -> None:
    assert is_local(uri) is local


def test_render_and_tf_vars_refuse_versions_pods_cannot_fetch(
    env: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Nothing promoted: nothing to fetch, nothing refused.
    out, tfvars = tmp_path / "k8s", tmp_path / "tf" / "model_versions.auto.tfvars.json"
    tfvars.parent.mkdir()
    code, _, err = invoke(capsys, "tf", "vars", "--out", str(tfvars))
    assert code == 0, err
    tfvars.unlink()
    promote(capsys, "1", "staging")
    promote(capsys, "1", "production")
    promote(capsys, "2", "staging")
    for args in (("k8s", "render", "--out", str(out)), ("tf", "vars", "--out", str(tfvars))):
        code, text, err = invoke(capsys, *args)
        assert code == 2, text
        message = " ".join(err.split())
        assert f"pods cannot fetch {MODEL} v1, {MODEL} v2: stored under file://" in message
        assert "MODELREG_ARTIFACT_ROOT" in message
        assert "--serve-artifacts" in message
        assert LOCAL in message
        assert "Traceback" not in err
    assert not out.exists()  # nothing written
    assert not tfvars.exists()
    code, _, err = invoke(capsys, "k8s", "render", LOCAL, "--out", str(out))
    assert code == 0, err
    assert (out / "base" / "kustomization.yaml").is_file()


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of terraform/modules/model-versions, initialised (built-ins only: offline)."""
    work = tmp_path_factory.mktemp("tf") / "model-versions"
    shutil.copytree(TERRAFORM / "modules" / "model-versions", work)
    run([need("terraform"), "init", "-input=false", "-no-color"], cwd=work)
    return work


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    with fake_kube() as server:
        yield server


def terraform_apply(module_dir: Path, tfvars: Path, kube: FakeKube) -> None:
    """What `terraform apply` of terraform/ writes to the cluster: the module's ConfigMaps,
    put into the fake API server (the provider itself cannot run offline)."""
    tf = need("terraform")
    run(
        [tf, "apply", "-input=false", "-auto-approve", "-no-color", f"-var-file={tfvars}"],
        cwd=module_dir,
    )
    outputs: dict[str, Any] = json.loads(run([tf, "output", "-json", "-no-color"], cwd=module_dir))
    kube.configmaps.clear()
    for name, configmap in outputs["configmaps"]["value"].items():
        kube.put(NAMESPACE, name, configmap["data"], configmap["annotations"])


class Sides:
    """Writes Terraform's side (tf vars, then apply for "live") and diffs against it."""

    def __init__(
        self,
        side: Side,
        tmp_path: Path,
        module_dir: Path,
        kube: FakeKube,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        self.side, self.module_dir, self.kube, self.capsys = side, module_dir, kube, capsys
        self.tfvars = tmp_path / "terraform" / "model_versions.auto.tfvars.json"
        self.tfvars.parent.mkdir()
        self.kubeconfig = kube.kubeconfig(tmp_path / "kubeconfig")

    def write(self) -> None:
        code, text, err = invoke(self.capsys, "tf", "vars", LOCAL, "--out", str(self.tfvars))
        assert code == 0, text + err
        if self.side == "live":
            terraform_apply(self.module_dir, self.tfvars, self.kube)

    def diff(self, *extra: str) -> tuple[int, str]:
        args = ["k8s", "diff", "--tfvars", str(self.tfvars)]
        if self.side == "live":
            args += ["--kubeconfig", str(self.kubeconfig)]
        code, out, err = invoke(self.capsys, *args, *extra)
        assert "Traceback" not in err
        assert {method for method, _ in self.kube.requests} <= {"GET"}  # read-only
        return code, out


@pytest.fixture(params=["tfvars", "live"])
def sides(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    module_dir: Path,
    kube: FakeKube,
    capsys: pytest.CaptureFixture[str],
) -> Sides:
    return Sides(request.param, tmp_path, module_dir, kube, capsys)


def test_registry_newer_after_a_rollback_names_terraforms_side(
    env: Backend, capsys: pytest.CaptureFixture[str], sides: Sides
) -> None:
    for version in ("1", "2"):
        promote(capsys, version, "staging")
        promote(capsys, version, "production")
    sides.write()
    code, out = sides.diff()
    assert code == 0, out
    assert "In sync" in out
    code, _, err = invoke(capsys, "rollback", MODEL, "-r", "p99 above SLA since v2", "--yes")
    assert code == 0, err

    code, out = sides.diff("--json")
    assert code == 3
    drift = json.loads(out)["drift"]
    assert {(d["stage"], d["registry"], d["cluster"], d["behind"]) for d in drift} == {
        ("production", 1, 2, "cluster"),
        ("previous", 2, 1, "cluster"),
    }
    (item, *_) = drift
    assert item["registry_change"] > item["cluster_change"]
    code, out = sides.diff()
    assert code == 3
    text = " ".join(out.split())
    assert "Terraform's side is behind" in text
    assert "modelreg rollback" not in text  # it would re-promote what was rolled back
    fix = (
        f"apply the new desired versions: `modelreg tf vars --out {sides.tfvars} && "
        f"terraform -chdir={sides.tfvars.parent} apply`"
    )
    assert fix in text
    if sides.side == "live":
        assert f"the cluster {sides.kube.url} (namespace {NAMESPACE})" in text
        assert any(
            "/configmaps/model-versions-mnist-classifier" in p for _, p in sides.kube.requests
        )

    sides.write()  # the command it named
    code, out = sides.diff()
    assert code == 0, out


def test_terraforms_side_newer_names_the_registry(
    env: Backend,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sides: Sides,
) -> None:
    """The rollback is written from the registry; then diff runs against a copy of that
    registry taken before the rollback (a restore from backup): the registry is behind."""
    for version in ("1", "2"):
        promote(capsys, version, "staging")
        promote(capsys, version, "production")
    before = tmp_path / "registry-before-rollback"
    shutil.copytree(env.settings.home, before)
    code, _, err = invoke(capsys, "rollback", MODEL, "-r", "p99 above SLA since v2", "--yes")
    assert code == 0, err
    sides.write()

    monkeypatch.setenv("MODELREG_HOME", str(before))
    code, out = sides.diff("--json")
    assert code == 3
    drift = json.loads(out)["drift"]
    assert {(d["stage"], d["registry"], d["cluster"], d["behind"]) for d in drift} == {
        ("production", 2, 1, "registry"),
        ("previous", 1, 2, "registry"),
    }
    code, out = sides.diff()
    text = " ".join(out.split())
    assert "the registry is behind" in text
    assert "newer than this registry's" in text
    assert "MLFLOW_REGISTRY_URI" in text
    assert "tf vars" not in text  # applying this registry's versions would undo the rollback


def test_live_edited_after_apply_and_never_applied(
    env: Backend,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    module_dir: Path,
    kube: FakeKube,
) -> None:
    sides = Sides("live", tmp_path, module_dir, kube, capsys)
    code, out = sides.diff()  # nothing applied yet: no ConfigMap at all
    assert code == 0, out  # nothing promoted: nothing to serve on either side
    promote(capsys, "1", "staging")
    promote(capsys, "1", "production")
    code, out = sides.diff()
    assert code == 3
    assert "not applied yet" in " ".join(out.split())
    for version in ("2",):
        promote(capsys, version, "staging")
        promote(capsys, version, "production")
    sides.write()
    # The rollback made on Terraform's side first (registry down), same change id stamped.
    configmap = kube.configmaps[(NAMESPACE, f"model-versions-{MODEL}")]
    configmap["data"].update(PRODUCTION="1", PREVIOUS="2")
    code, out = sides.diff()
    text = " ".join(out.split())
    assert code == 3
    assert "the registry is behind" in text
    assert "was edited after it was written" in text
    assert f"`modelreg rollback {MODEL} --to 1 -r" in text


def test_bad_live_input_is_one_line_and_reads_nothing_else(
    env: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path, kube: FakeKube
) -> None:
    def refused(*args: str) -> str:
        code, out, err = invoke(capsys, "k8s", "diff", *args)
        assert code not in (0, 3), out
        assert "Traceback" not in err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(" ".join(lines)) < 400, err
        return " ".join(err.split())

    missing = tmp_path / "no-such-kubeconfig"
    assert "does not exist" in refused("--kubeconfig", str(missing))
    assert "give --kubeconfig PATH too" in refused("--context", "prod")
    broken = tmp_path / "broken"
    broken.write_text("clusters: [")
    assert f"kubeconfig {broken}: cannot read it" in refused("--kubeconfig", str(broken))
    good = kube.kubeconfig(tmp_path / "kubeconfig")
    assert "no context named 'prod'" in refused("--kubeconfig", str(good), "--context", "prod")
    kube.token = "another-token-0123456789"  # the kubeconfig's token is now refused
    assert "HTTP 401" in refused("--kubeconfig", str(good))
    plugin = tmp_path / "plugin"
    doc = yaml.safe_load(good.read_text())
    doc["users"][0]["user"] = {"exec": {"command": "aws", "args": ["eks", "get-token"]}}
    plugin.write_text(yaml.safe_dump(doc))
    assert "not run here" in refused("--kubeconfig", str(plugin))
    assert {method for method, _ in kube.requests} == {"GET"}


def test_live_diff_over_tls_with_the_kubeconfigs_ca_and_client_certificate(
    env: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """HTTPS as a real API server speaks it: the server's certificate verified against the
    kubeconfig's CA (and refused without it), the user a client certificate."""
    import ssl

    from tests.serving.test_router_upstream import _self_signed

    server_dir, client_dir = tmp_path / "server", tmp_path / "client"
    server_dir.mkdir()
    client_dir.mkdir()
    server_cert, server_key = _self_signed(server_dir)
    client_cert, client_key = _self_signed(client_dir)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(server_cert, server_key)
    tls.verify_mode = ssl.CERT_REQUIRED
    tls.load_verify_locations(cafile=str(client_cert))
    promote(capsys, "1", "staging")
    promote(capsys, "1", "production")
    with fake_kube(tls=tls, cert_user=True) as kube:
        user = (client_cert.read_bytes(), client_key.read_bytes())
        good = kube.kubeconfig(
            tmp_path / "kubeconfig", ca=server_cert.read_bytes(), client_cert=user
        )
        code, out, err = invoke(capsys, "k8s", "diff", "--kubeconfig", str(good))
        assert code == 3, out + err  # reached and read: nothing applied yet
        assert "not applied yet" in " ".join(out.split())
        prefix = f"/api/v1/namespaces/{NAMESPACE}/configmaps/model-versions-"
        assert sorted(kube.requests) == [
            ("GET", prefix + name) for name in ("digits-encoder", "mnist-classifier", "mnist-cnn")
        ]
        untrusted = kube.kubeconfig(tmp_path / "untrusted", client_cert=user)
        code, out, err = invoke(capsys, "k8s", "diff", "--kubeconfig", str(untrusted))
        assert code not in (0, 3), out
        assert "cannot reach the API server" in " ".join(err.split())
        assert "Traceback" not in err

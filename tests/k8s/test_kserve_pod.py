"""A kserve-backed model's predictor pod, its two containers run as local processes with the
rendered commands: the init container (`modelreg k8s archives ... --kserve-load-out`, here
in-process through the CLI, on a real registry) writes the load plan, and the KServe model
server (`python -m serving.kserve.server`, the rendered args) loads it before it answers,
bound where ``--host`` says, its management API still behind the token.

The server needs an interpreter with the ``kserve`` extra (``MODELREG_TEST_KSERVE_PYTHON``,
as ``make test`` sets); without one these tests skip with that reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from registry_mcp.core.registry import Registry
from registry_mcp.deploy.kubernetes import inferenceservice as isvc
from serving.config import load_models_config
from serving.kserve.local import free_port
from serving.local import LocalPorts
from serving.naming import served_name
from tests.conftest import Backend
from tests.helpers import add_versions
from tests.k8s.test_inference_service import KSERVE_MODEL, write_kserve_models
from tests.test_cli import invoke


def _kserve_python() -> str:
    if importlib.util.find_spec("kserve") is not None:
        return sys.executable
    found = os.environ.get("MODELREG_TEST_KSERVE_PYTHON")
    if found is None:
        pytest.skip(
            "kserve is not installed here: set MODELREG_TEST_KSERVE_PYTHON to a Python that "
            "has it (`make kserve-venv`)"
        )
    return found


@pytest.fixture
def models_file(tmp_path: Path) -> Path:
    return write_kserve_models(tmp_path / "models-kserve.yaml")


@pytest.fixture
def env(sqlite_backend: Backend, monkeypatch: pytest.MonkeyPatch, models_file: Path) -> Backend:
    monkeypatch.setenv("MODELREG_HOME", str(sqlite_backend.settings.home))
    monkeypatch.setenv("MODELREG_ARTIFACT_ROOT", sqlite_backend.settings.resolved_artifact_root)
    monkeypatch.setenv("MODELREG_ACTOR", "carol")
    monkeypatch.setenv("MODELREG_MODELS_CONFIG", str(models_file))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    # Ports nothing listens on: no TorchServe or router of another test answers.
    for name, port in LocalPorts.free().model_dump().items():
        monkeypatch.setenv(f"MODELREG_SERVING_{name.upper()}_PORT", str(port))
    monkeypatch.setenv("MODELREG_ROUTER_PORT", str(LocalPorts.free().inference))
    registry = Registry.open(sqlite_backend.settings)
    add_versions(registry, sqlite_backend.model_uris[0], KSERVE_MODEL, 2)
    registry.close()
    return sqlite_backend


def _rendered_args(flag_values: dict[str, str], container: dict[str, object]) -> list[str]:
    """The container's rendered args with each flag's value replaced by the local one."""
    args = [str(a) for a in container["args"]]  # type: ignore[attr-defined]
    for flag, value in flag_values.items():
        args[args.index(flag) + 1] = value
    return args


def _promote(capsys: pytest.CaptureFixture[str], version: str, stage: str) -> None:
    code, _, err = invoke(
        capsys, "promote", KSERVE_MODEL, version, "--stage", stage, "-r", "ok", "--yes"
    )
    assert code == 0, err


def test_tf_vars_writes_a_kserve_canary_only_where_it_fits(
    env: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tfvars = tmp_path / "model_versions.auto.tfvars.json"
    write = ("tf", "vars", "--allow-local-artifacts", "--out", str(tfvars))
    _promote(capsys, "1", "staging")
    _promote(capsys, "1", "production")
    _promote(capsys, "2", "staging")
    code, _, err = invoke(capsys, *write)  # Terraform's side: v1 Production, v2 Staging
    assert code == 0, err
    _promote(capsys, "2", "production")
    before = tfvars.read_text()
    for bad, why in (
        ("mnist-classifier=10", "torchserve-backed"),
        ("mnist-cnn=ten", "MODEL=PERCENT"),
        ("mnist-cnn=101", "from 0 to 100"),
    ):
        code, out, err = invoke(capsys, *write, "--kserve-canary", bad)
        assert code == 2, out
        assert why in err
        assert "Traceback" not in err
        assert tfvars.read_text() == before  # nothing written
    code, out, err = invoke(capsys, *write, "--kserve-canary", "mnist-cnn=10")
    assert code == 0, err
    assert "mnist-cnn: production 2, staging -, previous 1, KServe canary 10%" in out
    model = json.loads(tfvars.read_text())["models"][KSERVE_MODEL]
    assert model["backend"] == "kserve"
    assert model["canary_percent"] == 10
    code, _, err = invoke(capsys, *write)  # the canary completed: the field goes away
    assert code == 0, err
    assert "canary_percent" not in json.loads(tfvars.read_text())["models"][KSERVE_MODEL]


@pytest.fixture
def pod(
    env: Backend, models_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> dict[str, Path]:
    """The init container's work: archives of v1 and v2 and the load plan (v2 Production)."""
    for version, stage in (("1", "staging"), ("1", "production"), ("2", "staging")):
        _promote(capsys, version, stage)
    rendered = isvc.inference_service(
        load_models_config(models_file).get(KSERVE_MODEL), "mnist-cnn"
    )
    fetch = rendered["spec"]["predictor"]["initContainers"][0]
    dirs = {name: tmp_path / name for name in ("store", "load", "work")}
    for folder in dirs.values():
        folder.mkdir()
    # The pod's annotations, as Terraform sets them after promoting v2: VERSIONS 1,2, v2 first.
    args = _rendered_args(
        {
            "--out": str(dirs["store"]),
            "--versions": "1,2",
            "--production": "2",
            "--kserve-load-out": str(dirs["load"] / "load.json"),
        },
        fetch,
    )
    code, out, err = invoke(capsys, *fetch["command"][1:], *args)
    assert code == 0, err
    assert "Wrote" in out
    return dirs


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the server did not answer within 180 s:\n{log.read_text()}")


@pytest.fixture
def server(pod: dict[str, Path], models_file: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    python = _kserve_python()
    rendered = isvc.inference_service(
        load_models_config(models_file).get(KSERVE_MODEL), "mnist-cnn"
    )
    container = rendered["spec"]["predictor"]["containers"][0]
    token = tmp_path / "token"
    token.write_text(secrets.token_urlsafe(32))
    port = free_port()
    host = "127.0.0.2"  # not the default: shows --host is what the server binds
    args = _rendered_args(
        {
            "--host": host,
            "--port": str(port),
            "--model-store": str(pod["store"]),
            "--work-dir": str(pod["work"]),
            "--token-file": str(token),
            "--load": str(pod["load"] / "load.json"),
        },
        container,
    )
    log = tmp_path / "kserve.out"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [python, *container["command"][1:], *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://{host}:{port}"
    try:
        _wait_ready(url, process, log)
        yield url, token.read_text()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.mark.slow
def test_the_predictor_serves_the_versions_of_its_annotations(
    server: tuple[str, str], pod: dict[str, Path]
) -> None:
    url, token = server
    name = served_name(KSERVE_MODEL)
    plan = json.loads((pod["load"] / "load.json").read_text())
    assert plan["model"] == name
    assert plan["default"] == "2"
    assert sorted(plan["versions"]) == ["1", "2"]
    assert {p.name for p in pod["store"].glob("*.mar")} == set(plan["versions"].values())
    rows = {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]}
    with httpx.Client(timeout=60, trust_env=False) as http:
        answer = http.post(f"{url}/v2/models/{name}/infer", json=rows)
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_version"] == "2"  # Production is the default
        for version in ("1", "2"):
            ready = http.get(f"{url}/v2/models/{name}/versions/{version}/ready")
            assert ready.status_code == 200, ready.text
        assert http.get(f"{url}/modelreg/v1/models/{name}").status_code == 401
        described = http.get(
            f"{url}/modelreg/v1/models/{name}", headers={"Authorization": f"Bearer {token}"}
        )
        assert described.status_code == 200
        assert described.json()["default"] == "2"
    with pytest.raises(httpx.ConnectError):  # bound to --host only, not to 127.0.0.1
        httpx.get(url.replace("127.0.0.2", "127.0.0.1") + "/v2/health/live", trust_env=False)


def test_a_bad_load_plan_is_one_line_and_serves_nothing(tmp_path: Path) -> None:
    python = _kserve_python()
    token = tmp_path / "token"
    token.write_text(secrets.token_urlsafe(32))
    plan = tmp_path / "load.json"
    plan.write_text(json.dumps({"model": "m", "default": "3", "versions": {"1": "m-v1.mar"}}))
    store, work = tmp_path / "store", tmp_path / "work"
    store.mkdir()
    work.mkdir()
    base = ["-m", "serving.kserve.server", "--port", str(free_port())]
    base += ["--model-store", str(store), "--work-dir", str(work), "--token-file", str(token)]
    done = subprocess.run(
        [python, *base, "--load", str(plan)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "default 3 is not among the versions to load" in done.stderr
    assert "Traceback" not in done.stderr
    plan.write_text(json.dumps({"model": "m", "default": "1", "versions": {"1": "m-v1.mar"}}))
    done = subprocess.run(
        [python, *base, "--load", str(plan)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "no archive m-v1.mar in the model store" in done.stderr
    assert "Traceback" not in done.stderr

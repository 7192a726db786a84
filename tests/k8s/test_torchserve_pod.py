"""A TorchServe pod as the cluster starts it, against one real TorchServe (token auth on).

The init step runs the init container's command line of the rendered Deployment
(`modelreg k8s archives ... --production $(PRODUCTION) --ts-config-out ...`, the ConfigMap's
variables and the pod's paths filled in) against a real registry: it builds v1 and v2 and
writes the config; TorchServe started from that config (`--ts-config`, no `--models`) answers
unversioned predictions with Production (v2, listed after v1 in the model store) and runs
each version with models.yaml's workers and batching. The pods' probe then runs against the
same server: healthy with the inference token, renews an expired token, unhealthy when
stopped (that test stops the server, so it comes last).
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from registry_mcp.cli.app import app, run
from registry_mcp.core.registry import Registry
from registry_mcp.deploy.kubernetes.desired import k8s_name
from registry_mcp.deploy.kubernetes.probe import check, main
from registry_mcp.deploy.kubernetes.tsconfig import read_properties
from registry_mcp.deploy.kubernetes.workloads import (
    MODEL_STORE,
    TS_CONFIG_DIR,
    TS_POD_CONFIG_DIR,
    torchserve_objects,
)
from serving.config import parse_models_config
from serving.local import LocalPorts, LocalTorchServe
from serving.schemas import ClientTimeouts
from tests.conftest import make_backend
from tests.helpers import add_versions
from tests.serving.conftest import leftover_processes

pytestmark = pytest.mark.slow

MODEL = "mnist-classifier"
# Values TorchServe would not pick by itself (defaults: 1 worker, batch 1, 100 ms).
MODELS_YAML = """
models:
  mnist-classifier:
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 50
    input_schema: {n_features: 64, dtype: float32}
    n_classes: 10
    torchserve: {workers: {min: 1, max: 2}, batch_size: 4, max_batch_delay_ms: 7}
"""


class PodTorchServe(LocalTorchServe):
    """serving.local's process handling, started from the config the init step wrote."""

    def __init__(self, serving_dir: Path, written: Path) -> None:
        super().__init__(serving_dir, ports=LocalPorts.free())
        self.written = written

    def shared_config(self) -> str:
        """The hardened config every pod shares (render's, bound to loopback here)."""
        return super().render_config()

    def render_config(self) -> str:
        return self.written.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Pod:
    server: PodTorchServe
    init_output: str


def _init_command(values: dict[str, str]) -> list[str]:
    """The init container's command line of the rendered Deployment, with the pod's paths
    and the ConfigMap's variables replaced by ``values``; checks the main container starts
    TorchServe from the file the init container writes."""
    config = parse_models_config(MODELS_YAML, source="test").get(MODEL)
    deployment = torchserve_objects(config, k8s_name(MODEL))[0]
    pod = deployment["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    (serve,) = pod["containers"]
    args = serve["args"]
    assert "--models" not in args
    assert args[args.index("--ts-config") + 1] == f"{TS_POD_CONFIG_DIR}/config.properties"
    assert init["command"][0] == "modelreg"
    command = [values.get(arg, arg) for arg in [*init["command"][1:], *init["args"]]]
    assert set(values.values()) <= set(command), "the manifest's init command changed"
    return command


def _modelreg(*args: str) -> None:
    try:
        run(lambda: app(list(args), prog_name="modelreg"))
    except SystemExit as exc:
        assert exc.code in (0, None), f"modelreg {' '.join(args)} exited {exc.code}"


@pytest.fixture(scope="module")
def pod(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pod]:
    if shutil.which("java") is None:
        pytest.skip("java is not installed: TorchServe 0.12 needs a Java 17 runtime")
    root = tmp_path_factory.mktemp("pod")
    (root / "registry").mkdir()
    backend = make_backend(request, "sqlite", root / "registry")
    registry = Registry.open(backend.settings)
    add_versions(registry, backend.model_uris[0], MODEL, 2)
    registry.close()
    (root / "models.yaml").write_text(MODELS_YAML, encoding="utf-8")
    server = PodTorchServe(root / "serving", written=root / "pod-config" / "config.properties")
    server.written.parent.mkdir()
    shared = root / "shared" / "config.properties"
    shared.parent.mkdir()
    shared.write_text(server.shared_config(), encoding="utf-8")
    command = _init_command(
        {
            "$(VERSIONS)": "1,2",  # the versions ConfigMap's data (rendered or Terraform's)
            "$(PRODUCTION)": "2",
            MODEL_STORE: str(server.model_store),
            f"{TS_CONFIG_DIR}/config.properties": str(shared),
            f"{TS_POD_CONFIG_DIR}/config.properties": str(server.written),
        }
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODELREG_HOME", str(backend.settings.home))
        mp.setenv("MODELREG_ARTIFACT_ROOT", backend.settings.resolved_artifact_root)
        mp.setenv("MODELREG_MODELS_CONFIG", str(root / "models.yaml"))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("MLFLOW_REGISTRY_URI", raising=False)
        _modelreg(*command)
    server.up()
    try:
        yield Pod(server=server, init_output=server.written.read_text(encoding="utf-8"))
    finally:
        server.down()
        assert not leftover_processes(server), "TorchServe processes survived down()"


def test_production_is_the_default_with_models_yaml_settings(pod: Pod) -> None:
    server = pod.server
    props = read_properties(pod.init_output)
    files = sorted(p.name for p in server.model_store.glob("*.mar"))
    assert len(files) == 2
    v1, v2 = files  # "...-v1-<hash>.mar" sorts before "...-v2-<hash>.mar"
    assert props["load_models"] == f"{MODEL}={v2},{MODEL}={v1}"  # Production first

    # The pod's TorchServe loads its models after it answers health checks: wait for their
    # workers (slow on a busy machine) before the first prediction.
    with server.client(ClientTimeouts(request_s=120.0)) as client:
        deadline = time.monotonic() + 300
        while {v.status for v in client.describe(MODEL).versions} != {"READY"}:
            assert time.monotonic() < deadline, client.describe(MODEL)
            time.sleep(0.2)
        described = client.describe(MODEL)
        assert described.default_version == "2"
        by_version = {v.version: v for v in described.versions}
        assert set(by_version) == {"1", "2"}
        production, standby = by_version["2"], by_version["1"]
        assert (production.min_workers, production.max_workers) == (1, 2)
        assert (standby.min_workers, standby.max_workers) == (1, 1)  # standby, like serve
        for version in (production, standby):
            assert (version.batch_size, version.max_batch_delay_ms) == (4, 7), version
            assert version.archive.endswith(".mar")
        answer = client.predict(MODEL, {"inputs": [[0.5] * 64]})
        assert answer.model_version == "2"
        assert client.predict(MODEL, {"inputs": [[0.5] * 64]}, version=1).model_version == "1"

    # responseTimeout: the client does not model it; read TorchServe's own description.
    keys = json.loads(server.key_file.read_text())
    with httpx.Client(timeout=30.0, trust_env=False) as http:
        raw = http.get(
            f"{server.endpoints.management}/models/{MODEL}/all",
            headers={"Authorization": f"Bearer {keys['management']['key']}"},
        ).json()
    timeouts = {entry["modelVersion"]: entry["responseTimeout"] for entry in raw}
    expected = int(props["default_response_timeout"])
    assert timeouts == {"1": expected, "2": expected}


def _args(ts: LocalTorchServe) -> tuple[Path, str, str]:
    return ts.key_file, ts.endpoints.inference, ts.endpoints.management


def test_probe_follows_torchserve(pod: Pod) -> None:
    server = pod.server
    assert check(*_args(server)) is None
    # A plain httpGet probe would fail: /ping without the token is refused (HTTP 400).
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server.endpoints.inference}/ping", timeout=5)
    refused.value.close()
    assert refused.value.code == 400
    assert check(server.serving_dir / "missing.json", *_args(server)[1:]) is not None

    keys = json.loads(server.key_file.read_text())
    old = keys["inference"]["key"]
    keys["inference"]["expiration time"] = "2000-01-01T00:00:00Z"
    server.key_file.write_text(json.dumps(keys))
    assert check(*_args(server)) is None  # renewed with the API key, then pinged
    assert json.loads(server.key_file.read_text())["inference"]["key"] != old

    key_file, inference, management = _args(server)
    argv = ["--key-file", str(key_file), "--inference-url", inference]
    assert main([*argv, "--management-url", management]) == 0
    server.down()  # last test of the module: the fixture's down() is then a no-op
    assert main([*argv, "--management-url", management]) == 1

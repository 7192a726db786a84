"""Pods started from the rendered tree alone: `modelreg k8s render`, `kubectl kustomize`, and
the containers of the rendered pod specs run as local processes, nothing else.

Each pod runs its init containers to completion, then its containers, with the rendered
command, args and env (``valueFrom`` and ``envFrom`` resolved, ``$(VAR)`` expanded); its
ConfigMaps and Secrets are files at their mount paths, its emptyDirs and PVCs fresh folders.
Pods share this host, so the harness maps what a pod's own filesystem and network namespace
would keep apart, and only that, in every string a pod reads (args, env, mounted files):

- mount path -> the pod's folder for that volume (also the regex-escaped form TorchServe's
  ``allowed_urls`` uses);
- Service URL ``http://<svc>[.<ns>[.svc[.cluster.local]]]:<port>`` -> ``127.0.0.1`` and the
  host port of the target pod's container port; a container port (``0.0.0.0:8080``, an
  argument ``8090``) -> that host port on ``127.0.0.1``; gRPC's loopback ports -> free ports.

The Secrets an operator creates are made here: the registry DSN is SQLite (standing in for
the PostgreSQL pod; MLflow's own server runs from the rendered MLflow pod on it, with
``--serve-artifacts``). The trainer logs through that server with the artifact root
``mlflow-artifacts:/`` and its data home is moved away while pods run: a pod that needed the
trainer's disk fails. One replica per Deployment. Shown: the init container fetches both
versions through MLflow's artifact proxy, TorchServe loads them, the router installs the
table, a prediction names Production. The desired versions come from their one owner,
Terraform: `modelreg tf vars`, then the module's own `terraform apply` (built-ins only, as
offline) gives the ConfigMaps and the TorchServe pods' annotations it writes. A promotion
written that way rolls exactly the changed model's TorchServe pods, no router pod: the router
follows its mounted table file (updated in place, as the kubelet does), and the answer names
the new version. No container wrote to its (read-only in the cluster) root filesystem.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from registry_mcp.core.registry import Registry
from registry_mcp.deploy.kubernetes.render import NAMESPACE
from registry_mcp.deploy.kubernetes.workloads import TORCHSERVE_PROBE
from registry_mcp.store.settings import Settings
from registry_mcp.training.trainer import TrainResult
from serving.router.server import free_port
from tests.helpers import COMPLETE_CARD
from tests.k8s.conftest import TERRAFORM, by_kind, kustomize, need, run
from tests.test_cli import invoke

pytestmark = pytest.mark.slow

Obj = dict[str, Any]
MODEL = "mnist-classifier"
CLIENT_KEY = "client-key-of-the-tests"
ADMIN_TOKEN = "admin-token-of-the-tests"
BIN = Path(sys.executable).parent
SRC = Path(__file__).resolve().parents[2] / "src"
IMAGE_HOME = "/var/lib/modelreg"  # the Dockerfile's user's home and MODELREG_HOME
IMAGE_WORKDIR = "/opt/modelreg"
READY_S = 240.0  # TorchServe with two workers on a busy two-core machine


class Terraform:
    """The owner of desired versions: the model-versions module applied on `modelreg tf
    vars`' file (its provider-free part: what it writes is read from its outputs)."""

    def __init__(self, work: Path) -> None:
        self.module = work / "model-versions"
        shutil.copytree(TERRAFORM / "modules" / "model-versions", self.module)
        self._tf = need("terraform")
        run([self._tf, "init", "-input=false", "-no-color"], cwd=self.module)

    def apply(self, tfvars: Path) -> tuple[list[Obj], dict[str, Obj]]:
        """The ConfigMaps it owns, and each TorchServe Deployment's pod annotations."""
        args = ["apply", "-input=false", "-auto-approve", "-no-color", f"-var-file={tfvars}"]
        run([self._tf, *args], cwd=self.module)
        outputs = json.loads(run([self._tf, "output", "-json", "-no-color"], cwd=self.module))
        configmaps = [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": name,
                    "namespace": NAMESPACE,
                    "annotations": made.get("annotations") or {},
                },
                "data": made["data"],
            }
            for name, made in outputs["configmaps"]["value"].items()
        ]
        names = outputs["k8s_names"]["value"]
        annotations = {
            f"ts-{names[model]}": made for model, made in outputs["annotations"]["value"].items()
        }
        return configmaps, annotations


def cluster_objects(tree: Path, owner: tuple[list[Obj], dict[str, Obj]]) -> list[Obj]:
    """Everything the cluster holds: the cpu overlay (no version data), plus what Terraform
    writes: its ConfigMaps and the annotations on the TorchServe Deployments."""
    rendered = kustomize(tree / "overlays" / "cpu")
    configmaps, annotations = owner
    owned = {doc["metadata"]["name"] for doc in configmaps}
    assert not owned & set(by_kind(rendered, "ConfigMap")), "two owners of one ConfigMap"
    for name, deployment in by_kind(rendered, "Deployment").items():
        if name in annotations:
            template = deployment["spec"]["template"]["metadata"]
            template["annotations"] = {**template.get("annotations", {}), **annotations[name]}
    return rendered + configmaps


# ------------------------------------------------------------------ the harness


@dataclass
class Pod:
    deployment: str
    template: Obj
    folder: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    folders: dict[str, Path] = field(default_factory=dict)  # volume -> its folder
    mounts: dict[str, Path] = field(default_factory=dict)  # mount path -> its folder


class Host:
    """Runs pods of rendered objects as processes on this host (see the module docstring)."""

    def __init__(self, root: Path, secrets: dict[str, dict[str, str]]) -> None:
        self.root = root
        self.secrets = secrets
        self.objects: list[Obj] = []
        self.host_ports: dict[tuple[str, int], int] = {}  # (deployment, container port)
        self.pods: dict[str, Pod] = {}
        self.started: list[Pod] = []
        self._count = 0

    # ---------------------------------------------------------- name resolution

    def load(self, objects: list[Obj]) -> None:
        self.objects = objects
        for name, deployment in by_kind(objects, "Deployment").items():
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                for port in container.get("ports", []):
                    self.host_ports.setdefault((name, port["containerPort"]), free_port())

    def deployment(self, name: str) -> Obj:
        return by_kind(self.objects, "Deployment")[name]

    def _service_port(self, service: str, port: int) -> int | None:
        found = by_kind(self.objects, "Service").get(service)
        if found is None:
            return None
        selector = found["spec"]["selector"]
        for name, deployment in by_kind(self.objects, "Deployment").items():
            pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
            if selector.items() <= pod_labels.items():
                for item in found["spec"]["ports"]:
                    if item["port"] == port:
                        return self.host_ports[(name, item["targetPort"])]
        return None

    def _own_ports(self, pod: Pod) -> dict[int, int]:
        return {
            port: host for (name, port), host in self.host_ports.items() if name == pod.deployment
        }

    def rewrite(self, pod: Pod, mounts: dict[str, Path], text: str, *, paths: bool = True) -> str:
        """``text`` as this pod sees it on this host: Service URLs, own ports and (unless
        ``paths`` is False: a Secret's value is the operator's, not a path in the pod) mount
        paths."""
        own = {
            port: host for (name, port), host in self.host_ports.items() if name == pod.deployment
        }

        def service(match: re.Match[str]) -> str:
            mapped = self._service_port(match["host"], int(match["port"]))
            return match[0] if mapped is None else f"{match['scheme']}127.0.0.1:{mapped}"

        suffix = rf"(?:\.{NAMESPACE}(?:\.svc(?:\.cluster\.local)?)?)?"
        text = re.sub(
            rf"(?P<scheme>https?://)(?P<host>[a-z0-9-]+){suffix}:(?P<port>\d+)", service, text
        )
        text = re.sub(
            r"0\.0\.0\.0(?::(\d+))?",
            lambda m: "127.0.0.1" + (f":{own[int(m[1])]}" if m[1] else ""),
            text,
        )
        text = re.sub(r"^(grpc_\w+_port)=\d+$", lambda m: f"{m[1]}={free_port()}", text, flags=re.M)
        if not paths:
            return text
        forms = {path: str(folder) for path, folder in mounts.items()}
        forms |= {
            _escaped(path): _escaped(str(folder))
            for path, folder in mounts.items()
            if _escaped(path) != path
        }
        pattern = "|".join(re.escape(p) for p in sorted(forms, key=len, reverse=True))
        return re.sub(rf"(?<![\w.-])({pattern})(?![\w.-])", lambda m: forms[m[1]], text)

    # ---------------------------------------------------------- pods

    def start(self, name: str) -> Pod:
        """Start pod ``name`` (a Deployment): volumes, init containers to completion, then
        its containers; returns once every container's readiness probe passes."""
        self._count += 1
        template = self.deployment(name)["spec"]["template"]
        pod = Pod(name, template, self.root / "pods" / f"{name}-{self._count}")
        spec = template["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        folders = {v: pod.folder / "v" / v for v in volumes}
        for volume_name, volume in volumes.items():  # a claim outlives its pods
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                folders[volume_name] = self.root / "claims" / claim
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        containers = spec.get("initContainers", []) + spec["containers"]
        mounts = {
            m["mountPath"]: folders[m["name"]]
            for c in containers
            for m in c.get("volumeMounts", [])
        }
        pod.folders, pod.mounts = folders, mounts
        self._write_volume_files(pod)
        self.pods[name] = pod
        self.started.append(pod)
        for init in spec.get("initContainers", []):
            done = self._run(pod, init, mounts)
            try:
                code = done.wait(timeout=600)
            except subprocess.TimeoutExpired:
                stop_group(done)  # a hung init container is not left behind
                raise
            assert code == 0, _logs(pod, init["name"])
        for container in spec["containers"]:
            pod.processes.append(self._run(pod, container, mounts))
        for container in spec["containers"]:
            self._wait_ready(pod, container, mounts)
        return pod

    def _write_volume_files(self, pod: Pod) -> None:
        """The files of its ConfigMaps and Secrets (again: the kubelet's in-place update of a
        mounted ConfigMap, which a running pod sees)."""
        for volume in pod.template["spec"]["volumes"]:
            for file_name, text in self._volume_files(volume).items():
                target = pod.folders[volume["name"]] / file_name
                staged = target.with_name(f".{file_name}.new")
                staged.write_text(self.rewrite(pod, pod.mounts, text))
                staged.replace(target)  # atomic, as the kubelet's symlink swap

    def refresh(self, name: str) -> None:
        """A running pod's mounted ConfigMaps follow the objects now loaded."""
        self._write_volume_files(self.pods[name])

    def stop(self, name: str) -> None:
        pod = self.pods.pop(name)
        for process in pod.processes:
            stop_group(process)

    def stop_all(self) -> None:
        for name in list(self.pods):
            self.stop(name)

    def _volume_files(self, volume: Obj) -> dict[str, str]:
        if "configMap" in volume:
            data = by_kind(self.objects, "ConfigMap")[volume["configMap"]["name"]]["data"]
            items = volume["configMap"].get("items")
        elif "secret" in volume:
            data = self.secrets[volume["secret"]["secretName"]]
            items = volume["secret"].get("items")
        else:
            return {}  # emptyDir, PVC: an empty folder
        if items is None:
            return dict(data)
        return {item["path"]: data[item["key"]] for item in items}

    def _env(self, pod: Pod, container: Obj, mounts: dict[str, Path]) -> dict[str, str]:
        """The image's environment, then envFrom, then env (later wins, as the kubelet does)."""
        image_home = self._image_path(pod, mounts, IMAGE_HOME)
        env = {  # the Dockerfile's ENV and user
            "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": str(SRC),  # the image installs the package; here it is the worktree
            "HOME": image_home,
            "MODELREG_HOME": image_home,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
            "LANG": "C.UTF-8",
        }
        if "JAVA_HOME" in os.environ:
            env["JAVA_HOME"] = os.environ["JAVA_HOME"]
        maps = by_kind(self.objects, "ConfigMap")
        for source in container.get("envFrom", []):
            ref = source["configMapRef"]
            if ref["name"] in maps:
                data = maps[ref["name"]]["data"]
                env.update({k: self.rewrite(pod, mounts, v) for k, v in data.items()})
            else:
                assert ref.get("optional"), f"{pod.deployment}: no ConfigMap {ref['name']}"
        for item in container.get("env", []):
            if "value" in item:
                value = self.rewrite(pod, mounts, _expand(item["value"], env))
            elif "secretKeyRef" in item["valueFrom"]:
                ref = item["valueFrom"]["secretKeyRef"]
                value = self.rewrite(
                    pod, mounts, self.secrets[ref["name"]][ref["key"]], paths=False
                )
            else:
                ref = item["valueFrom"]["configMapKeyRef"]
                value = self.rewrite(pod, mounts, maps[ref["name"]]["data"][ref["key"]])
            env[item["name"]] = value
        return env

    def _image_path(self, pod: Pod, mounts: dict[str, Path], path: str) -> str:
        """Where ``path`` of the image is: a mounted volume, else the pod's root filesystem
        (read-only in the cluster: ``root_writes`` lists what a container wrote there)."""
        mapped = self.rewrite(pod, mounts, path)
        return mapped if mapped != path else str(pod.folder / "rootfs" / path.lstrip("/"))

    def root_writes(self) -> list[str]:
        """Files any pod wrote to its root filesystem: each would fail in the cluster."""
        return sorted(
            str(found)
            for pod in self.started
            for found in (pod.folder / "rootfs").rglob("*")
            if found.is_file()
        )

    def _argv(self, pod: Pod, container: Obj, mounts: dict[str, Path]) -> list[str]:
        env = self._env(pod, container, mounts)
        own = {str(port): str(host) for port, host in self._own_ports(pod).items()}
        argv = [_expand(a, env) for a in container.get("command", []) + container.get("args", [])]
        return [own.get(a, self.rewrite(pod, mounts, a)) for a in argv]

    def _run(self, pod: Pod, container: Obj, mounts: dict[str, Path]) -> subprocess.Popen[bytes]:
        env = self._env(pod, container, mounts)
        cwd = Path(self._image_path(pod, mounts, container.get("workingDir", IMAGE_WORKDIR)))
        cwd.mkdir(parents=True, exist_ok=True)
        Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
        with (pod.folder / f"{container['name']}.log").open("wb") as log:
            return subprocess.Popen(
                self._argv(pod, container, mounts),
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as one, like a pod
            )

    def _wait_ready(self, pod: Pod, container: Obj, mounts: dict[str, Path]) -> None:
        probe = container["readinessProbe"]
        index = pod.template["spec"]["containers"].index(container)
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            assert pod.processes[index].poll() is None, _logs(pod, container["name"])
            if self._probe(pod, container, probe, mounts):
                return
            time.sleep(1.0)
        pytest.fail(
            f"{pod.deployment}/{container['name']} not ready\n" + _logs(pod, container["name"])
        )

    def _probe(self, pod: Pod, container: Obj, probe: Obj, mounts: dict[str, Path]) -> bool:
        if "httpGet" in probe:
            port = self.host_ports[(pod.deployment, probe["httpGet"]["port"])]
            return http_status(f"http://127.0.0.1:{port}{probe['httpGet']['path']}") == 200
        command = list(probe["exec"]["command"])
        if command == TORCHSERVE_PROBE:
            # Its defaults are the pod's own ports and key file, which this host maps.
            ports = {p: self.host_ports[(pod.deployment, p)] for p in (8080, 8081)}
            home = self.rewrite(pod, mounts, "/srv/torchserve")
            command += [
                "--inference-url",
                f"http://127.0.0.1:{ports[8080]}",
                "--management-url",
                f"http://127.0.0.1:{ports[8081]}",
                "--key-file",
                f"{home}/key_file.json",
            ]
        env = self._env(pod, container, mounts)
        done = subprocess.run(command, env=env, capture_output=True, timeout=60, check=False)
        return done.returncode == 0


def _escaped(path: str) -> str:
    """A path as a regex in a Java properties file (``allowed_urls``): ``model\\\\-store``."""
    return re.escape(path).replace("\\", "\\\\")


def _expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion (an unknown name stays as written)."""
    return re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), text)


def _logs(pod: Pod, container: str) -> str:
    path = pod.folder / f"{container}.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    return f"--- {pod.deployment}/{container}:\n{text[-4000:]}"


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group we started (then SIGKILL), as a pod's deletion does."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # TorchServe's workers, if any outlived it


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)
    except OSError:
        return 0


def predict(router: int) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{router}/predictions/{MODEL}",
        data=json.dumps({"inputs": [[0.5] * 64, [0.0] * 64]}).encode(),
        headers={"content-type": "application/json", "x-api-key": CLIENT_KEY},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), dict(exc.headers), exc.read()


# ------------------------------------------------------------------ the test


@dataclass
class Operator:
    """The operator's machine: the trainer's data home, the CLI and Terraform."""

    home: Path
    tree: Path
    capsys: pytest.CaptureFixture[str]
    terraform: Terraform

    def cli(self, *args: str) -> str:
        code, out, err = invoke(self.capsys, *args)
        assert code == 0, f"modelreg {' '.join(args)}: {out}{err}"
        return out

    def render(self, *registry: str) -> list[Obj]:
        """`k8s render` (the platform), `tf vars` + `terraform apply` (the versions); both
        refuse versions stored under file:// (pods could not fetch them)."""
        tfvars = self.tree.parent / "model_versions.auto.tfvars.json"
        self.cli("k8s", "render", *registry, "--out", str(self.tree))
        self.cli("tf", "vars", *registry, "--out", str(tfvars))
        return cluster_objects(self.tree, self.terraform.apply(tfvars))


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    keys = {"keys": {hashlib.sha256(CLIENT_KEY.encode()).hexdigest(): "tests"}}
    db = tmp_path / "database"
    db.mkdir()
    dsn = f"sqlite:///{db / 'registry.db'}"
    secrets = {
        "modelreg-db": {"dsn": dsn, "password": "unused-with-sqlite"},
        # SQLite has no roles: the same file stands in for the read-only DSN.
        "modelreg-db-readonly": {"dsn": dsn, "password": "unused-with-sqlite"},
        "modelreg-router": {"admin-token": ADMIN_TOKEN, "client-keys.json": json.dumps(keys)},
        "modelreg-mcp": {"token": "mcp-token-of-the-tests"},
    }
    # Short: TorchServe's workers listen on Unix sockets under the pod's /tmp (108 bytes max).
    root = Path(tempfile.mkdtemp(prefix="pods-", dir="/tmp"))
    running = Host(root, secrets)
    try:
        yield running
    finally:
        running.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def test_pods_of_the_rendered_tree_serve_and_follow_a_promotion(
    host: Host,
    trained: TrainResult,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    need("kubectl")
    need("java")
    trainer = tmp_path / "trainer-home"
    hidden = tmp_path / "trainer-home-moved-away"
    trainer.mkdir()
    operator = Operator(trainer, tmp_path / "k8s", capsys, Terraform(tmp_path / "tf"))
    monkeypatch.setenv("MODELREG_HOME", str(trainer))
    monkeypatch.delenv("MODELREG_MODELS_CONFIG", raising=False)
    host.load(operator.render("--no-registry"))

    # MLflow from its rendered pod, on the registry database, proxying the artifact store.
    host.start("mlflow")
    mlflow = f"http://127.0.0.1:{host.host_ports[('mlflow', 5000)]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", host.secrets["modelreg-db"]["dsn"])
    monkeypatch.setenv("MODELREG_ARTIFACT_ROOT", "mlflow-artifacts:/modelreg")
    monkeypatch.setenv("MODELREG_EXPERIMENT", "cluster")
    monkeypatch.setenv("MODELREG_ACTOR", "carol")
    registry = Registry.open(Settings())
    try:
        _, uri = registry.log_pytorch_run(
            model=trained.model,
            input_example=trained.input_example,
            params={"seed": 0},
            metrics={"test_accuracy": trained.accuracy},
            pip_requirements=["torch", "mlflow"],
            run_name="cluster",
        )
        for _ in (1, 2):
            registry.register(MODEL, uri, actor="carol", card=COMPLETE_CARD)
        for version in (1, 2):
            assert registry.download_uri(MODEL, version).startswith("mlflow-artifacts:/")
    finally:
        registry.close()
    for version, stage in (("1", "staging"), ("1", "production"), ("2", "staging")):
        operator.cli("promote", MODEL, version, "--stage", stage, "-r", "ok", "--yes")
    host.load(operator.render())

    trainer.rename(hidden)  # pods get nothing from the trainer's disk
    ts = host.start("ts-mnist-classifier")
    store = ts.folder / "v" / "model-store"
    fetched = sorted(p.name.rsplit("-", 1)[0] for p in store.glob("*.mar"))
    assert fetched == [f"{MODEL}-v1", f"{MODEL}-v2"]
    host.start("modelreg-router")
    router = host.host_ports[("modelreg-router", 8090)]
    with urllib.request.urlopen(f"http://127.0.0.1:{router}/readyz", timeout=10) as response:
        assert json.loads(response.read())["models"] == {MODEL: {"ready": True}}
    status, headers, body = predict(router)
    assert status == 200, body
    assert headers["x-model-version"] == "1"

    # A promotion, written by the owner of desired versions: only that model's pods roll;
    # the router installs its updated table file once TorchServe has the versions.
    hidden.rename(trainer)
    operator.cli("promote", MODEL, "2", "--stage", "production", "-r", "better", "--yes")
    before = {n: d["spec"]["template"] for n, d in by_kind(host.objects, "Deployment").items()}
    host.load(operator.render())
    trainer.rename(hidden)
    after = {n: d["spec"]["template"] for n, d in by_kind(host.objects, "Deployment").items()}
    rolled = sorted(name for name in after if after[name] != before[name])
    assert rolled == ["ts-mnist-classifier"]
    host.stop("ts-mnist-classifier")
    host.start("ts-mnist-classifier")
    host.refresh("modelreg-router")  # the kubelet updates the mounted table in place
    deadline = time.monotonic() + READY_S
    while True:
        status, headers, body = predict(router)
        if status == 200 and headers["x-model-version"] == "2":
            break
        assert time.monotonic() < deadline, f"the router did not follow its table: {body!r}"
        time.sleep(1.0)
    assert headers.get("x-model-name") == MODEL
    assert host.root_writes() == []  # nothing needs a writable root filesystem

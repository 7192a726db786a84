"""Serving fixtures: two digits models saved with MLflow, and ONE real TorchServe per session.

The TorchServe fixture skips (with the reason) only when ``java`` is absent; teardown stops it
and checks that no java or worker process of it is left.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

from serving.archive import ArchiveResult, build_archive
from serving.local import LocalPorts, LocalTorchServe
from serving.torchserve import TorchServeClient

#: A registry-style name TorchServe cannot take as is: exercises serving.naming end to end.
MODEL = "digits classifier"


@dataclass(frozen=True)
class Digits:
    x: np.ndarray[Any, Any]  # (n, 64) float32 in [0, 1]
    y: np.ndarray[Any, Any]


@dataclass(frozen=True)
class SavedModels:
    """MLflow model directories of registry versions 1 and 2 (different weights)."""

    dirs: dict[int, Path]


@contextmanager
def quiet_mlflow() -> Iterator[None]:
    """MLflow warns (UserWarning, at first import of mlflow.pyfunc) about its own type hints."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Any type hint.*", category=UserWarning)
        yield


@pytest.fixture(scope="session")
def digits() -> Digits:
    from sklearn.datasets import load_digits

    data = load_digits()
    return Digits(x=(data.data / 16.0).astype(np.float32), y=data.target.astype(np.int64))


def _train(digits: Digits, seed: int, epochs: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 10),
        torch.nn.Softmax(dim=1),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.from_numpy(digits.x), torch.from_numpy(digits.y)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = torch.nn.functional.nll_loss(torch.log(model(x) + 1e-9), y)
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="session")
def saved_models(digits: Digits, tmp_path_factory: pytest.TempPathFactory) -> SavedModels:
    import mlflow
    import mlflow.pytorch
    from mlflow.models import infer_signature

    root = tmp_path_factory.mktemp("mlflow-models")
    dirs: dict[int, Path] = {}
    for version, seed, epochs in ((1, 0, 30), (2, 1, 120)):
        model = _train(digits, seed, epochs)
        example = digits.x[:2]  # batch >= 2, or the pt2 export is specialised to batch 1
        with torch.no_grad():
            signature = infer_signature(example, model(torch.from_numpy(example)).numpy())
        path = root / f"v{version}"
        with quiet_mlflow():
            mlflow.pytorch.save_model(
                model,
                str(path),
                signature=signature,
                input_example=example,
                pip_requirements=[
                    f"torch=={torch.__version__.split('+')[0]}",
                    f"mlflow=={mlflow.__version__}",
                ],
            )
        dirs[version] = path
    return SavedModels(dirs=dirs)


@pytest.fixture(scope="session")
def java() -> str:
    found = shutil.which("java")
    if found is None:
        pytest.skip("java is not installed: TorchServe 0.12 needs a Java 17 runtime")
    return found


@pytest.fixture(scope="session")
def torchserve(java: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTorchServe]:
    server = LocalTorchServe(tmp_path_factory.mktemp("serving"), ports=LocalPorts.free())
    server.up()
    try:
        yield server
    finally:
        server.down()
        assert not leftover_processes(server), "TorchServe processes survived down()"


@pytest.fixture(scope="session")
def client(torchserve: LocalTorchServe) -> Iterator[TorchServeClient]:
    with torchserve.client() as ts_client:
        yield ts_client


@pytest.fixture(scope="session")
def archives(saved_models: SavedModels, torchserve: LocalTorchServe) -> dict[int, ArchiveResult]:
    return {
        version: build_archive(path, MODEL, version, torchserve.model_store)
        for version, path in saved_models.dirs.items()
    }


def leftover_processes(server: LocalTorchServe, wait_s: float = 10.0) -> list[int]:
    """Pids still alive (after up to ``wait_s``) of the java server or its workers.

    Both carry the server's private tmp dir on their command line (java.io.tmpdir, and the
    workers' socket path), which also finds workers re-parented after a java crash.
    """
    mark = str(server.tmp_dir).encode()
    deadline = time.monotonic() + wait_s
    while True:
        alive = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if mark in cmdline:
                alive.append(int(proc.name))
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


# --------------------------------------------------------------------- router fixtures

#: Registry names of the router's models: two versions of one, and a second model.
ROUTER_MODEL = "router digits"
ROUTER_CRITICAL = "router-digits-critical"


@dataclass(frozen=True)
class RouterModels:
    """TorchServe names and loaded versions of the router tests' models."""

    served: dict[str, str]  # registry name -> TorchServe name
    versions: dict[str, tuple[int, ...]]


@pytest.fixture(scope="session")
def router_models(
    saved_models: SavedModels, torchserve: LocalTorchServe, client: TorchServeClient
) -> Iterator[RouterModels]:
    """``router digits`` v1 + v2 and ``router-digits-critical`` v1, one worker each."""
    from serving.naming import served_name

    plan = {ROUTER_MODEL: {1: 1, 2: 2}, ROUTER_CRITICAL: {1: 2}}  # version -> weights of vN
    served = {name: served_name(name) for name in plan}
    for name, versions in plan.items():
        for version, weights in versions.items():
            archive = build_archive(
                saved_models.dirs[weights], name, version, torchserve.model_store
            )
            client.register(archive.file_name, served[name], version, initial_workers=1)
    try:
        yield RouterModels(served=served, versions={name: tuple(v) for name, v in plan.items()})
    finally:
        for name, versions in plan.items():
            default = client.default_version(served[name])
            for version in sorted(versions, key=lambda v: str(v) == default):
                client.unregister(served[name], version)


@dataclass
class RunningRouter:
    """A router app served by uvicorn in a thread of the test process."""

    url: str
    app: Any  # serving.router.app.RouterApp
    admin_token: str
    thread: Any
    server: Any

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the router thread did not stop"


@contextmanager
def running_router(app: Any, admin_token: str) -> Iterator[RunningRouter]:
    import threading

    import uvicorn

    from serving.router.server import free_port
    from serving.router.stack import server_stack

    port = free_port()
    stack = server_stack()  # the HTTP stack `python -m serving.router` runs on
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        http=stack.http,
        loop=stack.loop,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="router", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the router thread died during start-up"
        assert time.monotonic() < deadline, "the router did not start in 30 s"
        time.sleep(0.02)
    running = RunningRouter(f"http://127.0.0.1:{port}", app, admin_token, thread, server)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def router(
    torchserve: LocalTorchServe,
    client: TorchServeClient,
    router_models: RouterModels,
    tmp_path: Path,
) -> Iterator[RunningRouter]:
    """A fresh router (empty table, own state file) in front of the session's TorchServe."""
    with router_in_front(torchserve, client, tmp_path) as running:
        yield running


@contextmanager
def router_in_front(
    torchserve: LocalTorchServe, client: TorchServeClient, tmp_path: Path, **settings: Any
) -> Iterator[RunningRouter]:
    """A router app in front of ``torchserve`` (its own state file under ``tmp_path``;
    ``settings``: more ``RouterSettings`` fields), served by uvicorn in a thread."""
    from serving.router.server import RouterSettings, build_app

    config = RouterSettings(
        inference_url=torchserve.endpoints.inference,
        management_url=torchserve.endpoints.management,
        key_file=torchserve.key_file,
        state_file=tmp_path / "router-state.json",
        **settings,
    )
    token = "admin-" + "x" * 26
    app = build_app(config, token, client, refresh_token=client)
    with running_router(app, token) as running:
        yield running

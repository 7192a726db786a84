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

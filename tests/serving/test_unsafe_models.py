"""Loading a model never runs code from the registry: the archive builder and the handler refuse.

The attack: a pickled PyTorch model whose unpickling touches a sentinel file, logged to a real
MLflow registry (SQLite) and promoted to staging. Nothing here may ever create the sentinel,
except the one test that shows the payload is real by loading it the way the handler used to.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from serving import safe_model
from serving.archive import build_archive, content_hash, trust_marker
from serving.errors import ServingError, ServingErrorCode
from serving.handler import mlflow_handler
from serving.handler.mlflow_handler import MlflowHandler
from serving.safe_model import TRUST_MARKER, load_safety_problems
from tests.serving.conftest import Digits, SavedModels, quiet_mlflow
from tests.serving.test_handler import FakeContext, request

MODEL = "digits-unsafe"


class Payload(torch.nn.Module):
    """A working classifier whose unpickling first touches ``sentinel`` (stands for any code)."""

    def __init__(self, sentinel: Path) -> None:
        super().__init__()
        self.sentinel = str(sentinel)
        self.linear = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.linear(x), dim=1)

    def __reduce__(self) -> tuple[Any, ...]:
        code = (
            f"__import__('pathlib').Path({self.sentinel!r}).touch() "
            "or __import__('torch').nn.Sequential(__import__('torch').nn.Linear(64, 10))"
        )
        return (eval, (code,))


def save_pickled(path: Path, model: torch.nn.Module) -> Path:
    """An MLflow model saved with serialization_format='pickle' (the unsafe, non-default one)."""
    import mlflow.pytorch
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 64))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 10))]),
    )
    with quiet_mlflow():
        # No input example and explicit requirements: MLflow would otherwise load the model.
        mlflow.pytorch.save_model(
            model,
            str(path),
            signature=signature,
            serialization_format="pickle",
            pip_requirements=["torch", "mlflow"],
        )
    return path


@dataclass(frozen=True)
class Staged:
    """The downloaded model directory of a registry version that holds the ``staging`` alias."""

    model_dir: Path
    version: int
    sentinel: Path


def log_register_and_stage(root: Path, model_dir: Path) -> tuple[Path, int]:
    """Log, register and alias ``model_dir`` staging in a fresh SQLite registry; download it."""
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("unsafe", artifact_location=(root / "a").as_uri())
    run = client.create_run(experiment)
    logged = client.create_logged_model(
        experiment, name="model", source_run_id=run.info.run_id, model_type="pytorch"
    )
    client.log_model_artifacts(logged.model_id, str(model_dir))
    client.finalize_logged_model(logged.model_id, "READY")
    client.set_terminated(run.info.run_id)
    client.create_registered_model(MODEL)
    version = client.create_model_version(
        MODEL, logged.artifact_location, run_id=run.info.run_id, model_id=logged.model_id
    )
    client.set_registered_model_alias(MODEL, "staging", version.version)
    staged = client.get_model_version_by_alias(MODEL, "staging")
    local = download_artifacts(
        artifact_uri=client.get_model_version_download_uri(MODEL, staged.version),
        dst_path=str(root / "download"),
        tracking_uri=uri,
    )
    return Path(local), int(staged.version)


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Staged:
    root = tmp_path_factory.mktemp("unsafe-registry")
    sentinel = root / "PAYLOAD-RAN"
    saved = save_pickled(root / "saved", Payload(sentinel))
    model_dir, version = log_register_and_stage(root, saved)
    assert not sentinel.exists(), "logging and registering must not load the model"
    return Staged(model_dir=model_dir, version=version, sentinel=sentinel)


def archive_like(model_dir: Path, target: Path) -> Path:
    """What TorchServe extracts from an archive: the model directory plus the handler files."""
    shutil.copytree(model_dir, target)
    shutil.copy(mlflow_handler.__file__, target / "mlflow_handler.py")
    shutil.copy(safe_model.__file__, target / "safe_model.py")
    (target / "MAR-INF").mkdir()
    (target / "MAR-INF" / "MANIFEST.json").write_text('{"model": {"modelVersion": "1"}}')
    return target


def initialize(context: FakeContext) -> MlflowHandler:
    handler = MlflowHandler()
    with quiet_mlflow():
        handler.initialize(context)
    return handler


def extract(mar: Path, target: Path) -> Path:
    with zipfile.ZipFile(mar) as archive:
        archive.extractall(target)
    return target


def test_the_payload_is_real(tmp_path: Path) -> None:
    import mlflow.pytorch

    sentinel = tmp_path / "ran"
    model_dir = save_pickled(tmp_path / "model", Payload(sentinel))
    assert not sentinel.exists()
    model = mlflow.pytorch.load_model(str(model_dir))  # what the handler used to do
    assert sentinel.exists()
    assert model(torch.zeros(2, 64)).shape == (2, 10)


def test_build_archive_refuses_a_staged_pickled_model(staged: Staged, tmp_path: Path) -> None:
    store = tmp_path / "store"
    with pytest.raises(ServingError) as caught:
        build_archive(staged.model_dir, MODEL, staged.version, store)
    error = caught.value
    assert error.code is ServingErrorCode.UNSAFE_MODEL
    assert not error.is_system_error
    assert f"model {MODEL!r} version {staged.version}" in error.message
    assert "data/model.pth (a pickled PyTorch model" in error.message
    assert "pt2 export format" in error.message
    assert "mark this version trusted" in error.message
    assert not store.exists()
    assert not staged.sentinel.exists()


def test_the_handler_refuses_a_pickled_model(staged: Staged, tmp_path: Path) -> None:
    handler = MlflowHandler()
    context = FakeContext(archive_like(staged.model_dir, tmp_path / "root"), version="1")
    with pytest.raises(RuntimeError, match="refusing to serve model") as caught, quiet_mlflow():
        handler.initialize(context)
    assert "data/model.pth" in str(caught.value)
    assert "pt2 export format" in str(caught.value)
    assert handler.model is None
    assert not handler.initialized
    assert not staged.sentinel.exists()


def test_a_trusted_version_is_archived_with_the_marker(staged: Staged, tmp_path: Path) -> None:
    result = build_archive(
        staged.model_dir, MODEL, staged.version, tmp_path / "store", allow_code_on_load=True
    )
    assert result.content_hash == content_hash(staged.model_dir, trust=trust_marker())
    assert result.content_hash != content_hash(staged.model_dir)
    with zipfile.ZipFile(result.path) as mar:
        assert json.loads(mar.read(TRUST_MARKER)) == {"allow_code_on_load": True}
        assert "data/model.pth" in mar.namelist()
    assert not staged.sentinel.exists()  # building never loads the model


def test_the_handler_loads_a_trusted_pickled_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    benign = torch.nn.Sequential(torch.nn.Linear(64, 10), torch.nn.Softmax(dim=1))
    model_dir = save_pickled(tmp_path / "model", benign)
    result = build_archive(model_dir, MODEL, 4, tmp_path / "store", allow_code_on_load=True)
    root = extract(result.path, tmp_path / "root")
    handler = initialize(FakeContext(root, version="4"))
    [reply] = handler.handle([request([[0.5] * 64])], FakeContext())
    assert reply["model_version"] == "4"
    assert len(reply["predictions"][0]["probabilities"]) == 10
    # Without the marker the same archive is refused.
    (root / TRUST_MARKER).unlink()
    with pytest.raises(RuntimeError, match=r"data/model\.pth"):
        initialize(FakeContext(root))


def test_a_pt2_model_builds_and_loads_from_its_archive(
    saved_models: SavedModels, digits: Digits, tmp_path: Path
) -> None:
    assert load_safety_problems(saved_models.dirs[1]) == []
    result = build_archive(saved_models.dirs[1], MODEL, 1, tmp_path / "store")
    root = extract(result.path, tmp_path / "root")
    assert not (root / TRUST_MARKER).exists()
    before = os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION")
    handler = initialize(FakeContext(root, version="1"))
    assert os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION") == before
    [reply] = handler.handle([request({"inputs": digits.x[:3].tolist()})], FakeContext())
    assert len(reply["predictions"]) == 3


# ----------------------------------------------------------- other ways to run code on load


def _code_dir(model_dir: Path) -> None:
    (model_dir / "code").mkdir()
    (model_dir / "code" / "helpers.py").write_text("import os\n")


def _mlmodel(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def apply(model_dir: Path) -> None:
        import yaml

        path = model_dir / "MLmodel"
        mlmodel = yaml.safe_load(path.read_text())
        edit(mlmodel["flavors"])
        path.write_text(yaml.safe_dump(mlmodel))

    return apply


def _python_file(model_dir: Path) -> None:
    (model_dir / "numpy_patch.py").write_text("import os\n")


def _pt2_records(edit: Callable[[dict[str, bytes]], None]) -> Callable[[Path], None]:
    def apply(model_dir: Path) -> None:
        path = model_dir / "data" / "model.pt2"
        with zipfile.ZipFile(path) as archive:
            prefix = archive.namelist()[0].split("/", 1)[0]
            records = {n.split("/", 1)[1]: archive.read(n) for n in archive.namelist()}
        edit(records)
        with zipfile.ZipFile(path, "w") as archive:
            for name, content in records.items():
                archive.writestr(f"{prefix}/{name}", content)

    return apply


def _sympy_eval(sentinel: Path) -> Callable[[dict[str, bytes]], None]:
    # torch.export.load parses shape expressions with sympy.sympify, an eval.
    def edit(records: dict[str, bytes]) -> None:
        graph = records["models/model.json"].decode()
        match = re.search(r"Symbol\('\w+'[^)]*\)", graph)
        assert match is not None, "the export has a dynamic batch dimension"
        payload = f"__import__('pathlib').Path({str(sentinel)!r}).touch() or {match.group()}"
        records["models/model.json"] = graph.replace(
            match.group(), json.dumps(payload)[1:-1], 1
        ).encode()

    return edit


def _pickled_weight(sentinel: Path) -> Callable[[dict[str, bytes]], None]:
    # A weight with use_pickle: torch.export.load runs torch.load(weights_only=False) on it.
    def edit(records: dict[str, bytes]) -> None:
        config = json.loads(records["data/weights/model_weights_config.json"])
        entry = next(iter(config["config"].values()))
        entry["use_pickle"] = True
        records["data/weights/model_weights_config.json"] = json.dumps(config).encode()
        buffer = io.BytesIO()
        torch.save(Payload(sentinel), buffer)
        records[f"data/weights/{entry['path_name']}"] = buffer.getvalue()

    return edit


def _graph_target(records: dict[str, bytes]) -> None:
    # Any torch.* attribute resolves as a call target: torch.os.system would run per request.
    graph = records["models/model.json"].decode()
    records["models/model.json"] = graph.replace(
        '"torch.ops.aten.relu.default"', '"torch.os.system"', 1
    ).encode()


def _aoti_library(records: dict[str, bytes]) -> None:
    records["data/aotinductor/model/model.so"] = b"\x7fELF"  # torch would dlopen it


def _evil_sample_inputs(sentinel: Path) -> Callable[[dict[str, bytes]], None]:
    # torch retries a failing weights_only load of the example inputs with weights_only=False.
    def edit(records: dict[str, bytes]) -> None:
        buffer = io.BytesIO()
        torch.save(Payload(sentinel), buffer)
        records["data/sample_inputs/model.pt"] = buffer.getvalue()

    return edit


def _extra_flavor(flavors: dict[str, Any]) -> None:
    flavors["sklearn"] = {"pickled_model": "model.pkl", "serialization_format": "cloudpickle"}


def _pytorch_code(flavors: dict[str, Any]) -> None:
    flavors["pytorch"]["code"] = "code"


def _pyfunc_loader(flavors: dict[str, Any]) -> None:
    flavors["python_function"]["loader_module"] = "mlflow.pyfunc.model"


def _loose_marker(model_dir: Path) -> None:
    (model_dir / TRUST_MARKER).write_text('{"allow_code_on_load": 1}')  # 1 is not true


def _pickled_model_data(model_dir: Path) -> None:
    (model_dir / "data" / "model.pth").write_bytes(b"\x80\x02N.")


UNSAFE: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "code-dir": (lambda d, s: _code_dir(d), "a code/ directory"),
    "flavor-code": (lambda d, s: _mlmodel(_pytorch_code)(d), "pytorch code 'code'"),
    "pyfunc-loader": (
        lambda d, s: _mlmodel(_pyfunc_loader)(d),
        "loader_module 'mlflow.pyfunc.model'",
    ),
    "extra-flavor": (lambda d, s: _mlmodel(_extra_flavor)(d), "flavour 'sklearn'"),
    "python-file": (lambda d, s: _python_file(d), "numpy_patch.py"),
    # A valid marker in the model dir: see test_archive (the handler would trust it).
    "loose-marker": (lambda d, s: _loose_marker(d), TRUST_MARKER),
    "model-pth": (lambda d, s: _pickled_model_data(d), "data/model.pth"),
    "pt2-sympy-eval": (
        lambda d, s: _pt2_records(_sympy_eval(s))(d),
        "is not plain sympy",
    ),
    "pt2-pickled-weight": (lambda d, s: _pt2_records(_pickled_weight(s))(d), "is pickled"),
    "pt2-aoti": (lambda d, s: _pt2_records(_aoti_library)(d), "data/aotinductor"),
    "pt2-graph-target": (
        lambda d, s: _pt2_records(_graph_target)(d),
        "call target 'torch.os.system'",
    ),
    "pt2-sample-inputs": (
        lambda d, s: _pt2_records(_evil_sample_inputs(s))(d),
        "unpickles",
    ),
}


@pytest.mark.parametrize("case", list(UNSAFE))
def test_every_other_way_to_run_code_on_load_is_refused(
    case: str, saved_models: SavedModels, tmp_path: Path
) -> None:
    mutate, reason = UNSAFE[case]
    sentinel = tmp_path / "ran"
    model_dir = shutil.copytree(saved_models.dirs[1], tmp_path / "model")
    mutate(model_dir, sentinel)
    with pytest.raises(ServingError) as caught:
        build_archive(model_dir, MODEL, 2, tmp_path / "store")
    assert caught.value.code is ServingErrorCode.UNSAFE_MODEL
    assert reason in caught.value.message
    root = archive_like(model_dir, tmp_path / "root")
    with pytest.raises(RuntimeError, match="refusing to serve model") as refused:
        initialize(FakeContext(root))
    assert reason in str(refused.value)
    assert not sentinel.exists()

"""Archive building: content hash, cache hits, trust marker, safe file names, clear failures."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from serving import archive, safe_model
from serving.archive import build_archive, content_hash, find_archive, trust_marker
from serving.errors import ServingError, ServingErrorCode
from serving.naming import (
    archive_file_name,
    is_archive_file_name,
    registry_version,
    served_name,
    ts_version,
)

MLMODEL = "flavors:\n  pytorch: {code: null, model_data: data, pytorch_version: 2.13.0}\n"


def write_pt2(path: Path, weights: bytes) -> None:
    """The records of a pt2 export (not a loadable one: the archiver never loads the model)."""
    records = {
        "archive_version": b"0\n",
        "models/model.json": json.dumps(
            {"graph_module": {"graph": {"nodes": [{"target": "torch.ops.aten.linear.default"}]}}}
        ).encode(),
        "data/weights/model_weights_config.json": json.dumps(
            {"config": {"w": {"path_name": "weight_0", "use_pickle": False}}}
        ).encode(),
        "data/weights/weight_0": weights,
    }
    with zipfile.ZipFile(path, "w") as pt2:
        for name, content in records.items():
            # A fixed timestamp: the same records give the same bytes, hence the same hash.
            pt2.writestr(zipfile.ZipInfo(f"model/{name}", (2020, 1, 1, 0, 0, 0)), content)


def fake_mlflow_dir(root: Path, weights: bytes = b"weights-1") -> Path:
    """Enough of an MLflow pt2 model directory for the archiver and its safety check."""
    root.mkdir(parents=True)
    (root / "MLmodel").write_text(MLMODEL)
    (root / "data").mkdir()
    write_pt2(root / "data" / "model.pt2", weights)
    return root


def test_archive_holds_model_files_at_the_root_and_the_handler(tmp_path: Path) -> None:
    model_dir = fake_mlflow_dir(tmp_path / "model")
    result = build_archive(model_dir, "mnist-classifier", 3, tmp_path / "store")
    assert not result.cached
    assert result.path == tmp_path / "store" / result.file_name
    assert result.file_name == f"mnist-classifier-v3-{result.content_hash[:12]}.mar"
    with zipfile.ZipFile(result.path) as mar:
        names = set(mar.namelist())
        manifest = json.loads(mar.read("MAR-INF/MANIFEST.json"))
    assert {"MLmodel", "data/model.pt2", "mlflow_handler.py", "safe_model.py"} <= names
    assert manifest["model"] == {
        "modelName": "mnist-classifier",
        "handler": "mlflow_handler.py",
        "modelVersion": "3",
    }
    # Only the archive is left in the store: no staging directories.
    assert [p.name for p in (tmp_path / "store").iterdir()] == [result.file_name]


def test_rebuild_is_skipped_until_the_content_changes(tmp_path: Path) -> None:
    model_dir = fake_mlflow_dir(tmp_path / "model")
    store = tmp_path / "store"
    first = build_archive(model_dir, "m", 1, store)
    mtime = first.path.stat().st_mtime_ns
    second = build_archive(model_dir, "m", 1, store)
    assert second.cached
    assert (second.path, second.content_hash) == (first.path, first.content_hash)
    assert second.path.stat().st_mtime_ns == mtime
    write_pt2(model_dir / "data" / "model.pt2", b"weights-2")
    third = build_archive(model_dir, "m", 1, store)
    assert not third.cached
    assert third.content_hash != first.content_hash
    assert first.path.exists()  # the old archive stays: TorchServe may still serve it
    # The same content for another version is another archive (the manifest differs).
    assert build_archive(model_dir, "m", 2, store).file_name.startswith("m-v2-")


def test_find_archive_without_the_model_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    model_dir = fake_mlflow_dir(tmp_path / "model")
    assert find_archive(store, "m", 1) is None
    built = build_archive(model_dir, "m", 1, store)
    build_archive(model_dir, "m-v1", 2, store)  # "m-v1-v2-....mar" must not match m v1
    assert find_archive(store, "m", 1) == built.path
    assert find_archive(store, "m", 2) is None
    # After a handler upgrade the old archive no longer counts.
    monkeypatch.setattr(archive, "handler_source", lambda: b"# handler v2\n")
    assert find_archive(store, "m", 1) is None
    rebuilt = build_archive(model_dir, "m", 1, store)
    assert not rebuilt.cached
    assert find_archive(store, "m", 1) == rebuilt.path


def test_hash_covers_paths_contents_and_the_handler(tmp_path: Path) -> None:
    a = fake_mlflow_dir(tmp_path / "a")
    b = fake_mlflow_dir(tmp_path / "b")
    assert content_hash(a) == content_hash(b)  # location does not matter
    assert content_hash(a, b"handler 1") != content_hash(a, b"handler 2")
    (b / "data" / "model.pt2").rename(b / "data" / "other.pt2")
    assert content_hash(a) != content_hash(b)


def test_the_task_is_packed_and_makes_another_archive(tmp_path: Path) -> None:
    model_dir = fake_mlflow_dir(tmp_path / "model")
    store = tmp_path / "store"
    classifier = build_archive(model_dir, "m", 1, store)
    extractor = build_archive(model_dir, "m", 1, store, task="feature-extraction")
    assert extractor.content_hash == content_hash(model_dir, task="feature-extraction")
    assert extractor.content_hash != classifier.content_hash
    with zipfile.ZipFile(extractor.path) as mar:
        assert json.loads(mar.read(archive.SERVING_MARKER)) == {"task": "feature-extraction"}
    with zipfile.ZipFile(classifier.path) as mar:
        assert json.loads(mar.read(archive.SERVING_MARKER)) == {"task": "classification"}
    # A lookup finds only the archive that answers as the caller's task.
    assert find_archive(store, "m", 1) == classifier.path
    assert find_archive(store, "m", 1, task="feature-extraction") == extractor.path
    assert find_archive(store, "m", 1, task="regression") is None


def test_a_trusted_archive_carries_the_marker_and_is_another_archive(tmp_path: Path) -> None:
    model_dir = fake_mlflow_dir(tmp_path / "model")
    store = tmp_path / "store"
    plain = build_archive(model_dir, "m", 1, store)
    trusted = build_archive(model_dir, "m", 1, store, allow_code_on_load=True)
    assert not trusted.cached
    assert trusted.content_hash == content_hash(model_dir, trust=trust_marker())
    assert trusted.content_hash != plain.content_hash
    assert trusted.path != plain.path
    with zipfile.ZipFile(trusted.path) as mar:
        assert json.loads(mar.read(archive.TRUST_MARKER)) == {"allow_code_on_load": True}
        assert "MLmodel" in mar.namelist()
    with zipfile.ZipFile(plain.path) as mar:
        assert archive.TRUST_MARKER not in mar.namelist()
    assert build_archive(model_dir, "m", 1, store, allow_code_on_load=True).cached
    # A lookup finds only the archive whose trust matches what the caller allows.
    assert find_archive(store, "m", 1) == plain.path
    assert find_archive(store, "m", 1, allow_code_on_load=True) == trusted.path


def test_the_trust_marker_is_the_one_the_handler_reads() -> None:
    assert archive.TRUST_MARKER == safe_model.TRUST_MARKER
    assert json.loads(trust_marker()) == safe_model.TRUST_MARKER_CONTENT


def test_the_serving_marker_is_the_one_the_handler_reads() -> None:
    assert archive.SERVING_MARKER == safe_model.SERVING_MARKER
    assert archive.SERVING_MARKER in safe_model.RESERVED_NAMES
    for task in ("classification", "regression", "feature-extraction"):
        assert json.loads(archive.serving_marker(task)) == {"task": task}
        assert task in safe_model.TASKS


@pytest.mark.parametrize(
    "name", ["modelreg-trust.json", "mlflow_handler.py", "safe_model.py", "MAR-INF"]
)
@pytest.mark.parametrize("trusted", [False, True], ids=["untrusted", "trusted"])
def test_a_model_dir_cannot_bring_names_the_archive_owns(
    tmp_path: Path, name: str, trusted: bool
) -> None:
    model_dir = fake_mlflow_dir(tmp_path / "model")
    (model_dir / name).write_text('{"allow_code_on_load": true}\n')
    with pytest.raises(ServingError) as caught:
        build_archive(model_dir, "m", 1, tmp_path / "store", allow_code_on_load=trusted)
    assert caught.value.code is ServingErrorCode.UNSAFE_MODEL
    assert name in caught.value.message
    assert not (tmp_path / "store").exists()


def test_unsafe_model_names_give_safe_distinct_file_names(tmp_path: Path) -> None:
    model_dir = fake_mlflow_dir(tmp_path / "model")
    names = ["digits classifier", "digits_classifier", "../../etc/passwd", "модель ünï 模型"]
    results = [build_archive(model_dir, name, 1, tmp_path / "store") for name in names]
    files = [r.file_name for r in results]
    assert len(set(files)) == len(files)
    for result in results:
        assert is_archive_file_name(result.file_name), result.file_name
        assert result.path.parent == tmp_path / "store"
    assert results[1].served_name == "digits_classifier"  # safe names stay as they are


def test_not_an_mlflow_model_dir(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ServingError) as caught:
        build_archive(tmp_path / "empty", "m", 1, tmp_path / "store")
    assert caught.value.code is ServingErrorCode.ARCHIVE_FAILED
    assert "no MLmodel file" in caught.value.message


@pytest.mark.parametrize(
    ("python", "expected"), [("no-such-python", "cannot run"), ("/bin/false", "(exit 1)")]
)
def test_archiver_failure_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, python: str, expected: str
) -> None:
    model_dir = fake_mlflow_dir(tmp_path / "model")
    monkeypatch.setattr(archive.sys, "executable", str(tmp_path / python))
    with pytest.raises(ServingError) as caught:
        build_archive(model_dir, "m", 1, tmp_path / "store")
    assert caught.value.code is ServingErrorCode.ARCHIVE_FAILED
    assert "torch-model-archiver" in caught.value.message
    assert expected in caught.value.message
    assert not list((tmp_path / "store").glob("*.mar"))


def test_served_names_and_versions() -> None:
    assert served_name("mnist-classifier") == "mnist-classifier"
    unsafe = served_name("my model")
    assert unsafe.startswith("my_model-")
    assert unsafe != served_name("my_model")
    assert served_name("a..b") != "a..b"
    assert len(served_name("x" * 300)) <= 64
    with pytest.raises(ValueError, match="empty"):
        served_name("")
    assert ts_version(12) == "12"
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="positive integers"):
            ts_version(bad)
    assert registry_version("12") == 12
    assert [registry_version(v) for v in ("1.0", "01", "", "٣", "v1")] == [None] * 5
    assert archive_file_name("m", 2, "ab" * 32) == "m-v2-abababababab.mar"
    assert not any(
        is_archive_file_name(n) for n in ("a/b.mar", "../a.mar", "file:///x.mar", "a.zip", ".mar")
    )

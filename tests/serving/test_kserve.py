"""KServe's model server as a backend: a real server process, the v2 protocol over HTTP.

The server runs on an interpreter with the ``kserve`` extra: this one if it has kserve, else
the one ``MODELREG_TEST_KSERVE_PYTHON`` names; without either the module skips with that reason.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from serving.archive import build_archive
from serving.errors import ServingError, ServingErrorCode
from serving.kserve.backend import KServeBackend
from serving.kserve.local import LocalKServe
from tests.serving.backend_contract import check_two_versions
from tests.serving.conftest import MODEL, Digits, SavedModels

NAME = "digits-ks"


def _kserve_python() -> str | None:
    if importlib.util.find_spec("kserve") is not None:
        import sys

        return sys.executable
    return os.environ.get("MODELREG_TEST_KSERVE_PYTHON")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKServe]:
    python = _kserve_python()
    if python is None:
        pytest.skip(
            "kserve is not installed here: install the extra (pip install -e '.[kserve]') or "
            "set MODELREG_TEST_KSERVE_PYTHON to a Python that has it"
        )
    local = LocalKServe(tmp_path_factory.mktemp("kserve"), python=python)
    local.up()
    pid = local.pid
    try:
        yield local
    finally:
        local.down()
        assert pid is not None
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), "the server survived down()"


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


@pytest.fixture(scope="module")
def archives(server: LocalKServe, saved_models: SavedModels) -> dict[int, str]:
    return {
        version: build_archive(path, MODEL, version, server.model_store).file_name
        for version, path in saved_models.dirs.items()
    }


@pytest.fixture
def backend(server: LocalKServe) -> Iterator[KServeBackend]:
    http = httpx.Client(timeout=httpx.Timeout(120.0, connect=5.0), trust_env=False)
    with KServeBackend(server.url, server.token(), http=http) as client:
        yield client


@pytest.fixture
def two_versions(backend: KServeBackend, archives: dict[int, str]) -> Iterator[str]:
    for version in (1, 2):
        backend.load(archives[version], NAME, version)
    backend.set_default(NAME, 1)
    yield NAME
    backend.set_default(NAME, 2)
    for version in (1, 2):
        try:
            backend.unload(NAME, version)
        except ServingError as exc:
            assert exc.code is ServingErrorCode.NOT_FOUND


def test_the_backend_contract(
    backend: KServeBackend, archives: dict[int, str], digits: Digits
) -> None:
    assert backend.kind == "kserve"
    check_two_versions(backend, archives, "contract", digits.x[:5])


def test_v2_inference_per_version_over_plain_http(
    server: LocalKServe, two_versions: str, digits: Digits
) -> None:
    rows = digits.x[:4]
    body = {
        "inputs": [
            {"name": "input", "shape": [4, 64], "datatype": "FP32", "data": rows.ravel().tolist()}
        ]
    }
    base = f"{server.url}/v2/models/{two_versions}"
    with httpx.Client(trust_env=False, timeout=60.0) as http:
        replies = {v: http.post(f"{base}/versions/{v}/infer", json=body) for v in ("1", "2")}
        for version, reply in replies.items():
            assert reply.status_code == 200, reply.text
            answer = reply.json()
            assert answer["model_name"] == two_versions
            assert answer["model_version"] == version
            outputs = {o["name"]: o for o in answer["outputs"]}
            assert outputs["probabilities"]["shape"] == [4, 10]
            assert outputs["class"]["datatype"] == "INT64"
            probabilities = np.asarray(outputs["probabilities"]["data"]).reshape(4, 10)
            assert np.argmax(probabilities, axis=1).tolist() == outputs["class"]["data"]
        default = http.post(f"{base}/infer", json=body)
        assert default.json()["model_version"] == "1"
        # A client cannot pick a version with the internal header.
        forged = http.post(f"{base}/infer", json=body, headers={"x-modelreg-version": "2"})
        assert forged.json()["model_version"] == "1"

        assert http.get(f"{base}/versions/2/ready").json() == {
            "name": two_versions,
            "version": "2",
            "ready": True,
        }
        assert http.get(f"{base}/ready").status_code == 200
        assert http.get(f"{base}/versions/9/ready").status_code == 404
        metadata = http.get(f"{base}/versions/1").json()
        assert metadata["versions"] == ["1", "2"]
        assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]
        assert http.get(f"{server.url}/v2/health/ready").status_code == 200

        missing = http.post(f"{base}/versions/9/infer", json=body)
        assert missing.status_code == 404
        assert "has no version 9" in missing.json()["error"]
        narrow = {"inputs": [{"name": "input", "shape": [1, 63], "datatype": "FP32",
                              "data": [0.0] * 63}]}  # fmt: skip
        bad = http.post(f"{base}/versions/2/infer", json=narrow)
        assert bad.status_code == 400
        assert "the model expects 64" in bad.json()["error"]
        infinite = http.post(
            f"{base}/infer",
            content=b'{"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP64", '
            b'"data": [' + b", ".join([b"1e400"] * 64) + b"]}]}",
            headers={"content-type": "application/json"},
        )
        assert infinite.status_code == 400
        assert "NaN or Infinity" in infinite.json()["error"]


def test_a_triton_v2_client_reaches_each_version(
    server: LocalKServe, two_versions: str, digits: Digits
) -> None:
    triton = pytest.importorskip("tritonclient.http")
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    try:
        assert client.is_server_live()
        assert client.is_model_ready(two_versions, "2")
        assert not client.is_model_ready(two_versions, "7")
        rows = digits.x[:3].astype(np.float32)
        answers = {}
        for version in ("1", "2"):
            tensor = triton.InferInput("input", list(rows.shape), "FP32")
            tensor.set_data_from_numpy(rows)
            result = client.infer(two_versions, [tensor], model_version=version)
            assert result.get_response()["model_version"] == version
            answers[version] = result.as_numpy("probabilities")
            assert answers[version].shape == (3, 10)
        assert not np.allclose(answers["1"], answers["2"])
    finally:
        client.close()


def test_management_needs_the_token_and_kserve_load_routes_are_closed(
    server: LocalKServe, archives: dict[int, str]
) -> None:
    with httpx.Client(trust_env=False, timeout=60.0) as http:
        url = f"{server.url}/modelreg/v1/models/{NAME}/versions/1"
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            refused = http.post(url, json={"archive": archives[1]}, headers=headers)
            assert refused.status_code == 401
        for path in ("/v2/repository/models/x/load", "/v2/repository/models/x/unload"):
            assert http.post(server.url + path).status_code == 404
        assert http.get(f"{server.url}/modelreg/v1/models").status_code == 401


@pytest.mark.parametrize(
    ("archive", "reason"),
    [
        ("../model-store/x.mar", "not a bare .mar file name"),
        ("/etc/passwd", "not a bare .mar file name"),
        ("missing.mar", "no archive missing.mar"),
    ],
)
def test_loading_refuses_anything_but_an_archive_in_the_store(
    backend: KServeBackend, archive: str, reason: str
) -> None:
    with pytest.raises(ServingError) as caught:
        backend.load(archive, NAME, 1)
    assert caught.value.code in (ServingErrorCode.INVALID_REQUEST, ServingErrorCode.NOT_FOUND)
    assert reason in caught.value.message


@pytest.mark.parametrize(
    ("name", "version"), [("..", "1"), ("a b", "1"), (NAME, "01"), (NAME, "x")]
)
def test_loading_refuses_names_and_versions_we_never_serve(
    backend: KServeBackend, archives: dict[int, str], name: str, version: str
) -> None:
    with pytest.raises(ServingError) as caught:
        backend.load(archives[1], name, version)
    assert caught.value.code in (ServingErrorCode.INVALID_REQUEST, ServingErrorCode.NOT_FOUND)


def test_loading_refuses_a_wrong_version_and_a_tampered_archive(
    backend: KServeBackend, server: LocalKServe, archives: dict[int, str]
) -> None:
    with pytest.raises(ServingError) as wrong:
        backend.load(archives[1], NAME, 2)
    assert wrong.value.code is ServingErrorCode.INVALID_REQUEST
    assert "holds version 1, not 2" in wrong.value.message

    tampered = server.model_store / "tampered-v1-000000000000.mar"
    shutil.copy(server.model_store / archives[1], tampered)
    with zipfile.ZipFile(tampered, "a") as mar:
        mar.writestr("code/evil.py", "raise SystemExit('ran')\n")
    with pytest.raises(ServingError) as unsafe:
        backend.load(tampered.name, NAME, 1)
    assert unsafe.value.code is ServingErrorCode.INVALID_REQUEST
    assert "refusing to serve model" in unsafe.value.message
    assert "code/ directory" in unsafe.value.message
    with pytest.raises(ServingError) as nothing:
        backend.describe(NAME)
    assert nothing.value.code is ServingErrorCode.NOT_FOUND


def test_the_default_cannot_be_unloaded_while_others_are_loaded(
    backend: KServeBackend, two_versions: str
) -> None:
    with pytest.raises(ServingError) as caught:
        backend.unload(two_versions, 1)
    assert caught.value.code is ServingErrorCode.INVALID_REQUEST
    assert "set another default" in caught.value.message
    assert backend.default_version(two_versions) == "1"


def test_bad_rows_are_refused_before_sending(backend: KServeBackend, two_versions: str) -> None:
    for payload in ({"inputs": [[1.0, 2.0], [1.0]]}, {"inputs": [["a"]]}, {"foo": 1}):
        with pytest.raises(ServingError) as caught:
            backend.predict(two_versions, payload)
        assert caught.value.code is ServingErrorCode.INVALID_REQUEST


def test_a_stopped_server_reads_as_unavailable() -> None:
    http = httpx.Client(trust_env=False, timeout=5.0)
    with (
        KServeBackend("http://127.0.0.1:9", "t", http=http) as client,
        pytest.raises(ServingError) as caught,
    ):
        client.health()
    assert caught.value.code is ServingErrorCode.UNAVAILABLE
    assert "start it (LocalKServe.up)" in caught.value.message

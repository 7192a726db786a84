"""The backend interface over a real TorchServe (KServe's side: tests/serving/test_kserve.py)."""

from __future__ import annotations

from serving.archive import ArchiveResult
from serving.backend import ServingBackend, TorchServeBackend
from serving.local import LocalTorchServe
from tests.serving.backend_contract import check_two_versions
from tests.serving.conftest import Digits


def test_torchserve_backend_serves_two_versions(
    torchserve: LocalTorchServe, archives: dict[int, ArchiveResult], digits: Digits
) -> None:
    backend = TorchServeBackend(torchserve.client())
    try:
        assert backend.kind == "torchserve"
        assert backend.metrics_url == f"{torchserve.endpoints.metrics}/metrics"
        files = {version: result.file_name for version, result in archives.items()}
        check_two_versions(backend, files, "backend-contract", digits.x[:5])
    finally:
        backend.close()


def test_the_torchserve_client_alone_is_not_a_backend(torchserve: LocalTorchServe) -> None:
    with torchserve.client() as client:
        assert not isinstance(client, ServingBackend)

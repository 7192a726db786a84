"""The TorchServe pods' probe against a real TorchServe (token auth on): healthy with the
inference token, renews an expired token with the API key, unhealthy when stopped."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_mcp.deploy.kubernetes.probe import check, main
from serving.local import LocalPorts, LocalTorchServe


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTorchServe]:
    if shutil.which("java") is None:
        pytest.skip("java is not installed: TorchServe 0.12 needs a Java 17 runtime")
    ts = LocalTorchServe(tmp_path_factory.mktemp("probe"), ports=LocalPorts.free())
    ts.up()
    try:
        yield ts
    finally:
        ts.down()


def _args(ts: LocalTorchServe) -> tuple[Path, str, str]:
    return ts.key_file, ts.endpoints.inference, ts.endpoints.management


@pytest.mark.slow
def test_probe_follows_torchserve(server: LocalTorchServe) -> None:
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
    server.down()
    assert main([*argv, "--management-url", management]) == 1

"""LocalTorchServe without starting TorchServe: config, pre-start checks, status when stopped."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from pydantic import ValidationError

from serving import local
from serving.errors import ServingError, ServingErrorCode
from serving.local import LocalPorts, LocalTorchServe


def fake_java(tmp_path: Path, version: str) -> str:
    script = tmp_path / "bin" / "java"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2025-04-15' >&2\n")
    script.chmod(0o755)
    return str(script)


def properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key: value for key, value in pairs if not key.startswith("#")}


def test_generated_config_is_hardened(tmp_path: Path) -> None:
    server = LocalTorchServe(tmp_path / "serving dir", ports=LocalPorts.free())
    props = properties(server.render_config())
    for key in ("inference_address", "management_address", "metrics_address"):
        assert props[key].startswith("http://127.0.0.1:")
    assert props["grpc_inference_address"] == props["grpc_management_address"] == "127.0.0.1"
    assert props["disable_token_authorization"] == "false"
    assert props["enable_envvars_config"] == "false"
    assert props["enable_model_api"] == "true"
    assert props["metrics_mode"] == "prometheus"
    assert props["model_store"] == str(server.model_store)
    assert server.model_store == tmp_path / "serving dir" / "model-store"
    assert server.key_file.parent == server.serving_dir


def test_allowed_urls_match_only_archives_in_the_store(tmp_path: Path) -> None:
    server = LocalTorchServe(tmp_path / "a.b-c+d", ports=LocalPorts.free())
    # .properties unescaping turns "\\" into "\"; Java and Python agree on this regex subset.
    pattern = properties(server.render_config())["allowed_urls"].replace("\\\\", "\\")
    store = server.model_store

    def allowed(url: str) -> bool:
        return re.fullmatch(pattern, url, flags=re.IGNORECASE) is not None

    assert allowed(f"file://{store}/m-v1-abc.mar")
    for url in (
        f"file://{store}/sub/m.mar",
        f"file://{store}/../x.mar",
        f"file://{store}/m.mar.zip",
        f"file://{str(store).replace('a.b', 'aXb')}/m.mar",  # "." is not a wildcard
        "http://127.0.0.1:9/m.mar",
        "https://example.com/m.mar",
        "file:///etc/passwd",
    ):
        assert not allowed(url), url


def test_a_store_path_allowed_urls_cannot_express_is_refused(tmp_path: Path) -> None:
    server = LocalTorchServe(tmp_path, model_store=tmp_path / "a,b")
    with pytest.raises(ServingError) as caught:
        server.render_config()
    assert caught.value.code is ServingErrorCode.CONFIG_INVALID


def test_missing_java(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ServingError) as caught:
        LocalTorchServe(tmp_path, java=str(tmp_path / "nope" / "java")).up()
    assert caught.value.code is ServingErrorCode.JAVA_MISSING
    assert "install a JDK" in caught.value.message
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ServingError) as caught:
        LocalTorchServe(tmp_path).up()
    assert caught.value.code is ServingErrorCode.JAVA_MISSING
    assert not (tmp_path / "config.properties").exists()


def test_too_old_java(tmp_path: Path) -> None:
    with pytest.raises(ServingError) as caught:
        LocalTorchServe(tmp_path, java=fake_java(tmp_path, "11.0.2")).up()
    assert caught.value.code is ServingErrorCode.JAVA_MISSING
    assert "Java 17+" in caught.value.message


def test_taken_port_is_reported_before_anything_starts(tmp_path: Path) -> None:
    ports = LocalPorts.free()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports.metrics))
        squatter.listen()
        server = LocalTorchServe(tmp_path / "s", ports=ports, java=fake_java(tmp_path, "17.0.15"))
        with pytest.raises(ServingError) as caught:
            server.up()
    assert caught.value.code is ServingErrorCode.PORT_IN_USE
    assert f"port {ports.metrics} (metrics)" in caught.value.message
    assert not server.config_file.exists()


def test_status_and_down_when_not_running(tmp_path: Path) -> None:
    server = LocalTorchServe(tmp_path, ports=LocalPorts(inference=18080, management=18081))
    status = server.status()
    assert not status.running
    assert status.healthy is None
    assert status.pid is None
    assert status.inference_url == "http://127.0.0.1:18080"
    assert status.management_url == "http://127.0.0.1:18081"
    assert not server.down().running  # a no-op


def test_ports_must_differ_and_free_ports_do() -> None:
    with pytest.raises(ValidationError, match="must differ"):
        LocalPorts(inference=9000, metrics=9000)
    free = LocalPorts.free().as_dict()
    assert len(set(free.values())) == 5


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_391"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ("garbage", None),
    ],
)
def test_java_version_parsing(output: str, major: int | None) -> None:
    assert local._java_major(output) == major

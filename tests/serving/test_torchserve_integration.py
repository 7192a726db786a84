"""Against one real TorchServe: archives, registration, predictions, switches, drift, security.

Tests run in file order and share the server; each one states the desired versions it needs
through ``reconcile`` instead of relying on what an earlier test left behind.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.archive import ArchiveResult, build_archive
from serving.config import parse_models_config
from serving.errors import ServingError, ServingErrorCode
from serving.local import LocalPorts, LocalTorchServe
from serving.naming import served_name
from serving.rollout import DesiredModel, reconcile, serving_status, switch_default
from serving.torchserve import TorchServeClient
from tests.serving.conftest import MODEL, Digits, SavedModels, leftover_processes

pytestmark = pytest.mark.slow

# Production scaled differently from the standby versions, so reconcile has scaling to do
# (independent of what configs/models.yaml chooses for this machine).
CONFIG = parse_models_config(
    """
models:
  mnist-classifier:
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 50
    input_schema: {n_features: 64, dtype: float32}
    n_classes: 10
    torchserve: {workers: {min: 1, max: 2}, batch_size: 8, max_batch_delay_ms: 10}
""",
    source="test config",
)
SERVED = served_name(MODEL)


def desired(
    archives: dict[int, ArchiveResult],
    production: int | None,
    *,
    previous: int | None = None,
    staging: int | None = None,
) -> DesiredModel:
    return DesiredModel(
        name=MODEL,
        production=production,
        previous=previous,
        staging=staging,
        archives={v: a.file_name for v, a in archives.items()},
        serving=CONFIG.get("mnist-classifier").torchserve,
    )


def keys(server: LocalTorchServe) -> dict[str, str]:
    raw = json.loads(server.key_file.read_text())
    return {name: entry["key"] for name, entry in raw.items()}


def raw_http() -> httpx.Client:
    return httpx.Client(timeout=30.0, trust_env=False)


# --------------------------------------------------------------------- archives


def test_archive_builds_once_and_holds_the_mlflow_model(
    archives: dict[int, ArchiveResult], saved_models: SavedModels, torchserve: LocalTorchServe
) -> None:
    import zipfile

    first = archives[1]
    assert first.path.parent == torchserve.model_store
    assert first.file_name.startswith(f"{SERVED}-v1-")
    assert archives[1].content_hash != archives[2].content_hash
    with zipfile.ZipFile(first.path) as mar:
        names = set(mar.namelist())
        manifest = json.loads(mar.read("MAR-INF/MANIFEST.json"))
    assert {"MLmodel", "mlflow_handler.py", "data/model.pt2"} <= names
    assert manifest["model"]["modelVersion"] == "1"
    again = build_archive(saved_models.dirs[1], MODEL, 1, torchserve.model_store)
    assert again.cached
    assert again.path == first.path
    assert again.content_hash == first.content_hash


# --------------------------------------------------------------------- security


def test_only_loopback_sockets(torchserve: LocalTorchServe) -> None:
    status = torchserve.status()
    assert status.running
    assert status.healthy
    assert status.pid is not None
    listening = listening_sockets(status.pid)
    assert set(torchserve.ports.as_dict().values()) <= {port for _, port in listening}
    assert all(is_loopback(address) for address, _ in listening), listening
    reported = status.model_dump_json()
    assert all(key not in reported for key in keys(torchserve).values())


def test_management_and_inference_refuse_requests_without_the_token(
    torchserve: LocalTorchServe,
) -> None:
    ep = torchserve.endpoints
    with raw_http() as http:
        for url in (f"{ep.inference}/ping", f"{ep.management}/models"):
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                response = http.get(url, headers=headers)
                assert response.status_code == 400, url
                assert response.json()["type"] == "InvalidKeyException"
        # The inference key does not open the management API.
        inference_key = keys(torchserve)["inference"]
        response = http.get(
            f"{ep.management}/models", headers={"Authorization": f"Bearer {inference_key}"}
        )
        assert response.status_code == 400


def test_registering_from_outside_the_model_store_is_refused(
    torchserve: LocalTorchServe,
    client: TorchServeClient,
    archives: dict[int, ArchiveResult],
    tmp_path: Path,
) -> None:
    outside = tmp_path / "evil.mar"
    outside.write_bytes(archives[1].path.read_bytes())
    management_key = keys(torchserve)["management"]
    with raw_http() as http:
        for url in ("http://127.0.0.1:9/evil.mar", outside.as_uri(), "file:///etc/passwd"):
            response = http.post(
                f"{torchserve.endpoints.management}/models",
                params={"url": url, "model_name": "evil", "initial_workers": 0},
                headers={"Authorization": f"Bearer {management_key}"},
            )
            assert response.status_code == 404, response.text
            assert "does not match any allowed URL" in response.json()["message"]
        # The pattern does match archives inside the store (TorchServe then refuses to copy
        # a file onto itself): proves allowed_urls is not simply matching nothing.
        response = http.post(
            f"{torchserve.endpoints.management}/models",
            params={"url": archives[1].path.as_uri(), "model_name": "evil", "initial_workers": 0},
            headers={"Authorization": f"Bearer {management_key}"},
        )
        assert "allowed URL" not in response.text
    for url in ("http://127.0.0.1:9/evil.mar", outside.as_uri(), "../evil.mar"):
        with pytest.raises(ServingError) as caught:
            client.register(url, "evil", 1)
        assert caught.value.code is ServingErrorCode.INVALID_REQUEST
    assert "evil" not in {m.name for m in client.list_models()}


def test_a_second_server_on_taken_ports_fails_before_starting(
    torchserve: LocalTorchServe, tmp_path: Path
) -> None:
    clash = LocalTorchServe(tmp_path / "clash", ports=torchserve.ports)
    with pytest.raises(ServingError) as caught:
        clash.up()
    assert caught.value.code is ServingErrorCode.PORT_IN_USE
    assert str(torchserve.ports.inference) in caught.value.message
    assert not clash.status().running


# --------------------------------------------------------------------- rollout


def test_reconcile_registers_production_and_staging(
    client: TorchServeClient, archives: dict[int, ArchiveResult]
) -> None:
    want = desired(archives, production=1, staging=2)
    report = reconcile(client, want)
    assert report.ok, report
    assert report.in_sync, report
    assert [a.kind for a in report.actions if a.kind == "register"] == ["register", "register"]
    description = client.describe(SERVED)
    assert description.default_version == "1"
    assert {v.version: v.status for v in description.versions} == {"1": "READY", "2": "READY"}
    production = description.get("1")
    assert production is not None
    assert (production.min_workers, production.max_workers) == (1, 2)
    assert production.batch_size == 8
    assert production.archive == archives[1].file_name
    again = reconcile(client, want)
    assert again.actions == []
    assert again.in_sync
    status = serving_status(client, want)
    assert status.in_sync
    assert status.serving_default == 1
    assert status.loaded_versions == [1, 2]


def test_predictions_match_the_mlflow_model(
    client: TorchServeClient,
    archives: dict[int, ArchiveResult],
    saved_models: SavedModels,
    digits: Digits,
) -> None:
    import mlflow.pytorch
    import numpy as np
    import torch

    reconcile(client, desired(archives, production=1, staging=2))
    rows = digits.x[:16]
    for version in (1, 2):
        local = mlflow.pytorch.load_model(str(saved_models.dirs[version]))
        with torch.inference_mode():
            expected = local(torch.from_numpy(rows)).numpy()
        served = client.predict(SERVED, {"inputs": rows.tolist()}, version=version)
        assert served.model_version == str(version)
        got = np.array([p.probabilities for p in served.predictions])
        np.testing.assert_allclose(got, expected, atol=1e-5)
        assert [p.label for p in served.predictions] == expected.argmax(axis=1).tolist()
    # The three accepted body shapes, on the default version (Production = 1).
    for payload in ({"instances": rows[:2].tolist()}, rows[:2].tolist(), rows[0].tolist()):
        result = client.predict(SERVED, payload)
        assert result.model_version == "1"
        assert len(result.predictions) in (1, 2)


def test_malformed_requests_get_400_and_the_worker_survives(
    client: TorchServeClient, archives: dict[int, ArchiveResult], torchserve: LocalTorchServe
) -> None:
    reconcile(client, desired(archives, production=1, staging=2))

    def worker_pids() -> list[int | None]:
        version = client.describe(SERVED).get("1")
        assert version is not None
        return [w.pid for w in version.workers]

    before = worker_pids()
    bad_bodies: list[Any] = [{"inputs": [[1.0, 2.0]]}, {"inputs": [["a"] * 64]}, {"foo": 1}, []]
    for body in bad_bodies:
        with pytest.raises(ServingError) as caught:
            client.predict(SERVED, body, version=1)
        assert caught.value.code is ServingErrorCode.INVALID_REQUEST, body
    assert "64" in _reason(client, {"inputs": [[1.0, 2.0]]})
    inference_key = keys(torchserve)["inference"]
    with raw_http() as http:
        response = http.post(
            f"{torchserve.endpoints.inference}/predictions/{SERVED}/1",
            content=b"not json{",
            headers={"Authorization": f"Bearer {inference_key}"},
        )
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]
    assert worker_pids() == before


def _reason(client: TorchServeClient, body: Any) -> str:
    try:
        client.predict(SERVED, body, version=1)
    except ServingError as exc:
        return exc.message
    raise AssertionError("expected a 400")


def test_switch_default_is_verified_and_fast(
    client: TorchServeClient, archives: dict[int, ArchiveResult], digits: Digits
) -> None:
    reconcile(client, desired(archives, production=1, staging=2))
    timings = []
    for version in (2, 1, 2, 1, 2, 1, 2, 1, 2, 1):
        result = switch_default(client, MODEL, version)
        assert result.verified
        assert result.version == version
        assert client.predict(SERVED, {"inputs": digits.x[:1].tolist()}).model_version == str(
            version
        )
        timings.append(result)
    call_ms = statistics.median(r.call_ms for r in timings)
    verify_ms = statistics.median(r.verify_ms for r in timings)
    print(f"\nswitch_default: median call {call_ms:.2f} ms, median verify {verify_ms:.2f} ms")
    assert call_ms < 200
    assert verify_ms < 200
    with pytest.raises(ServingError) as caught:
        switch_default(client, MODEL, 99)
    assert caught.value.code is ServingErrorCode.NOT_FOUND


def test_drift_after_a_manual_set_default_is_detected_and_repaired(
    client: TorchServeClient, archives: dict[int, ArchiveResult]
) -> None:
    want = desired(archives, production=1, staging=2)
    reconcile(client, want)
    client.set_default(SERVED, 2)  # someone bypasses the registry
    status = serving_status(client, want)
    assert not status.in_sync
    assert status.registry_production == 1
    assert status.serving_default == 2
    assert any("default is 2, desired v1" in reason for reason in status.drift_reasons)
    report = reconcile(client, want)
    assert [a.kind for a in report.actions] == ["set_default"]
    assert report.in_sync
    assert serving_status(client, want).in_sync


def test_a_version_without_archive_is_reported_and_the_rest_still_done(
    client: TorchServeClient, archives: dict[int, ArchiveResult]
) -> None:
    reconcile(client, desired(archives, production=1, staging=2))
    client.set_default(SERVED, 2)
    want = DesiredModel(
        name=MODEL,
        production=1,
        staging=2,
        previous=3,  # never archived
        archives={v: a.file_name for v, a in archives.items()},
        serving=CONFIG.get("mnist-classifier").torchserve,
    )
    report = reconcile(client, want)
    failed = [a for a in report.actions if not a.ok]
    assert [(a.kind, a.ts_version, a.error_code) for a in failed] == [
        ("register", "3", ServingErrorCode.INVALID_REQUEST)
    ]
    assert "no archive" in (failed[0].error or "")
    assert client.default_version(SERVED) == "1"  # the set-default still happened
    assert report.remaining == ["previous v3 is not loaded"]


def test_no_failed_request_while_switching_default_20_times(
    client: TorchServeClient, archives: dict[int, ArchiveResult], digits: Digits
) -> None:
    reconcile(client, desired(archives, production=1, staging=2))
    stop = threading.Event()
    outcomes: list[str] = []
    failures: list[str] = []
    body = {"inputs": digits.x[:4].tolist()}

    def load() -> None:
        while not stop.is_set():
            try:
                outcomes.append(client.predict(SERVED, body).model_version)
            except ServingError as exc:
                failures.append(repr(exc))

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.2)
        for i in range(24):
            switch_default(client, MODEL, 2 if i % 2 == 0 else 1)
            time.sleep(0.03)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert failures == []
    assert len(outcomes) >= 24
    assert set(outcomes) == {"1", "2"}
    assert client.default_version(SERVED) == "1"


# --------------------------------------------------------------------- tokens, metrics


def test_client_follows_rotated_keys(
    client: TorchServeClient, torchserve: LocalTorchServe, archives: dict[int, ArchiveResult]
) -> None:
    reconcile(client, desired(archives, production=1, staging=2))
    client.ping()  # the client now holds the current keys
    old = keys(torchserve)
    with raw_http() as http:
        for kind in ("inference", "management"):
            response = http.get(
                f"{torchserve.endpoints.management}/token",
                params={"type": kind},
                headers={"Authorization": f"Bearer {old['API']}"},
            )
            assert response.status_code == 200
        rejected = http.get(
            f"{torchserve.endpoints.inference}/ping",
            headers={"Authorization": f"Bearer {old['inference']}"},
        )
        assert rejected.status_code == 400
    new = keys(torchserve)
    assert new["inference"] != old["inference"]
    assert new["management"] != old["management"]
    assert client.ping().healthy
    assert client.describe(SERVED).default_version == "1"


def test_metrics_port_serves_prometheus_text(
    client: TorchServeClient, archives: dict[int, ArchiveResult], digits: Digits
) -> None:
    reconcile(client, desired(archives, production=1, staging=2))
    client.predict(SERVED, {"inputs": digits.x[:1].tolist()})
    text = client.metrics_text()
    assert "# TYPE ts_inference_requests_total counter" in text
    assert f'model_name="{SERVED}"' in text
    only = client.metrics_text(["ts_inference_requests_total"])
    assert "ts_queue_latency_microseconds" not in only


def test_reconcile_unregisters_versions_no_longer_desired(
    client: TorchServeClient, archives: dict[int, ArchiveResult]
) -> None:
    reconcile(client, desired(archives, production=1, staging=2))
    # Version 2 is promoted: 1 becomes the warm previous version, no Staging.
    promoted = desired(archives, production=2, previous=1)
    report = reconcile(client, promoted)
    assert report.in_sync
    assert [a.kind for a in report.actions] == ["set_default", "scale", "scale"]
    # Then the previous version is dropped: the default (2) stays, 1 is unregistered.
    report = reconcile(client, desired(archives, production=2))
    assert [(a.kind, a.ts_version) for a in report.actions] == [("unregister", "1")]
    described = client.describe(SERVED)
    assert described.default_version == "2"
    assert [v.version for v in described.versions] == ["2"]
    # Nothing desired: the default is kept serving, and that is reported as drift.
    nothing = desired(archives, production=None)
    report = reconcile(client, nothing)
    assert report.actions == []
    assert not report.in_sync
    assert client.default_version(SERVED) == "2"


# --------------------------------------------------------------------- lifecycle


def test_a_second_instance_starts_beside_the_first_and_stops_cleanly(
    torchserve: LocalTorchServe, tmp_path: Path
) -> None:
    other = LocalTorchServe(tmp_path / "second", ports=LocalPorts.free())
    steps: list[str] = []
    status = other.up(steps.append)
    try:
        assert status.running
        assert status.healthy
        assert status.pid != torchserve.status().pid
        assert any("healthy" in step for step in steps)
        assert other.up().pid == status.pid  # idempotent
    finally:
        stopped = other.down()
    assert not stopped.running
    assert not other.key_file.exists()
    assert leftover_processes(other) == []
    with other.client() as gone, pytest.raises(ServingError) as caught:
        gone.ping()
    assert caught.value.code is ServingErrorCode.UNAVAILABLE
    assert torchserve.status().healthy  # the session server was not touched


# --------------------------------------------------------------------- helpers


def listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of the TCP sockets LISTENing in ``pid`` (from /proc, no psutil)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A = LISTEN
                address, port = local.split(":")
                found.append((address, int(port, 16)))
    return found


def is_loopback(hex_address: str) -> bool:
    """/proc/net/tcp{,6} hex address: 127.0.0.0/8, ::1 or ::ffff:127.x.x.x."""
    if len(hex_address) == 8:  # IPv4, little-endian
        return hex_address[6:8] == "7F"
    if hex_address == "00000000000000000000000001000000":  # ::1
        return True
    return hex_address[:24] == "0000000000000000FFFF0000" and hex_address[30:32] == "7F"


def test_a_feature_extractor_is_served_as_vectors(
    digits: Digits,
    client: TorchServeClient,
    torchserve: LocalTorchServe,
    tmp_path: Path,
) -> None:
    """An encoder archived with task feature-extraction answers one vector per row, equal
    to the MLflow model's own output; refused input gets 400 as for a classifier."""
    import mlflow
    import mlflow.pytorch
    import numpy as np
    import torch
    from mlflow.models import infer_signature

    from tests.serving.conftest import quiet_mlflow

    torch.manual_seed(3)
    encoder = torch.nn.Sequential(torch.nn.Linear(64, 24), torch.nn.ReLU(), torch.nn.Linear(24, 16))
    example = digits.x[:2]
    with torch.no_grad():
        signature = infer_signature(example, encoder(torch.from_numpy(example)).numpy())
    with quiet_mlflow():
        mlflow.pytorch.save_model(
            encoder, str(tmp_path / "encoder"), signature=signature, input_example=example
        )
    name = "digits encoder test"
    built = build_archive(
        tmp_path / "encoder", name, 1, torchserve.model_store, task="feature-extraction"
    )
    served = served_name(name)
    client.register(built.file_name, served, 1, initial_workers=1)
    try:
        rows = digits.x[:5]
        result = client.predict(served, {"inputs": rows.tolist()}, version=1)
        got = np.array([p.embedding for p in result.predictions])
        with torch.inference_mode():
            expected = encoder(torch.from_numpy(rows)).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-5)
        assert all(p.label is None and p.probabilities is None for p in result.predictions)
        with pytest.raises(ServingError) as refused:
            client.predict(served, {"inputs": [[0.5] * 63]}, version=1)
        assert "expects 64" in str(refused.value)
    finally:
        client.unregister(served, 1)

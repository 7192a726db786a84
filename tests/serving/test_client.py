"""TorchServeClient over httpx.MockTransport: tokens, refresh, error translation, parsing.

The mock reproduces what the live server did in the recorded runs (400 InvalidKeyException,
``GET /token`` rewriting key_file.json); the live behaviour itself is covered by the
integration tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.errors import ServingError, ServingErrorCode
from serving.schemas import Endpoints
from serving.torchserve import TorchServeClient

ENDPOINTS = Endpoints(
    inference="http://inference.test",
    management="http://management.test/",
    metrics="http://metrics.test",
)
Route = Callable[[httpx.Request], httpx.Response]


def ts_error(status: int, kind: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"code": status, "type": kind, "message": message})


class FakeTorchServe:
    """Token checks and key rotation as TorchServe 0.12 does them, plus canned routes."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self.keys = {"management": "m-1", "inference": "i-1", "API": "api-1"}
        self.accepted = dict(self.keys)  # what the server accepts right now
        self.expires: str | None = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        self.routes: dict[tuple[str, str], Route] = {}
        self.log: list[tuple[str, str, str | None]] = []  # (api, path, token)
        self.counter = 1
        self.write()

    def write(self) -> None:
        data: dict[str, Any] = {}
        for name, key in self.keys.items():
            data[name] = {"key": key}
            if name != "API" and self.expires is not None:
                data[name]["expiration time"] = self.expires
        self.key_file.write_text(json.dumps(data))

    def rotate(self, api: str) -> None:
        self.counter += 1
        self.keys[api] = self.accepted[api] = f"{api[0]}-{self.counter}"
        self.write()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        api = request.url.host.split(".")[0]
        auth = request.headers.get("authorization")
        token = auth.removeprefix("Bearer ") if auth else None
        self.log.append((api, request.url.path, token))
        if api == "management" and request.url.path == "/token":
            if token != self.accepted["API"]:
                return ts_error(400, "InvalidKeyException", "Token Authorization failed.")
            self.rotate(request.url.params["type"])
            return httpx.Response(200)
        if api != "metrics" and token != self.accepted[api]:
            return ts_error(400, "InvalidKeyException", "Token Authorization failed.")
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return ts_error(404, "ResourceNotFoundException", "Requested resource is not found")
        return route(request)


@pytest.fixture
def server(tmp_path: Path) -> FakeTorchServe:
    fake = FakeTorchServe(tmp_path / "key_file.json")
    fake.routes[("GET", "/ping")] = lambda _: httpx.Response(200, json={"status": "Healthy"})
    return fake


@pytest.fixture
def client(server: FakeTorchServe) -> Iterator[TorchServeClient]:
    http = httpx.Client(transport=httpx.MockTransport(server))
    yield TorchServeClient(ENDPOINTS, server.key_file, http=http)
    http.close()


# --------------------------------------------------------------------- tokens


def test_each_api_gets_its_own_token_and_metrics_none(
    server: FakeTorchServe, client: TorchServeClient
) -> None:
    server.routes[("GET", "/models")] = lambda _: httpx.Response(200, json={"models": []})
    server.routes[("GET", "/metrics")] = lambda _: httpx.Response(200, text="# metrics\n")
    assert client.ping().healthy
    assert client.list_models() == []
    assert client.metrics_text() == "# metrics\n"
    assert server.log == [
        ("inference", "/ping", "i-1"),
        ("management", "/models", "m-1"),
        ("metrics", "/metrics", None),
    ]


def test_expired_key_is_refreshed_with_the_api_key_and_the_call_retried_once(
    server: FakeTorchServe, client: TorchServeClient
) -> None:
    client.ping()
    server.accepted["inference"] = "expired"  # TorchServe stops taking i-1; the file still has it
    assert client.ping().healthy
    assert server.log[1:] == [
        ("inference", "/ping", "i-1"),
        ("management", "/token", "api-1"),
        ("inference", "/ping", "i-2"),
    ]
    assert json.loads(server.key_file.read_text())["inference"]["key"] == "i-2"


def test_a_key_rotated_by_someone_else_is_read_from_the_file(
    server: FakeTorchServe, client: TorchServeClient
) -> None:
    client.ping()
    server.rotate("inference")  # another client refreshed it: the file holds the new key
    assert client.ping().healthy
    assert [entry[1] for entry in server.log].count("/token") == 0
    assert server.log[-1] == ("inference", "/ping", "i-2")


def test_key_about_to_expire_is_refreshed_before_the_call(
    server: FakeTorchServe, client: TorchServeClient
) -> None:
    server.expires = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
    server.write()
    assert client.ping().healthy
    assert server.log[0] == ("management", "/token", "api-1")
    assert server.log[1][0:2] == ("inference", "/ping")


def test_refused_api_key_is_unauthorized_and_keys_are_not_shown(
    server: FakeTorchServe, client: TorchServeClient
) -> None:
    server.accepted["inference"] = "expired"
    server.accepted["API"] = "another-run"
    with pytest.raises(ServingError) as caught:
        client.ping()
    assert caught.value.code is ServingErrorCode.UNAUTHORIZED
    assert "API key" in caught.value.message
    assert all(key not in caught.value.message for key in server.keys.values())


def test_still_refused_after_a_refresh_gives_up_after_one_retry(
    server: FakeTorchServe, client: TorchServeClient
) -> None:
    server.routes[("GET", "/models")] = lambda _: ts_error(
        400, "InvalidKeyException", "Token Authorization failed."
    )
    with pytest.raises(ServingError) as caught:
        client.list_models()
    assert caught.value.code is ServingErrorCode.UNAUTHORIZED
    assert [entry[1] for entry in server.log] == ["/models", "/token", "/models"]


def test_missing_key_file(server: FakeTorchServe, tmp_path: Path) -> None:
    server.key_file.unlink()
    with httpx.Client(transport=httpx.MockTransport(server)) as http:
        client = TorchServeClient(ENDPOINTS, tmp_path / "key_file.json", http=http)
        with pytest.raises(ServingError) as caught:
            client.ping()
    assert caught.value.code is ServingErrorCode.UNAUTHORIZED
    assert "does not exist" in caught.value.message


def test_without_a_key_file_no_token_is_sent(server: FakeTorchServe) -> None:
    server.accepted["inference"] = None  # type: ignore[assignment]  # token auth off
    with httpx.Client(transport=httpx.MockTransport(server)) as http:
        assert TorchServeClient(ENDPOINTS, None, http=http).ping().healthy
    assert server.log == [("inference", "/ping", None)]


# --------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (ts_error(404, "ModelNotFoundException", "Model not found: x"), "NOT_FOUND"),
        (
            ts_error(404, "ModelNotFoundException", "Given URL x does not match any allowed URL"),
            "INVALID_REQUEST",
        ),
        (ts_error(409, "ConflictStatusException", "already registered"), "INVALID_REQUEST"),
        (ts_error(403, "InvalidModelVersionException", "Cannot remove default"), "INVALID_REQUEST"),
        (ts_error(405, "MethodNotAllowedException", "not allowed"), "INVALID_REQUEST"),
        (httpx.Response(400, json={"error": "row 0 has 2 values", "code": 400}), "INVALID_REQUEST"),
        (ts_error(503, "ServiceUnavailableException", "No worker"), "UNAVAILABLE"),
        (ts_error(504, "", "timeout"), "TIMEOUT"),
        (ts_error(500, "InternalServerException", "boom"), "BACKEND"),
        (httpx.Response(507, text="Out of resources"), "BACKEND"),
    ],
)
def test_error_replies_are_translated(
    server: FakeTorchServe, client: TorchServeClient, response: httpx.Response, code: str
) -> None:
    server.routes[("POST", "/predictions/m")] = lambda _: response
    with pytest.raises(ServingError) as caught:
        client.predict("m", {"inputs": [[1.0]]})
    assert caught.value.code is ServingErrorCode(code)
    assert f"HTTP {response.status_code}" in caught.value.message
    assert "predict with m" in caught.value.message


@pytest.mark.parametrize(
    ("exception", "code"),
    [
        (httpx.ConnectError("refused"), ServingErrorCode.UNAVAILABLE),
        (httpx.RemoteProtocolError("closed"), ServingErrorCode.UNAVAILABLE),
        (httpx.ReadTimeout("slow"), ServingErrorCode.TIMEOUT),
    ],
)
def test_transport_errors_are_translated(
    tmp_path: Path, exception: Exception, code: ServingErrorCode
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exception

    with httpx.Client(transport=httpx.MockTransport(fail)) as http:
        client = TorchServeClient(ENDPOINTS, None, http=http)
        with pytest.raises(ServingError) as caught:
            client.ping()
    assert caught.value.code is code


def test_non_json_reply_is_a_backend_error(
    server: FakeTorchServe, client: TorchServeClient
) -> None:
    server.routes[("PUT", "/models/m/1/set-default")] = lambda _: httpx.Response(200, text="<html")
    with pytest.raises(ServingError) as caught:
        client.set_default("m", 1)
    assert caught.value.code is ServingErrorCode.BACKEND


# --------------------------------------------------------------------- parsing, requests


def version_entry(version: str, workers: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "modelName": "m",
        "modelVersion": version,
        "modelUrl": f"m-v{version}.mar",
        "minWorkers": len(workers),
        "maxWorkers": len(workers),
        "batchSize": 8,
        "maxBatchDelay": 10,
        "workers": [{"id": str(i), "status": s, "pid": 100 + i} for i, s in enumerate(workers)],
        "jobQueueStatus": {"remainingCapacity": 100},
        **extra,
    }


def test_describe_marks_the_default_and_summarises_workers(
    server: FakeTorchServe, client: TorchServeClient
) -> None:
    entries = [
        version_entry("2", ["READY"]),
        version_entry("1.0", []),
        version_entry("10", ["READY", "STARTING"]),
        version_entry("3", ["STARTING"]),
    ]
    server.routes[("GET", "/models/m/all")] = lambda _: httpx.Response(200, json=entries)
    server.routes[("GET", "/models/m")] = lambda _: httpx.Response(200, json=[entries[0]])
    described = client.describe("m")
    assert described.default_version == "2"
    summary = [(v.version, v.is_default, v.status) for v in described.versions]
    assert summary == [
        ("2", True, "READY"),
        ("3", False, "LOADING"),
        ("10", False, "PARTIAL"),
        ("1.0", False, "NO_WORKERS"),
    ]
    two = described.get("2")
    assert two is not None
    assert (two.batch_size, two.max_batch_delay_ms, two.archive) == (8, 10, "m-v2.mar")
    assert two.workers[0].pid == 100
    assert two.registry_version == 2


def test_list_models_follows_pages(server: FakeTorchServe, client: TorchServeClient) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("next_page_token") == "2":
            return httpx.Response(200, json={"models": [{"modelName": "b", "modelUrl": "b.mar"}]})
        body = {"models": [{"modelName": "a", "modelUrl": "a.mar"}], "nextPageToken": "2"}
        return httpx.Response(200, json=body)

    server.routes[("GET", "/models")] = page
    assert [m.name for m in client.list_models()] == ["a", "b"]


def test_register_sends_bare_names_and_checks_the_version(
    server: FakeTorchServe, client: TorchServeClient
) -> None:
    seen: list[httpx.QueryParams] = []

    def register(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params)
        return httpx.Response(200, json={"status": 'Model "m" Version: 3 registered'})

    server.routes[("POST", "/models")] = register
    server.routes[("GET", "/models/m/3")] = lambda _: httpx.Response(200, json=[])
    result = client.register("m-v3-abc.mar", "m", 3, initial_workers=2, batch_size=4)
    assert (result.version, result.archive, result.initial_workers) == ("3", "m-v3-abc.mar", 2)
    assert dict(seen[0]) == {
        "url": "m-v3-abc.mar",
        "model_name": "m",
        "initial_workers": "2",
        "batch_size": "4",
        "max_batch_delay": "100",
        "synchronous": "true",
    }
    # The archive held another version: TorchServe has no m/4 afterwards.
    with pytest.raises(ServingError) as caught:
        client.register("m-v3-abc.mar", "m", 4)
    assert caught.value.code is ServingErrorCode.INVALID_REQUEST
    assert "holds another version" in caught.value.message


@pytest.mark.parametrize(
    "url", ["http://evil/x.mar", "file:///etc/x.mar", "../x.mar", "dir/x.mar", "x.zip"]
)
def test_register_refuses_urls_and_paths_without_calling_torchserve(
    server: FakeTorchServe, client: TorchServeClient, url: str
) -> None:
    with pytest.raises(ServingError) as caught:
        client.register(url, "m", 1)
    assert caught.value.code is ServingErrorCode.INVALID_REQUEST
    assert server.log == []


def test_predict_parses_the_handler_reply_and_quotes_names(
    server: FakeTorchServe, client: TorchServeClient
) -> None:
    reply = {"model_version": "2", "predictions": [{"class": 3, "probabilities": [0.1, 0.9]}]}
    raw_paths: list[bytes] = []

    def predict(request: httpx.Request) -> httpx.Response:
        raw_paths.append(request.url.raw_path)
        return httpx.Response(200, json=reply)

    server.routes[("POST", "/predictions/a b/2")] = predict
    result = client.predict("a b", [[1.0]], version=2)
    assert result.model_version == "2"
    assert result.predictions[0].label == 3
    assert result.predictions[0].probabilities == (0.1, 0.9)
    assert raw_paths == [b"/predictions/a%20b/2"]
    server.routes[("POST", "/predictions/a b/2")] = lambda _: httpx.Response(200, json={})
    with pytest.raises(ServingError) as caught:
        client.predict("a b", [[1.0]], version=2)
    assert caught.value.code is ServingErrorCode.BACKEND


def test_management_calls_return_timed_acks(
    server: FakeTorchServe, client: TorchServeClient
) -> None:
    ok = httpx.Response(200, json={"status": "done"})
    server.routes[("PUT", "/models/m/2")] = lambda _: ok
    server.routes[("DELETE", "/models/m/2")] = lambda _: ok
    server.routes[("PUT", "/models/m/2/set-default")] = lambda _: ok
    for ack in (client.scale("m", 2, 1, 2), client.unregister("m", 2), client.set_default("m", 2)):
        assert ack.message == "done"
        assert ack.elapsed_ms >= 0


def test_factory_client_owns_and_closes_its_pool(tmp_path: Path) -> None:
    with TorchServeClient.create(ENDPOINTS, None) as client:
        assert client.endpoints.management == "http://management.test"
    with pytest.raises(RuntimeError, match="closed"):
        client.ping()  # using a closed client is a programming error, not a serving error

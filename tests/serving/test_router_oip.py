"""The router answering in the Open Inference Protocol v2, in front of the session's real
TorchServe: a real v2 client (``tritonclient.http``), ``curl`` running the README's commands,
canary and pinned versions on the OIP path, and bad input that never reaches TorchServe.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from serving.router.auth import digest
from serving.router.server import RouterSettings, build_app
from serving.torchserve import TorchServeClient
from tests.serving.conftest import (
    ROUTER_MODEL,
    Digits,
    RouterModels,
    RunningRouter,
    running_router,
)
from tests.serving.test_router_app import http, install, put, table, ts_inferences

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
OIP = f"/v2/models/{ROUTER_MODEL}/infer"


def tensor(x: np.ndarray[Any, Any], datatype: str = "FP32") -> dict[str, Any]:
    """An OIP infer request body holding ``x`` as JSON data."""
    return {
        "inputs": [
            {
                "name": "input",
                "shape": list(x.shape),
                "datatype": datatype,
                "data": x.flatten().tolist(),
            }
        ]
    }


def triton_client(router: RunningRouter) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(router.url.removeprefix("http://"), network_timeout=30.0)


def rows_input(x: np.ndarray[Any, Any], binary: bool = True) -> triton.InferInput:
    given = triton.InferInput("input", list(x.shape), "FP32")
    given.set_data_from_numpy(x, binary_data=binary)
    return given


def native(router: RunningRouter, x: np.ndarray[Any, Any], version: int | None = None) -> Any:
    path = f"/predictions/{ROUTER_MODEL}" + (f"/{version}" if version else "")
    with http(router) as c:
        reply = c.post(
            path, json={"inputs": x.tolist()}, headers={"X-Admin-Token": router.admin_token}
        )
    assert reply.status_code == 200, reply.text
    return reply.json()


# --------------------------------------------------------------------- a real v2 client


def test_tritonclient_infers_with_production_and_the_same_answer_as_the_native_path(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    install(router, router_models, production=2)
    x = digits.x[:5]
    expected = native(router, x)
    client = triton_client(router)
    try:
        for binary in (True, False):  # binary tensor data (tritonclient's default) and JSON
            outputs = [
                triton.InferRequestedOutput("class", binary_data=binary),
                triton.InferRequestedOutput("probabilities", binary_data=binary),
            ]
            result = client.infer(
                ROUTER_MODEL, [rows_input(x, binary)], outputs=outputs, request_id="r-1"
            )
            response = result.get_response()
            assert response["model_name"] == ROUTER_MODEL
            assert response["model_version"] == "2" == expected["model_version"]
            assert response["id"] == "r-1"
            classes = result.as_numpy("class")
            probabilities = result.as_numpy("probabilities")
            assert (classes.dtype, classes.shape) == (np.int64, (5,))
            assert (probabilities.dtype, probabilities.shape) == (np.float64, (5, 10))
            assert classes.tolist() == [p["class"] for p in expected["predictions"]]
            # The same numbers the native path gives, not a float32 rounding of them.
            assert probabilities.tolist() == [p["probabilities"] for p in expected["predictions"]]
        # No outputs named: every output, in binary (tritonclient asks binary_data_output).
        everything = client.infer(ROUTER_MODEL, [rows_input(x)])
        names = [o["name"] for o in everything.get_response()["outputs"]]
        assert names == ["class", "probabilities"]
        assert everything.as_numpy("class").tolist() == classes.tolist()
    finally:
        client.close()


def test_a_named_version_follows_the_pinned_policy_on_the_oip_path(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    install(router, router_models, production=2)  # v1 is Staging; policy admin (default)
    x = digits.x[:2]
    client = triton_client(router)
    try:
        production = client.infer(ROUTER_MODEL, [rows_input(x)], model_version="2")
        assert production.get_response()["model_version"] == "2"
        with pytest.raises(InferenceServerException) as refused:
            client.infer(ROUTER_MODEL, [rows_input(x)], model_version="1")
        assert refused.value.status() == "403"
        assert "pinned_versions: admin" in refused.value.message()
        assert f"POST /v2/models/{ROUTER_MODEL.replace(' ', '%20')}/infer" in (
            refused.value.message()
        )
        staging = client.infer(
            ROUTER_MODEL,
            [rows_input(x)],
            model_version="1",
            headers={"X-Admin-Token": router.admin_token},
        )
        assert staging.get_response()["model_version"] == "1"
        assert staging.as_numpy("class").tolist() == [
            p["class"] for p in native(router, x, version=1)["predictions"]
        ]
        with pytest.raises(InferenceServerException) as unknown:
            client.infer(ROUTER_MODEL, [rows_input(x)], model_version="7")
        assert unknown.value.status() == "404"
        assert "served versions: ['1', '2']" in unknown.value.message()
    finally:
        client.close()

    body = table(router_models, production=2)
    body["models"][ROUTER_MODEL]["pinned_versions"] = "production"
    assert put(router, {"expected_generation": 1, "table": body}).status_code == 200
    with http(router) as c:
        forbidden = c.post(
            f"/v2/models/{ROUTER_MODEL}/versions/1/infer",
            json=tensor(x),
            headers={"X-Admin-Token": router.admin_token},
        )
        metrics = c.get("/metrics").text
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "FORBIDDEN"
    assert "pinned_versions: production" in forbidden.json()["error"]
    assert forbidden.headers["x-model-version"] == "1"
    assert re.search(
        rf'modelreg_router_requests_total\{{model="{ROUTER_MODEL}",outcome="forbidden",'
        r'route="",version="1"\} 2\.0',
        metrics,
    ), "both refusals of v1 are counted as the native path counts them"


def test_metadata_readiness_and_health_through_tritonclient(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    client = triton_client(router)
    try:
        assert client.is_server_live()
        assert not client.is_server_ready()  # no table yet, as /readyz
        assert not client.is_model_ready(ROUTER_MODEL)
        install(router, router_models, production=2)
        assert client.is_server_ready()
        assert client.is_model_ready(ROUTER_MODEL)
        assert client.is_model_ready(ROUTER_MODEL, "1")
        assert not client.is_model_ready(ROUTER_MODEL, "7")
        assert not client.is_model_ready("no such model")
        with http(router) as c:
            documented = set(c.get("/openapi.json").json()["paths"])
        assert {
            "/v2",
            "/v2/health/ready",
            "/v2/models/{model}/infer",
            "/v2/models/{model}/versions/{version}/infer",
            "/v2/models/{model}/versions/{version}/ready",
        } <= documented
        server = client.get_server_metadata()
        assert server["name"] == "modelreg-router"
        assert "binary_tensor_data" in server["extensions"]

        metadata = client.get_model_metadata(ROUTER_MODEL)
        assert metadata["name"] == ROUTER_MODEL
        assert metadata["versions"] == ["1", "2"]
        assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]
        assert metadata["outputs"] == []  # not answered through the OIP path yet
        client.infer(ROUTER_MODEL, [rows_input(digits.x[:3])])
        answered = client.get_model_metadata(ROUTER_MODEL, "2")["outputs"]
        assert answered == [
            {"name": "class", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, 10]},
        ]
        assert client.get_model_metadata(ROUTER_MODEL, "1")["outputs"] == []
        with pytest.raises(InferenceServerException) as missing:
            client.get_model_metadata("no such model")
        assert missing.value.status() == "404"
        assert "no model 'no such model'" in missing.value.message()
    finally:
        client.close()


# --------------------------------------------------------------------- headers, canary, stats


def test_the_oip_path_carries_the_native_headers_and_a_canary_share(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    """25 % canary over 400 OIP requests: sd = sqrt(400 * .25 * .75) = 8.7 requests; the
    band 65..135 is +/- 4 sd (a correct router fails it about 6 times in 100,000)."""
    body = table(router_models, production=1)
    body["models"][ROUTER_MODEL]["canary"] = {"version": 2, "percent": 25}
    assert put(router, {"expected_generation": 0, "table": body}).status_code == 200
    started = time.time()
    counts: Counter[str] = Counter()
    with http(router) as c:
        for _ in range(400):
            reply = c.post(OIP, json=tensor(digits.x[:1]))
            assert reply.status_code == 200, reply.text
            assert reply.headers["x-model-name"] == ROUTER_MODEL
            assert reply.headers["x-model-version"] == reply.json()["model_version"]
            assert re.fullmatch(r"[0-9a-f]{32}", reply.headers["x-request-id"])
            assert reply.headers["x-feedback-token"]
            counts[reply.headers["x-model-version"]] += 1
        keyed = {
            c.post(OIP, json=tensor(digits.x[:1]), headers={"X-Routing-Key": "user-7"}).headers[
                "x-model-version"
            ]
            for _ in range(10)
        }
        stats = c.get("/admin/stats", params={"since": started}, headers=router.admin()).json()
        # Feedback works for an OIP answer as for a native one.
        answered = c.post(OIP, json=tensor(digits.x[:2]), headers={"X-Request-Id": "oip-fb-1"})
        label = c.post(
            "/feedback",
            json={
                "request_id": "oip-fb-1",
                "token": answered.headers["x-feedback-token"],
                "labels": digits.y[:2].tolist(),
            },
        )
    assert 65 <= counts["2"] <= 135, counts
    assert counts["1"] + counts["2"] == 400
    assert len(keyed) == 1, keyed  # one routing key, one side
    seen = stats["models"][ROUTER_MODEL]
    assert seen["1"]["requests"] + seen["2"]["requests"] == 410
    assert seen["2"]["errors"] == seen["1"]["errors"] == 0
    assert label.status_code == 200, label.text
    assert label.json()["rows"] == 2
    assert (label.json()["unmatched"], label.json()["refused"]) == ([], {})


def test_a_shadow_canary_gets_the_native_body_of_an_oip_request(
    router: RunningRouter, router_models: RouterModels, digits: Digits
) -> None:
    """The mirrored copy is what the backend understands: the candidate answers every one
    without an error or a rejection, while the client is answered by Production."""
    body = table(router_models, production=1)
    body["models"][ROUTER_MODEL]["canary"] = {"version": 2, "percent": 100, "mode": "shadow"}
    assert put(router, {"expected_generation": 0, "table": body}).status_code == 200
    started = time.time()
    with http(router) as c:
        versions = {
            c.post(OIP, json=tensor(digits.x[:3])).json()["model_version"] for _ in range(20)
        }
        deadline = time.monotonic() + 30
        while True:  # mirrored calls finish after the answers
            stats = c.get("/admin/stats", params={"since": started}, headers=router.admin())
            candidate = stats.json()["models"][ROUTER_MODEL].get("2", {})
            if candidate.get("requests", 0) + candidate.get("rejected", 0) >= 20:
                break
            assert time.monotonic() < deadline, stats.text
            time.sleep(0.05)
    assert versions == {"1"}
    assert (candidate["requests"], candidate["errors"], candidate["rejected"]) == (20, 0, 0)


# --------------------------------------------------------------------- bad input


def _binary_mismatch() -> tuple[bytes, dict[str, str]]:
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": [1, 64],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 256},
                }
            ]
        }
    ).encode()
    return head + b"\0" * 100, {"Inference-Header-Content-Length": str(len(head))}


def _cases() -> list[tuple[str, bytes, dict[str, str], int, str]]:
    x = np.full((1, 64), 0.5, dtype=np.float32)
    good = tensor(x)

    def with_input(**change: Any) -> bytes:
        return json.dumps({"inputs": [{**good["inputs"][0], **change}]}).encode()

    binary, binary_headers = _binary_mismatch()
    many = np.zeros((1025, 64), dtype=np.float32)
    return [
        (OIP, with_input(datatype="FP64"), {}, 400, "the model takes FP32: send datatype FP32"),
        (OIP, with_input(datatype="BYTES", data=["a"] * 64), {}, 400, "is BYTES"),
        (OIP, with_input(datatype="INT8"), {}, 400, "the model takes FP32"),
        (OIP, with_input(shape=[1, 63], data=[0.5] * 63), {}, 400, "does not fit the model"),
        (OIP, with_input(shape=[2, 64]), {}, 400, "shape holds 128 values but data holds 64"),
        (OIP, with_input(shape=[64]), {}, 400, "[rows, *row]"),
        (OIP, with_input(data=[0.5] * 63 + ["x"]), {}, 400, "numbers only"),
        (OIP, with_input(data=[0.5] * 63 + [1e39]), {}, 400, "range of FP32"),
        (OIP, json.dumps(tensor(many)).encode(), {}, 400, "too many rows: 1025 > 1024"),
        (OIP, json.dumps({"inputs": good["inputs"] * 2}).encode(), {}, 400, "exactly one"),
        (OIP, json.dumps({"inputs": [[0.5] * 64]}).encode(), {}, 400, "exactly one tensor"),
        (OIP, b"{", {}, 400, "not valid JSON"),
        (OIP, binary, binary_headers, 400, "binary_data_size is 256"),
        (OIP, json.dumps({**good, "outputs": [{"name": "logits"}]}).encode(), {}, 400, "logits"),
        (OIP, json.dumps(good).encode(), {"Content-Encoding": "gzip"}, 400, "uncompressed"),
        ("/v2/models/nope/infer", json.dumps(good).encode(), {}, 404, "no model 'nope'"),
        ("/v2/models/digits/infer", json.dumps(good).encode(), {}, 404, "POST /routes/digits"),
    ]


@pytest.mark.parametrize(("path", "body", "headers", "status", "reason"), _cases())
def test_bad_oip_input_is_refused_and_never_reaches_torchserve(
    router: RunningRouter,
    router_models: RouterModels,
    client: TorchServeClient,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    reason: str,
) -> None:
    generation = install(router, router_models)
    served = router_models.served[ROUTER_MODEL]
    before = ts_inferences(client, served)
    with http(router) as c:
        reply = c.post(path, content=body, headers=headers)
    assert reply.status_code == status, reply.text
    error = reply.json()
    assert error["code"] == ("INVALID_INPUT" if status == 400 else "NOT_FOUND")
    assert reason in error["error"], error
    assert "Traceback" not in reply.text
    assert ts_inferences(client, served) == before
    assert router.app.table.generation == generation


# --------------------------------------------------------------------- client keys


def test_off_loopback_the_oip_path_needs_an_api_key_like_the_native_one(
    torchserve: Any,
    client: TorchServeClient,
    router_models: RouterModels,
    digits: Digits,
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": {digest("client-key-0123456789"): "app"}}))
    settings = RouterSettings(
        host="0.0.0.0",  # never bound: only the key rule is under test
        inference_url=torchserve.endpoints.inference,
        management_url=torchserve.endpoints.management,
        key_file=torchserve.key_file,
        state_file=tmp_path / "state.json",
        client_keys_file=keys,
    )
    token = "admin-" + "y" * 26
    app = build_app(settings, token, client, refresh_token=client)
    with running_router(app, token) as router:
        install(router, router_models)
        key = {"X-Api-Key": "client-key-0123456789"}
        with http(router) as c:
            no_key = c.post(OIP, json=tensor(digits.x[:1]))
            metadata_no_key = c.get(f"/v2/models/{ROUTER_MODEL}")
            with_key = c.post(OIP, json=tensor(digits.x[:1]), headers=key)
            metadata = c.get(f"/v2/models/{ROUTER_MODEL}", headers=key)
            live = c.get("/v2/health/live")
    assert (no_key.status_code, no_key.json()["code"]) == (401, "UNAUTHORIZED")
    assert metadata_no_key.status_code == 401
    assert with_key.status_code == 200, with_key.text
    assert metadata.status_code == 200
    assert live.status_code == 200


# --------------------------------------------------------------------- the README


def _readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("### Open Inference Protocol")
    end = text.index("\n#", start + 5)
    return text[start:end]


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def test_the_readmes_curl_and_tritonclient_examples_work_as_written(
    router: RunningRouter, router_models: RouterModels, digits: Digits, tmp_path: Path
) -> None:
    """Run with the README's model name (the session's TorchServe model under that name)
    and the router's address instead of the default 127.0.0.1:8090."""
    readme_model = "mnist-classifier"
    body = {
        "models": {
            readme_model: {
                "served_name": router_models.served[ROUTER_MODEL],
                "production": 1,
                "input_schema": {"n_features": 64, "dtype": "float32"},
            }
        }
    }
    assert put(router, {"expected_generation": 0, "table": body}).status_code == 200
    address = router.url.removeprefix("http://")
    section = _readme_section()
    [shell] = _blocks(section, "bash")
    [snippet] = _blocks(section, "python")
    assert "127.0.0.1:8090" in shell
    assert "127.0.0.1:8090" in snippet
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("http_proxy", None)
    env.pop("HTTP_PROXY", None)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", shell.replace("127.0.0.1:8090", address)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    sent = json.loads((tmp_path / "oip.json").read_text())["inputs"][0]
    x = np.asarray(sent["data"], dtype=np.float32).reshape(sent["shape"])
    with http(router) as c:
        expected = c.post(f"/predictions/{readme_model}", json={"inputs": x.tolist()}).json()
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert answer["model_version"] == "1"
    assert outputs["class"]["data"] == [p["class"] for p in expected["predictions"]]
    assert outputs["probabilities"]["shape"] == [len(x), 10]
    flat = [v for p in expected["predictions"] for v in p["probabilities"]]
    assert outputs["probabilities"]["data"] == flat

    ran = subprocess.run(
        [sys.executable, "-c", snippet.replace("127.0.0.1:8090", address)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    zeros = np.zeros((2, 64), dtype=np.float32)  # what the snippet sends
    with http(router) as c:
        classes = [
            p["class"]
            for p in c.post(f"/predictions/{readme_model}", json={"inputs": zeros.tolist()}).json()[
                "predictions"
            ]
        ]
    assert ran.stdout.strip() == f"1 {classes}", ran.stdout

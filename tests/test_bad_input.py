"""Property-based bad input: clear errors, no state change, no crash (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry_mcp.core.registry import Registry
from registry_mcp.domain import validation
from registry_mcp.domain.errors import ErrorCode, RegistryError
from serving.router.app import RouterApp
from serving.router.auth import AdminAuth, ClientKeys
from serving.router.errors import RouterErrorCode
from serving.router.state import StateFile
from serving.router.table import RoutingTable, TableState
from serving.router.upstream import InferenceToken, Upstream
from serving.schemas import ModelDescription, PingResult
from tests.conftest import BACKENDS, Backend, make_backend
from tests.helpers import add_versions, snapshot

NASTY_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "'",
            '"',
            "' OR '1'='1",
            "x'; DROP TABLE registered_models; --",
            "%",
            "_",
            "\\",
            "\x00",
            "\n",
            "production",
            "modelreg.stage",
            "ünïcödé 模型",
            "a" * 300,
            "../..",
            "name/with/slash",
            "models:/m-1",
            "v1@production",
        ]
    ),
)
VERSIONS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63),
    st.sampled_from(["1", "v1", "-1", "0", "1.5", "1e3", "", "NaN", "٣", " 2 ", "99999999999"]),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
)
STAGES = st.one_of(
    st.sampled_from(["prod", "Deleted_Internal", "", "PRODUCTION ", "staging;", "Archived2"]),
    NASTY_TEXT,
)
ALLOWED = {
    ErrorCode.INVALID_INPUT,
    ErrorCode.NOT_FOUND,
    ErrorCode.INVALID_TRANSITION,
    ErrorCode.STALE_VERSION,
}


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Registry, dict[str, Any]]]:
    backend: Backend = make_backend(request, request.param, tmp_path_factory.mktemp("bad"))
    registry = Registry.open(backend.settings)
    add_versions(registry, backend.model_uris[0], "digits", 3, tags={"task": "classification"})
    registry.stages.transition("digits", 1, "staging", rationale="seed", actor="seed")
    registry.stages.transition("digits", 1, "production", rationale="seed", actor="seed")
    registry.stages.transition("digits", 2, "staging", rationale="seed", actor="seed")
    try:
        yield registry, snapshot(registry)
    finally:
        registry.close()


def _expect_clean_error(call: Any) -> RegistryError | None:
    try:
        call()
    except RegistryError as exc:
        assert exc.code in ALLOWED, exc
        assert exc.message.strip()
        assert "Traceback" not in exc.message
        return exc
    return None


PROFILE = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROFILE
@given(name=NASTY_TEXT, version=VERSIONS, stage=STAGES, rationale=NASTY_TEXT)
def test_transitions_with_bad_input_change_nothing(
    seeded: tuple[Registry, dict[str, Any]],
    name: Any,
    version: Any,
    stage: Any,
    rationale: Any,
) -> None:
    registry, before = seeded
    # Keep each call bad in at least one way: never a valid transition of the seeded model.
    if name == "digits":
        stage = f"{stage}#"
    _expect_clean_error(
        lambda: registry.stages.transition(name, version, stage, rationale=rationale, actor="fuzz")
    )
    _expect_clean_error(
        lambda: registry.stages.rollback(
            name, rationale=rationale, actor="fuzz", to_version=version
        )
    )
    assert snapshot(registry) == before


@PROFILE
@given(key=NASTY_TEXT, value=NASTY_TEXT, stage=STAGES, cursor=NASTY_TEXT)
def test_queries_with_hostile_filters_never_break(
    seeded: tuple[Registry, dict[str, Any]], key: str, value: str, stage: str, cursor: str
) -> None:
    registry, before = seeded
    # Tag filters are bound parameters: they either validate and match nothing, or error.
    error = _expect_clean_error(lambda: registry.list_models(tags={key: value}))
    if error is None:
        found = [m.name for m in registry.list_models(tags={key: value}).items]
        assert found == (["digits"] if (key, value) == ("task", "classification") else [])
    _expect_clean_error(lambda: registry.list_models(stage=stage))
    _expect_clean_error(lambda: registry.list_models(cursor=cursor))
    _expect_clean_error(lambda: registry.get_model(key))
    _expect_clean_error(lambda: registry.audit_log(model=key))
    assert snapshot(registry) == before


@PROFILE
@given(key=NASTY_TEXT, value=NASTY_TEXT, version=VERSIONS)
def test_bad_tags_are_refused_before_anything_changes(
    seeded: tuple[Registry, dict[str, Any]], key: str, value: str, version: Any
) -> None:
    registry, before = seeded
    try:
        validation.tag_key(key)
        validation.tag_value(value)
        valid = True
    except RegistryError:
        valid = False
    if valid:  # a valid tag on the real model would change state; target a missing version
        version = 999
    _expect_clean_error(
        lambda: registry.set_tags("digits", {key: value}, actor="f", version=version)
    )
    assert snapshot(registry) == before


@settings(max_examples=60, deadline=None)
@given(name=st.text(min_size=1, max_size=60))
def test_valid_names_round_trip_through_the_validator(name: str) -> None:
    try:
        accepted = validation.model_name(name)
    except RegistryError as exc:
        assert exc.code is ErrorCode.INVALID_INPUT
        return
    assert accepted == name
    assert not set("/:@") & set(name)


@settings(max_examples=100, deadline=None)
@given(version=VERSIONS)
def test_version_parser_accepts_only_positive_32_bit_integers(version: Any) -> None:
    try:
        parsed = validation.version(version)
    except RegistryError as exc:
        assert exc.code is ErrorCode.INVALID_INPUT
        return
    assert 1 <= parsed <= validation.MAX_VERSION


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(value=JSON_VALUES)
def test_strict_json_keeps_every_finite_document(value: Any) -> None:
    text = json.dumps(value)
    assert validation.json_document(text, what="The input") == json.loads(text)


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=60),
        st.text(alphabet='[]{}":,0123456789.eE+-NaInfity ', max_size=60),
        st.builds(lambda n: "[" * n + "]" * n, st.integers(min_value=0, max_value=5000)),
    )
)
def test_strict_json_either_parses_or_says_why(text: str) -> None:
    try:
        value = validation.json_document(text, what="The input")
    except RegistryError as exc:
        assert exc.code is ErrorCode.INVALID_INPUT
        assert exc.message.startswith("The input ")
        return
    # Whatever passes is something a model server can receive as standard JSON.
    assert json.loads(json.dumps(value, allow_nan=False)) == value


# --------------------------------------------------------------------- the prediction router


class _NoTorchServe:
    """Management side of a TorchServe that is not there (nothing here may reach it)."""

    def ping(self) -> PingResult:
        return PingResult(healthy=False, status="not running")

    def describe(self, model: str) -> ModelDescription:
        raise AssertionError("a refused request must not reach TorchServe")


ROUTER_TOKEN = "admin-" + "b" * 26


@pytest.fixture(scope="module")
def bad_input_router(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[asyncio.Runner, RouterApp]]:
    """A router app whose table serves ``m`` v1 (3 float32 features) from a TorchServe that
    does not answer: a request that passes every check gets 503 UNAVAILABLE, never more."""
    from serving.router.server import free_port

    state = StateFile(tmp_path_factory.mktemp("router") / "state.json")
    state.save(
        TableState(
            generation=1,
            table=RoutingTable.model_validate(
                {
                    "models": {
                        "m": {
                            "served_name": "m",
                            "production": 1,
                            "input_schema": {"n_features": 3, "dtype": "float32"},
                        }
                    }
                }
            ),
        )
    )
    app = RouterApp(
        upstream=Upstream(f"http://127.0.0.1:{free_port()}", InferenceToken(None, None)),
        management=_NoTorchServe(),
        state_file=state,
        admin=AdminAuth(ROUTER_TOKEN),
        clients=ClientKeys({}, required=False),
        verify_loaded=False,
    )
    with asyncio.Runner() as runner:
        yield runner, app
        runner.run(app.upstream.aclose())


def _call(
    router: tuple[asyncio.Runner, RouterApp], method: str, path: str, body: bytes | None = None
) -> httpx.Response:
    runner, app = router

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://router") as c:
            headers = {"Authorization": f"Bearer {ROUTER_TOKEN}"}
            return await c.request(method, path, content=body, headers=headers)

    return runner.run(call())


def _assert_clean_refusal(reply: httpx.Response, *statuses: int) -> str:
    assert reply.status_code in statuses, (reply.status_code, reply.text[:300])
    error = reply.json()["error"]
    assert error["code"] in {c.value for c in RouterErrorCode}
    assert error["message"].strip()
    assert "Traceback" not in reply.text
    return str(error["message"])


DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE = b"1" + b"0" * 400
TRITON = json.dumps(  # a backend the router cannot speak to
    {
        "expected_generation": 1,
        "table": {
            "models": {
                "m": {
                    "served_name": "m",
                    "production": 1,
                    "upstream": {
                        "inference_url": "http://127.0.0.1:9",
                        "management_url": "http://127.0.0.1:9",
                        "backend": "triton",
                    },
                }
            }
        },
    }
).encode()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "reason"),
    [
        ("POST", "/feedback", DEEP, 400, "nested too deeply"),
        ("POST", "/feedback", b'{"items": ' + DEEP + b"}", 400, "nested too deeply"),
        ("POST", "/feedback", b'{"request_id": "r", "label": ' + HUGE + b"}", 400, "label"),
        ("POST", "/feedback", b'{"request_id": "r", "label": ' + b"9" * 5000 + b"}", 400, "JSON"),
        ("POST", "/predictions/m", b'{"inputs": [[1, 2, ' + HUGE + b"]]}", 400, "too large"),
        ("POST", "/predictions/m", b'{"inputs": [[1, 2, 1e39]]}', 400, "range of float32"),
        ("POST", "/predictions/m", b'{"inputs": [[1, 2, 1e400]]}', 400, "NaN or Infinity"),
        ("POST", "/predictions/m", b'{"inputs": [[1, 2, ' + b"9" * 5000 + b"]]}", 400, "read"),
        ("POST", "/predictions/m", b'{"inputs": [[[1], [2], [3]]]}', 400, "nested as [3, 1]"),
        ("POST", "/predictions/m", DEEP, 400, "nested too deeply"),
        ("POST", "/predictions/m/1", b'{"inputs": [[1, 2, -1e39]]}', 400, "range of float32"),
        ("POST", "/admin/confirm", DEEP, 400, "generation"),
        ("POST", "/admin/confirm", b'{"generation": ' + HUGE + b"}", 400, "generation"),
        ("PUT", "/admin/table", DEEP, 422, "invalid table update"),
        ("PUT", "/admin/table", TRITON, 422, "upstream.backend: Input should be 'torchserve'"),
        ("GET", "/admin/stats?since=1e400", None, 400, "Unix time"),
        ("GET", "/admin/stats?since=" + "9" * 5000, None, 400, "Unix time"),
    ],
)
def test_router_refuses_malformed_input_with_a_4xx_never_a_500(
    bad_input_router: tuple[asyncio.Runner, RouterApp],
    method: str,
    path: str,
    body: bytes | None,
    status: int,
    reason: str,
) -> None:
    before = bad_input_router[1].tables.current
    message = _assert_clean_refusal(_call(bad_input_router, method, path, body), status)
    assert reason in message
    assert bad_input_router[1].tables.current is before  # nothing changed


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.recursive(
        JSON_VALUES | st.integers().map(lambda n: n * 10**400) | st.sampled_from([1e39, -3.5e38]),
        lambda children: st.lists(children, max_size=4),
        max_leaves=12,
    )
)
def test_router_answers_any_prediction_body_without_a_500(
    bad_input_router: tuple[asyncio.Runner, RouterApp], rows: Any
) -> None:
    body = json.dumps({"inputs": rows}).encode()
    reply = _call(bad_input_router, "POST", "/predictions/m", body)
    # Refused as the caller's mistake, or passed every check and met the absent TorchServe.
    _assert_clean_refusal(reply, 400, 413, 503)
    if reply.status_code == 503:
        assert reply.json()["error"]["code"] == "UNAVAILABLE"


def _oip_tensor(shape: Any, data: Any, datatype: Any = "FP32") -> bytes:
    return json.dumps(
        {"inputs": [{"name": "input", "shape": shape, "datatype": datatype, "data": data}]}
    ).encode()


@pytest.mark.parametrize(
    ("path", "body", "status", "reason"),
    [
        ("/v2/models/m/infer", b"", 400, "empty body"),
        ("/v2/models/m/infer", DEEP, 400, "nested too deeply"),
        ("/v2/models/m/infer", b"[1, 2, 3]", 400, "JSON object"),
        ("/v2/models/m/infer", _oip_tensor([1, 3], [1, 2, 3], "FP64"), 400, "send datatype FP32"),
        ("/v2/models/m/infer", _oip_tensor([1, 3], ["a", "b", "c"], "BYTES"), 400, "BYTES"),
        ("/v2/models/m/infer", _oip_tensor([1, 3], [1, 2, 3], "FP8"), 400, "not a numeric"),
        ("/v2/models/m/infer", _oip_tensor([1, 3], [1, 2, 3], None), 400, "not a numeric"),
        ("/v2/models/m/infer", _oip_tensor([1, 4], [1, 2, 3, 4]), 400, "takes [-1, 3]"),
        ("/v2/models/m/infer", _oip_tensor([1, 3], [1, 2]), 400, "data holds 2"),
        ("/v2/models/m/infer", _oip_tensor([1, True, 3], [1, 2, 3]), 400, "shape must be"),
        ("/v2/models/m/infer", _oip_tensor([0, 3], []), 400, "no values"),
        ("/v2/models/m/infer", _oip_tensor([1] * 100_000, [1]), 400, "100000 dimensions"),
        ("/v2/models/m/infer", _oip_tensor([10**9, 3], [1]), 400, "too many rows"),
        ("/v2/models/m/infer", _oip_tensor([1, 3], [1, 2, 1e39]), 400, "range of FP32"),
        ("/v2/models/m/infer", _oip_tensor([1, 3], [1, 2, True]), 400, "numbers only"),
        ("/v2/models/m/infer", _oip_tensor([1, 3], [1, 2, None]), 400, "numbers only"),
        ("/v2/models/m/infer", _oip_tensor([1, 3], "1,2,3"), 400, '"data"'),
        (
            "/v2/models/m/infer",
            b'{"inputs": [{"name": "input", "shape": [1, 3], "datatype": '
            b'"FP32", "data": [1, 2, ' + HUGE + b"]}]}",
            400,
            "range of FP32",
        ),
        ("/v2/models/m/versions/1/infer", _oip_tensor([1, 3], [1, 2, 3], "INT64"), 400, "FP32"),
        ("/v2/models/m/versions/9/infer", _oip_tensor([1, 3], [1, 2, 3]), 404, "not served"),
        ("/v2/models/zz/infer", _oip_tensor([1, 3], [1, 2, 3]), 404, "no model 'zz'"),
        ("/v2/models/m/predict", _oip_tensor([1, 3], [1, 2, 3]), 404, "no endpoint"),
    ],
)
def test_router_refuses_malformed_oip_input_with_a_4xx_never_a_500(
    bad_input_router: tuple[asyncio.Runner, RouterApp],
    path: str,
    body: bytes,
    status: int,
    reason: str,
) -> None:
    before = bad_input_router[1].tables.current
    reply = _call(bad_input_router, "POST", path, body)
    assert reply.status_code == status, (reply.status_code, reply.text[:300])
    error = reply.json()
    assert error["code"] in {c.value for c in RouterErrorCode}
    assert reason in error["error"], error
    assert "Traceback" not in reply.text
    assert bad_input_router[1].tables.current is before  # nothing changed


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=st.one_of(st.lists(st.integers(min_value=-2, max_value=5), max_size=4), JSON_VALUES),
    data=st.recursive(
        JSON_VALUES | st.sampled_from([1e39, -3.5e38, 10**400]),
        lambda children: st.lists(children, max_size=6),
        max_leaves=12,
    ),
    datatype=st.one_of(st.sampled_from(["FP32", "FP64", "INT64", "UINT8", "BYTES"]), JSON_VALUES),
)
def test_router_answers_any_oip_body_without_a_500(
    bad_input_router: tuple[asyncio.Runner, RouterApp], shape: Any, data: Any, datatype: Any
) -> None:
    reply = _call(
        bad_input_router, "POST", "/v2/models/m/infer", _oip_tensor(shape, data, datatype)
    )
    # Refused as the caller's mistake, or passed every check and met the absent TorchServe.
    assert reply.status_code in (400, 413, 503), (reply.status_code, reply.text[:300])
    assert reply.json()["code"] in {"INVALID_INPUT", "BODY_TOO_LARGE", "UNAVAILABLE"}
    assert "Traceback" not in reply.text


# ------------------------------------------------------ commands at the terminal


@pytest.fixture
def cli_seeded(sqlite_backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Backend:
    from tests.test_mcp import seed

    backend = sqlite_backend  # the CLI's environment, as tests/test_cli.py sets it
    monkeypatch.setenv("MODELREG_HOME", str(backend.settings.home))
    monkeypatch.setenv("MODELREG_ARTIFACT_ROOT", backend.settings.resolved_artifact_root)
    monkeypatch.setenv("MODELREG_ACTOR", "carol")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    registry = Registry.open(backend.settings)
    seed(registry, backend.model_uris[0])  # digits: v1 Production, v3 Staging
    registry.close()
    return backend


ODD_PERCENTS = ["1e-320", "nan", "inf", "-inf", "-0", "1e308", "1e400", str(10**400), "0.001"]
CLI_CASES: list[tuple[list[str], str]] = [
    *(
        (["canary", "start", "digits", "3", "--percent", p, "-r", "r", "--yes"], "0.01 to 100")
        for p in ODD_PERCENTS
    ),
    (["approvals", "accept-unapproved", "digits", "--yes"], "no unapproved change"),
    (["approvals", "accept-unapproved", "no-such-model", "--yes"], "no-such-model"),
    (["approvals", "accept-unapproved", "a b", "--yes"], "a b"),
    (["approvals", "revert-unapproved", "digits", "--yes"], "no unapproved change"),
    (["--actor", "modelreg-guard", "rollback", "digits", "-r", "r", "--yes"], "reserved"),
    (
        [
            "--actor",
            "Outside-Modelreg",
            "promote",
            "digits",
            "3",
            "-s",
            "production",
            "-r",
            "r",
            "--yes",
        ],
        "reserved",
    ),
    (["tokens", "add", "modelreg-controller"], "reserved"),
    (["tokens", "revoke", "nobody"], "No token for 'nobody'"),
    (["models", "register", "two words", "models:/m-1"], "cannot be registered"),
    (["models", "register", "it's\u2028odd", "models:/m-1"], "cannot be registered"),
    (["models", "register", "DIGITS", "models:/m-1"], "Kubernetes name 'digits'"),
]


@pytest.mark.parametrize(("args", "says"), CLI_CASES, ids=lambda v: repr(v)[:50])
def test_cli_bad_input_is_one_clear_line_and_changes_nothing(
    cli_seeded: Backend, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    from tests.test_cli import invoke

    registry = Registry.open(cli_seeded.settings)
    before = snapshot(registry)
    rows = len(registry.audit_log(limit=500).items)
    registry.close()
    code, out, err = invoke(capsys, *args)
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    assert says in " ".join(err.split())
    assert err.startswith("error (")
    registry = Registry.open(cli_seeded.settings)
    assert snapshot(registry) == before
    added = registry.audit_log(limit=500).items[: len(registry.audit_log(limit=500).items) - rows]
    registry.close()
    if args[0] == "canary":  # a stage-change attempt: audited, refused
        assert [(e.action.value, e.decision.value) for e in added] == [("canary", "refused")]


def test_models_registered_before_names_were_checked_are_reported(
    cli_seeded: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    from tests.test_cli import invoke

    settings = cli_seeded.settings
    other = MlflowClient(settings.resolved_tracking_uri, settings.resolved_registry_uri)
    other.create_registered_model("old\u2028name")
    code, out, _ = invoke(capsys, "models", "list")
    assert code == 0
    assert "\u2028" not in out  # one line per model, the name shown escaped
    flat = " ".join(out.split())
    assert "Model 'old\\u2028name': its name is not safe for Kubernetes" in flat
    assert "digits" in flat

"""Pure parts of the router: table validation, rules, input checks, auth, state file, metrics."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from serving.config import InputSchema, parse_models_config
from serving.errors import ServingError, ServingErrorCode
from serving.router import inputs
from serving.router.auth import AdminAuth, ClientKeys, digest, is_loopback
from serving.router.errors import RouterError, RouterErrorCode
from serving.router.metrics import RouterMetrics
from serving.router.rules import pick_model
from serving.router.server import RouterSettings, build_app, free_port
from serving.router.state import StateFile
from serving.router.switch import Tables
from serving.router.table import (
    RoutingTable,
    TableRoute,
    TableState,
    TableUpdate,
    changed_stages,
    compile_table,
    routes_from_config,
)
from serving.schemas import ModelDescription, PingResult, ServedVersion

SCHEMA = InputSchema(n_features=3)


def table(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "models": {
            "small": {"served_name": "small", "production": 2, "previous": 1, "staging": 3},
            "large": {"served_name": "large", "production": 1},
        },
        "routes": {
            "r": {
                "default": "small",
                "rules": [
                    {
                        "kind": "header",
                        "header": "X-Priority",
                        "equals": "critical",
                        "model": "large",
                    },
                    {"kind": "field", "field": "meta.tier", "equals": "gold", "model": "large"},
                    {"kind": "batch_at_least", "rows": 3, "model": "large"},
                ],
            }
        },
    }
    raw.update(overrides)
    return raw


# --------------------------------------------------------------------- table


def test_a_valid_table_compiles_to_explicit_versions() -> None:
    compiled = compile_table(TableState(generation=4, table=RoutingTable.model_validate(table())))
    assert compiled.generation == 4
    assert compiled.production["small"].path == "/predictions/small/2"
    assert compiled.production["small"].stage == "production"
    assert {v for m, v in compiled.versions if m == "small"} == {"1", "2", "3"}
    assert compiled.versions[("small", "3")].stage == "staging"


def test_production_wins_when_staging_holds_the_same_version() -> None:
    raw = table()
    raw["models"]["small"]["staging"] = 2
    compiled = compile_table(TableState(generation=1, table=RoutingTable.model_validate(raw)))
    assert compiled.versions[("small", "2")].stage == "production"


def test_served_names_are_quoted_and_header_values_encoded() -> None:
    raw = {
        "models": {
            "digits classifier": {"served_name": "digits_classifier-1a2b3c4d", "production": 1}
        }
    }
    compiled = compile_table(TableState(generation=1, table=RoutingTable.model_validate(raw)))
    target = compiled.production["digits classifier"]
    assert target.model_header == b"digits classifier"
    raw = {"models": {"modèle": {"served_name": "mod_le-1a2b3c4d", "production": 1}}}
    compiled = compile_table(TableState(generation=1, table=RoutingTable.model_validate(raw)))
    assert compiled.production["modèle"].model_header == b"mod%C3%A8le"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t["routes"]["r"].update(default="ghost"), "model 'ghost' is not in models"),
        (
            lambda t: t["routes"]["r"]["rules"][0].update(model="ghost"),
            "rules[0].model: model 'ghost' is not in models",
        ),
        (lambda t: t["models"]["large"].pop("production"), "'large' has no production version"),
        (lambda t: t["routes"]["r"]["rules"][0].update(kind="regex"), "does not match any of"),
        (lambda t: t["models"]["small"].update(previous=2), "previous (2) equals production"),
        (lambda t: t["models"]["small"].update(served_name="../x"), "served_name"),
        (lambda t: t["models"]["small"].update(production=0), "production"),
        (lambda t: t["models"]["small"].update(workers=3), "Extra inputs are not permitted"),
        (lambda t: t["routes"]["r"]["rules"][2].update(rows=0), "rows"),
    ],
)
def test_an_invalid_table_is_refused_with_the_reason(change: Any, expected: str) -> None:
    raw = table()
    change(raw)
    with pytest.raises(ValidationError) as caught:
        RoutingTable.model_validate(raw)
    assert expected in str(caught.value)


def _with_upstream(inference: str, management: str = "http://ts-small-management:8081") -> Any:
    raw = table()
    raw["models"]["small"]["upstream"] = {"inference_url": inference, "management_url": management}
    return raw


def test_a_models_upstream_reaches_its_targets_as_a_base_url() -> None:
    raw = _with_upstream("HTTP://TS-Small:8080/", "https://ts-small-management:8443")
    parsed = RoutingTable.model_validate(raw)
    upstream = parsed.models["small"].upstream
    assert upstream is not None
    assert upstream.management_url == "https://ts-small-management:8443"
    compiled = compile_table(TableState(generation=1, table=parsed))
    assert {t.upstream for (m, _), t in compiled.versions.items() if m == "small"} == {
        "http://ts-small:8080"
    }
    assert compiled.production["large"].upstream is None  # the router's default TorchServe


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://ts-small:8080", "is not an http or https URL"),
        ("ts-small:8080", "is not an http or https URL"),
        ("http://user:secret@ts-small:8080", "the URL carries credentials"),
        ("http://@ts-small:8080", "the URL carries credentials"),
        ("ftp://user:secret@ts-small:8080", "the URL carries credentials"),
        ("http://:8080", "names no host"),
        ("http://ts-small:99999", "has an invalid port"),
        ("http://ts-small:8080/predictions", "has a path, query or fragment"),
        ("http://ts-small:8080?x=1", "has a path, query or fragment"),
        ("http://ts small:8080", "contains spaces or control characters"),
    ],
)
def test_upstream_urls_are_checked(url: str, expected: str) -> None:
    for raw in (_with_upstream(url), _with_upstream("http://ts-small:8080", url)):
        with pytest.raises(ValidationError) as caught:
            RoutingTable.model_validate(raw)
        (error,) = caught.value.errors()
        assert expected in error["msg"]
        assert "secret" not in error["msg"]  # what the router answers and logs


def test_update_needs_the_expected_generation() -> None:
    with pytest.raises(ValidationError, match="expected_generation"):
        TableUpdate.model_validate({"table": table()})
    assert TableUpdate.model_validate({"expected_generation": 0, "table": table()})


def test_changed_stages_lists_every_moved_version() -> None:
    old = RoutingTable.model_validate(table())
    raw = table()
    raw["models"]["small"].update(production=3, previous=2, staging=None)
    del raw["models"]["large"]
    raw["routes"] = {}
    new = RoutingTable.model_validate(raw)
    assert changed_stages(old, new) == [
        ("large", "production"),
        ("small", "production"),
        ("small", "previous"),
        ("small", "staging"),
    ]


def test_routes_from_config_resolves_best_of_task() -> None:
    config = parse_models_config(
        """
models:
  small: {task: classification, primary_metric: accuracy, latency_sla_ms: 10}
routes:
  r:
    default: {best_of_task: classification}
    rules:
      - {kind: header, header: X-Priority, equals: critical, model: small}
      - {kind: batch_at_most, rows: 1, model: {best_of_task: feature-extraction}}
"""
    )
    routes = routes_from_config(config, {"classification": "large", "feature-extraction": "enc"})
    route = routes["r"]
    assert route.default == "large"
    assert route.default_resolved_from is not None
    assert route.default_resolved_from.best_of_task == "classification"
    assert [rule.model for rule in route.rules] == ["small", "enc"]
    assert route.rules[0].resolved_from is None
    with pytest.raises(KeyError, match="feature-extraction"):
        routes_from_config(config, {"classification": "large"})


# --------------------------------------------------------------------- rules


def route() -> TableRoute:
    return RoutingTable.model_validate(table()).routes["r"]


def headers(**found: str) -> Any:
    lowered = {k.lower().replace("_", "-"): v for k, v in found.items()}
    return lowered.get


@pytest.mark.parametrize(
    ("head", "payload", "rows", "expected"),
    [
        ({}, {"inputs": [[1]]}, 1, "small"),
        ({"X_Priority": "critical"}, {}, 1, "large"),
        ({"X_Priority": " critical "}, {}, 1, "large"),
        ({"X_Priority": "Critical"}, {}, 1, "small"),  # values are exact
        ({"X_Priority": "low"}, {}, 1, "small"),
        ({}, {"meta": {"tier": "gold"}}, 1, "large"),
        ({}, {"meta": {"tier": "silver"}}, 1, "small"),
        ({}, {"meta": "gold"}, 1, "small"),
        ({}, [[1, 2, 3]], 1, "small"),  # a list body has no fields
        ({}, {}, 3, "large"),
        ({}, {}, 2, "small"),
    ],
)
def test_first_matching_rule_wins_else_default(
    head: dict[str, str], payload: Any, rows: int, expected: str
) -> None:
    assert pick_model(route(), headers(**head), payload, rows) == expected


def test_field_rules_compare_json_values() -> None:
    def rule(equals: Any) -> TableRoute:
        return TableRoute.model_validate(
            {
                "default": "d",
                "rules": [{"kind": "field", "field": "f", "equals": equals, "model": "m"}],
            }
        )

    none = headers()
    assert pick_model(rule(1), none, {"f": 1.0}, 1) == "m"
    assert pick_model(rule(1), none, {"f": True}, 1) == "d"
    assert pick_model(rule(True), none, {"f": 1}, 1) == "d"
    assert pick_model(rule(True), none, {"f": True}, 1) == "m"
    assert pick_model(rule("1"), none, {"f": 1}, 1) == "d"
    assert pick_model(rule(2), none, {"f": 2}, 1) == "m"


def test_batch_at_most() -> None:
    r = TableRoute.model_validate(
        {"default": "d", "rules": [{"kind": "batch_at_most", "rows": 2, "model": "m"}]}
    )
    assert [pick_model(r, headers(), {}, n) for n in (1, 2, 3)] == ["m", "m", "d"]


# --------------------------------------------------------------------- inputs


@pytest.mark.parametrize(
    ("body", "rows"),
    [
        (b'{"inputs": [[1, 2, 3]]}', 1),
        (b'{"instances": [[1, 2, 3], [4, 5, 6.5]]}', 2),
        (b"[[1, 2, 3]]", 1),
        (b"[1, 2, 3]", 1),
        (b'{"inputs": [[1, 2, 3e38]], "tier": "gold"}', 1),
    ],
)
def test_bodies_the_handler_accepts_pass(body: bytes, rows: int) -> None:
    decoded = inputs.decode(body)
    inputs.check_rows(decoded.rows, SCHEMA, max_rows=10)
    assert len(decoded.rows) == rows


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"  \n", "empty body"),
        (b"{not json", "not valid JSON"),
        (b'{"a": "\xc3\x28"}', "not UTF-8"),
        (b'"text"', "JSON object"),
        (b'{"rows": [[1, 2, 3]]}', 'exactly one of "inputs" or "instances"'),
        (b'{"inputs": [[1,2,3]], "instances": [[1,2,3]]}', "exactly one of"),
        (b'{"inputs": []}', "non-empty list"),
        (b'{"inputs": [[1, 2]]}', "row 0 has 2 values; the model expects 3"),
        (b'{"inputs": [[1, 2, 3], [1, 2, 3, 4]]}', "row 1 has 4 values"),
        (b'{"inputs": [[1, "a", 3]]}', "non-numeric"),
        (b'{"inputs": [[1, true, 3]]}', "non-numeric"),
        (b'{"inputs": [[1, null, 3]]}', "non-numeric"),
        (b'{"inputs": [[1, NaN, 3]]}', "NaN or Infinity"),
        (b'{"inputs": [[1, Infinity, 3]]}', "NaN or Infinity"),
        (b'{"inputs": [[[1, 2], [3]]]}', "ragged"),
        (b'{"inputs": [[]]}', "empty"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        # Nested rows reach TorchServe only in the shape the schema names (none here).
        (b'{"inputs": [[[1], [2], [3]]]}', "row 0 is nested as [3, 1]"),
        (b'{"inputs": [[[1, 2, 3]]]}', "row 0 is nested as [1, 3]"),
        # Finite as JSON, not as the model's float32; beyond any float; beyond int parsing.
        (b'{"inputs": [[1, 2, 1e39]]}', "outside the range of float32"),
        (b'{"inputs": [[1, 2, -1e39]]}', "outside the range of float32"),
        (b'{"inputs": [[1, 2, ' + b"1" + b"0" * 400 + b"]]}", "too large"),
        (b'{"inputs": [[[1], [2], [' + b"1" + b"0" * 400 + b"]]]}", "too large"),
        (b'{"inputs": [[1, 2, ' + b"9" * 5000 + b"]]}", "cannot be read"),
    ],
)
def test_bodies_that_do_not_fit_are_refused_with_the_reason(body: bytes, reason: str) -> None:
    def check() -> None:
        inputs.check_rows(inputs.decode(body).rows, SCHEMA, max_rows=10)

    with pytest.raises(RouterError) as caught:
        check()
    assert caught.value.code is RouterErrorCode.INVALID_INPUT
    assert caught.value.status == 400
    assert reason in caught.value.message


def test_a_declared_row_shape_admits_that_nesting_only() -> None:
    shaped = InputSchema(n_features=4, row_shape=(2, 2))
    inputs.check_rows([[[1, 2], [3, 4]], [1, 2, 3, 4]], shaped, max_rows=5)
    with pytest.raises(RouterError, match=r"nested as \[4, 1\]; the model expects .*\[2, 2\]"):
        inputs.check_rows([[[1], [2], [3], [4]]], shaped, max_rows=5)
    with pytest.raises(ValueError, match="must agree"):
        InputSchema(n_features=5, row_shape=(2, 2))
    inputs.check_rows([[[1], [2]], [[3], [4]]], None, max_rows=5)  # no schema: shape only
    with pytest.raises(RouterError, match="range of int32"):
        inputs.check_rows([[1, 2, 2**31]], InputSchema(n_features=3, dtype="int32"), max_rows=5)


def test_row_limit_integer_dtype_and_unknown_schema() -> None:
    rows = inputs.decode(b"[[1, 2, 3], [1, 2, 3]]").rows
    with pytest.raises(RouterError, match="too many rows: 2 > 1"):
        inputs.check_rows(rows, SCHEMA, max_rows=1)
    with pytest.raises(RouterError, match="expects integers"):
        inputs.check_rows([[1, 2.5, 3]], InputSchema(n_features=3, dtype="int64"), max_rows=5)
    inputs.check_rows([[1, 2, 3]], InputSchema(n_features=3, dtype="int64"), max_rows=5)
    inputs.check_rows([[1, 2], [3, 4]], None, max_rows=5)  # no schema: rows must agree
    with pytest.raises(RouterError, match="row 1 has 1 values; row 0 has 2"):
        inputs.check_rows([[1, 2], [3]], None, max_rows=5)


# --------------------------------------------------------------------- auth


def test_admin_token_is_checked_by_digest() -> None:
    auth = AdminAuth("s" * 20)
    assert auth.allows("Bearer " + "s" * 20)
    assert not auth.allows("Bearer " + "s" * 19)
    assert not auth.allows("s" * 20)  # not a bearer header
    assert not auth.allows(None)
    assert not auth.allows("Bearer ")
    with pytest.raises(ServingError) as caught:
        AdminAuth("short")
    assert caught.value.code is ServingErrorCode.CONFIG_INVALID


def test_admin_compare_is_constant_time() -> None:
    import inspect

    from serving.router import auth

    source = inspect.getsource(auth)
    assert "hmac.compare_digest" in source
    assert "==" not in inspect.getsource(AdminAuth.allows)


def test_client_keys_required_off_loopback(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("10.1.2.3")
    with pytest.raises(ServingError, match="need API keys"):
        ClientKeys.load(None, required=True)
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": {digest("k" * 20): "app"}}))
    keys = ClientKeys.load(path, required=True)
    assert keys.client_for("Bearer " + "k" * 20, None) == "app"
    assert keys.client_for(None, "k" * 20) == "app"
    assert keys.client_for("Bearer nope", None) is None
    assert keys.client_for(None, None) is None
    path.write_text(json.dumps({"keys": {"k" * 20: "plain key, not a digest"}}))
    with pytest.raises(ServingError, match="sha256 hex"):
        ClientKeys.load(path, required=True)


# --------------------------------------------------------------------- state file


def test_state_file_round_trip_is_atomic_and_private(tmp_path: Path) -> None:
    store = StateFile(tmp_path / "sub" / "state.json")
    assert store.load() is None
    state = TableState(generation=7, table=RoutingTable.model_validate(table()))
    store.save(state)
    assert store.load() == state
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert [p.name for p in store.path.parent.iterdir()] == ["state.json"]  # no temp left


def test_a_corrupt_state_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"generation": "many"}')
    with pytest.raises(RouterError) as caught:
        StateFile(path).load()
    assert caught.value.code is RouterErrorCode.STATE_FILE
    assert str(path) in caught.value.message


def test_an_unwritable_state_file_raises_state_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RouterError) as caught:
        StateFile(blocker / "state.json").save(TableState(generation=1))
    assert caught.value.code is RouterErrorCode.STATE_FILE


# --------------------------------------------------------------------- metrics


def test_metrics_are_per_instance_and_track_the_table() -> None:
    first, second = RouterMetrics(), RouterMetrics()
    first.observe("m", "2", "", "ok", 0.0012)
    first.observe("m", "2", "r", "invalid_input", 0.0001)
    first.table_changed(3, {("m", "production"): 2}, [("m", "production")])
    text = first.render().decode()
    assert 'modelreg_router_requests_total{model="m",outcome="ok",route="",version="2"} 1.0' in text
    assert (
        'modelreg_router_errors_total{model="m",outcome="invalid_input",route="r",version="2"}'
        in text
    )
    assert (
        'modelreg_router_request_duration_seconds_bucket{le="0.0025",model="m",outcome="ok"' in text
    )
    assert 'modelreg_router_active_version{model="m",stage="production"} 2.0' in text
    assert 'modelreg_router_version_changes_total{model="m",stage="production"} 1.0' in text
    assert "modelreg_router_table_generation 3.0" in text
    first.table_changed(4, {}, [("m", "production")])  # the model left the table
    assert "modelreg_router_active_version{" not in first.render().decode()
    assert 'model="m"' not in second.render().decode()


def test_the_router_imports_only_serving() -> None:
    import subprocess
    import sys

    code = (
        "import sys, serving.router.server, serving.router.__main__\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('registry_mcp', 'agent'))\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------- per-model readiness


class Loaded:
    """TorchServe's management answers as data (``describe`` of the Management protocol):
    served name -> {version: status}. The router's readiness logic is what is under test."""

    def __init__(self, loaded: dict[str, dict[str, str]]) -> None:
        self.loaded = loaded

    def ping(self) -> PingResult:
        return PingResult(healthy=True, status="Healthy")

    def describe(self, model: str) -> ModelDescription:
        if model not in self.loaded:
            raise ServingError(ServingErrorCode.NOT_FOUND, f"no model {model}")
        versions = tuple(
            ServedVersion(
                version=version,
                is_default=False,
                status=status,  # type: ignore[arg-type]
                workers=(),
                min_workers=1,
                max_workers=1,
                batch_size=1,
                max_batch_delay_ms=100,
                archive=f"{model}-v{version}.mar",
            )
            for version, status in self.loaded[model].items()
        )
        return ModelDescription(name=model, default_version=None, versions=versions)


def test_an_initial_table_serves_the_ready_models_and_holds_the_others(tmp_path: Path) -> None:
    """`small` has every version loaded; `large` is missing, then loading, then ready."""
    management = Loaded({"small": {"1": "READY", "2": "READY", "3": "READY"}})
    tables = Tables(StateFile(tmp_path / "state.json"), management, RouterMetrics())
    initial = RoutingTable.model_validate(table())

    async def scenario() -> None:
        state = await tables.install_initial(initial)
        assert state.generation == 1
        assert tables.current.production["large"].version == "1"  # in the table, held
        assert set(tables.pending) == {"large"}
        assert "TorchServe has no model 'large'" in tables.pending["large"]
        with pytest.raises(RouterError) as again:
            await tables.install_initial(initial)
        assert again.value.code is RouterErrorCode.CONFLICT
        management.loaded["large"] = {"1": "LOADING"}
        still = await tables.recheck_pending()
        assert list(still) == ["large"]
        assert "production version 1 has no ready worker (LOADING)" in still["large"]
        management.loaded["large"] = {"1": "READY"}
        assert await tables.recheck_pending() == {}
        assert tables.pending == {}

    asyncio.run(scenario())
    saved = StateFile(tmp_path / "state.json").load()
    assert saved is not None
    assert (saved.generation, sorted(saved.table.models)) == (1, ["large", "small"])


def test_a_table_put_by_the_control_plane_is_checked_whole_and_clears_pending(
    tmp_path: Path,
) -> None:
    management = Loaded({"small": {"1": "READY", "2": "READY", "3": "READY"}})
    tables = Tables(StateFile(tmp_path / "state.json"), management, RouterMetrics())
    initial = RoutingTable.model_validate(table())

    async def scenario() -> None:
        await tables.install_initial(initial)
        assert set(tables.pending) == {"large"}
        with pytest.raises(RouterError) as refused:
            await tables.update(TableUpdate(expected_generation=1, table=initial))
        assert refused.value.code is RouterErrorCode.INVALID_TABLE
        assert tables.current.generation == 1
        small_only = RoutingTable.model_validate(
            table(models={"small": table()["models"]["small"]}, routes={})
        )
        state = await tables.update(TableUpdate(expected_generation=1, table=small_only))
        assert state.generation == 2
        assert tables.pending == {}

    asyncio.run(scenario())


def test_readyz_names_each_model_and_a_held_model_answers_503_model_not_ready(
    tmp_path: Path,
) -> None:
    management = Loaded({"small": {"1": "READY", "2": "READY", "3": "READY"}})
    settings = RouterSettings(
        port=free_port(),
        inference_url="http://127.0.0.1:9",  # the default TorchServe (never asked here)
        management_url="http://127.0.0.1:9",
        key_file=None,
        state_file=tmp_path / "state.json",
    )
    app = build_app(settings, "admin-" + "r" * 26, management)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://router") as http:
            assert (await http.get("/readyz")).status_code == 503  # no table yet
            await app.tables.install_initial(RoutingTable.model_validate(table()))
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text  # `small` serves: the pod is ready
            body = ready.json()
            assert body["models"]["small"] == {"ready": True}
            assert body["models"]["large"]["ready"] is False
            assert "has no model 'large'" in body["models"]["large"]["problem"]
            held = await http.post("/predictions/large", json={"inputs": [[0.1, 0.2, 0.3]]})
            assert held.status_code == 503, held.text
            assert held.json()["error"]["code"] == "MODEL_NOT_READY"
            assert held.headers["retry-after"] == "5"
            assert held.headers["x-model-name"] == "large"
            assert "GET /readyz" in held.json()["error"]["message"]
            routed = await http.post(
                "/routes/r", json={"inputs": [[0.1, 0.2, 0.3]]}, headers={"X-Priority": "critical"}
            )
            assert routed.json()["error"]["code"] == "MODEL_NOT_READY"
            metrics = (await http.get("/metrics")).text
            labels = 'model="large",outcome="unavailable",route="",version="1"'
            assert f"modelreg_router_errors_total{{{labels}}} 1.0" in metrics

            management.loaded.clear()  # `small` goes too: nothing of the table serves
            app.tables.pending = await asyncio.to_thread(
                app.tables._pending_of, app.tables.current.state.table, ["small", "large"]
            )
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            assert any("no model of the table is ready" in p for p in ready.json()["problems"])

    asyncio.run(scenario())

"""The registry drives the router: real MLflow registry, the session's real TorchServe, and a
real router process started the way `modelreg serve up` starts it.

One registry for the module (two models, three versions loaded once): ``rd-alpha`` v1
(card accuracy 0.90) and v2 (0.99), ``rd-beta`` v1 (0.95). The route ``best`` targets
``{best_of_task: classification}``, so it moves between the two models as alpha's
Production version changes.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from registry_mcp.core.approvals import Approvals
from registry_mcp.core.change_requests import Approval, Outcome
from registry_mcp.core.ports import RouterUpdate
from registry_mcp.core.registry import Registry
from registry_mcp.deploy.deployment import Deployment
from registry_mcp.deploy.router_client import RouterAdmin, RouterCallCode, RouterCallError
from registry_mcp.deploy.router_process import RouterProcess, read_admin_token
from registry_mcp.deploy.router_settings import RouterPlace
from registry_mcp.deploy.router_sync import RouterSync
from registry_mcp.deploy.routing_table import BuiltTable
from registry_mcp.domain.cards import ModelCard
from registry_mcp.domain.plans import ChangeKind
from serving.config import parse_models_config
from serving.errors import ServingError
from serving.local import LocalTorchServe
from serving.naming import served_name
from serving.router.server import free_port
from serving.router.table import RoutingTable
from serving.torchserve import TorchServeClient
from tests.conftest import make_backend
from tests.helpers import COMPLETE_CARD, add_versions

pytestmark = pytest.mark.slow

ALPHA, BETA = "rd-alpha", "rd-beta"
ROW = [0.5] * 64
CONFIG = f"""
models:
  {ALPHA}: &model
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 100
    input_schema: {{n_features: 64}}
  {BETA}: *model
routes:
  best:
    default: {{best_of_task: classification}}
  fixed:
    default: {ALPHA}
    rules:
      - {{kind: header, header: X-Use, equals: beta, model: {BETA}}}
"""


def _card(accuracy: float) -> ModelCard:
    metrics = {**COMPLETE_CARD.baseline_metrics, "accuracy": accuracy}
    return COMPLETE_CARD.model_copy(update={"baseline_metrics": metrics})


@dataclass
class Stack:
    registry: Registry
    deployment: Deployment
    process: RouterProcess
    admin: RouterAdmin
    approvals: Approvals = field(init=False)

    def __post_init__(self) -> None:
        self.approvals = Approvals.for_registry(self.registry, after_change=self.deployment.follow)

    @property
    def url(self) -> str:
        return self.process.place.url

    def approve(self, kind: ChangeKind, model: str = ALPHA, **kw: object) -> Outcome:
        req = self.approvals.request(kind, model, requested_by="erin", client="test", **kw)  # type: ignore[arg-type]
        return self.approvals.apply(
            req, self.approvals.plan(req), Approval(approver="erin", via="t")
        )


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    torchserve: LocalTorchServe,
    client: TorchServeClient,
) -> Iterator[Stack]:
    backend = make_backend(request, "sqlite", tmp_path_factory.mktemp("router-deploy"))
    registry = Registry.open(backend.settings)
    uri_a, uri_b = backend.model_uris
    for name, uri, accuracy in ((ALPHA, uri_a, 0.90), (ALPHA, uri_b, 0.99), (BETA, uri_b, 0.95)):
        add_versions(registry, uri, name, 1, card=_card(accuracy))
    for name, version, stage in [
        (ALPHA, 1, "staging"),
        (ALPHA, 1, "production"),
        (ALPHA, 2, "staging"),
        (BETA, 1, "staging"),
        (BETA, 1, "production"),
    ]:
        registry.stages.transition(name, version, stage, rationale="setup", actor="t")
    deployment = Deployment(registry, torchserve, client, parse_models_config(CONFIG))
    place = RouterPlace(
        port=free_port(), host="127.0.0.1", directory=tmp_path_factory.mktemp("router")
    )
    process = RouterProcess(place, torchserve)
    http = httpx.Client(timeout=30.0, trust_env=False)
    admin = RouterAdmin(place.url, lambda: read_admin_token(place), http)
    deployment.attach_router(admin, process)
    process.up()
    # Every test starts from a router holding the registry's table, whichever runs first
    # (alone, or on another worker under pytest-xdist).
    _verified(deployment.reconcile_all([ALPHA, BETA]).router)
    try:
        yield Stack(registry, deployment, process, admin)
    finally:
        process.down()
        http.close()
        for name in (ALPHA, BETA):  # leave the shared TorchServe without these models
            served = served_name(name)
            with contextlib.suppress(ServingError):
                # The default goes last: TorchServe refuses to unload it while others remain.
                loaded = client.describe(served).versions
                for served_version in sorted(loaded, key=lambda v: v.is_default):
                    client.unregister(served, served_version.version)
        registry.close()


def _verified(update: RouterUpdate | None) -> RouterUpdate:
    """The router took the registry's table and it read back equal."""
    assert update is not None
    assert update.updated, update.detail
    assert update.verified, update.detail
    return update


def _predict(http: httpx.Client, url: str, **headers: str) -> httpx.Response:
    return http.post(url, json={"inputs": [ROW, ROW]}, headers=headers)


def test_reconcile_gives_the_router_the_registry_table(stack: Stack) -> None:
    outcome = stack.deployment.reconcile_all([ALPHA, BETA])
    assert all(report.in_sync for report in outcome.reports)
    update = _verified(outcome.router)
    assert update.routes == {"best": BETA, "fixed": ALPHA}  # beta 0.95 beats alpha v1 0.90
    state = stack.admin.get_table()
    assert update.generation is not None
    assert state.generation == update.generation >= 1
    alpha = state.table.models[ALPHA]
    assert (alpha.production, alpha.previous, alpha.staging) == (1, None, 2)
    assert alpha.served_name == served_name(ALPHA)
    assert alpha.input_schema is not None
    assert alpha.input_schema.n_features == 64
    assert state.table.models[BETA].production == 1
    assert state.table.routes["best"].default_resolved_from is not None
    # Nothing changed: a second reconcile writes no new generation.
    again = stack.deployment.reconcile_all([ALPHA, BETA]).router
    assert again is not None
    assert again.updated
    assert not again.changed
    assert again.generation == state.generation
    with httpx.Client(timeout=30.0, trust_env=False) as http:
        best = _predict(http, stack.url + "/routes/best")
        fixed = _predict(http, stack.url + "/routes/fixed", **{"X-Use": "beta"})
        plain = _predict(http, stack.url + f"/predictions/{ALPHA}")
        anonymous = http.get(stack.url + "/admin/table")
    assert best.status_code == 200, best.text
    assert (best.headers["x-model-name"], best.headers["x-model-version"]) == (BETA, "1")
    assert fixed.headers["x-model-name"] == BETA
    assert (plain.headers["x-model-name"], plain.headers["x-model-version"]) == (ALPHA, "1")
    assert anonymous.status_code == 401


def test_the_admin_token_stays_private(stack: Stack) -> None:
    place = stack.process.place
    token = read_admin_token(place)
    assert token is not None
    assert place.token_file.stat().st_mode & 0o777 == 0o600
    assert place.directory.stat().st_mode & 0o077 == 0
    assert place.state_file.stat().st_mode & 0o077 == 0
    status = stack.process.status()
    assert status.running
    assert status.healthy
    assert status.pid is not None
    assert token.encode() not in Path(f"/proc/{status.pid}/cmdline").read_bytes()
    assert token not in place.log_file.read_text()
    assert token not in status.model_dump_json()
    update = stack.deployment.sync_router()
    assert update is not None
    assert token not in update.model_dump_json()


def test_switches_under_load_answer_only_with_the_production_version(stack: Stack) -> None:
    """Promote alpha v2, then 20 rollbacks, with two clients sending through the router all
    along: no request fails, and a request sent after a switch returned is answered by the
    Production version of that switch (and `best` by that switch's winning model)."""
    promoted = stack.approve(ChangeKind.PROMOTE, version=2, stage="Production", rationale="v2")
    promoted_at = time.monotonic()
    assert promoted.serving is not None
    assert promoted.serving.router is not None
    assert promoted.serving.router.verified, promoted.serving.router
    assert promoted.serving.router.routes["best"] == ALPHA  # alpha v2 (0.99) beats beta
    assert promoted.serving.router.changed
    assert "written and verified" in promoted.serving.detail

    results: list[tuple[float, str, str, str, int]] = []  # (sent, path, model, version, status)
    answered: dict[str, float] = {}  # path -> when the last answered request was sent
    switches: list[tuple[float, float, int]] = []  # (started, returned, production)
    stop = threading.Event()

    def load(path: str) -> None:
        with httpx.Client(timeout=30.0, trust_env=False) as http:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    reply = _predict(http, stack.url + path)
                except httpx.HTTPError as exc:
                    results.append((sent, path, "", repr(exc), 0))
                    continue
                results.append(
                    (
                        sent,
                        path,
                        reply.headers.get("x-model-name", ""),
                        reply.headers.get("x-model-version", ""),
                        reply.status_code,
                    )
                )
                answered[path] = sent

    paths = (f"/predictions/{ALPHA}", "/routes/best")

    def wait_for_traffic(since: float) -> None:
        """Until both clients had an answer to a request sent after ``since`` (the check
        below looks at the requests between two switches)."""
        deadline = time.monotonic() + 30
        while any(answered.get(path, 0.0) < since for path in paths):
            assert time.monotonic() < deadline, "no traffic between two switches"
            time.sleep(0.01)

    threads = [threading.Thread(target=load, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    try:
        wait_for_traffic(since=promoted_at)
        switches.append((0.0, promoted_at, 2))
        for _ in range(20):
            started = time.monotonic()
            outcome = stack.approve(ChangeKind.ROLLBACK, rationale="drill")
            returned = time.monotonic()
            serving = outcome.serving
            assert serving is not None
            assert serving.switch is not None
            assert serving.switch.verified
            _verified(serving.router)
            assert serving.switched_to is not None
            switches.append((started, returned, serving.switched_to))
            wait_for_traffic(since=returned)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert len(switches) == 21
    failed = [r for r in results if r[4] != 200]
    assert failed == [], failed[:5]
    assert len(results) > 100

    def after_switch(sent: float) -> int | None:
        """The switch that returned last before ``sent``; None while one runs."""
        ends = [*switches[1:], (float("inf"), 0.0, 0)]
        for index, ((_, returned, _), following) in enumerate(zip(switches, ends, strict=True)):
            if returned <= sent < following[0]:
                return index
        return None

    checked: set[int] = set()
    for sent, path, model, version, _ in results:
        index = after_switch(sent)
        if index is None:
            continue
        checked.add(index)
        production = switches[index][2]
        if path == "/routes/best":
            winner = ALPHA if production == 2 else BETA  # 0.99 > 0.95 > 0.90
            assert (model, version) == (winner, str(production) if winner == ALPHA else "1")
        else:
            assert (model, version) == (ALPHA, str(production)), (sent, path)
    assert checked == set(range(len(switches)))  # answers checked after every switch
    assert {r[3] for r in results if r[1] != "/routes/best"} == {"1", "2"}
    assert {r[2] for r in results if r[1] == "/routes/best"} == {ALPHA, BETA}


def test_router_down_the_registry_change_still_applies_and_a_restart_catches_up(
    stack: Stack, client: TorchServeClient
) -> None:
    before = stack.admin.get_table()
    production = before.table.models[ALPHA].production
    stack.process.down()
    assert not stack.process.status().running
    if stack.registry.get_model(ALPHA).model.previous_production_version is None:
        outcome = stack.approve(ChangeKind.PROMOTE, version=2, stage="Production", rationale="x")
    else:
        outcome = stack.approve(ChangeKind.ROLLBACK, rationale="router is down")
    assert outcome.serving is not None
    target = outcome.serving.switched_to
    assert target is not None
    assert target != production
    assert stack.registry.get_model(ALPHA).model.production_version == target
    assert client.default_version(served_name(ALPHA)) == str(target)  # TorchServe followed
    router = outcome.serving.router
    assert router is not None
    assert not router.updated
    assert "Router not updated" in outcome.serving.detail
    assert "not running" in router.detail

    # Restarted, the router holds its last table from the state file, unconfirmed: it
    # answers no prediction from it (the registry moved meanwhile) ...
    stack.process.up()
    held = stack.admin.get_table()
    assert (held.generation, held.table, held.confirmed) == (
        before.generation,
        before.table,
        False,
    )
    with httpx.Client(timeout=30.0, trust_env=False) as http:
        refused = http.post(
            f"{stack.process.place.url}/predictions/{ALPHA}", json={"inputs": [[0.5] * 64]}
        )
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "1"
    # ... until the next reconcile (what `serve up` runs) gives it the registry's table.
    update = stack.deployment.reconcile_all([ALPHA, BETA]).router
    assert update is not None
    assert update.updated
    assert update.verified
    assert update.generation == before.generation + 1
    assert stack.admin.get_table().table.models[ALPHA].production == target
    assert stack.admin.get_table().confirmed is True


def test_deferred_reconcile_switches_the_router_first_and_completes_it_after(
    stack: Stack, torchserve: LocalTorchServe
) -> None:
    """What the MCP server runs: the router gets the new Production at once (from the
    versions TorchServe has ready) and the full table after the background reconcile."""
    deferred = Deployment(
        stack.registry,
        torchserve,
        torchserve.client(),  # its own: close() closes it
        stack.deployment.models_config,
        defer_reconcile=True,
    )
    deferred.attach_router(stack.admin, stack.process)
    approvals = Approvals.for_registry(stack.registry, after_change=deferred.follow)
    summary = stack.registry.get_model(ALPHA).model
    kind = (
        ChangeKind.PROMOTE if summary.previous_production_version is None else ChangeKind.ROLLBACK
    )
    extra = {"version": 2, "stage": "Production"} if kind is ChangeKind.PROMOTE else {}
    req = approvals.request(
        kind,
        ALPHA,
        rationale="deferred",
        requested_by="erin",
        client="test",
        **extra,  # type: ignore[arg-type]
    )
    outcome = approvals.apply(req, approvals.plan(req), Approval(approver="erin", via="t"))
    deferred.close()  # waits for the background reconcile (and its push)
    assert outcome.serving is not None
    update = _verified(outcome.serving.router)
    target = outcome.serving.switched_to
    assert target is not None
    state = stack.admin.get_table()
    assert state.table.models[ALPHA].production == target
    assert state.generation >= (update.generation or 0)
    assert state.table == stack.deployment.routing_table().table


def test_two_moves_in_a_burst_share_the_background_reconcile_and_serving_ends_on_the_last(
    stack: Stack, torchserve: LocalTorchServe
) -> None:
    """A second operator moves the model while the first move's background reconcile is still
    pending: one reconcile (two, if the first had started) reads the registry after both, and
    serving, the router's table and the registry agree on the last move."""
    deferred = Deployment(
        stack.registry,
        torchserve,
        torchserve.client(),
        stack.deployment.models_config,
        defer_reconcile=True,
    )
    deferred.attach_router(stack.admin, stack.process)
    approvals = Approvals.for_registry(stack.registry, after_change=deferred.follow)

    def move(who: str) -> Outcome:
        summary = stack.registry.get_model(ALPHA).model
        if summary.previous_production_version is None:
            req = approvals.request(
                ChangeKind.PROMOTE,
                ALPHA,
                rationale="burst",
                requested_by=who,
                client="test",
                version=2,
                stage="Production",
            )
        else:
            req = approvals.request(
                ChangeKind.ROLLBACK, ALPHA, rationale="burst", requested_by=who, client="test"
            )
        return approvals.apply(req, approvals.plan(req), Approval(approver=who, via="t"))

    first = move("erin")
    second = move("frank")  # before the first move's reconcile has run
    deferred.close()  # runs what is pending and waits
    assert first.serving is not None
    assert second.serving is not None
    assert 1 <= deferred.background_reconciles <= 2
    production = stack.registry.approved_state(ALPHA).production
    assert second.serving.switched_to == production
    status = stack.deployment.status(ALPHA)
    assert status.serving_default == production
    assert status.in_sync, status.drift_reasons
    assert stack.admin.get_table().table == stack.deployment.routing_table().table


def test_a_stale_table_never_replaces_a_newer_one(stack: Stack) -> None:
    current = stack.admin.get_table()
    # A writer that read an older generation is refused, and nothing changes.
    with pytest.raises(RouterCallError) as refused:
        stack.admin.put_table(current.generation - 1, RoutingTable())
    assert refused.value.code is RouterCallCode.CONFLICT
    assert stack.admin.get_table() == current

    # Another writer lands between our read of the generation and our write: our first
    # write is refused (409), and we recompute from the registry and write again.
    calls = {"n": 0}

    def interposed() -> BuiltTable:
        calls["n"] += 1
        built = stack.deployment.routing_table()
        if calls["n"] == 1:
            state = stack.admin.get_table()
            stack.admin.put_table(state.generation, built.table.model_copy(update={"routes": {}}))
        return built

    sync = RouterSync(stack.admin, interposed)
    stack.admin.put_table(stack.admin.get_table().generation, RoutingTable())  # force a change
    start = stack.admin.get_table().generation
    update = sync.push()
    assert calls["n"] == 2
    assert update.updated
    assert update.verified
    assert update.changed
    assert update.generation == start + 2  # the other writer's, then ours
    assert stack.admin.get_table().table == stack.deployment.routing_table().table


def test_a_card_without_the_primary_metric_cannot_win_best_of_task(stack: Stack) -> None:
    production = stack.registry.get_model(ALPHA).model.production_version
    assert production is not None
    card = stack.registry.get_card(ALPHA, production).card
    metrics = {k: v for k, v in card.baseline_metrics.items() if k != "accuracy"}
    stack.registry.set_card(
        ALPHA, production, card.model_copy(update={"baseline_metrics": metrics}), actor="t"
    )
    try:
        built = stack.deployment.routing_table()
    finally:
        stack.registry.set_card(ALPHA, production, card, actor="t")
    assert built.winners == {"classification": BETA}
    assert built.table.routes["best"].default == BETA

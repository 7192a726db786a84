"""Canaries and guarded promotions end to end: a real registry, the session's TorchServe, a
real router process, the guard watcher, and client traffic through the router.

``rel-guarded`` v1 and v3 are the fixture's digits classifier; v2 is the same classifier
made slow on purpose (``bench.slow_model``: ~100+ ms a request on this machine), so it breaks
the model's 60 ms p99 SLA: the version "built to fail" its guard.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from bench.slow_model import SlowClassifier
from mcp import Client
from mcp.types import Implementation

from agent.decisions import Approve, Deny
from registry_mcp.core.approvals import CONTROLLER_ACTOR, GUARD_ACTOR, Approvals
from registry_mcp.core.change_requests import Approval, Outcome
from registry_mcp.core.registry import Registry
from registry_mcp.deploy.controller import Controller
from registry_mcp.deploy.deployment import Deployment
from registry_mcp.deploy.guard_watch import GuardWatcher
from registry_mcp.deploy.releases import canary_report, router_stats
from registry_mcp.deploy.router_client import RouterAdmin
from registry_mcp.deploy.router_process import RouterProcess, read_admin_token
from registry_mcp.deploy.router_settings import RouterPlace
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.plans import ChangeKind
from registry_mcp.domain.schemas import AuditAction, Decision
from registry_mcp.mcp.server import build_server
from registry_mcp.store.releases import GuardStatus
from registry_mcp.training.trainer import TrainResult
from serving.config import parse_models_config
from serving.errors import ServingError
from serving.local import LocalTorchServe
from serving.naming import served_name
from serving.router.server import free_port
from serving.torchserve import TorchServeClient
from tests.agent.conftest import open_agent
from tests.conftest import make_backend
from tests.helpers import add_versions
from tests.mcp_support import Human, structured, tool_error

pytestmark = pytest.mark.slow

GUARDED, QUICK, LATE = "rel-guarded", "rel-quick", "rel-late"
DEADLINE_S = 180.0  # generous: judging needs requests of a slow model on a loaded machine
ROW = [0.5] * 64
CONFIG = f"""
models:
  {GUARDED}:
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 60
    error_budget: 0.05
    input_schema: {{n_features: 64}}
    guard: {{window_s: 60, min_requests: 20}}
  {QUICK}:
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 20000
    input_schema: {{n_features: 64}}
    guard: {{window_s: 6, min_requests: 5}}
  {LATE}:
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 60
    input_schema: {{n_features: 64}}
    guard: {{window_s: 30, min_requests: 5}}
"""


@dataclass
class Stack:
    registry: Registry
    deployment: Deployment
    process: RouterProcess
    admin: RouterAdmin
    good_uri: str
    approvals: Approvals = field(init=False)

    def __post_init__(self) -> None:
        self.approvals = Approvals.for_registry(
            self.registry,
            after_change=self.deployment.follow,
            check_warm=self.deployment.check_warm,
        )

    @property
    def url(self) -> str:
        return self.process.place.url

    def change(self, kind: ChangeKind, model: str = GUARDED, **kw: object) -> Outcome:
        req = self.approvals.request(kind, model, requested_by="erin", client="test", **kw)  # type: ignore[arg-type]
        return self.approvals.apply(
            req, self.approvals.plan(req), Approval(approver="erin", via="t")
        )

    def watcher(self, clock: Callable[[], float] = time.time) -> GuardWatcher:
        return GuardWatcher(
            self.registry,
            self.approvals,
            lambda since, until: router_stats(self.deployment, since, until),
            clock=clock,
        )

    def controller(self) -> Controller:
        """A controller over this stack that supervises no process (the tests own them)."""
        return Controller(self.registry, self.deployment, self.watcher(), supervise=False)


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    torchserve: LocalTorchServe,
    client: TorchServeClient,
    trained: TrainResult,
) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("releases")
    backend = make_backend(request, "sqlite", home)
    models_file = home / "models.yaml"
    models_file.write_text(CONFIG)
    registry = Registry.open(backend.settings.model_copy(update={"models_config": models_file}))
    good = backend.model_uris[0]
    _, slow = registry.log_pytorch_run(
        model=SlowClassifier(trained.model).eval(),
        input_example=trained.input_example,
        params={"slow": 1},
        metrics={"test_accuracy": trained.accuracy},
        pip_requirements=["torch", "mlflow"],
        run_name="slow",
    )
    for uri in (good, slow, good):
        add_versions(registry, uri, GUARDED, 1)
    add_versions(registry, good, QUICK, 2)
    for uri in (good, slow):
        add_versions(registry, uri, LATE, 1)
    for name, version, stage in [
        (GUARDED, 1, "staging"),
        (GUARDED, 1, "production"),
        (GUARDED, 2, "staging"),
        (QUICK, 1, "staging"),
        (QUICK, 1, "production"),
        (QUICK, 2, "staging"),
        (LATE, 1, "staging"),
        (LATE, 1, "production"),
        (LATE, 2, "staging"),
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
    try:
        outcome = deployment.reconcile_all([GUARDED, QUICK, LATE])
        assert all(report.in_sync for report in outcome.reports), outcome
        yield Stack(registry, deployment, process, admin, good)
    finally:
        process.down()
        http.close()
        for name in (GUARDED, QUICK, LATE):
            served = served_name(name)
            with contextlib.suppress(ServingError):
                loaded = client.describe(served).versions
                for served_version in sorted(loaded, key=lambda v: v.is_default):
                    client.unregister(served, served_version.version)
        registry.close()


class Load:
    """Clients posting to the router until stopped; every answer's version is counted."""

    def __init__(self, url: str, clients: int = 3) -> None:
        self.url = url
        self.stop = threading.Event()
        self.versions: Counter[str] = Counter()
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        with httpx.Client(timeout=30.0, trust_env=False) as http:
            while not self.stop.is_set():
                reply = http.post(self.url, json={"inputs": [ROW]})
                with self._lock:
                    if reply.status_code == 200:
                        self.versions[reply.headers["x-model-version"]] += 1
                    else:
                        self.failures.append(f"{reply.status_code} {reply.text[:200]}")


def _audit(stack: Stack, model: str) -> list:  # type: ignore[type-arg]
    return list(stack.registry.audit_log(model=model, limit=200).items)


def test_a_canary_is_approved_routed_reported_and_stopped(stack: Stack) -> None:
    outcome = stack.change(ChangeKind.CANARY, version=2, percent=10, rationale="try v2")
    assert outcome.status == "applied"
    assert outcome.plan is not None
    assert outcome.plan.canary_after is not None
    entry = stack.admin.get_table().table.models[GUARDED]
    assert entry.canary is not None
    assert (entry.canary.version, entry.canary.percent) == (2, 10)
    audit = _audit(stack, GUARDED)[0]
    assert (audit.action, audit.decision, audit.to_version) == (
        AuditAction.CANARY,
        Decision.DONE,
        2,
    )
    assert audit.reason is not None
    assert "canary: v2 gets 10 %" in audit.reason

    with httpx.Client(timeout=30.0, trust_env=False) as http:
        for _ in range(40):
            reply = http.post(f"{stack.url}/predictions/{GUARDED}", json={"inputs": [ROW]})
            assert reply.status_code == 200, reply.text
    report = canary_report(stack.registry, stack.deployment, GUARDED)
    sides = {arm.role: arm for arm in report.arms}
    assert sides["production"].version == 1
    assert sides["canary"].version == 2
    assert sides["production"].requests + sides["canary"].requests == 40

    stopped = stack.change(ChangeKind.CANARY, rationale="enough")
    assert stopped.status == "applied"
    assert stack.admin.get_table().table.models[GUARDED].canary is None
    assert stack.registry.releases.canary(GUARDED) is None


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_mcp_canary_tools_ask_the_human_for_exactly_the_canary(
    stack: Stack, mode: str
) -> None:
    server = build_server(stack.registry, serving=stack.deployment, approver="dana")
    human = Human(note="10 % of traffic is fine")
    info = Implementation(name="test-client", version="1")
    async with Client(server, mode=mode, elicitation_callback=human, client_info=info) as session:  # type: ignore[arg-type]
        lax = await tool_error(
            session,
            "start_canary",
            {"model_name": GUARDED, "version": 2, "percent": "10", "rationale": "lax"},
        )
        assert "percent" in lax
        assert human.asked == []
        out = await structured(
            session,
            "start_canary",
            {"model_name": GUARDED, "version": 2, "percent": 10, "rationale": "try v2"},
        )
        assert out["status"] == "applied"
        assert "v2 gets 10 % of Production traffic" in human.asked[0]
        shown = await structured(session, "get_serving_version", {"model_name": GUARDED})
        assert shown["canary"]["version"] == 2
        assert shown["canary"]["percent"] == 10
        assert stack.admin.get_table().table.models[GUARDED].canary is not None
        denier = Human(approve=False, note="no")
        async with Client(
            server,
            mode=mode,
            elicitation_callback=denier,
            client_info=info,  # type: ignore[arg-type]
        ) as other:
            denied = await structured(
                other, "stop_canary", {"model_name": GUARDED, "rationale": "stop"}
            )
        assert denied["status"] == "denied"
        assert stack.registry.releases.canary(GUARDED) is not None
        stopped = await structured(
            session, "stop_canary", {"model_name": GUARDED, "rationale": "stop"}
        )
        assert stopped["status"] == "applied"
        assert "Stop the canary" in human.asked[-1]
    assert stack.registry.releases.canary(GUARDED) is None
    assert stack.admin.get_table().table.models[GUARDED].canary is None


@pytest.mark.anyio
async def test_the_agent_proposes_a_canary_and_a_human_decides(
    stack: Stack, tmp_path: Path
) -> None:
    server = build_server(stack.registry, serving=stack.deployment, approver="dana")
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        asked = await agent.conversation.ask(f"canary {GUARDED} v2 at 10% because real traffic")
        assert asked.approval is not None
        proposal = asked.approval.proposal
        assert (proposal.kind, proposal.version, proposal.percent) == ("canary", 2, 10)
        assert "v2 gets 10 % of Production traffic" in proposal.summary
        denied = await agent.conversation.decide(Deny(rationale="not today"))
        assert denied.answer is not None
        assert "canary of rel-guarded was not changed" in denied.answer.text
        assert stack.registry.releases.canary(GUARDED) is None

        again = await agent.conversation.ask(f"canary {GUARDED} v2 at 10%")
        assert again.approval is not None
        done = await agent.conversation.decide(Approve(rationale="go"))
        assert done.answer is not None
        assert "Canary: v2 gets 10 % of Production traffic." in done.answer.text
        assert stack.admin.get_table().table.models[GUARDED].canary is not None

        stop = await agent.conversation.ask(f"stop the canary of {GUARDED}")
        assert stop.approval is not None
        assert stop.approval.proposal.kind == "stop_canary"
        stopped = await agent.conversation.decide(Approve(rationale="enough"))
        assert stopped.answer is not None
        assert "stopped" in stopped.answer.text
    assert stack.registry.releases.canary(GUARDED) is None
    assert stack.admin.get_table().table.models[GUARDED].canary is None


def test_a_second_operator_changing_the_canary_makes_the_first_approval_stale(
    stack: Stack,
) -> None:
    approvals = stack.approvals
    first = approvals.request(
        ChangeKind.CANARY,
        GUARDED,
        version=2,
        percent=10,
        rationale="human A reads this form",
        requested_by="ann",
        client="test",
    )
    plan_seen_by_a = approvals.plan(first)
    # While A reads the form, B starts a 20 % canary.
    stack.change(ChangeKind.CANARY, version=2, percent=20, rationale="B was faster")
    with pytest.raises(RegistryError) as stale:
        approvals.apply(first, plan_seen_by_a, Approval(approver="ann", via="t"))
    assert stale.value.code is ErrorCode.STALE_PLAN
    running = stack.registry.releases.canary(GUARDED)
    assert running is not None
    assert running.canary.percent == 20
    refused = _audit(stack, GUARDED)[0]
    assert (refused.action, refused.decision, refused.actor) == (
        AuditAction.CANARY,
        Decision.REFUSED,
        "ann",
    )
    stack.change(ChangeKind.CANARY, rationale="clean up")
    assert stack.registry.releases.canary(GUARDED) is None


def test_a_crash_between_the_audit_row_and_the_canary_row_stores_neither(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import registry_mcp.core.transitions as transitions

    audit_before = [row.id for row in _audit(stack, GUARDED)]

    def crash(*_: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(transitions, "set_canary_in", crash)
    with pytest.raises(RuntimeError):
        stack.change(ChangeKind.CANARY, version=2, percent=10, rationale="crash")
    monkeypatch.undo()
    assert stack.registry.releases.canary(GUARDED) is None
    done = [r for r in _audit(stack, GUARDED) if r.id not in audit_before]
    assert all(r.decision is not Decision.DONE for r in done)
    assert stack.admin.get_table().table.models[GUARDED].canary is None


def test_bad_canaries_get_one_clear_error_and_change_nothing(stack: Stack) -> None:
    before = stack.admin.get_table()
    audit_before = len(_audit(stack, GUARDED))
    cases: list[tuple[dict[str, object], ErrorCode, str]] = [
        ({"version": 2, "percent": 150}, ErrorCode.INVALID_INPUT, "from 0.01 to 100"),
        ({"version": 2, "percent": 0}, ErrorCode.INVALID_INPUT, "canary stop"),
        ({"version": 2, "percent": "ten"}, ErrorCode.INVALID_INPUT, "not a number"),
        ({"version": 2, "percent": 10, "mode": "mirror"}, ErrorCode.INVALID_INPUT, "mode"),
        ({"version": 1, "percent": 10}, ErrorCode.INVALID_TRANSITION, "is the Production"),
        ({"version": 3, "percent": 10}, ErrorCode.INVALID_TRANSITION, "not loaded"),
        ({"percent": 10}, ErrorCode.INVALID_INPUT, "both a version and a percent"),
    ]
    for kw, code, words in cases:
        with pytest.raises(RegistryError) as caught:
            stack.change(ChangeKind.CANARY, rationale="bad", **kw)
        assert caught.value.code is code, (kw, caught.value)
        assert words in caught.value.message, (kw, caught.value.message)
    with pytest.raises(RegistryError) as no_canary:
        stack.change(ChangeKind.CANARY, rationale="stop what?")
    assert "no canary running" in no_canary.value.message
    assert stack.admin.get_table() == before
    assert stack.registry.releases.canary(GUARDED) is None
    # Invalid requests are audited as refused; nothing else was written.
    rows = _audit(stack, GUARDED)[: len(_audit(stack, GUARDED)) - audit_before]
    assert all(row.decision is Decision.REFUSED for row in rows)


def test_a_guard_needs_a_declared_guard_and_a_boolean(stack: Stack) -> None:
    registry = stack.registry
    add_versions(registry, stack.good_uri, "rel-unguarded", 2)
    registry.stages.transition("rel-unguarded", 1, "staging", rationale="s", actor="t")
    with pytest.raises(RegistryError) as no_guard:
        stack.change(
            ChangeKind.PROMOTE,
            "rel-unguarded",
            version=1,
            stage="Production",
            rationale="r",
            guard=True,
        )
    assert "declares no guard" in no_guard.value.message
    assert registry.get_model("rel-unguarded").model.production_version is None
    with pytest.raises(RegistryError) as lax:
        stack.change(
            ChangeKind.PROMOTE, QUICK, version=2, stage="Production", rationale="r", guard="yes"
        )
    assert "not the boolean" in lax.value.message
    assert registry.get_model(QUICK).model.production_version == 1


def test_a_guard_rolls_back_a_version_that_breaks_its_sla_under_its_approval(
    stack: Stack,
) -> None:
    promoted = stack.change(
        ChangeKind.PROMOTE, version=2, stage="Production", rationale="ship v2", guard=True
    )
    assert promoted.transition is not None
    approval_id = promoted.transition.audit_id
    assert promoted.plan is not None
    assert promoted.plan.guard is not None
    assert "guard for 60 s" in promoted.plan.describe()
    (guard,) = stack.registry.releases.guards(model=GUARDED, status=GuardStatus.WATCHING)
    assert (guard.version, guard.rollback_to, guard.approval_audit_id) == (2, 1, approval_id)

    # A watcher that starts, ticks once and goes away (a restart): nothing to judge yet.
    assert [v.action for v in stack.watcher().tick()] == ["watching"]

    stop = threading.Event()
    watcher = threading.Thread(target=stack.watcher().run, args=(stop, 0.2))
    # Judged once 20 requests are in: inside the window, or late on a slow machine.
    deadline = guard.ends_at.timestamp() + DEADLINE_S
    with Load(f"{stack.url}/predictions/{GUARDED}") as load:
        watcher.start()
        try:
            while time.time() < deadline:
                if stack.registry.get_model(GUARDED).model.production_version == 1:
                    break
                (latest,) = stack.registry.releases.guards(model=GUARDED, limit=1)
                if latest.status is not GuardStatus.WATCHING:
                    break
                time.sleep(0.1)
            deadline = time.monotonic() + DEADLINE_S
            while load.versions["1"] == 0 and time.monotonic() < deadline:
                time.sleep(0.05)  # traffic after the rollback, once serving followed
        finally:
            stop.set()
            watcher.join()
    assert stack.registry.get_model(GUARDED).model.production_version == 1
    assert load.failures == []
    assert load.versions["2"] >= 20  # judged only after min_requests
    assert load.versions["1"] > 0
    (ended,) = stack.registry.releases.guards(model=GUARDED, limit=1)
    # The registry rolled back and serving followed; "done" once a controller verified it.
    assert ended.status is GuardStatus.ROLLING_BACK
    assert ended.evidence is not None
    assert "p99" in ended.evidence
    stack.controller().tick()
    (ended,) = stack.registry.releases.guards(model=GUARDED, limit=1)
    assert ended.status is GuardStatus.ROLLED_BACK
    assert ended.evidence is not None
    assert "p99" in ended.evidence  # the breach stays the guard's evidence
    verified = _audit(stack, GUARDED)[0]
    assert (verified.action, verified.actor) == (AuditAction.GUARD, CONTROLLER_ACTOR)
    assert verified.reason is not None
    assert "rollback verified: TorchServe's default and the router's table serve v1" in (
        verified.reason
    )
    rollback = next(row for row in _audit(stack, GUARDED) if row.action is AuditAction.ROLLBACK)
    assert rollback.actor == GUARD_ACTOR
    assert rollback.decision is Decision.DONE
    assert rollback.to_version == 1
    assert rollback.rationale is not None
    assert f"automatic rollback under approval #{approval_id}" in rollback.rationale
    assert "> SLA 60 ms" in rollback.rationale
    assert stack.admin.get_table().table.models[GUARDED].production == 1

    # Replayed: the guard is no longer watching, so its rollback is refused (and audited).
    with pytest.raises(RegistryError) as replay:
        stack.approvals.apply_guard_rollback(ended, "replay")
    assert replay.value.code in (ErrorCode.STALE_PLAN, ErrorCode.INVALID_TRANSITION)
    assert stack.registry.get_model(GUARDED).model.production_version == 1


def test_a_good_version_stays_and_a_guard_never_fires_after_its_window(stack: Stack) -> None:
    promoted = stack.change(
        ChangeKind.PROMOTE, QUICK, version=2, stage="Production", rationale="v2", guard=True
    )
    assert promoted.transition is not None
    (guard,) = stack.registry.releases.guards(model=QUICK, status=GuardStatus.WATCHING)
    ends = guard.ends_at.timestamp()
    with Load(f"{stack.url}/predictions/{QUICK}", clients=1) as load:
        # Ticks inside the window (a slow machine's tick may take a while: stop well before).
        while time.time() < ends - 2.0:
            verdicts = stack.watcher(clock=lambda: min(time.time(), ends - 0.5)).tick()
            assert all(v.action == "watching" for v in verdicts), verdicts
            time.sleep(0.3)
    assert load.failures == []
    time.sleep(max(0.0, guard.ends_at.timestamp() + 0.1 - time.time()))
    # After the window, the rollback is refused whatever the numbers say ...
    with pytest.raises(RegistryError) as late:
        stack.approvals.apply_guard_rollback(guard, "p99 9999 ms > SLA (made up)")
    assert "window" in late.value.message
    assert stack.registry.get_model(QUICK).model.production_version == 2
    # ... and the watcher marks it passed (audited), not rolled back.
    verdicts = stack.watcher().tick()
    assert [(v.guard_id, v.action) for v in verdicts] == [(guard.id, "passed")]
    (ended,) = stack.registry.releases.guards(model=QUICK, limit=1)
    assert ended.status is GuardStatus.PASSED
    passed = _audit(stack, QUICK)[0]
    assert (passed.action, passed.actor) == (AuditAction.GUARD, GUARD_ACTOR)
    assert stack.registry.get_model(QUICK).model.production_version == 2


def test_another_production_change_supersedes_the_guard(stack: Stack) -> None:
    add_versions(stack.registry, stack.good_uri, QUICK, 1)
    stack.change(ChangeKind.PROMOTE, QUICK, version=3, stage="Staging", rationale="v3")
    stack.change(
        ChangeKind.PROMOTE, QUICK, version=3, stage="Production", rationale="v3", guard=True
    )
    (guard,) = stack.registry.releases.guards(model=QUICK, status=GuardStatus.WATCHING)
    assert (guard.version, guard.rollback_to) == (3, 2)
    stack.change(ChangeKind.ROLLBACK, QUICK, rationale="a human rolls back first")
    (ended,) = stack.registry.releases.guards(model=QUICK, limit=1)
    assert ended.id == guard.id
    assert ended.status is GuardStatus.SUPERSEDED
    with pytest.raises(RegistryError):
        stack.approvals.apply_guard_rollback(guard, "stale")
    assert stack.registry.get_model(QUICK).model.production_version == 2


def test_a_refused_automatic_rollback_is_retried_after_a_pause_not_on_every_tick(
    stack: Stack,
) -> None:
    from mlflow import MlflowClient

    registry = stack.registry
    if registry.get_model(GUARDED).model.staging_version != 2:
        stack.change(ChangeKind.PROMOTE, version=2, stage="Staging", rationale="again")
    stack.change(ChangeKind.PROMOTE, version=2, stage="Production", rationale="r", guard=True)
    # Under load, as in the rollback test, v2 answers over the SLA: a breach once 20 count.
    with Load(f"{stack.url}/predictions/{GUARDED}") as load:
        deadline = time.monotonic() + 240  # a busy machine answers slowly
        while load.versions["2"] < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert load.failures == []
    # Someone moves an alias in MLflow directly: every stage change is refused until a human
    # resolves it, the guard's rollback included.
    mlflow = MlflowClient(registry.settings.resolved_tracking_uri)
    mlflow.set_registered_model_alias(GUARDED, "staging", "3")
    last_row = _audit(stack, GUARDED)[0].id
    watcher = stack.watcher()
    first, again = watcher.tick(), watcher.tick()
    assert [v.action for v in first] == ["refused"], first
    assert "UNAPPROVED_CHANGE" in first[0].evidence
    assert [v.evidence for v in again] == ["waiting to retry a refused rollback"]
    attempts = [
        row
        for row in _audit(stack, GUARDED)
        if row.action is AuditAction.ROLLBACK and row.actor == GUARD_ACTOR and row.id > last_row
    ]
    assert [row.decision for row in attempts] == [Decision.REFUSED]  # one attempt, audited
    assert registry.get_model(GUARDED).model.aliases.production == 2
    # The human restores the approved aliases; the next attempt rolls back.
    seen = registry.get_model(GUARDED).model.aliases
    registry.stages.revert_unapproved(GUARDED, actor="erin", rationale="not ours", seen=seen)
    assert [v.action for v in stack.watcher().tick()] == ["rolled_back"]
    assert registry.get_model(GUARDED).model.production_version == 1


def test_a_canary_of_a_staging_version_serving_has_not_loaded_is_refused(stack: Stack) -> None:
    registry = stack.registry
    # Staged without serving following (e.g. by a script): TorchServe has no v3 yet.
    registry.stages.transition(GUARDED, 3, "staging", rationale="scripted", actor="t")
    before = stack.admin.get_table()
    with pytest.raises(RegistryError) as cold:
        stack.change(ChangeKind.CANARY, version=3, percent=10, rationale="too early")
    assert cold.value.code is ErrorCode.INVALID_TRANSITION
    assert "v3 of 'rel-guarded' is not loaded in TorchServe" in cold.value.message
    assert "modelreg serve reconcile" in cold.value.message
    assert registry.releases.canary(GUARDED) is None
    assert stack.admin.get_table() == before


def test_with_four_eyes_a_canary_is_a_proposal_another_person_approves(stack: Stack) -> None:
    settings = stack.registry.settings.model_copy(update={"four_eyes": True})
    registry = Registry.open(settings)
    try:
        approvals = Approvals.for_registry(
            registry,
            after_change=stack.deployment.follow,
            check_warm=stack.deployment.check_warm,
        )
        staged = registry.get_model(GUARDED).model.staging_version
        assert staged is not None
        stack.deployment.reconcile_all([GUARDED])  # load the Staging version
        req = approvals.request(
            ChangeKind.CANARY,
            GUARDED,
            version=staged,
            percent=5,
            rationale="four eyes",
            requested_by="ann",
            client="test",
        )
        plan = approvals.plan(req)
        assert approvals.needs_other_approver(plan)
        filed = approvals.propose(req, plan)
        assert filed.proposal_id is not None
        with pytest.raises(RegistryError) as own:
            approvals.proposals.resolve(filed.proposal_id, approve=True, approver="ann", note=None)
        assert "Four-eyes is on" in own.value.message
        assert registry.releases.canary(GUARDED) is None
    finally:
        registry.close()


def test_a_breach_nobody_judged_in_its_window_is_rolled_back_late_not_passed(
    stack: Stack,
) -> None:
    """The watcher (controller) is dead for the whole window of a breaching version."""
    promoted = stack.change(
        ChangeKind.PROMOTE, LATE, version=2, stage="Production", rationale="v2", guard=True
    )
    assert promoted.transition is not None
    (guard,) = stack.registry.releases.guards(model=LATE, status=GuardStatus.WATCHING)
    with Load(f"{stack.url}/predictions/{LATE}") as load:
        while time.time() < guard.ends_at.timestamp() + 0.2:
            time.sleep(0.1)
    assert load.failures == []
    assert load.versions["2"] >= 5
    time.sleep(2.0)  # the watcher comes back well after the window ended
    verdicts = stack.watcher().tick()
    assert [(v.guard_id, v.action) for v in verdicts] == [(guard.id, "rolled_back")], verdicts
    assert "judged late" in verdicts[0].evidence
    assert stack.registry.get_model(LATE).model.production_version == 1
    rollback = next(row for row in _audit(stack, LATE) if row.action is AuditAction.ROLLBACK)
    assert (rollback.actor, rollback.decision) == (GUARD_ACTOR, Decision.DONE)
    assert rollback.rationale is not None
    assert "after its window ended" in rollback.rationale
    assert "> SLA 60 ms" in rollback.rationale
    (ended,) = stack.registry.releases.guards(model=LATE, limit=1)
    assert ended.status is GuardStatus.ROLLING_BACK
    stack.controller().tick()
    (ended,) = stack.registry.releases.guards(model=LATE, limit=1)
    assert ended.status is GuardStatus.ROLLED_BACK


def test_a_window_whose_evidence_was_lost_ends_unjudged_never_passed(stack: Stack) -> None:
    """The router restarts inside the window (its in-memory evidence is gone) and nobody
    judged before: what is left shows no breach, so the guard can be neither passed nor
    rolled back."""
    registry = stack.registry
    add_versions(registry, stack.good_uri, QUICK, 1)
    latest = registry.get_model(QUICK).model.latest_version
    assert latest is not None
    stack.change(ChangeKind.PROMOTE, QUICK, version=latest, stage="Staging", rationale="s")
    stack.deployment.reconcile_all([QUICK])
    stack.change(
        ChangeKind.PROMOTE, QUICK, version=latest, stage="Production", rationale="p", guard=True
    )
    (guard,) = stack.registry.releases.guards(model=QUICK, status=GuardStatus.WATCHING)
    stack.process.down()
    stack.process.up()
    update = stack.deployment.sync_router()  # the restarted router's table is confirmed
    assert update is not None
    assert update.updated, update
    with Load(f"{stack.url}/predictions/{QUICK}", clients=1) as load:
        while time.time() < guard.ends_at.timestamp() + 0.2:
            time.sleep(0.1)
    assert load.failures == []
    verdicts = stack.watcher().tick()
    assert [(v.guard_id, v.action) for v in verdicts] == [(guard.id, "unjudged")], verdicts
    assert "not the whole window" in verdicts[0].evidence
    (ended,) = stack.registry.releases.guards(model=QUICK, limit=1)
    assert ended.status is GuardStatus.UNJUDGED
    row = _audit(stack, QUICK)[0]
    assert (row.action, row.actor) == (AuditAction.GUARD, GUARD_ACTOR)
    assert row.reason is not None
    assert "ended unjudged" in row.reason
    assert registry.get_model(QUICK).model.production_version == latest  # nothing moved

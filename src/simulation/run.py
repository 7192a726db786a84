"""`modelreg demo`: register v1 and v2 (and two more models), deploy behind the router, route a
request by a feature, ask the agent, approve a 10 % canary of v2, approve a guarded promotion,
verify, roll back under traffic.

This is the one module that composes all three packages: it trains and registers through
the registry core, starts TorchServe through the deployment bridge, and talks to the agent,
which reaches the registry only over MCP (a real `modelreg mcp` subprocess, as Claude
Desktop would start it). Every step's outcome is recorded in a typed report.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

import httpx
import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agent.checkpoint import open_checkpointer
from agent.context import AgentContext
from agent.conversation import Conversation, TurnResult
from agent.decisions import Approve, Deny
from agent.graph import build_graph
from agent.mcp_tools import open_registry, stdio_target
from agent.offline_parser import OfflineParser
from agent.state import ApprovalRequest
from registry_mcp.core.registry import Registry
from registry_mcp.deploy.deployment import Deployment
from registry_mcp.deploy.releases import canary_report
from registry_mcp.training.job import DEFAULT_MODEL_NAME, train_and_register
from registry_mcp.training.trainer import TrainConfig
from serving.config import ModelsConfig
from serving.naming import served_name
from simulation.monitoring import DemoMonitoring

# Two versions with measurably different accuracy (v2 is the better one).
V1 = TrainConfig(hidden=8, epochs=5, lr=5e-3, seed=1)
V2 = TrainConfig(hidden=64, epochs=30, lr=1e-2, seed=2)
# Served next to it: the high-accuracy classifier and a feature extractor (models.yaml).
COMPANIONS = (
    TrainConfig(architecture="cnn", hidden=64, epochs=20, seed=3),
    TrainConfig(architecture="encoder", hidden=64, embedding_dim=16, epochs=30, seed=4),
)

Approver = Callable[[ApprovalRequest], Awaitable[Approve | Deny]]

_MARKS: dict[str, str] = {
    "ok": "[green]ok[/]",
    "denied": "[yellow]denied[/]",
    "failed": "[red]FAILED[/]",
}


Outcome = Literal["ok", "denied", "failed"]
"""A denied change is an outcome of the story, not a failure: nothing moved, as asked."""


class Step(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    outcome: Outcome
    detail: str

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"


class Continuity(BaseModel):
    sent: int
    failed: int
    served_versions: list[str]


class SimulationReport(BaseModel):
    model: str
    v1: int
    v2: int
    companions: list[str] = Field(default_factory=list)
    router_url: str = ""
    steps: list[Step] = Field(default_factory=list)
    continuity: Continuity | None = None
    canary: bool = False
    promoted: bool = False
    rolled_back: bool = False

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


class _Traffic:
    """Prediction requests through the router in a loop while the Production version
    switches; counts failures and the versions that answered (X-Model-Version), and sends
    the true label of every third answer as feedback (production accuracy per version)."""

    def __init__(self, router_url: str, model: str) -> None:
        from sklearn.datasets import load_digits

        digits = load_digits()
        self._rows = (digits.data / 16.0).tolist()
        self._labels = digits.target.tolist()
        self._router = router_url
        self._url = f"{router_url}/predictions/{model}"
        self._stop = threading.Event()
        self.sent = 0
        self.failed = 0
        self.labelled = 0
        self.versions: set[str] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=30.0, trust_env=False) as client:
            while not self._stop.is_set():
                i = self.sent % len(self._rows)
                try:
                    reply = client.post(self._url, json={"inputs": [self._rows[i]]})
                    reply.raise_for_status()
                    self.versions.add(reply.headers["X-Model-Version"])
                except Exception:  # noqa: BLE001  (every failure is a dropped request)
                    self.failed += 1
                else:
                    if self.sent % 3 == 0:
                        self._feedback(client, reply.headers, self._labels[i])
                self.sent += 1

    def _feedback(self, client: httpx.Client, headers: httpx.Headers, label: int) -> None:
        body = {
            "request_id": headers["X-Request-Id"],
            "token": headers["X-Feedback-Token"],
            "label": label,
        }
        try:
            settled = client.post(f"{self._router}/feedback", json=body).json()
            self.labelled += int(settled.get("rows", 0))
        except (httpx.HTTPError, ValueError):
            pass  # feedback is best effort; predictions are what is counted

    def __enter__(self) -> _Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


async def run_simulation(
    registry: Registry,
    deployment: Deployment,
    console: Console,
    *,
    approve: Approver,
    actor: str,
    home: Path,
    model: str = DEFAULT_MODEL_NAME,
    monitoring: DemoMonitoring | None = None,
) -> SimulationReport:
    def step(report: SimulationReport, name: str, ok: bool | Outcome, detail: str) -> None:
        outcome: Outcome = ok if isinstance(ok, str) else ("ok" if ok else "failed")
        report.steps.append(Step(name=name, outcome=outcome, detail=detail))
        console.print(f"  {_MARKS[outcome]}  {detail}", highlight=False)

    console.rule(f"1. Starting state: train two {model} versions (set up without asking)")
    console.print(
        "  This step sets up the starting state directly: the older version to Production, "
        "the newer to Staging, two more models to Production. Every later change asks you.",
        highlight=False,
    )
    versions = []
    for config in (V1, V2):
        outcome = train_and_register(registry, config, name=model, actor=actor)
        versions.append(outcome)
        console.print(
            f"  {model} v{outcome.version.version}: hidden={config.hidden}, "
            f"epochs={config.epochs} -> accuracy {outcome.accuracy:.2%}"
        )
    v1, v2 = (o.version.version for o in versions)
    report = SimulationReport(model=model, v1=v1, v2=v2)
    current = registry.get_model(model, limit=1).model.production_version
    registry.stages.transition(
        model, v1, "staging", rationale="demo: release candidate", actor=actor
    )
    registry.stages.transition(
        model,
        v1,
        "production",
        rationale="demo: first release",
        actor=actor,
        expected_current_version=current or "none",
    )
    registry.stages.transition(model, v2, "staging", rationale="demo: challenger", actor=actor)
    companions = []
    for config in COMPANIONS:
        outcome = train_and_register(registry, config, actor=actor)
        name, number = outcome.version.name, outcome.version.version
        for stage in ("staging", "production"):
            registry.stages.transition(
                name, number, stage, rationale="demo: served next to the classifier", actor=actor
            )
        companions.append(name)
        console.print(
            f"  {name} v{number} ({config.architecture}) -> {outcome.primary_metric} "
            f"{outcome.accuracy:.2%}, in Production"
        )
    report.companions = companions
    step(
        report,
        "register",
        True,
        f"{model}: v{v1} in Production, v{v2} in Staging; {', '.join(companions)} in Production",
    )

    console.rule(f"2. Deploy {model} v{v1} and v{v2} on TorchServe behind the router")
    router = deployment.router_process
    if router is None:
        step(report, "deploy", False, f"the router cannot start: {deployment.router_problem}")
        return report
    with console.status("Starting TorchServe and the router, loading the three models..."):
        router.preflight()
        status = deployment.server.up()
        router_status = router.up()
        deployed = deployment.reconcile_all([model, *companions])
    console.print(_resources_table(deployment, registry.policies.file.config, [model, *companions]))
    described = deployment.client.describe(served_name(model))
    table_ok = deployed.router is not None and deployed.router.verified
    step(
        report,
        "deploy",
        all(r.in_sync for r in deployed.reports)
        and described.default_version == str(v1)
        and table_ok,
        f"TorchServe {status.inference_url}, router {router_status.url}: {model} v{v1} "
        f"Production, {len(companions)} more models; "
        + (deployed.router.detail if deployed.router else "router table not written"),
    )
    report.router_url = router_status.url
    routed = _route_by_feature(router_status.url, console)
    step(
        report,
        "route",
        routed == {"critical": "mnist-cnn", "normal": model},
        "route digits: X-Priority: critical -> "
        f"{routed.get('critical')}, no header -> {routed.get('normal')}",
    )

    demo_config = _calibrate_guard(registry, router_status.url, model, home, console)

    console.rule("3. Ask the agent")
    # The MCP server plans the guarded promotion: it reads the calibrated models file.
    target = stdio_target(
        home,
        env=None
        if demo_config is None
        else {**os.environ, "MODELREG_MODELS_CONFIG": str(demo_config)},
    )
    async with (
        open_registry(target) as tools,
        open_checkpointer(home / "agent" / "checkpoints.sqlite") as saver,
    ):
        graph = build_graph(AgentContext(tools=tools, parser=OfflineParser()), checkpointer=saver)
        conv = Conversation(graph, f"demo-{time.strftime('%Y%m%d-%H%M%S')}")

        async def say(text: str) -> TurnResult:
            console.print(Text(f"you> {text}", style="bold"))
            turn = await conv.ask(text)
            if turn.answer is not None:
                console.print(Panel(Text(turn.answer.text), title=turn.answer.title))
            return turn

        turn = await say("What models are in production?")
        answer = turn.answer.text if turn.answer else ""
        step(report, "ask", f"v{v1}" in answer, f"agent reports {model} v{v1} in production")

        async def change(text: str, name: str) -> bool | None:
            """True: approved; False: denied (recorded as an outcome); None: no proposal."""
            turn = await say(text)
            if turn.approval is None:
                step(report, name, False, "the agent did not propose a change")
                return None
            console.print(Panel(Text(turn.approval.proposal.summary), title="Approval needed"))
            decision = await approve(turn.approval)
            result = await conv.decide(decision)
            if result.answer is not None:
                console.print(Panel(Text(result.answer.text), title=result.answer.title))
            return isinstance(decision, Approve)

        console.rule(f"4. Canary: 10 % of {model} traffic to v{v2} (you decide)")
        canary = await change(f"Canary {model} v{v2} at 10%", "canary")
        report.canary = canary is True
        if canary is False:
            step(
                report,
                "canary",
                "denied",
                f"denied: no canary; all {model} traffic stays on v{v1} (Production)",
            )
        elif canary:
            _measure_canary(report, registry, deployment, model, v2, step)

        console.rule(f"5. Promote v{v2} with a guard (you decide)")
        promoted = await change(f"Promote {model} v{v2} to production with a guard", "promote")
        report.promoted = promoted is True
        if promoted is False:
            step(
                report,
                "promote",
                "denied",
                f"denied: v{v1} stays Production, v{v2} stays Staging"
                + (" with its 10 % canary running" if report.canary else "")
                + "; nothing to roll back, so step 6 is skipped",
            )
        if not report.promoted:
            if monitoring is not None:
                _monitor(report, monitoring, model, v1, 0, console, step)
            return report
        default = deployment.client.default_version(served_name(model))
        serving = await tools.get_serving_version(model)
        guard = serving.guard
        step(
            report,
            "promote",
            default == str(v2)
            and serving.serving.default_version == v2
            and serving.canary is None
            and guard is not None
            and guard.status == "watching"
            and guard.version == v2,
            f"get_serving_version: v{serving.serving.default_version}; TorchServe management "
            f"API default: v{default}; "
            + (
                ("canary ended" if serving.canary is None else "canary still running")
                if report.canary
                else "no canary"
            )
            + "; "
            + (
                f"guard #{guard.id} watching v{guard.version}"
                if guard is not None and guard.version == v2
                else "no guard on this promotion"
            ),
        )

        console.rule(f"6. Roll back to v{v1} under live traffic (you decide)")
        with _Traffic(report.router_url, model) as traffic:
            time.sleep(0.5)
            rolled_back = await change(f"Roll back {model} to v{v1}", "rollback")
            report.rolled_back = rolled_back is True
            time.sleep(0.5)
        report.continuity = Continuity(
            sent=traffic.sent, failed=traffic.failed, served_versions=sorted(traffic.versions)
        )
        default = deployment.client.default_version(served_name(model))
        after = (await tools.get_serving_version(model)).guard
        if rolled_back is False:
            step(
                report,
                "rollback",
                "denied" if traffic.failed == 0 and default == str(v2) else "failed",
                f"denied: v{v2} stays Production (TorchServe default v{default}), its guard "
                f"keeps watching; {traffic.sent} requests through the router meanwhile, "
                f"{traffic.failed} failed",
            )
        elif rolled_back:
            step(
                report,
                "rollback",
                default == str(v1)
                and traffic.failed == 0
                and after is not None
                and after.status == "superseded",
                f"default back to v{default}; {traffic.sent} requests through the router during "
                f"the rollback, {traffic.failed} failed; the human's rollback ended guard "
                f"#{after.id if after else '?'} ({after.status if after else 'missing'})",
            )
    if monitoring is not None:
        production = v1 if report.rolled_back else v2
        _monitor(report, monitoring, model, production, traffic.labelled, console, step)
    return report


def _measure_canary(
    report: SimulationReport,
    registry: Registry,
    deployment: Deployment,
    model: str,
    v2: int,
    step: Callable[[SimulationReport, str, bool, str], None],
) -> None:
    """Two seconds of traffic through the router; the share that reached the canary."""
    with _Traffic(report.router_url, model) as traffic:
        time.sleep(2.0)
        seen = canary_report(registry, deployment, model)
        arms = {arm.role: arm for arm in seen.arms}
        on_canary = arms["canary"].requests if "canary" in arms else 0
        total = on_canary + (arms["production"].requests if "production" in arms else 0)
        step(
            report,
            "canary",
            seen.canary is not None and 0 < on_canary < total,
            f"router window since the canary started: {total} requests, v{v2} answered "
            f"{on_canary} ({on_canary / max(total, 1):.1%}), {traffic.failed} failed",
        )


def _monitor(
    report: SimulationReport,
    monitoring: DemoMonitoring,
    model: str,
    v1: int,
    labelled: int,
    console: Console,
    step: Callable[[SimulationReport, str, bool, str], None],
) -> None:
    console.rule("7. What Prometheus sees")
    console.print(f"  Registry exporter: {monitoring.exporter_url}", highlight=False)
    if monitoring.prometheus_url is None:
        step(report, "monitor", True, f"Prometheus skipped: {monitoring.skipped}")
        return
    console.print(f"  Prometheus: {monitoring.prometheus_url}", highlight=False)
    production = 'max by (model) (modelreg_router_active_version{stage="production"})'
    seen = monitoring.wait_for(production, {model: str(v1)})
    rows = {
        (s["metric"]["model"], s["metric"]["version"]): float(s["value"][1])
        for s in monitoring.query("sum by (model, version) (modelreg_router_feedback_rows_total)")
    }
    correct = monitoring.query("sum by (model, version) (modelreg_router_feedback_correct_total)")
    for sample in correct:
        key = (sample["metric"]["model"], sample["metric"]["version"])
        if rows.get(key):
            console.print(
                f"  production accuracy {key[0]} v{key[1]}: "
                f"{float(sample['value'][1]) / rows[key]:.1%} of {rows[key]:.0f} labelled rows "
                "(feedback)",
                highlight=False,
            )
    step(
        report,
        "monitor",
        seen,
        f"Prometheus {monitoring.prometheus_url}: Production {model} v{v1} as the router "
        f"serves it; {labelled} labelled rows counted",
    )


BASELINE_REQUESTS = 200
HEADROOM = 5.0
"""The guard's p99 threshold is at least this many times the p99 measured on this machine."""


def _calibrate_guard(
    registry: Registry, router_url: str, model: str, home: Path, console: Console
) -> Path | None:
    """Measure the model's p99 through the router here, before anything is judged, and
    make the demo's guard threshold fit this machine: the models file's ``latency_sla_ms``
    when it leaves HEADROOM times the measured p99, otherwise a copy of the file (under the
    data home, used by this run only) with the threshold raised to that. Says which."""
    from sklearn.datasets import load_digits

    rows = (load_digits().data[:BASELINE_REQUESTS] / 16.0).tolist()
    timings: list[float] = []
    with httpx.Client(timeout=30.0, trust_env=False) as client:
        url = f"{router_url}/predictions/{model}"
        for row in rows[:10]:  # warm-up: first requests pay for connections and caches
            client.post(url, json={"inputs": [row]})
        for row in rows:
            started = time.perf_counter()
            client.post(url, json={"inputs": [row]}).raise_for_status()
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p99 = timings[min(len(timings) - 1, math.ceil(0.99 * len(timings)) - 1)]
    models_file = registry.policies.file
    configured = models_file.config.get(model).latency_sla_ms
    needed = float(math.ceil(HEADROOM * p99))
    measured = (
        f"{model} p99 through the router on this machine: {p99:.1f} ms "
        f"({len(timings)} sequential requests)"
    )
    if needed <= configured:
        console.print(
            f"  Guard threshold: p99 <= {configured:g} ms ({models_file.path}); {measured}, "
            f"{configured / max(p99, 1e-3):.0f}x headroom.",
            highlight=False,
        )
        return None
    document = yaml.safe_load(models_file.path.read_text(encoding="utf-8"))
    entry = (document.get("models") or {}).get(model)
    if not isinstance(entry, dict):
        console.print(
            f"  Guard threshold: p99 <= {configured:g} ms; {measured}: this machine may breach "
            f"it ({model} is not declared in {models_file.path}, so it is not calibrated).",
            highlight=False,
        )
        return None
    entry["latency_sla_ms"] = needed
    path = home / "demo" / "models.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    console.print(
        f"  Guard threshold calibrated: p99 <= {needed:g} ms ({HEADROOM:g}x the measured p99) "
        f"instead of {configured:g} ms from {models_file.path}; {measured}. This run's models "
        f"file: {path}.",
        highlight=False,
    )
    return path


def _route_by_feature(router_url: str, console: Console) -> dict[str, str]:
    """One request with `X-Priority: critical` and one without, through the `digits` route."""
    answered: dict[str, str] = {}
    body = {"inputs": [[0.5] * 64]}
    with httpx.Client(timeout=30.0, trust_env=False) as client:
        for kind, headers in (("critical", {"X-Priority": "critical"}), ("normal", {})):
            reply = client.post(f"{router_url}/routes/digits", json=body, headers=headers)
            if reply.status_code != 200:
                console.print(f"  route digits ({kind}): HTTP {reply.status_code} {reply.text}")
                continue
            answered[kind] = reply.headers["X-Model-Name"]
            shown = ", ".join(f"{k}: {v}" for k, v in headers.items()) or "no header"
            console.print(
                f"  POST {router_url}/routes/digits ({shown}) -> {answered[kind]} "
                f"v{reply.headers['X-Model-Version']}",
                highlight=False,
            )
    return answered


def _resources_table(deployment: Deployment, config: ModelsConfig, models: list[str]) -> Table:
    """Per model: what TorchServe runs now, and what models.yaml asks of Kubernetes."""
    table = Table(title="Served models and their resources")
    for column in ("Model", "Task", "TorchServe (default version)", "Kubernetes (models.yaml)"):
        table.add_column(column)
    for name in models:
        model_config = config.get(name)
        described = deployment.client.describe(served_name(name))
        local = ", ".join(
            f"v{v.version}: {v.min_workers}-{v.max_workers} worker(s), batch {v.batch_size}"
            + (" *" if v.is_default else "")
            for v in described.versions
        )
        k8s = model_config.kubernetes
        table.add_row(
            name,
            model_config.task,
            local,
            f"{k8s.replicas} replicas, cpu {k8s.cpu}-{k8s.limits.cpu or k8s.cpu}, memory "
            f"{k8s.memory}-{k8s.limits.memory or k8s.memory}, gpu {k8s.gpu}",
        )
    return table


def print_summary(console: Console, report: SimulationReport, registry: Registry) -> None:
    console.rule("Summary")
    table = Table()
    for column in ("Step", "Result", "Detail"):
        table.add_column(column)
    for item in report.steps:
        table.add_row(
            item.name, item.outcome.upper() if not item.ok else item.outcome, Text(item.detail)
        )
    console.print(table)
    console.print(
        f"MLflow UI:  mlflow ui --backend-store-uri {registry.settings.resolved_tracking_uri}\n"
        f"Audit:      modelreg audit {report.model}\n"
        f"Guards:     modelreg guard status {report.model}\n"
        f"Serving:    modelreg serve status\n"
        f"Router:     {report.router_url or 'not started'} (metrics at /metrics, docs at /docs)"
    )

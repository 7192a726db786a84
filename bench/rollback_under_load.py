"""Promote/rollback cycles under live traffic, through the public MCP tool path.

Each cycle is one `rollback_model` call over a real MCP client session (the approval form is
answered "approve"): registry compare-and-set move, serving `set-default`, read-back
verification and reconcile. Prediction threads keep TorchServe busy the whole time, from a
process of their own as clients are (``--load threads`` runs them in this process instead,
where they share the MCP server's interpreter). In the same run, the bare `set-default` call
is timed on its own as the floor.

Per-step timings: the steps of one rollback are the project's own calls, each wrapped here
with a timer (nothing in the project changes for the bench): planning (registry read and
approval checks), the approval form's row, its settling, the registry move (one database
transaction: MLflow aliases, approved state, audit row), serving follow (approved state,
serving lock, set-default + read-back, router push, reconcile) and, as the rest, the MCP
round trips with the approval form. Their p50 per cycle is printed under the end-to-end row.

The deployment is the one `modelreg mcp` opens (``--reconcile deferred``, the default: the
instant switch in the call, warming and unloading after it in the background, once for a
burst of moves of one model);
``--reconcile inline`` waits for the reconcile inside the call, as the CLI does.

Prints p50/p95 and request counts; writes JSON under bench/results/.

    python bench/rollback_under_load.py [--cycles 100] [--load-threads 2] [--quick]
        [--reconcile deferred|inline] [--load process|threads]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import anyio  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client import ClientRequestContext  # noqa: E402
from mcp.types import ElicitRequestParams, ElicitResult  # noqa: E402

from bench.out_path import out_file  # noqa: E402
from registry_mcp.core.approvals import Approvals  # noqa: E402
from registry_mcp.core.registry import Registry  # noqa: E402
from registry_mcp.core.stage_changes import StageChanges  # noqa: E402
from registry_mcp.deploy import deployment as deployment_module  # noqa: E402
from registry_mcp.deploy.deployment import Deployment, ServingLock  # noqa: E402
from registry_mcp.mcp.server import build_server  # noqa: E402
from registry_mcp.store.proposals import ProposalStore  # noqa: E402
from registry_mcp.store.settings import Settings  # noqa: E402
from registry_mcp.training.job import train_and_register  # noqa: E402
from registry_mcp.training.trainer import TrainConfig  # noqa: E402
from serving.local import LocalPorts, LocalTorchServe  # noqa: E402
from serving.naming import served_name  # noqa: E402
from serving.torchserve import TorchServeClient  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODEL = "mnist-classifier"


def pct(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "n": len(ordered),
    }


async def approve(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
    return ElicitResult(action="accept", content={"approve": True, "rationale": "bench"})


class LoadThreads:
    """Prediction threads against the default version; every failure is counted."""

    def __init__(self, server: LocalTorchServe, threads: int) -> None:
        self._server = server
        self._stop = threading.Event()
        self.sent = 0
        self.failed = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        row = [[0.25] * 64]
        with self._server.client() as client:
            while not self._stop.is_set():
                ok = True
                try:
                    client.predict(served_name(MODEL), {"inputs": row})
                except Exception as exc:  # noqa: BLE001  (any failure is a dropped request)
                    ok = False
                    with self._lock:
                        self.errors.append(str(exc)[:200])
                with self._lock:
                    self.sent += 1
                    self.failed += 0 if ok else 1

    def __enter__(self) -> LoadThreads:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def _load_child(server: LocalTorchServe, threads: int, conn: Connection) -> None:
    with LoadThreads(server, threads) as load:
        conn.send("ready")
        conn.recv()  # stop
    conn.send((load.sent, load.failed, load.errors[:5]))


class LoadProcess:
    """The same prediction threads in a process of their own: clients never share the MCP
    server's interpreter (in this one, their GIL hand-offs would be part of every step)."""

    def __init__(self, server: LocalTorchServe, threads: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_load_child, args=(server, threads, child))
        self.sent = 0
        self.failed = 0
        self.errors: list[str] = []

    def __enter__(self) -> LoadProcess:
        self._process.start()
        if not self._conn.poll(120) or self._conn.recv() != "ready":
            self._process.kill()
            raise RuntimeError("the load process did not start")
        return self

    def __exit__(self, *_: object) -> None:
        self._conn.send("stop")
        if self._conn.poll(60):
            self.sent, self.failed, self.errors = self._conn.recv()
        self._process.join(timeout=30)


STEPS: list[tuple[str, Any, str]] = [
    ("request: arguments checked", Approvals, "request"),
    ("plan: registry read + approval checks", Approvals, "plan"),
    ("approval form opened (its row)", Approvals, "open_form"),
    ("answer: form settled, plan re-checked, applied", Approvals, "answer_form"),
    ("  form settled (compare-and-set)", ProposalStore, "settle"),
    ("  registry move + audit row: one DB transaction", StageChanges, "execute"),
    ("  serving follow", Deployment, "follow"),
    ("    approved state read", Registry, "approved_state"),
    ("    TorchServe ping", TorchServeClient, "ping"),
    ("    serving lock wait", ServingLock, "__enter__"),
    ("    set-default + read-back", deployment_module, "switch_default"),
    ("    router push + confirm", Deployment, "sync_router"),
    ("reconcile (in the background when deferred)", Deployment, "_reconcile_one"),
]
"""(label, owner, attribute): the steps of one rollback, by the call that does each. A
step's time includes the steps indented under it; a step may run more than once a cycle:
on the MCP protocol's current era a call with an approval form is two rounds (the form
travels back as ``input_responses``), and each round re-validates and re-plans (the answer
counts only for the question asked), so ``request``, ``plan`` and ``open_form`` (which
finds the form already open on the second round) run twice a cycle. The audit row is
written in the registry move's transaction and has no time of its own."""
BACKGROUND = STEPS[-1][0]
OUTSIDE = "MCP round trip, approval form, the rest"
"""The end-to-end time not spent inside any step above (background work excluded)."""


class StepTimer:
    """Wraps each step's call with a timer; sums per cycle (any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = threading.local()
        self.current: dict[str, float] = {}
        self.cycles: dict[str, list[float]] = {label: [] for label, _, _ in STEPS}
        self.cycles[OUTSIDE] = []
        self.calls: dict[str, int] = {label: 0 for label, _, _ in STEPS}
        self._saved: list[tuple[Any, str, Any]] = []

    def _wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        background = "background" in label

        def timed(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._depth, "n", 0)
            self._depth.n = depth + 1
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = (time.perf_counter() - started) * 1000
                self._depth.n = depth
                with self._lock:
                    self.current[label] = self.current.get(label, 0.0) + spent
                    self.calls[label] += 1
                    if depth == 0 and not background:
                        self.current[OUTSIDE] = self.current.get(OUTSIDE, 0.0) + spent

        return timed

    @contextmanager
    def installed(self) -> Iterator[StepTimer]:
        for label, owner, attr in STEPS:
            original = getattr(owner, attr)
            self._saved.append((owner, attr, original))
            setattr(owner, attr, self._wrap(label, original))
        try:
            yield self
        finally:
            for owner, attr, original in reversed(self._saved):
                setattr(owner, attr, original)
            self._saved.clear()

    def start_cycle(self) -> None:
        with self._lock:
            self.current = {}

    def end_cycle(self, elapsed_ms: float) -> None:
        with self._lock:
            spent, self.current = self.current, {}
        for label, _, _ in STEPS:
            self.cycles[label].append(spent.get(label, 0.0))
        self.cycles[OUTSIDE].append(elapsed_ms - spent.get(OUTSIDE, 0.0))


async def cycles(registry: Registry, deployment: Deployment, count: int) -> dict[str, Any]:
    end_to_end: list[float] = []
    switch_call: list[float] = []
    verify: list[float] = []
    timer = StepTimer()
    with timer.installed():  # before the server takes its references to the steps
        server = build_server(registry, serving=deployment, approver="bench")
        async with Client(server, elicitation_callback=approve) as session:
            for _ in range(count):
                timer.start_cycle()
                started = time.perf_counter()
                result = await session.call_tool(
                    "rollback_model", {"model_name": MODEL, "rationale": "bench cycle"}
                )
                elapsed = (time.perf_counter() - started) * 1000
                end_to_end.append(elapsed)
                timer.end_cycle(elapsed)
                assert not result.is_error, result.content
                out = result.structured_content or {}
                switch = (out.get("serving") or {}).get("switch")
                assert switch, out
                assert switch["verified"], out
                switch_call.append(switch["call_ms"])
                verify.append(switch["verify_ms"])
    steps = {label: pct(samples) for label, samples in timer.cycles.items()}
    return {
        "background_reconciles": timer.calls[BACKGROUND],
        "end_to_end": pct(end_to_end),
        "switch_call": pct(switch_call),
        "switch_verify": pct(verify),
        "steps": steps,
    }


def bare_set_default(deployment: Deployment, count: int) -> dict[str, float]:
    client = deployment.client
    name = served_name(MODEL)
    versions = ["1", "2"]
    samples = []
    for i in range(count):
        started = time.perf_counter()
        client.set_default(name, versions[i % 2])
        samples.append((time.perf_counter() - started) * 1000)
    deployment.reconcile([MODEL])  # back to what the registry says
    return pct(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--load-threads", type=int, default=2)
    parser.add_argument(
        "--quick", action="store_true", help="A smoke run: 5 cycles, tiny models (not timed)."
    )
    parser.add_argument(
        "--load",
        choices=["process", "threads"],
        default="process",
        help="process: the prediction threads run in a process of their own (default); "
        "threads: in this one, beside the MCP server and its client.",
    )
    parser.add_argument(
        "--reconcile",
        choices=["deferred", "inline"],
        default="deferred",
        help="deferred: as `modelreg mcp` runs (default); inline: wait for the reconcile.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "rollback_under_load.json",
        help="The JSON to write, or a directory for rollback_under_load.json in it.",
    )
    args = parser.parse_args()
    args.out = out_file(parser, args.out, "rollback_under_load")
    epochs = (1, 1) if args.quick else (5, 10)
    if args.quick:
        args.cycles = 5

    with tempfile.TemporaryDirectory(prefix="modelreg-rollback-bench-") as tmp:
        settings = Settings(home=Path(tmp), actor="bench")
        registry = Registry.open(settings)
        first = train_and_register(
            registry, TrainConfig(hidden=16, epochs=epochs[0], seed=1), name=MODEL, actor="bench"
        )
        if args.quick:  # a second version of the same model: one training is enough
            card = registry.get_card(MODEL, 1).card
            registry.register(MODEL, first.model_uri, actor="bench", card=card)
        else:
            train_and_register(
                registry, TrainConfig(epochs=epochs[1], seed=2), name=MODEL, actor="bench"
            )
        for version, stage in [
            (1, "staging"),
            (1, "production"),
            (2, "staging"),
            (2, "production"),
        ]:
            registry.stages.transition(
                MODEL, version, stage, rationale="bench setup", actor="bench"
            )
        torchserve = LocalTorchServe(Path(tmp) / "serving", ports=LocalPorts.free())
        torchserve.up()
        deployment = Deployment(
            registry,
            torchserve,
            torchserve.client(),
            registry.policies.file.config,
            defer_reconcile=args.reconcile == "deferred",
        )
        try:
            deployment.reconcile([MODEL])
            load_class = LoadProcess if args.load == "process" else LoadThreads
            with load_class(torchserve, args.load_threads) as load:
                time.sleep(0.2 if args.quick else 1.0)
                started = time.perf_counter()
                measured = anyio.run(cycles, registry, deployment, args.cycles)
                measured["bare_set_default"] = bare_set_default(deployment, args.cycles)
                duration = time.perf_counter() - started
                time.sleep(0.5)
            measured["requests"] = {
                "sent": load.sent,
                "failed": load.failed,
                "during_s": round(duration, 1),
                "first_errors": load.errors[:5],
            }
        finally:
            deployment.close()
            torchserve.down()
            registry.close()

    rows = [
        ("rollback_model e2e (MCP)", measured["end_to_end"]),
        *((f"  {label}", row) for label, row in measured["steps"].items()),
        ("  of which set-default", measured["switch_call"]),
        ("  of which read-back", measured["switch_verify"]),
        ("bare set-default", measured["bare_set_default"]),
    ]
    print(f"{'path (per cycle)':<46} {'p50 ms':>8} {'p95 ms':>8} {'n':>5}")
    for label, row in rows:
        print(f"{label:<46} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} {row['n']:>5}")
    if args.reconcile == "deferred":
        print(
            f"background reconciles: {measured['background_reconciles']} for {args.cycles} "
            "moves (a burst of moves of one model shares one)"
        )
    req = measured["requests"]
    print(
        f"requests during the run: {req['sent']} sent, {req['failed']} failed "
        f"({req['during_s']} s, {args.load_threads} threads, load in {args.load})"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "rollback_under_load",
                "cycles": args.cycles,
                "load": args.load,
                "reconcile": args.reconcile,
                "results": measured,
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

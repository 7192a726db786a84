"""Promote/rollback cycles under live traffic, through the public MCP tool path.

Each cycle is one `rollback_model` call over a real MCP client session (the approval form is
answered "approve"): registry compare-and-set move, serving `set-default`, read-back
verification and reconcile. Prediction threads keep TorchServe busy the whole time. In the
same run, the bare `set-default` call is timed on its own as the floor.

Prints p50/p95 and request counts; writes JSON under bench/results/.

    python bench/rollback_under_load.py [--cycles 100] [--load-threads 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
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

from registry_mcp.core.registry import Registry  # noqa: E402
from registry_mcp.deploy.deployment import Deployment  # noqa: E402
from registry_mcp.mcp.server import build_server  # noqa: E402
from registry_mcp.store.settings import Settings  # noqa: E402
from registry_mcp.training.job import train_and_register  # noqa: E402
from registry_mcp.training.trainer import TrainConfig  # noqa: E402
from serving.local import LocalPorts, LocalTorchServe  # noqa: E402
from serving.naming import served_name  # noqa: E402

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


class Load:
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

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


async def cycles(registry: Registry, deployment: Deployment, count: int) -> dict[str, Any]:
    server = build_server(registry, serving=deployment, approver="bench")
    end_to_end: list[float] = []
    switch_call: list[float] = []
    verify: list[float] = []
    async with Client(server, elicitation_callback=approve) as session:
        for _ in range(count):
            started = time.perf_counter()
            result = await session.call_tool(
                "rollback_model", {"model_name": MODEL, "rationale": "bench cycle"}
            )
            end_to_end.append((time.perf_counter() - started) * 1000)
            assert not result.is_error, result.content
            out = result.structured_content or {}
            switch = (out.get("serving") or {}).get("switch")
            assert switch, out
            assert switch["verified"], out
            switch_call.append(switch["call_ms"])
            verify.append(switch["verify_ms"])
    return {
        "end_to_end": pct(end_to_end),
        "switch_call": pct(switch_call),
        "switch_verify": pct(verify),
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
    parser.add_argument("--out", type=Path, default=RESULTS / "rollback_under_load.json")
    args = parser.parse_args()
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
            registry, torchserve, torchserve.client(), registry.policies.file.config
        )
        try:
            deployment.reconcile([MODEL])
            with Load(torchserve, args.load_threads) as load:
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
        ("  of which set-default", measured["switch_call"]),
        ("  of which read-back", measured["switch_verify"]),
        ("bare set-default", measured["bare_set_default"]),
    ]
    print(f"{'path':<28} {'p50 ms':>8} {'p95 ms':>8} {'n':>5}")
    for label, row in rows:
        print(f"{label:<28} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} {row['n']:>5}")
    req = measured["requests"]
    print(
        f"requests during the run: {req['sent']} sent, {req['failed']} failed "
        f"({req['during_s']} s, {args.load_threads} threads)"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"benchmark": "rollback_under_load", "cycles": args.cycles, "results": measured},
            indent=2,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

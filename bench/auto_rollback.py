"""Guarded promotion of a bad version under sustained load: how fast is it rolled back?

Setup: one model with a guard (window 60 s, judged after 20 requests, p99 SLA 60 ms); v1 is
a trained digits classifier, v2 the same classifier made slow (``bench.slow_model``, every
request well over the SLA). TorchServe, the router process and the guard watcher run as in
``modelreg serve up`` + ``modelreg guard watch`` (the watcher in a thread, checking every
0.2 s); client threads post to the router the whole time.

Each run: approve a guarded promotion of v2, then wait until the watcher has rolled it back
and the rollback is verified (registry moved, TorchServe default switched and read back, the
router's table pushed and read back). Measured per run, on one clock:

- breach -> verified: from the end of the first request v2 answered over the SLA to the
  watcher's rollback returning verified;
- promote -> verified: from the approved promotion starting to apply to the same moment.

Failed requests (any non-200) are counted over the whole run: the slow version answers
correctly, so every failure would be the rollback's fault.

    python bench/auto_rollback.py [--runs 12] [--clients 3] [--quick]
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

import httpx  # noqa: E402

from bench.out_path import out_file  # noqa: E402
from bench.slow_model import SlowClassifier  # noqa: E402
from registry_mcp.core.approvals import Approvals  # noqa: E402
from registry_mcp.core.change_requests import Approval  # noqa: E402
from registry_mcp.core.registry import Registry  # noqa: E402
from registry_mcp.deploy.deployment import Deployment  # noqa: E402
from registry_mcp.deploy.guard_watch import GuardVerdict, GuardWatcher  # noqa: E402
from registry_mcp.deploy.releases import router_stats  # noqa: E402
from registry_mcp.deploy.router_client import RouterAdmin  # noqa: E402
from registry_mcp.deploy.router_process import RouterProcess, read_admin_token  # noqa: E402
from registry_mcp.deploy.router_settings import RouterPlace  # noqa: E402
from registry_mcp.domain.plans import ChangeKind  # noqa: E402
from registry_mcp.store.settings import Settings  # noqa: E402
from registry_mcp.training.job import train_and_register  # noqa: E402
from registry_mcp.training.trainer import TrainConfig, train  # noqa: E402
from serving.config import parse_models_config  # noqa: E402
from serving.local import LocalPorts, LocalTorchServe  # noqa: E402
from serving.router.server import free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODEL = "guarded-digits"
SLA_MS = 60
CONFIG = f"""
models:
  {MODEL}:
    task: classification
    primary_metric: accuracy
    latency_sla_ms: {SLA_MS}
    error_budget: 0.01
    input_schema: {{n_features: 64}}
    guard: {{window_s: 60, min_requests: 20}}
"""


def pct(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_s": round(statistics.median(ordered), 3),
        "p95_s": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 3),
        "max_s": round(ordered[-1], 3),
        "n": len(ordered),
    }


class Load:
    """Client threads posting to the router; each answer's end time, version and latency."""

    def __init__(self, url: str, clients: int) -> None:
        self.url = url
        self.stop = threading.Event()
        self.answers: list[tuple[float, str, float]] = []  # (end, version, latency_ms)
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _run(self) -> None:
        body = {"inputs": [[0.25] * 64]}
        with httpx.Client(timeout=30.0, trust_env=False) as http:
            while not self.stop.is_set():
                started = time.time()
                try:
                    reply = http.post(self.url, json=body)
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.failures.append(type(exc).__name__)
                    continue
                ended = time.time()
                with self._lock:
                    if reply.status_code == 200:
                        version = reply.headers["x-model-version"]
                        self.answers.append((ended, version, (ended - started) * 1000))
                    else:
                        self.failures.append(f"{reply.status_code} {reply.text[:160]}")

    def first_breach(self, version: str, after: float) -> float | None:
        with self._lock:
            found = [
                end
                for end, answered, latency in self.answers
                if answered == version and end >= after and latency > SLA_MS
            ]
        return min(found) if found else None

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def setup(registry: Registry, quick: bool) -> None:
    first = train_and_register(
        registry,
        TrainConfig(hidden=16, epochs=1 if quick else 5, seed=1),
        name=MODEL,
        actor="bench",
    )
    base = train(TrainConfig(hidden=16, epochs=1, seed=1))
    _, slow_uri = registry.log_pytorch_run(
        model=SlowClassifier(base.model).eval(),
        input_example=base.input_example,
        params={"slow": 1},
        metrics={"test_accuracy": base.accuracy},
        pip_requirements=["torch", "mlflow"],
        run_name="slow",
    )
    card = registry.get_card(MODEL, first.version.version).card
    registry.register(MODEL, slow_uri, actor="bench", card=card)
    for version, stage in [(1, "staging"), (1, "production"), (2, "staging")]:
        registry.stages.transition(MODEL, version, stage, rationale="bench setup", actor="bench")


def one_run(
    approvals: Approvals, registry: Registry, load: Load, verdicts: list[tuple[float, str]]
) -> dict[str, float]:
    if registry.get_model(MODEL).model.staging_version != 2:
        approvals.apply(
            req := approvals.request(
                ChangeKind.PROMOTE,
                MODEL,
                version=2,
                stage="Staging",
                rationale="bench: v2 back to Staging",
                requested_by="bench",
                client="bench",
            ),
            approvals.plan(req),
            Approval(approver="bench", via="bench"),
        )
    time.sleep(0.5)  # traffic on v1 before the promotion
    req = approvals.request(
        ChangeKind.PROMOTE,
        MODEL,
        version=2,
        stage="Production",
        rationale="bench: guarded promotion of the slow version",
        requested_by="bench",
        client="bench",
        guard=True,
    )
    plan = approvals.plan(req)
    promoted = time.time()  # the approved promotion starts applying now
    outcome = approvals.apply(req, plan, Approval(approver="bench", via="bench"))
    assert outcome.serving is not None, outcome
    assert outcome.serving.switched_to == 2, outcome
    deadline = promoted + 60
    while time.time() < deadline:
        done = [at for at, action in verdicts if action == "rolled_back" and at >= promoted]
        if done:
            break
        time.sleep(0.02)
    else:
        raise RuntimeError("no automatic rollback within the 60 s window")
    verified = done[0]
    model = registry.get_model(MODEL).model
    assert model.production_version == 1, model
    breach = load.first_breach("2", promoted)
    assert breach is not None
    time.sleep(0.5)  # traffic on v1 after the rollback
    return {"breach_to_verified_s": verified - breach, "promote_to_verified_s": verified - promoted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="A smoke run: 2 runs, tiny model.")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "auto_rollback.json",
        help="The JSON to write, or a directory for auto_rollback.json in it.",
    )
    args = parser.parse_args()
    args.out = out_file(parser, args.out, "auto_rollback")
    if args.quick:
        args.runs = 2

    with tempfile.TemporaryDirectory(prefix="modelreg-guard-bench-") as tmp:
        home = Path(tmp)
        (home / "models.yaml").write_text(CONFIG)
        settings = Settings(home=home, actor="bench", models_config=home / "models.yaml")
        registry = Registry.open(settings)
        setup(registry, args.quick)
        torchserve = LocalTorchServe(home / "serving", ports=LocalPorts.free())
        torchserve.up()
        deployment = Deployment(
            registry, torchserve, torchserve.client(), parse_models_config(CONFIG)
        )
        place = RouterPlace(port=free_port(), host="127.0.0.1", directory=home / "router")
        process = RouterProcess(place, torchserve)
        http = httpx.Client(timeout=30.0, trust_env=False)
        deployment.attach_router(
            RouterAdmin(place.url, lambda: read_admin_token(place), http), process
        )
        process.up()
        stop = threading.Event()
        verdicts: list[tuple[float, str]] = []

        def remember(verdict: GuardVerdict) -> None:
            verdicts.append((time.time(), verdict.action))

        approvals = Approvals.for_registry(
            registry, after_change=deployment.follow, check_warm=deployment.check_warm
        )
        watcher = GuardWatcher(
            registry, approvals, lambda since, until: router_stats(deployment, since, until)
        )
        watching = threading.Thread(target=watcher.run, args=(stop, 0.2, remember))
        runs: list[dict[str, float]] = []
        try:
            deployment.reconcile_all([MODEL])
            watching.start()
            started = time.perf_counter()
            with Load(f"{place.url}/predictions/{MODEL}", args.clients) as load:
                for _ in range(args.runs):
                    runs.append(one_run(approvals, registry, load, verdicts))
            duration = time.perf_counter() - started
            answered = len(load.answers)
            failures = load.failures
        finally:
            stop.set()
            if watching.is_alive():
                watching.join(timeout=30)
            process.down()
            http.close()
            deployment.close()
            torchserve.down()
            registry.close()

    measured: dict[str, Any] = {
        "breach_to_verified": pct([r["breach_to_verified_s"] for r in runs]),
        "promote_to_verified": pct([r["promote_to_verified_s"] for r in runs]),
        "runs": runs,
        "requests": {
            "answered": answered,
            "failed": len(failures),
            "first_failures": failures[:5],
            "during_s": round(duration, 1),
            "clients": args.clients,
        },
        "settings": {"sla_ms": SLA_MS, "min_requests": 20, "watch_interval_s": 0.2},
    }
    print(f"{'interval':<28} {'p50 s':>7} {'p95 s':>7} {'max s':>7} {'n':>4}")
    for label, key in (
        ("first breach -> verified", "breach_to_verified"),
        ("promotion -> verified", "promote_to_verified"),
    ):
        row = measured[key]
        print(
            f"{label:<28} {row['p50_s']:>7.2f} {row['p95_s']:>7.2f} {row['max_s']:>7.2f} "
            f"{row['n']:>4}"
        )
    print(
        f"requests: {answered} answered, {len(failures)} failed over {duration:.0f} s "
        f"({args.clients} clients); target: breach -> verified p50 <= 5 s, 0 failed"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"benchmark": "auto_rollback", "results": measured}, indent=2) + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

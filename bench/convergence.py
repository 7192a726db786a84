"""Serving converges on its own: from a registry commit whose process died to serving verified.

Setup: one model with two trained versions, served by a stack that `modelreg serve up`
started (TorchServe, the router, the controller and its watchdog, all background processes);
client threads post to the router the whole time.

Each run: a separate process rolls the model back through the one apply path (approved, as
`modelreg rollback --yes` does) and kills itself with SIGKILL right after the registry
commit, before it can tell serving anything. Nothing else is typed: the controller must
notice and repair. Measured per run, on one clock:

- commit -> verified: from the rollback's audit row (written in the commit) to the moment
  TorchServe's default *and* the router's table both serve the registry's new Production;
- wrong answers after convergence: requests sent after that moment answered by another
  version (target: 0).

    python bench/convergence.py [--runs 20] [--clients 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
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
from registry_mcp.core.approvals import Approvals  # noqa: E402
from registry_mcp.core.change_requests import Approval  # noqa: E402
from registry_mcp.core.registry import Registry  # noqa: E402
from registry_mcp.deploy.router_client import RouterAdmin, RouterCallError  # noqa: E402
from registry_mcp.deploy.router_process import read_admin_token  # noqa: E402
from registry_mcp.deploy.router_settings import RouterPlace  # noqa: E402
from registry_mcp.domain.plans import ChangeKind  # noqa: E402
from registry_mcp.domain.schemas import AuditAction, Decision  # noqa: E402
from registry_mcp.store.settings import Settings  # noqa: E402
from registry_mcp.training.job import train_and_register  # noqa: E402
from registry_mcp.training.trainer import TrainConfig  # noqa: E402
from serving.errors import ServingError  # noqa: E402
from serving.local import LocalPorts, LocalTorchServe  # noqa: E402
from serving.naming import served_name  # noqa: E402
from serving.router.server import free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODEL = "converge-digits"
CONFIG = f"""
models:
  {MODEL}:
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 1000
    input_schema: {{n_features: 64}}
"""
TIMEOUT_S = 120.0


def pct(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_s": round(statistics.median(ordered), 3),
        "p95_s": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 3),
        "max_s": round(ordered[-1], 3),
        "n": len(ordered),
    }


class Load:
    """Client threads posting to the router; each answer's send time, status and version."""

    def __init__(self, url: str, clients: int) -> None:
        self.url = url
        self.stop = threading.Event()
        self.answers: list[tuple[float, int, str | None]] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _run(self) -> None:
        body = {"inputs": [[0.25] * 64]}
        with httpx.Client(timeout=30.0, trust_env=False) as http:
            while not self.stop.is_set():
                sent = time.time()
                try:
                    reply = http.post(self.url, json=body)
                except httpx.HTTPError:
                    answer: tuple[float, int, str | None] = (sent, 0, None)
                else:
                    answer = (sent, reply.status_code, reply.headers.get("x-model-version"))
                with self._lock:
                    self.answers.append(answer)

    def after(self, moment: float) -> list[tuple[float, int, str | None]]:
        with self._lock:
            return [a for a in self.answers if a[0] >= moment]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def changer(home: Path, target: int) -> None:
    """In a child process: roll back to ``target`` through the approved apply path, and die
    by SIGKILL right after the registry commit (before serving is told)."""
    settings = Settings(home=home, actor="bench", models_config=home / "models.yaml")
    registry = Registry.open(settings)

    def die(_: str) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    approvals = Approvals.for_registry(registry, after_change=die)  # type: ignore[arg-type]
    req = approvals.request(
        ChangeKind.ROLLBACK,
        MODEL,
        version=target,
        rationale="bench: the changing process dies after the commit",
        requested_by="bench",
        client="bench",
    )
    approvals.apply(req, approvals.plan(req), Approval(approver="bench", via="bench"))
    raise SystemExit("unreachable: the process should have been killed after the commit")


def serving(server: LocalTorchServe, admin: RouterAdmin) -> tuple[str | None, int | None]:
    default = None
    try:
        with server.client() as client:
            default = client.default_version(served_name(MODEL))
    except ServingError:
        pass
    try:
        state = admin.get_table()
    except RouterCallError:
        return default, None
    entry = state.table.models.get(MODEL)
    if entry is None or state.confirmed is False:
        return default, None
    return default, entry.production


def one_run(
    home: Path, registry: Registry, server: LocalTorchServe, admin: RouterAdmin, load: Load
) -> dict[str, Any]:
    now = registry.get_model(MODEL, limit=1).model.approved.production
    target = 1 if now == 2 else 2
    child = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--changer", str(home), str(target)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if child.returncode != -signal.SIGKILL:
        raise RuntimeError(f"the changer did not die after its commit: {child.stderr[-800:]}")
    rows = registry.audit_log(model=MODEL, limit=5).items
    commit = next(
        row for row in rows if row.action is AuditAction.ROLLBACK and row.decision is Decision.DONE
    )
    assert commit.to_version == target, commit
    committed = commit.at.timestamp()
    deadline = time.monotonic() + TIMEOUT_S
    while serving(server, admin) != (str(target), target):
        if time.monotonic() > deadline:
            raise RuntimeError(f"serving did not converge on v{target} in {TIMEOUT_S:.0f} s")
        time.sleep(0.01)
    verified = time.time()
    time.sleep(1.0)  # traffic after convergence
    after = load.after(verified)
    wrong = [a for a in after if a[1] == 200 and a[2] != str(target)]
    failed = [a for a in after if a[1] != 200]
    return {
        "target": target,
        "commit_to_verified_s": round(verified - committed, 3),
        "requests_after": len(after),
        "wrong_after": len(wrong),
        "failed_after": len(failed),
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--changer":
        changer(Path(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="A smoke run: 2 runs, tiny model.")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "convergence.json",
        help="The JSON to write, or a directory for convergence.json in it.",
    )
    args = parser.parse_args()
    args.out = out_file(parser, args.out, "convergence")
    if args.quick:
        args.runs = 2

    with tempfile.TemporaryDirectory(prefix="modelreg-converge-bench-") as tmp:
        home = Path(tmp)
        (home / "models.yaml").write_text(CONFIG)
        settings = Settings(home=home, actor="bench", models_config=home / "models.yaml")
        registry = Registry.open(settings)
        for seed in (1, 2):
            train_and_register(
                registry,
                TrainConfig(hidden=16, epochs=1 if args.quick else 3, seed=seed),
                name=MODEL,
                actor="bench",
            )
        for version in (1, 2):
            for stage in ("staging", "production"):
                registry.stages.transition(MODEL, version, stage, rationale="bench", actor="b")
        ports = LocalPorts.free()
        place = RouterPlace(port=free_port(), host="127.0.0.1", directory=home / "router")
        env = {
            **os.environ,
            "MODELREG_HOME": str(home),
            "MODELREG_MODELS_CONFIG": str(home / "models.yaml"),
            "MODELREG_SERVING_DIR": str(home / "serving"),
            "MODELREG_ROUTER_DIR": str(place.directory),
            "MODELREG_ROUTER_PORT": str(place.port),
            **{f"MODELREG_SERVING_{k.upper()}_PORT": str(v) for k, v in ports.as_dict().items()},
        }

        def cli(*words: str) -> None:
            done = subprocess.run(
                [sys.executable, "-m", "registry_mcp.cli", *words],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"modelreg {' '.join(words)}: {done.stdout}{done.stderr}")

        server = LocalTorchServe(home / "serving", ports=ports)
        http = httpx.Client(timeout=10.0, trust_env=False)
        admin = RouterAdmin(place.url, lambda: read_admin_token(place), http)
        runs: list[dict[str, Any]] = []
        try:
            cli("serve", "up")
            with Load(f"{place.url}/predictions/{MODEL}", args.clients) as load:
                time.sleep(1.0)
                for _ in range(args.runs):
                    runs.append(one_run(home, registry, server, admin, load))
                answered = sum(1 for a in load.answers if a[1] == 200)
                sent = len(load.answers)
        finally:
            cli("serve", "down")
            http.close()
            registry.close()

    latency = pct([r["commit_to_verified_s"] for r in runs])
    wrong = sum(r["wrong_after"] for r in runs)
    failed = sum(r["failed_after"] for r in runs)
    measured: dict[str, Any] = {
        "commit_to_verified": latency,
        "wrong_answers_after_convergence": wrong,
        "failed_after_convergence": failed,
        "runs": runs,
        "requests": {"sent": sent, "answered": answered, "clients": args.clients},
        "settings": {"controller_interval_s": 0.5, "controller_grace_s": 0.5},
    }
    print(f"{'interval':<34} {'p50 s':>7} {'p95 s':>7} {'max s':>7} {'n':>4}")
    print(
        f"{'commit (process killed) -> verified':<34} {latency['p50_s']:>7.2f} "
        f"{latency['p95_s']:>7.2f} {latency['max_s']:>7.2f} {latency['n']:>4}"
    )
    print(
        f"after convergence: {wrong} answers by another version, {failed} failed "
        f"({sum(r['requests_after'] for r in runs)} requests); {sent} sent in all, "
        f"{args.clients} clients; targets: p50 <= 2 s, p95 <= 5 s, 0 wrong"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"benchmark": "convergence", "results": measured}, indent=2) + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

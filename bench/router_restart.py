"""A restarted router under load: hold requests until its table is confirmed, or refuse them?

A router that restarts reads its last table from its state file, which the registry may no
longer approve; it starts *unconfirmed* and answers nothing until the control plane confirms
(or replaces) the table. Two ways to spend that moment, measured side by side on one machine:

- ``wait``: a request waits up to ``unconfirmed_wait_s`` (5 s) for the confirmation, then
  gets 503 with ``Retry-After``;
- ``refuse``: a request gets 503 with ``Retry-After: 1`` at once (``unconfirmed_wait_s`` 0).

Each run kills the router with SIGKILL under load, starts it again from the same state file,
and confirms its table ``--confirm-after`` seconds after it answers /healthz (what the
controller's next tick does: 0.5 s by default). Counted over the requests sent from the kill
until 2 s after the confirmation: failures (connection refused while the router is down
count in both modes alike), 503 UNCONFIRMED answers, and the latency of the answered ones.

    python bench/router_restart.py [--runs 5] [--clients 4] [--confirm-after 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
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
from bench.router_overhead import MODEL, pct, save_digits_model  # noqa: E402
from serving.archive import build_archive  # noqa: E402
from serving.local import LocalPorts, LocalTorchServe  # noqa: E402
from serving.naming import served_name  # noqa: E402
from serving.router.server import LocalRouter, RouterSettings, free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODES = {"wait": 5.0, "refuse": 0.0}


class Load:
    def __init__(self, url: str, clients: int) -> None:
        self.url = url
        self.stop = threading.Event()
        self.answers: list[tuple[float, int, float]] = []  # (sent, status, latency ms)
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _run(self) -> None:
        body = {"inputs": [[0.25] * 64]}
        with httpx.Client(timeout=30.0, trust_env=False) as http:
            while not self.stop.is_set():
                sent = time.time()
                try:
                    status = http.post(self.url, json=body).status_code
                except httpx.HTTPError:
                    status = 0
                    time.sleep(0.01)
                with self._lock:
                    self.answers.append((sent, status, (time.time() - sent) * 1000))

    def between(self, start: float, end: float) -> list[tuple[float, int, float]]:
        with self._lock:
            return [a for a in self.answers if start <= a[0] < end]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def one_mode(
    ts: LocalTorchServe, root: Path, mode: str, args: argparse.Namespace
) -> dict[str, Any]:
    settings = RouterSettings(
        port=free_port(),
        inference_url=ts.endpoints.inference,
        management_url=ts.endpoints.management,
        key_file=ts.key_file,
        state_file=root / f"state-{mode}.json",
        start_unconfirmed=True,
        unconfirmed_wait_s=MODES[mode],
    )
    token = secrets.token_urlsafe(24)
    auth = {"Authorization": f"Bearer {token}"}
    router = LocalRouter(settings, token, log_file=root / f"router-{mode}.log")
    router.start()
    table = {
        "models": {
            MODEL: {
                "served_name": served_name(MODEL),
                "production": 1,
                "input_schema": {"n_features": 64, "dtype": "float32"},
            }
        }
    }
    httpx.put(
        router.url + "/admin/table",
        json={"expected_generation": 0, "table": table},
        headers=auth,
        trust_env=False,
    ).raise_for_status()
    windows: list[tuple[float, float]] = []
    try:
        with Load(f"{router.url}/predictions/{MODEL}", args.clients) as load:
            time.sleep(1.0)
            for _ in range(args.runs):
                pid = router.pid
                assert pid is not None
                killed = time.time()
                os.kill(pid, signal.SIGKILL)
                router.stop()  # reaps it
                router.start()
                time.sleep(args.confirm_after)
                generation = httpx.get(
                    router.url + "/admin/table", headers=auth, trust_env=False
                ).json()["generation"]
                httpx.post(
                    router.url + "/admin/confirm",
                    json={"generation": generation},
                    headers=auth,
                    trust_env=False,
                ).raise_for_status()
                confirmed = time.time()
                time.sleep(2.0)
                windows.append((killed, confirmed + 2.0))
            seen = [a for start, end in windows for a in load.between(start, end)]
    finally:
        router.stop()
    answered = [a[2] for a in seen if a[1] == 200]
    return {
        "mode": mode,
        "unconfirmed_wait_s": MODES[mode],
        "requests": len(seen),
        "answered": len(answered),
        "refused_503": sum(1 for a in seen if a[1] == 503),
        "connection_failed": sum(1 for a in seen if a[1] == 0),
        "other_failed": sum(1 for a in seen if a[1] not in (0, 200, 503)),
        "answered_p50_ms": round(statistics.median(answered), 2) if answered else None,
        "answered_p99_ms": round(pct(answered, 0.99), 2) if answered else None,
        "answered_max_ms": round(max(answered), 2) if answered else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="restarts per mode")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--confirm-after", type=float, default=0.5)
    parser.add_argument("--quick", action="store_true", help="A smoke run: 1 restart per mode.")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "router_restart.json",
        help="The JSON to write, or a directory for router_restart.json in it.",
    )
    args = parser.parse_args()
    args.out = out_file(parser, args.out, "router_restart")
    if args.quick:
        args.runs = 1
    with tempfile.TemporaryDirectory(prefix="modelreg-router-restart-") as tmp:
        root = Path(tmp)
        save_digits_model(root / "model")
        ts = LocalTorchServe(root / "serving", ports=LocalPorts.free())
        ts.up()
        try:
            archive = build_archive(root / "model", MODEL, 1, ts.model_store)
            with ts.client() as client:
                client.register(archive.file_name, served_name(MODEL), 1)
            rows = [one_mode(ts, root, mode, args) for mode in MODES]
        finally:
            ts.down()
    print(
        f"{'mode':<7} {'wait s':>6} {'sent':>6} {'answered':>8} {'503':>5} {'conn':>5} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    for row in rows:
        print(
            f"{row['mode']:<7} {row['unconfirmed_wait_s']:>6.1f} {row['requests']:>6} "
            f"{row['answered']:>8} {row['refused_503']:>5} {row['connection_failed']:>5} "
            f"{row['answered_p50_ms'] or 0:>8.2f} {row['answered_p99_ms'] or 0:>8.2f} "
            f"{row['answered_max_ms'] or 0:>8.2f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "router_restart",
                "runs_per_mode": args.runs,
                "clients": args.clients,
                "confirm_after_s": args.confirm_after,
                "results": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

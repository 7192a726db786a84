"""Router overhead: the same load straight to TorchServe and through the router, one run.

A digits classifier (sklearn's load_digits, a small torch MLP saved with MLflow) is served by
a local TorchServe (one worker); a router process (``python -m serving.router``) sits in front
of it. At each concurrency level the same number of one-row requests goes to
``/predictions/{name}/{version}`` on TorchServe and to ``/predictions/{model}`` on the
router, alternating direct/router rounds so both see the same machine noise. Both load
generators are the router's own pooled keep-alive client, so they cost the same.

Prints p50/p99 latency and throughput per path and the ratios; writes JSON under
bench/results/.

    python bench/router_overhead.py [--requests 1000] [--concurrency 1 8 16] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from serving.archive import build_archive  # noqa: E402
from serving.local import LocalPorts, LocalTorchServe  # noqa: E402
from serving.naming import served_name  # noqa: E402
from serving.router.server import LocalRouter, RouterSettings, free_port  # noqa: E402
from serving.router.upstream import InferenceToken, Upstream  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODEL = "bench-digits"
BODY = json.dumps({"inputs": [[0.25] * 64]}).encode()


def save_digits_model(path: Path) -> None:
    """A small MLP on load_digits, saved as MLflow's pt2 export (what the registry serves)."""
    import mlflow.pytorch
    import numpy as np
    import torch
    from mlflow.models import infer_signature
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10), torch.nn.Softmax(dim=1)
    ).eval()
    example = x[:2]  # batch >= 2, or the pt2 export is specialised to batch 1
    with torch.no_grad():
        signature = infer_signature(example, model(torch.from_numpy(example)).numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.pytorch.save_model(model, str(path), signature=signature, input_example=example)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def load(upstream: Upstream, path: str, requests: int, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    failed = 0

    async def worker(count: int) -> None:
        nonlocal failed
        for _ in range(count):
            started = time.perf_counter()
            reply = await upstream.predict(path, BODY)
            latencies.append((time.perf_counter() - started) * 1000)
            failed += reply.status != 200

    await asyncio.gather(*(worker(20) for _ in range(concurrency)))  # warm the pool
    latencies.clear()
    started = time.perf_counter()
    await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"latencies": latencies, "elapsed": elapsed, "failed": failed}


async def measure(
    ts: LocalTorchServe, router_url: str, args: argparse.Namespace
) -> list[dict[str, Any]]:
    direct = Upstream(ts.endpoints.inference, InferenceToken(ts.key_file, None))
    routed = Upstream(router_url, InferenceToken(None, None))
    direct_path = f"/predictions/{served_name(MODEL)}/1"
    rows = []
    try:
        for concurrency in args.concurrency:
            runs: dict[str, list[dict[str, Any]]] = {"direct": [], "router": []}
            for _ in range(args.rounds):
                runs["direct"].append(await load(direct, direct_path, args.requests, concurrency))
                runs["router"].append(
                    await load(routed, f"/predictions/{MODEL}", args.requests, concurrency)
                )
            row: dict[str, Any] = {"concurrency": concurrency}
            for name, found in runs.items():
                latencies = [ms for run in found for ms in run["latencies"]]
                row[name] = {
                    "p50_ms": round(statistics.median(latencies), 3),
                    "p99_ms": round(pct(latencies, 0.99), 3),
                    "rps": round(len(latencies) / sum(run["elapsed"] for run in found), 1),
                    "n": len(latencies),
                    "failed": sum(run["failed"] for run in found),
                }
            row["added_p50_ms"] = round(row["router"]["p50_ms"] - row["direct"]["p50_ms"], 3)
            row["throughput_ratio"] = round(row["router"]["rps"] / row["direct"]["rps"], 3)
            rows.append(row)
    finally:
        await direct.aclose()
        await routed.aclose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="per round and level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 16])
    parser.add_argument("--rounds", type=int, default=4, help="direct/router alternations")
    parser.add_argument("--out", type=Path, default=RESULTS / "router_overhead.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="modelreg-router-bench-") as tmp:
        root = Path(tmp)
        save_digits_model(root / "model")
        ts = LocalTorchServe(root / "serving", ports=LocalPorts.free())
        ts.up()
        try:
            archive = build_archive(root / "model", MODEL, 1, ts.model_store)
            with ts.client() as client:
                client.register(archive.file_name, served_name(MODEL), 1)
            settings = RouterSettings(
                port=free_port(),
                inference_url=ts.endpoints.inference,
                management_url=ts.endpoints.management,
                key_file=ts.key_file,
                state_file=root / "router-state.json",
            )
            token = secrets.token_urlsafe(24)
            with LocalRouter(settings, token, log_file=root / "router.log") as router:
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
                    headers={"Authorization": f"Bearer {token}"},
                    trust_env=False,
                ).raise_for_status()
                rows = asyncio.run(measure(ts, router.url, args))
        finally:
            ts.down()

    print(
        f"{'conc':>4} {'path':<7} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'n':>6} {'failed':>6}"
    )
    for row in rows:
        for name in ("direct", "router"):
            r = row[name]
            print(
                f"{row['concurrency']:>4} {name:<7} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} "
                f"{r['rps']:>8.1f} {r['n']:>6} {r['failed']:>6}"
            )
        print(
            f"{'':>4} router adds {row['added_p50_ms']:.3f} ms at p50; throughput ratio "
            f"{row['throughput_ratio']:.2f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "router_overhead",
                "requests_per_round": args.requests,
                "rounds": args.rounds,
                "cpus": os.cpu_count(),
                "results": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

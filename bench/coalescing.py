"""The router merging requests (``serving.router.coalesce``) against TorchServe's own batching.

TorchServe batches by waiting (``max_batch_delay_ms``), so one client pays the delay on every
request; the router merges only requests that arrive while the version is busy, so one
client never waits. For each model of configs/models.yaml (or ``--model``) this serves the
model on a real local TorchServe twice, at once: with models.yaml's batch size and delay
(``configured``; batch 1: TorchServe never waits) and with the TorchServe batching models.yaml
held before the router merged requests (``ts_batching``, ``TS_BATCHING``). Four routers
run in front of that TorchServe: merging off (as before), merging on with at most one, two and
four requests per version out at once. Measured with ``bench/loadgen.py``,
alternating every variant ``--rounds`` times (one row per request):

- concurrency 1: p50/p99 (low traffic); concurrency 16: throughput and p50/p99;

    python bench/coalescing.py [--model NAME ...] [--rounds 3] [--quick]

Prints one table per model and writes bench/results/coalescing.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.batching import ARCHITECTURES, Bench, one_row, save_model, summary  # noqa: E402
from bench.out_path import out_file  # noqa: E402
from serving.archive import build_archive  # noqa: E402
from serving.config import load_models_config  # noqa: E402
from serving.local import LocalPorts, LocalTorchServe  # noqa: E402
from serving.naming import served_name  # noqa: E402
from serving.router.server import LocalRouter, RouterSettings, free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CONFIG = ROOT / "configs" / "models.yaml"
LEVELS = (1, 16)
#: (batch_size, max_batch_delay_ms) of each model before the router merged requests: the
#: knee of bench/batching.py's sweep.
TS_BATCHING = {"mnist-classifier": (8, 1), "mnist-cnn": (8, 2), "digits-encoder": (4, 1)}
#: router label -> (coalesce_rows, coalesce_in_flight)
ROUTERS = {
    "merge off": (0, 2),
    "merge, 1 out": (64, 1),
    "merge, 2 out": (64, 2),
    "merge, 4 out": (64, 4),
}
#: (path, served copy) pairs measured: direct to TorchServe or through a router.
VARIANTS = (
    ("direct", "ts_batching"),
    ("direct", "configured"),
    ("merge off", "ts_batching"),
    ("merge, 1 out", "configured"),
    ("merge, 2 out", "configured"),
    ("merge, 4 out", "configured"),
    ("merge, 2 out", "ts_batching"),
)


def serve_copies(
    bench: Bench, archive: str, model: str, settings: dict[str, tuple[int, int]]
) -> dict[str, str]:
    names = {label: f"{served_name(model)}-{label.replace('_', '-')}" for label in settings}
    for label, (batch, delay) in settings.items():
        bench.serve(archive, names[label], 1, (batch, delay, 1))
    return names


def start_routers(
    ts: LocalTorchServe, root: Path, model: str, names: dict[str, str], token: str
) -> dict[str, LocalRouter]:
    routers: dict[str, LocalRouter] = {}
    table = {
        "models": {
            name: {
                "served_name": name,
                "production": 1,
                "input_schema": {"n_features": 64, "dtype": "float32"},
            }
            for name in names.values()
        }
    }
    for index, (label, (rows, in_flight)) in enumerate(ROUTERS.items()):
        settings = RouterSettings(
            port=free_port(),
            inference_url=ts.endpoints.inference,
            management_url=ts.endpoints.management,
            key_file=ts.key_file,
            state_file=root / f"router-{model}-{index}.json",
            coalesce_rows=rows,
            coalesce_in_flight=in_flight,
        )
        router = LocalRouter(settings, token, log_file=root / f"router-{index}.log")
        router.start()
        routers[label] = router
        httpx.put(
            router.url + "/admin/table",
            json={"expected_generation": 0, "table": table},
            headers={"Authorization": f"Bearer {token}"},
            trust_env=False,
        ).raise_for_status()
    return routers


def measure(
    ts: LocalTorchServe, root: Path, model: str, args: argparse.Namespace
) -> dict[str, Any]:
    config = load_models_config(CONFIG).get(model)
    batch, delay = config.torchserve.batch_size, config.torchserve.max_batch_delay_ms
    body = json.dumps({"inputs": [one_row()]})
    bench = Bench(ts, args, body)
    model_dir = root / model
    save_model(model, model_dir, 1)
    archive = build_archive(model_dir, model, 1, ts.model_store, task=config.task).file_name
    settings = {"configured": (batch, delay), "ts_batching": TS_BATCHING[model]}
    names = serve_copies(bench, archive, model, settings)
    token = secrets.token_urlsafe(24)
    routers = start_routers(ts, root, model, names, token)
    runs: dict[tuple[str, str, int], list[dict[str, Any]]] = {
        (path, copy, c): [] for path, copy in VARIANTS for c in LEVELS
    }
    try:
        for round_ in range(args.rounds):
            order = VARIANTS if round_ % 2 == 0 else tuple(reversed(VARIANTS))
            for c in LEVELS:
                for path, copy in order:
                    if path == "direct":
                        url, where, key = ts.endpoints.inference, f"/{names[copy]}/1", bench.token()
                    else:
                        url, where, key = routers[path].url, f"/{names[copy]}", None
                    runs[path, copy, c].append(bench.load(url, f"/predictions{where}", c, key))
            print(f"  {model}: round {round_ + 1} of {args.rounds} done", flush=True)
        merged = {label: merged_counts(router.url) for label, router in routers.items()}
    finally:
        for router in routers.values():
            router.stop()
        for name in names.values():
            bench.unserve(name, 1)
    rows = []
    for (path, copy, c), found in runs.items():
        level = summary(found)
        level["rps_per_round"] = [round(r["rps"], 1) for r in found]
        level["p50_ms_per_round"] = [round(statistics.median(r["latencies_ms"]), 3) for r in found]
        rows.append({"path": path, "served": copy, "concurrency": c, **level})
    return {
        "model": model,
        "architecture": ARCHITECTURES[model],
        "settings": {
            label: {"batch_size": b, "max_batch_delay_ms": d} for label, (b, d) in settings.items()
        },
        "rows": rows,
        "merged": merged,
    }


def merged_counts(url: str) -> dict[str, float]:
    """The router's merged-request counters, summed over models (upstream requests,
    callers' requests, merged requests sent again one by one)."""
    text = httpx.get(url + "/metrics", trust_env=False).text
    found: dict[str, float] = {}
    for name in ("merged_upstream_requests_total", "merged_requests_total", "merged_resent_total"):
        values = re.findall(rf"^modelreg_router_{name}\{{[^}}]*\}} (\S+)$", text, re.M)
        found[name] = sum(float(value) for value in values)
    return found


def report(results: list[dict[str, Any]]) -> None:
    for result in results:
        cfg, ts = result["settings"]["configured"], result["settings"]["ts_batching"]
        print(
            f"\n== {result['model']} (configured: batch {cfg['batch_size']}, delay "
            f"{cfg['max_batch_delay_ms']} ms; ts_batching: batch {ts['batch_size']}, delay "
            f"{ts['max_batch_delay_ms']} ms)"
        )
        print(
            f"{'path':<14} {'TorchServe':<12} {'c1 p50 ms':>10} {'c1 p99':>8} "
            f"{'c16 req/s':>10} {'c16 p50':>8}"
        )
        by = {(r["path"], r["served"], r["concurrency"]): r for r in result["rows"]}
        for path, copy in VARIANTS:
            one, many = by[path, copy, 1], by[path, copy, 16]
            print(
                f"{path:<14} {copy:<12} {one['p50_ms']:>10.2f} {one['p99_ms']:>8.2f} "
                f"{many['rps']:>10.0f} {many['p50_ms']:>8.2f}"
            )
        print(f"merged requests (upstream, callers): {result['merged']}")


def main() -> None:
    known = list(ARCHITECTURES)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", choices=known, help="default: all")
    parser.add_argument("--duration", type=float, default=2.0, help="s per measurement")
    parser.add_argument("--warmup", type=float, default=0.5, help="s before each measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of every variant")
    parser.add_argument("--quick", action="store_true", help="A smoke run: one model, tiny.")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "coalescing.json",
        help="The JSON to write, or a directory for coalescing.json in it.",
    )
    args = parser.parse_args()
    args.out = out_file(parser, args.out, "coalescing")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    models = args.model or known
    if args.quick:
        models = models[:1]
        args.duration, args.warmup, args.rounds = 0.3, 0.1, 1
    load_before = os.getloadavg()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="modelreg-coalescing-") as tmp:
        root = Path(tmp)
        ts = LocalTorchServe(root / "serving", ports=LocalPorts.free(), token_expiration_min=600)
        ts.up()
        try:
            results = [measure(ts, root, m, args) for m in models]
        finally:
            ts.down()
    data = {
        "benchmark": "coalescing",
        "cpus": os.cpu_count(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "seconds": round(time.monotonic() - started, 1),
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "rounds": args.rounds,
        "results": results,
    }
    report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

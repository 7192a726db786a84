"""TorchServe batch size and delay chosen by measurement: the sweep, the knee, the comparison.

TorchServe's batching (frontend ``Model.pollBatch``): a worker that is free takes the first
queued request, then waits up to ``max_batch_delay_ms`` for each further one until it holds
``batch_size``. So one client sending one row waits the whole delay on every request, while
under concurrency the queue fills the batch before the delay matters.

For each model of configs/models.yaml (or ``--model``), this trains its architecture, serves
it on a real local TorchServe and, for every setting of the grid (batch size x delay, one
worker; batch 1 once, as it never waits), measures with ``bench/loadgen.py`` (a child process
whose ceiling is measured against a null server: ``headroom``):

- concurrency 1: p50/p99 of one-row requests (low traffic);
- concurrency 8 and 16: throughput and p50/p99.

The knee is the setting with the lowest concurrency-1 p50 whose concurrency-16 throughput is
within ``--tolerance`` of the best setting's. The settings of one batch size are loaded at once
and measured round-robin (``--sweep-rounds``), so a noisy neighbour slows all of them, not one.
Two workers are then measured at the knee and
at batch 1 (they interact with batching: a second worker takes requests a first one would
batch). Last, through the router (``python -m serving.router``) and straight to TorchServe,
side by side and alternating ``--rounds`` times: the batching models.yaml holds now against
the one it held before this measurement (``BEFORE``), both loaded at once.

Also measured in-process, as the floor: the handler answering one request, and the bare
forward pass.

    python bench/batching.py [--model NAME ...] [--quick] [--tolerance 0.1]
    python bench/batching.py --compare-only   # after models.yaml changed: the comparison only

Prints one table per model and writes bench/results/batching.json.
"""

from __future__ import annotations

import argparse
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

from bench.loadgen import NullServer, Spec, run_child  # noqa: E402
from bench.out_path import out_file  # noqa: E402
from serving.archive import build_archive  # noqa: E402
from serving.config import ModelConfig, load_models_config  # noqa: E402
from serving.keyfile import read_keys  # noqa: E402
from serving.local import LocalPorts, LocalTorchServe  # noqa: E402
from serving.naming import served_name  # noqa: E402
from serving.router.server import LocalRouter, RouterSettings, free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CONFIG = ROOT / "configs" / "models.yaml"
ARCHITECTURES = {"mnist-classifier": "mlp", "mnist-cnn": "cnn", "digits-encoder": "encoder"}
#: (batch_size, max_batch_delay_ms) models.yaml held before this benchmark chose them.
BEFORE = {"mnist-classifier": (8, 10), "mnist-cnn": (8, 10), "digits-encoder": (16, 5)}
BATCH_SIZES = (1, 4, 8, 16)
DELAYS_MS = (0, 1, 2, 5)
QUICK_BATCH_SIZES = (1, 8)
QUICK_DELAYS_MS = (1,)  # with QUICK_BATCH_SIZES: settings 1/0 and 8/1
LEVELS = (1, 8, 16)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """p50/p99 over all runs' latencies, throughput as the median of the runs' rates."""
    latencies = [ms for run in runs for ms in run["latencies_ms"]]
    return {
        "p50_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(pct(latencies, 0.99), 3),
        "rps": round(statistics.median(run["rps"] for run in runs), 1),
        "n": len(latencies),
        "failed": sum(run["failed"] for run in runs),
        "client_cpu_share": round(max(run["client_cpu_share"] for run in runs), 3),
    }


def save_model(model: str, path: Path, epochs: int) -> None:
    import mlflow.pytorch

    from registry_mcp.training.trainer import TrainConfig, train

    arch = ARCHITECTURES[model]
    result = train(TrainConfig(architecture=arch, epochs=epochs, seed=0))  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.pytorch.save_model(
            result.model,
            str(path),
            input_example=result.input_example,  # a batch >= 2: the export takes any batch
            pip_requirements=["torch", "mlflow"],
        )


def one_row() -> list[float]:
    from sklearn.datasets import load_digits

    return [float(v) / 16.0 for v in load_digits().data[0]]


class _Context:
    """What the handler reads from TorchServe's context when it answers."""

    def set_response_status(self, code: int, phrase: str, idx: int) -> None:
        raise RuntimeError(f"the handler refused the benchmark's row: {code} {phrase}")

    def set_response_content_type(self, idx: int, value: str) -> None:
        pass


def in_process(model_dir: Path, task: str, body: str, samples: int) -> dict[str, float]:
    """p50 of the served handler answering one one-row request (one intra-op thread, as the
    worker runs it), and of the bare forward pass on 1 and 16 rows with 1 and 2 threads."""
    import mlflow.pytorch
    import numpy as np
    import torch

    from serving import safe_model
    from serving.handler.mlflow_handler import MlflowHandler

    handler = MlflowHandler()
    handler.model = mlflow.pytorch.load_model(str(model_dir))
    handler.row_shape, handler.task, handler.initialized = (64,), task, True
    request = [{"body": body.encode()}]
    row = np.asarray(json.loads(body)["inputs"], dtype=np.float32)
    context = _Context()
    calls: dict[str, Any] = {"handler": lambda: handler.handle(request, context)}
    for rows in (1, 16):
        batch = np.repeat(row, rows, axis=0)
        calls[f"forward_{rows}_rows"] = lambda batch=batch: safe_model.forward(handler.model, batch)
    threads_before = torch.get_num_threads()
    out: dict[str, float] = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for name, call in calls.items():
                if name == "handler" and threads != 1:
                    continue
                timings = []
                for i in range(samples + 20):
                    started = time.perf_counter()
                    call()
                    if i >= 20:
                        timings.append((time.perf_counter() - started) * 1000)
                suffix = "" if name == "handler" else f"_{threads}_threads"
                out[f"{name}{suffix}_p50_ms"] = round(statistics.median(timings), 3)
    finally:
        torch.set_num_threads(threads_before)
    return out


class Bench:
    """One TorchServe, the model's archive, and the load generator pointed at it."""

    def __init__(self, ts: LocalTorchServe, args: argparse.Namespace, body: str) -> None:
        self.ts = ts
        self.args = args
        self.body = body
        self.reply = ""  # a reply of the served model (the null server answers as long)

    def token(self) -> str:
        keys = read_keys(self.ts.key_file) or {}
        return keys["inference"].key

    def load(self, url: str, path: str, concurrency: int, token: str | None) -> dict[str, Any]:
        """One run; a window in which no request finished (a saturated machine and a short
        window, as in a smoke run) is measured again with a window four times as long."""
        duration = self.args.duration
        for _ in range(4):
            spec = Spec(
                url=url,
                path=path,
                body=self.body,
                concurrency=concurrency,
                duration_s=duration,
                warmup_s=self.args.warmup,
                token=token,
            )
            result = run_child(spec)
            if result["latencies_ms"]:
                return result
            duration *= 4
        raise RuntimeError(f"no request to {url}{path} finished in a {duration / 4:.1f} s window")

    def serve(self, archive: str, served: str, version: int, setting: tuple[int, int, int]) -> str:
        """Register with (batch, delay, workers); the first reply (the model is warm)."""
        batch, delay, workers = setting
        with self.ts.client() as client:
            client.register(
                archive,
                served,
                version,
                initial_workers=workers,
                batch_size=batch,
                max_batch_delay_ms=delay,
            )
            for _ in range(5):
                reply = client.predict(served, json.loads(self.body), version)
        self.reply = reply.model_dump_json(exclude={"model"})
        return self.reply

    def unserve(self, served: str, version: int) -> None:
        with self.ts.client() as client:
            client.unregister(served, version)


def sweep_groups(batch_sizes: list[int], delays: list[int]) -> list[list[tuple[int, int, int]]]:
    """(batch, delay, workers) settings, one group per batch size. Batch 1 once, with delay 0:
    TorchServe's loop for further requests runs ``batch_size - 1`` times, so it never waits."""
    return [
        [(batch, 0 if batch == 1 else d, 1) for d in ((0,) if batch == 1 else delays)]
        for batch in batch_sizes
    ]


def measure_group(
    bench: Bench, archive: str, model: str, group: list[tuple[int, int, int]], rounds: int
) -> list[dict[str, Any]]:
    """Load every setting of ``group`` at once (one served name each), then measure them in
    turn, ``rounds`` times round-robin, so the machine's drift spreads over all of them."""
    names = {s: f"{served_name(model)}-b{s[0]}-d{s[1]}-w{s[2]}" for s in group}
    for setting, name in names.items():
        bench.serve(archive, name, 1, setting)
    runs: dict[tuple[int, int, int], dict[int, list[dict[str, Any]]]] = {
        s: {c: [] for c in LEVELS} for s in group
    }
    try:
        token = bench.token()
        for _ in range(rounds):
            for setting, name in names.items():
                for c in LEVELS:
                    path = f"/predictions/{name}/1"
                    runs[setting][c].append(
                        bench.load(bench.ts.endpoints.inference, path, c, token)
                    )
    finally:
        for name in names.values():
            bench.unserve(name, 1)
    rows = []
    for (batch, delay, workers), levels in runs.items():
        row: dict[str, Any] = {"batch_size": batch, "max_batch_delay_ms": delay, "workers": workers}
        row.update({f"c{c}": summary(found) for c, found in levels.items()})
        rows.append(row)
        print(format_row(row), flush=True)
    return rows


def knee(rows: list[dict[str, Any]], tolerance: float) -> dict[str, Any]:
    """Lowest concurrency-1 p50 among settings within ``tolerance`` of the best c16 rate."""
    best = max(row["c16"]["rps"] for row in rows)
    eligible = [row for row in rows if row["c16"]["rps"] >= (1 - tolerance) * best]
    chosen = min(eligible, key=lambda row: (row["c1"]["p50_ms"], -row["c16"]["rps"]))
    return {
        "batch_size": chosen["batch_size"],
        "max_batch_delay_ms": chosen["max_batch_delay_ms"],
        "c1_p50_ms": chosen["c1"]["p50_ms"],
        "c16_rps": chosen["c16"]["rps"],
        "best_c16_rps": best,
        "eligible": [(r["batch_size"], r["max_batch_delay_ms"]) for r in eligible],
    }


def headroom(bench: Bench, reply: str) -> dict[str, Any]:
    """The load generator's own rate against a server that answers at once."""
    with NullServer(reply.encode()) as null:
        return {
            f"c{c}": summary([bench.load(null.url, "/predictions/null/1", c, None)])
            for c in (8, 16)
        }


def sweep_model(
    ts: LocalTorchServe, root: Path, model: str, config: ModelConfig, args: argparse.Namespace
) -> dict[str, Any]:
    body = json.dumps({"inputs": [one_row()]})
    bench = Bench(ts, args, body)
    model_dir = root / model
    save_model(model, model_dir, args.epochs)
    archive = build_archive(model_dir, model, 1, ts.model_store, task=config.task).file_name
    if args.compare_only:
        return {
            "model": model,
            "configured_vs_before": compare(ts, root, model, config, bench, archive, args),
        }
    floor = in_process(model_dir, config.task, body, 50 if args.quick else 500)
    print(f"== {model}: handler in-process p50 {floor['handler_p50_ms']:.3f} ms", flush=True)
    rows: list[dict[str, Any]] = []
    for group in sweep_groups(args.batch_sizes, args.delays):
        rows += measure_group(bench, archive, model, group, args.sweep_rounds)
    chosen = knee(rows, args.tolerance)
    client = headroom(bench, bench.reply)
    two_workers = []
    if not args.quick:
        pair = {(chosen["batch_size"], chosen["max_batch_delay_ms"], 2), (1, 0, 2)}
        two_workers = measure_group(bench, archive, model, sorted(pair), args.sweep_rounds)
    result = {
        "model": model,
        "architecture": ARCHITECTURES[model],
        "in_process": floor,
        "sweep": rows,
        "sweep_rounds": args.sweep_rounds,
        "knee": chosen,
        "two_workers": two_workers,
        "client_headroom": {
            f"c{c}": round(client[f"c{c}"]["rps"] / max(row[f"c{c}"]["rps"] for row in rows), 2)
            for c in (8, 16)
        },
        "client_vs_null_server": client,
    }
    if not args.no_compare:
        result["configured_vs_before"] = compare(ts, root, model, config, bench, archive, args)
    return result


def compare(
    ts: LocalTorchServe,
    root: Path,
    model: str,
    config: ModelConfig,
    bench: Bench,
    archive: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """models.yaml's batching now against before, direct and through the router, alternating."""
    now = (config.torchserve.batch_size, config.torchserve.max_batch_delay_ms)
    settings = {"configured": now, "before": BEFORE[model]}
    names = {label: f"{served_name(model)}-{label}" for label in settings}
    for label, (batch, delay) in settings.items():
        bench.serve(archive, names[label], 1, (batch, delay, 1))
    token = secrets.token_urlsafe(24)
    router_settings = RouterSettings(
        port=free_port(),
        inference_url=ts.endpoints.inference,
        management_url=ts.endpoints.management,
        key_file=ts.key_file,
        state_file=root / f"router-state-{model}.json",
    )
    runs: dict[tuple[str, str, int], list[dict[str, Any]]] = {
        (label, path, c): [] for label in settings for path in ("direct", "router") for c in (1, 16)
    }
    try:
        with LocalRouter(router_settings, token, log_file=root / "router.log") as router:
            table = {
                "models": {
                    names[label]: {
                        "served_name": names[label],
                        "production": 1,
                        "input_schema": {"n_features": 64, "dtype": "float32"},
                    }
                    for label in settings
                }
            }
            httpx.put(
                router.url + "/admin/table",
                json={"expected_generation": 0, "table": table},
                headers={"Authorization": f"Bearer {token}"},
                trust_env=False,
            ).raise_for_status()
            base = {"direct": ts.endpoints.inference, "router": router.url}
            for _ in range(args.rounds):
                for label in settings:
                    for c in (1, 16):
                        for path, url in base.items():
                            version = "/1" if path == "direct" else ""
                            runs[label, path, c].append(
                                bench.load(
                                    url,
                                    f"/predictions/{names[label]}{version}",
                                    c,
                                    bench.token() if path == "direct" else None,
                                )
                            )
    finally:
        for label in settings:
            bench.unserve(names[label], 1)
    out: dict[str, Any] = {
        "settings": {
            k: {"batch_size": b, "max_batch_delay_ms": d} for k, (b, d) in settings.items()
        }
    }
    for (label, path, c), found in runs.items():
        level = summary(found)
        level["rps_per_round"] = [round(r["rps"], 1) for r in found]
        level["p50_ms_per_round"] = [round(statistics.median(r["latencies_ms"]), 3) for r in found]
        out.setdefault(label, {}).setdefault(path, {})[f"c{c}"] = level
    for path in ("direct", "router"):
        new, old = out["configured"][path], out["before"][path]
        out[f"{path}_c16_rps_ratio"] = round(new["c16"]["rps"] / old["c16"]["rps"], 3)
        out[f"{path}_c1_p50_ratio"] = round(new["c1"]["p50_ms"] / old["c1"]["p50_ms"], 3)
    return out


def merge_comparison(
    out: Path, results: list[dict[str, Any]], meta: dict[str, Any]
) -> dict[str, Any]:
    """The sweep's results in ``out`` with each model's comparison replaced by this run's."""
    if not out.is_file():
        raise SystemExit(f"--compare-only needs the sweep's results in {out}; run without it first")
    data: dict[str, Any] = json.loads(out.read_text())
    by_model = {result["model"]: result for result in data["results"]}
    for result in results:
        if result["model"] not in by_model:
            raise SystemExit(f"{out} has no sweep of {result['model']}; run the sweep for it first")
        by_model[result["model"]]["configured_vs_before"] = result["configured_vs_before"]
    data["comparison_run"] = meta
    return data


def format_row(row: dict[str, Any]) -> str:
    cells = [f"{row['batch_size']:>5} {row['max_batch_delay_ms']:>5} {row['workers']:>3}"]
    for level in LEVELS:
        r = row[f"c{level}"]
        cells.append(f"{r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['rps']:>7.0f}")
    return "  ".join(cells)


HEADER = "batch delay wrk  " + "  ".join(
    f"{f'c{c} p50':>7} {'p99':>7} {'req/s':>7}" for c in LEVELS
)


def report(results: list[dict[str, Any]], tolerance: float) -> None:
    for result in results:
        floor = result["in_process"]
        print(
            f"\n{result['model']} ({result['architecture']}): handler in-process "
            f"{floor['handler_p50_ms']:.3f} ms; forward pass 1 row "
            f"{floor['forward_1_rows_1_threads_p50_ms']:.3f} ms, 16 rows "
            f"{floor['forward_16_rows_1_threads_p50_ms']:.3f} ms (1 thread) / "
            f"{floor['forward_16_rows_2_threads_p50_ms']:.3f} ms (2 threads)"
        )
        print(HEADER)
        for row in result["sweep"] + result["two_workers"]:
            print(format_row(row))
        k = result["knee"]
        print(
            f"knee (lowest c1 p50 with c16 req/s within {tolerance:.0%} of the best "
            f"{k['best_c16_rps']:.0f}): batch {k['batch_size']}, delay "
            f"{k['max_batch_delay_ms']} ms -> c1 p50 {k['c1_p50_ms']:.2f} ms, c16 "
            f"{k['c16_rps']:.0f} req/s"
        )
        head = result["client_headroom"]
        null = result["client_vs_null_server"]
        print(
            f"load generator: {null['c16']['rps']:.0f} req/s against a null server at c16 "
            f"(headroom x{head['c16']:.1f} over the best measured, x{head['c8']:.1f} at c8); "
            f"its CPU share during the sweep <= "
            f"{max(r[f'c{c}']['client_cpu_share'] for r in result['sweep'] for c in LEVELS):.2f}"
        )
        cmp = result.get("configured_vs_before")
        if cmp is None:
            continue
        print(f"{'':>2}{'setting':<11} {'path':<7} {'c1 p50':>7} {'c1 p99':>7} {'c16 req/s':>10}")
        for label in ("before", "configured"):
            s = cmp["settings"][label]
            for path in ("direct", "router"):
                r = cmp[label][path]
                print(
                    f"  {s['batch_size']:>2}/{s['max_batch_delay_ms']:<2} ms {label[:4]:<4}"
                    f" {path:<7} {r['c1']['p50_ms']:>7.2f} {r['c1']['p99_ms']:>7.2f}"
                    f" {r['c16']['rps']:>10.0f}"
                )
        print(
            f"  configured/before: router c16 req/s x{cmp['router_c16_rps_ratio']:.2f}, "
            f"direct x{cmp['direct_c16_rps_ratio']:.2f}; router c1 p50 "
            f"x{cmp['router_c1_p50_ratio']:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    known = list(ARCHITECTURES)
    parser.add_argument("--model", action="append", choices=known, help="default: all")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None)
    parser.add_argument("--delays", type=int, nargs="+", default=None, help="ms")
    parser.add_argument("--duration", type=float, default=1.0, help="s per measurement")
    parser.add_argument("--warmup", type=float, default=0.5, help="s before each measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternations, configured/before")
    parser.add_argument("--sweep-rounds", type=int, default=2, help="round-robin passes per group")
    parser.add_argument("--tolerance", type=float, default=0.10, help="c16 throughput, share")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs (speed only)")
    parser.add_argument("--quick", action="store_true", help="A smoke run: one model, tiny.")
    parser.add_argument(
        "--no-compare", action="store_true", help="The sweep only (choosing models.yaml's values)."
    )
    parser.add_argument(
        "--compare-only",
        action="store_true",
        help="Only the configured/before comparison, written into --out's existing results "
        "(after models.yaml was changed to the sweep's knee).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "batching.json",
        help="The JSON to write, or a directory for batching.json in it.",
    )
    args = parser.parse_args()
    args.out = out_file(parser, args.out, "batching")
    if not 0 <= args.tolerance < 1:
        parser.error("--tolerance is a share of the best throughput: 0 <= t < 1 (e.g. 0.1)")
    models = args.model or known
    if args.quick:
        models = models[:1]
        args.duration, args.warmup, args.rounds, args.epochs = 0.3, 0.1, 1, 1
        args.sweep_rounds = 1
    args.batch_sizes = args.batch_sizes or (QUICK_BATCH_SIZES if args.quick else BATCH_SIZES)
    args.delays = args.delays or (QUICK_DELAYS_MS if args.quick else DELAYS_MS)
    config = load_models_config(CONFIG)
    load_before = os.getloadavg()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="modelreg-batching-") as tmp:
        root = Path(tmp)
        ts = LocalTorchServe(root / "serving", ports=LocalPorts.free(), token_expiration_min=600)
        ts.up()
        try:
            results = [sweep_model(ts, root, m, config.get(m), args) for m in models]
        finally:
            ts.down()
    meta = {
        "cpus": os.cpu_count(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "seconds": round(time.monotonic() - started, 1),
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "rounds": args.rounds,
    }
    if args.compare_only:
        data = merge_comparison(args.out, results, meta)
    else:
        data = {
            "benchmark": "batching",
            **meta,
            "tolerance": args.tolerance,
            "grid": {"batch_sizes": args.batch_sizes, "delays_ms": args.delays},
            "results": results,
        }
    report(data["results"], data["tolerance"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

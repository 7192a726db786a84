"""Serving backends side by side: TorchServe and KServe's model server, direct and through the
router, with the same model, the same inputs, on the same machine, in one run.

The digits classifier of ``router_overhead.py`` (one archive) is loaded as version 1 into a
local TorchServe (one worker) and into a local KServe model server (``serving.kserve``, one
process); one router process (``python -m serving.router``) serves both, the TorchServe one as
its default and the KServe one through its table entry's ``upstream`` (``backend: kserve``).
At each concurrency level the same number of one-row requests (the same digit) goes to each
of four paths, the paths taking turns round by round so all see the same machine noise:

    torchserve/direct  POST /predictions/{served}/1                 (TorchServe's own JSON)
    torchserve/router  POST /predictions/{model}                     (the router, TorchServe)
    kserve/direct      POST /v2/models/{served}/versions/1/infer     (Open Inference Protocol)
    kserve/router      POST /predictions/{model-ks}                  (the router, KServe)

Every load generator is the router's own pooled keep-alive client, so each costs the same.
Prints p50/p99 latency and throughput per path, KServe's ratios to TorchServe and what the
router adds on each; writes JSON under bench/results/.

KServe runs on an interpreter with the ``kserve`` package (``make kserve-venv`` builds
``.venv-kserve``): ``--kserve-python``, else ``$MODELREG_KSERVE_PYTHON``, else that venv, else
``$MODELREG_TEST_KSERVE_PYTHON``, else this one if it has kserve. TorchServe needs Java 17.

    python bench/backends.py [--requests 1000] [--concurrency 1 8 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
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

from bench.out_path import out_file  # noqa: E402
from bench.router_overhead import pct, save_digits_model  # noqa: E402
from serving.archive import build_archive  # noqa: E402
from serving.kserve.backend import KServeBackend  # noqa: E402
from serving.kserve.local import LocalKServe  # noqa: E402
from serving.local import LocalPorts, LocalTorchServe  # noqa: E402
from serving.naming import served_name  # noqa: E402
from serving.router.server import LocalRouter, RouterSettings, free_port  # noqa: E402
from serving.router.upstream import InferenceToken, Upstream  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODEL = "bench-digits"
MODEL_KS = "bench-digits-ks"
PATHS = ("torchserve/direct", "torchserve/router", "kserve/direct", "kserve/router")
SCHEMA = {"n_features": 64, "dtype": "float32"}


def digit_row() -> list[float]:
    """One real digit (load_digits' first image, scaled to [0, 1]): every request sends it."""
    from sklearn.datasets import load_digits

    return [float(v) / 16.0 for v in load_digits().data[0]]


def kserve_python(given: str | None) -> str:
    if given is not None:
        return given
    if os.environ.get("MODELREG_KSERVE_PYTHON"):
        return os.environ["MODELREG_KSERVE_PYTHON"]
    own = ROOT / ".venv-kserve" / "bin" / "python"
    if own.exists():
        return str(own)
    if os.environ.get("MODELREG_TEST_KSERVE_PYTHON"):
        return os.environ["MODELREG_TEST_KSERVE_PYTHON"]
    if importlib.util.find_spec("kserve") is not None:
        return sys.executable
    raise SystemExit("no Python with kserve: run `make kserve-venv`, or pass --kserve-python PATH")


async def load(
    upstream: Upstream, path: str, body: bytes, requests: int, concurrency: int
) -> dict[str, Any]:
    latencies: list[float] = []
    failed = 0

    async def worker(count: int) -> None:
        nonlocal failed
        for _ in range(count):
            started = time.perf_counter()
            reply = await upstream.predict(path, body)
            latencies.append((time.perf_counter() - started) * 1000)
            failed += reply.status != 200

    await asyncio.gather(*(worker(20) for _ in range(concurrency)))  # warm the pool
    latencies.clear()
    started = time.perf_counter()
    await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
    return {"latencies": latencies, "elapsed": time.perf_counter() - started, "failed": failed}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [ms for run in runs for ms in run["latencies"]]
    return {
        "p50_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(pct(latencies, 0.99), 3),
        "rps": round(len(latencies) / sum(run["elapsed"] for run in runs), 1),
        "n": len(latencies),
        "failed": sum(run["failed"] for run in runs),
    }


async def measure(
    ts: LocalTorchServe, ks: LocalKServe, router_url: str, args: argparse.Namespace
) -> list[dict[str, Any]]:
    row = digit_row()
    ts_body = json.dumps({"inputs": [row]}).encode()
    ks_body = json.dumps(
        {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": row}]}
    ).encode()
    clients = {
        "torchserve": Upstream(ts.endpoints.inference, InferenceToken(ts.key_file, None)),
        "kserve": Upstream(ks.url, InferenceToken(None, None)),
        "router": Upstream(router_url, InferenceToken(None, None)),
    }
    calls = {
        "torchserve/direct": (
            clients["torchserve"],
            f"/predictions/{served_name(MODEL)}/1",
            ts_body,
        ),
        "torchserve/router": (clients["router"], f"/predictions/{MODEL}", ts_body),
        "kserve/direct": (
            clients["kserve"],
            f"/v2/models/{served_name(MODEL_KS)}/versions/1/infer",
            ks_body,
        ),
        "kserve/router": (clients["router"], f"/predictions/{MODEL_KS}", ts_body),
    }
    levels = []
    try:
        for concurrency in args.concurrency:
            runs: dict[str, list[dict[str, Any]]] = {path: [] for path in PATHS}
            for _ in range(args.rounds):
                for path in PATHS:
                    client, target, body = calls[path]
                    runs[path].append(await load(client, target, body, args.requests, concurrency))
            level: dict[str, Any] = {"concurrency": concurrency}
            level.update({path: summary(found) for path, found in runs.items()})
            ts_d, ts_r = level["torchserve/direct"], level["torchserve/router"]
            ks_d, ks_r = level["kserve/direct"], level["kserve/router"]
            level["ratios"] = {
                "kserve_over_torchserve_p50_direct": round(ks_d["p50_ms"] / ts_d["p50_ms"], 2),
                "kserve_over_torchserve_p50_router": round(ks_r["p50_ms"] / ts_r["p50_ms"], 2),
                "kserve_over_torchserve_rps_direct": round(ks_d["rps"] / ts_d["rps"], 2),
                "kserve_over_torchserve_rps_router": round(ks_r["rps"] / ts_r["rps"], 2),
                "router_adds_p50_ms_torchserve": round(ts_r["p50_ms"] - ts_d["p50_ms"], 3),
                "router_adds_p50_ms_kserve": round(ks_r["p50_ms"] - ks_d["p50_ms"], 3),
            }
            levels.append(level)
    finally:
        for client in clients.values():
            await client.aclose()
    return levels


def check_answers(router: LocalRouter, row: list[float]) -> dict[str, Any]:
    """Both models answer the same digit with the same class through the router."""
    with httpx.Client(base_url=router.url, timeout=60.0, trust_env=False) as http:
        answers = {
            m: http.post(f"/predictions/{m}", json={"inputs": [row]}) for m in (MODEL, MODEL_KS)
        }
    for reply in answers.values():
        reply.raise_for_status()
    classes = {m: r.json()["predictions"][0]["class"] for m, r in answers.items()}
    if len(set(classes.values())) != 1:
        raise SystemExit(f"the backends disagree on the same input: {classes}")
    return classes


def run(args: argparse.Namespace, root: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    save_digits_model(root / "model")
    ts = LocalTorchServe(root / "torchserve", ports=LocalPorts.free())
    ks = LocalKServe(root / "kserve", python=kserve_python(args.kserve_python))
    ts.up()
    try:
        ks.up()
        archive = build_archive(root / "model", MODEL, 1, ts.model_store)
        with ts.client() as client:
            client.register(archive.file_name, served_name(MODEL), 1)
        ks_archive = build_archive(root / "model", MODEL_KS, 1, ks.model_store)
        http = httpx.Client(timeout=httpx.Timeout(120.0, connect=5.0), trust_env=False)
        with KServeBackend(ks.url, ks.token(), http=http) as backend:
            backend.load(ks_archive.file_name, served_name(MODEL_KS), 1)
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
                        "input_schema": SCHEMA,
                    },
                    MODEL_KS: {
                        "served_name": served_name(MODEL_KS),
                        "production": 1,
                        "input_schema": SCHEMA,
                        "upstream": {
                            "inference_url": ks.url,
                            "management_url": ks.url,
                            "backend": "kserve",
                        },
                    },
                }
            }
            httpx.put(
                router.url + "/admin/table",
                json={"expected_generation": 0, "table": table},
                headers={"Authorization": f"Bearer {token}"},
                trust_env=False,
            ).raise_for_status()
            classes = check_answers(router, digit_row())
            levels = asyncio.run(measure(ts, ks, router.url, args))
    finally:
        ks.down()
        ts.down()
    return levels, {"same_class_through_router": classes}


def report(levels: list[dict[str, Any]]) -> None:
    print(
        f"{'conc':>4} {'path':<18} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'n':>6} {'failed':>6}"
    )
    for level in levels:
        for path in PATHS:
            r = level[path]
            print(
                f"{level['concurrency']:>4} {path:<18} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} "
                f"{r['rps']:>8.1f} {r['n']:>6} {r['failed']:>6}"
            )
        ratios = level["ratios"]
        print(
            f"{'':>4} KServe / TorchServe: p50 x{ratios['kserve_over_torchserve_p50_direct']:.2f} "
            f"direct, x{ratios['kserve_over_torchserve_p50_router']:.2f} routed; throughput "
            f"x{ratios['kserve_over_torchserve_rps_direct']:.2f} direct, "
            f"x{ratios['kserve_over_torchserve_rps_router']:.2f} routed; the router adds "
            f"{ratios['router_adds_p50_ms_torchserve']:.3f} ms (TorchServe), "
            f"{ratios['router_adds_p50_ms_kserve']:.3f} ms (KServe) at p50"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="per round, path and level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 16])
    parser.add_argument("--rounds", type=int, default=3, help="turns of the four paths")
    parser.add_argument("--kserve-python", default=None, help="a Python with kserve")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "backends.json",
        help="The JSON to write, or a directory for backends.json in it.",
    )
    args = parser.parse_args()
    args.out = out_file(parser, args.out, "backends")

    with tempfile.TemporaryDirectory(prefix="modelreg-backends-bench-") as tmp:
        levels, checks = run(args, Path(tmp))
    report(levels)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "backends",
                "requests_per_round": args.requests,
                "rounds": args.rounds,
                "cpus": os.cpu_count(),
                "checks": checks,
                "results": levels,
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

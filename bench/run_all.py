"""Run every benchmark, one after the other, and write one results table.

Each benchmark runs as its own process (as ``python bench/<name>.py`` would) and writes its
JSON under the output directory; this script then reads those files and writes
``summary.md`` (the headline rows of each, with the targets) next to them.

    python bench/run_all.py [--quick] [--out bench/results]

``--quick`` is a smoke run (tiny data, a few calls; nothing it prints is a measurement):
``make test`` runs it through tests/test_bench_smoke.py to keep the benchmarks working.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

# name -> (arguments of a full run, arguments of a quick run)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "mcp_latency": ([], ["--quick"]),
    "rollback_under_load": ([], ["--quick"]),
    "registry_scale": ([], ["--quick"]),
    "cli_startup": ([], ["--quick"]),
    "router_overhead": ([], ["--requests", "40", "--concurrency", "1", "--rounds", "1"]),
    "auto_rollback": ([], ["--quick"]),
    "convergence": ([], ["--quick"]),
    "backends": ([], ["--requests", "40", "--concurrency", "1", "--rounds", "1"]),
    "batching": ([], ["--quick"]),
    "coalescing": ([], ["--quick"]),
}


def run(name: str, args: list[str], out: Path) -> dict[str, Any]:
    target = out / f"{name}.json"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{name}.py"), *args, "--out", str(target)],
        env=dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true"),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    sys.stdout.write(done.stdout)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
    loaded = json.loads(target.read_text()) if target.exists() else None
    return {"ok": done.returncode == 0, "seconds": seconds, "data": loaded}


def rows_of(name: str, data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, measured, target) rows of one benchmark's JSON."""
    results = data["results"]
    rows: list[tuple[str, str, str]] = []
    if name == "mcp_latency":
        for tool, row in results.items():
            rows.append(
                (
                    f"{tool}: added over core (p50)",
                    f"{row['added_over_core_p50_ms']:.2f} ms "
                    f"(floor {row['sdk_noop_stdio']['p50_ms']:.2f} ms, client validation "
                    f"{row['client_schema_validation']['p50_ms']:.2f} ms; "
                    f"x{row['ratio_to_sdk_noop']:.2f} of the floor)",
                    "<= 1.2 x the SDK no-op round trip",
                )
            )
        start = data["initialize"]
        rows.append(
            (
                "modelreg mcp: spawn -> initialize answered (p50)",
                f"{start['modelreg_mcp']['initialize']['p50_ms']:.0f} ms vs bare SDK "
                f"{start['sdk_noop']['initialize']['p50_ms']:.0f} ms "
                f"(x{start['initialize_ratio']:.2f}; registry opened on the first call "
                f"x{start['initialize_ratio_open_on_first_call']:.2f})",
                "<= 1.2 x the bare SDK server",
            )
        )
    elif name == "rollback_under_load":
        e2e, req = results["end_to_end"], results["requests"]
        rows.append(
            (
                "rollback_model e2e (MCP)",
                f"p50 {e2e['p50_ms']:.1f} ms, p95 {e2e['p95_ms']:.1f} ms",
                "p50 <= 25 ms under load",
            )
        )
        rows.append(("requests during the run", f"{req['sent']} sent, {req['failed']} failed", "0"))
    elif name == "registry_scale":
        targets = {
            "first-page-prod": "<= 20 ms",
            "first-page-tag": "<= 20 ms",
            "list-production": "<= 1 s (SQLite)",
            "get-model-info": "<= 10 ms",
        }
        for backend in results:
            for job, row in backend["jobs"].items():
                rows.append(
                    (
                        f"{backend['backend']} {job} ({data['models']} x "
                        f"{data['versions_per_model']})",
                        f"ours {row['ours']['p50_ms']:.1f} ms, MlflowClient "
                        f"{row['mlflow']['p50_ms']:.1f} ms (x{row['speedup_p50']:.1f})",
                        targets.get(job, "-"),
                    )
                )
                if "raw_sql" in row:
                    rows.append(
                        (
                            f"{backend['backend']} {job}: ours / raw SQL",
                            f"raw {row['raw_sql']['p50_ms']:.1f} ms "
                            f"(x{row['ours_over_raw_p50']:.2f})",
                            "<= 2 x raw SQL",
                        )
                    )
    elif name == "cli_startup":
        for row in results:
            target = "-" if row["target_s"] is None else f"<= {row['target_s']} s"
            rows.append((row["command"], f"{row['median_s']:.3f} s", target))
    elif name == "auto_rollback":
        breach = results["breach_to_verified"]
        rows.append(
            (
                "guard: first breach -> rollback verified",
                f"p50 {breach['p50_s']:.2f} s, max {breach['max_s']:.2f} s "
                f"({breach['n']} runs, {results['requests']['failed']} failed requests)",
                "p50 <= 5 s, 0 failed",
            )
        )
    elif name == "convergence":
        took = results["commit_to_verified"]
        rows.append(
            (
                "changing process killed after the commit -> serving verified",
                f"p50 {took['p50_s']:.2f} s, p95 {took['p95_s']:.2f} s ({took['n']} runs, "
                f"{results['wrong_answers_after_convergence']} wrong answers after)",
                "p50 <= 2 s, p95 <= 5 s, 0 wrong",
            )
        )
    elif name == "batching":
        for model in results:
            knee = model["knee"]
            rows.append(
                (
                    f"{model['model']}: knee of the sweep (c16 within "
                    f"{data['tolerance']:.0%} of the best)",
                    f"batch {knee['batch_size']}, delay {knee['max_batch_delay_ms']} ms: c1 p50 "
                    f"{knee['c1_p50_ms']:.2f} ms, c16 {knee['c16_rps']:.0f} req/s",
                    "-",
                )
            )
            cmp = model.get("configured_vs_before")
            if cmp is not None:
                router = cmp["configured"]["router"]
                rows.append(
                    (
                        f"{model['model']}: models.yaml batching through the router",
                        f"c1 p50 {router['c1']['p50_ms']:.2f} ms; c16 x"
                        f"{cmp['router_c16_rps_ratio']:.2f} of the previous setting's req/s",
                        "c1 p50 <= 3 ms, c16 >= x1.0",
                    )
                )
    elif name == "coalescing":
        for model in results:
            by = {(r["path"], r["served"], r["concurrency"]): r for r in model["rows"]}
            before, now = by["merge off", "ts_batching", 1], by["merge, 2 out", "configured", 1]
            before16 = by["merge off", "ts_batching", 16]
            now16 = by["merge, 2 out", "configured", 16]
            rows.append(
                (
                    f"{model['model']}: models.yaml (batch 1) with the router merging, against "
                    "TorchServe's batching, through the router",
                    f"c1 p50 {now['p50_ms']:.2f} ms (was {before['p50_ms']:.2f}); c16 "
                    f"{now16['rps']:.0f} req/s (was {before16['rps']:.0f})",
                    "c1 p50 <= 3 ms, c16 >= was",
                )
            )
    elif name == "router_overhead":
        for level in results:
            rows.append(
                (
                    f"router adds at p50 (concurrency {level['concurrency']})",
                    f"{level['added_p50_ms']:.2f} ms; throughput ratio "
                    f"{level['throughput_ratio']:.2f}",
                    "-",
                )
            )
    elif name == "backends":
        for level in results:
            ratios = level["ratios"]
            rows.append(
                (
                    f"KServe / TorchServe (concurrency {level['concurrency']})",
                    f"p50 x{ratios['kserve_over_torchserve_p50_direct']:.2f} direct, "
                    f"x{ratios['kserve_over_torchserve_p50_router']:.2f} routed; throughput "
                    f"x{ratios['kserve_over_torchserve_rps_direct']:.2f} direct, "
                    f"x{ratios['kserve_over_torchserve_rps_router']:.2f} routed",
                    "-",
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Smoke run: tiny and untimed.")
    parser.add_argument(
        "--out", type=Path, default=None, help="Default bench/results (quick: .../quick)."
    )
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=None)
    args = parser.parse_args()
    if args.out is None:  # a smoke run never overwrites the measured results
        args.out = RESULTS / "quick" if args.quick else RESULTS
    args.out.mkdir(parents=True, exist_ok=True)
    lines = [
        "| benchmark | what | measured | target |",
        "|---|---|---|---|",
    ]
    failed = []
    for name, (full, quick) in BENCHMARKS.items():
        if args.only is not None and name not in args.only:
            continue
        print(f"== {name}", flush=True)
        outcome = run(name, quick if args.quick else full, args.out)
        if not outcome["ok"] or outcome["data"] is None:
            failed.append(name)
            lines.append(f"| {name} | FAILED | - | - |")
            continue
        for what, measured, target in rows_of(name, outcome["data"]):
            lines.append(f"| {name} | {what} | {measured} | {target} |")
        print(f"== {name}: {outcome['seconds']:.0f} s", flush=True)
    title = "Benchmarks (quick smoke run: not measurements)" if args.quick else "Benchmarks"
    table = f"# {title}\n\n" + "\n".join(lines) + "\n"
    (args.out / "summary.md").write_text(table)
    print(table)
    print(f"wrote {args.out / 'summary.md'}")
    if failed:
        raise SystemExit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()

"""CLI start-up: wall time of `modelreg` commands run as fresh processes, same run as the floor.

Rows, each run --runs times as a subprocess, interleaved so noise hits them alike:
  python -c pass                    the interpreter floor
  modelreg --help                   argument parsing and help only
  models list                       a catalog read (one registered model)
  serve status (empty home)         a data home with no model (created by the warm-up run)
  serve status (1 model, stopped)   TorchServe stopped
  serve status (1 model, running)   TorchServe up, one model loaded
  rollback --yes (serving up)       a CLI rollback end to end: plan, apply, switch, verify

The data home is a throwaway directory with one trained model (v2 in Production, v1 its
rollback target); successive rollbacks flip between the two. TorchServe rows need Java 17
and `torchserve` on PATH; without them they are skipped and the rollback is measured with
serving down (the report says so).

With ``--compare-src DIR`` the rollback is also run from another source tree of the
project (``PYTHONPATH=DIR``, e.g. an earlier release's ``src``) against the same data home,
interleaved with ours: a before/after in one run.

    python bench/cli_startup.py [--runs 7] [--no-serving] [--quick] [--compare-src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.out_path import out_file  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODELREG = str(Path(sys.executable).with_name("modelreg"))
MODEL = "startup-bench"

ENTRY = "import sys; from registry_mcp.cli.app import main; sys.exit(main())"
"""The `modelreg` console script, for running it from another source tree."""

TARGETS_S = {
    "modelreg --help": 0.4,
    "serve status (empty home)": 0.6,
    "serve status (1 model, stopped)": 0.6,
    "serve status (1 model, running)": 0.6,
    "rollback --yes (serving up)": 1.5,
    "rollback --yes (serving down)": 1.5,
}


def seed(home: Path, *, quick: bool = False) -> None:
    """One model with two versions: v2 in Production, v1 the rollback target (``quick``:
    both versions of one training run)."""
    from registry_mcp.core.registry import Registry
    from registry_mcp.store.settings import Settings
    from registry_mcp.training.job import train_and_register
    from registry_mcp.training.trainer import TrainConfig

    registry = Registry.open(Settings(home=home, actor="bench"))
    try:
        first = train_and_register(
            registry, TrainConfig(hidden=16, epochs=3, seed=1), name=MODEL, actor="bench"
        )
        if quick:
            card = registry.get_card(MODEL, 1).card
            registry.register(MODEL, first.model_uri, actor="bench", card=card)
        else:
            train_and_register(registry, TrainConfig(epochs=3, seed=2), name=MODEL, actor="bench")
        for version in (1, 2):
            for stage in ("staging", "production"):
                registry.stages.transition(
                    MODEL, version, stage, rationale="bench setup", actor="bench"
                )
    finally:
        registry.close()


def serving_available() -> str | None:
    """Why TorchServe cannot run here, or None if it can."""
    if shutil.which("java") is None:
        return "java not found"
    if (
        shutil.which("torchserve") is None
        and not Path(sys.executable).with_name("torchserve").exists()
    ):
        return "torchserve not found"
    return None


def cli_env(home: Path, ports: dict[str, int]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MODELREG_HOME=str(home),
        MODELREG_ACTOR="bench",
        MLFLOW_DISABLE_TELEMETRY="true",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update({f"MODELREG_SERVING_{k.upper()}_PORT": str(v) for k, v in ports.items()})
    return env


def run_once(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return elapsed


def measure(
    commands: dict[str, tuple[list[str], dict[str, str]]], runs: int
) -> dict[str, list[float]]:
    """Each command `runs` times, round-robin, after one unmeasured warm-up run each."""
    for argv, env in commands.values():
        run_once(argv, env)
    samples: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(runs):
        for label, (argv, env) in commands.items():
            samples[label].append(run_once(argv, env))
    return samples


def summarise(samples: dict[str, list[float]]) -> list[dict[str, Any]]:
    rows = []
    for label, values in samples.items():
        median = statistics.median(values)
        target = TARGETS_S.get(label)
        rows.append(
            {
                "command": label,
                "median_s": round(median, 3),
                "min_s": round(min(values), 3),
                "max_s": round(max(values), 3),
                "target_s": target,
                "ok": None if target is None else median <= target,
                "samples_s": [round(v, 3) for v in values],
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'command':<34} {'median s':>9} {'min':>7} {'max':>7} {'target':>7} {'ok':>4}")
    for row in rows:
        target = "-" if row["target_s"] is None else f"{row['target_s']:.1f}"
        ok = "-" if row["ok"] is None else ("yes" if row["ok"] else "NO")
        print(
            f"{row['command']:<34} {row['median_s']:>9.3f} {row['min_s']:>7.3f} "
            f"{row['max_s']:>7.3f} {target:>7} {ok:>4}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="Measured runs per command (>= 5).")
    parser.add_argument(
        "--no-serving", action="store_true", help="Do not start TorchServe (rollback without it)."
    )
    parser.add_argument(
        "--quick", action="store_true", help="A smoke run: one run each, serving down."
    )
    parser.add_argument(
        "--compare-src", type=Path, default=None, help="Also run the rollback from this tree."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "cli_startup.json",
        help="The JSON to write, or a directory for cli_startup.json in it.",
    )
    args = parser.parse_args()
    args.out = out_file(parser, args.out, "cli_startup")
    if args.quick:
        args.runs, args.no_serving = 1, True
    elif args.runs < 5:
        parser.error("--runs must be at least 5")
    from serving.local import LocalPorts

    no_serving = "--no-serving given" if args.no_serving else serving_available()
    with tempfile.TemporaryDirectory(prefix="modelreg-cli-bench-") as tmp:
        home = Path(tmp) / "home"
        print(f"seeding {home} ...", flush=True)
        seed(home, quick=args.quick)
        # A copy with ports nobody listens on: the same registry with TorchServe stopped.
        stopped_home = Path(tmp) / "stopped"
        shutil.copytree(home, stopped_home, symlinks=True)
        env = cli_env(home, LocalPorts.free().model_dump())
        stopped_env = cli_env(stopped_home, LocalPorts.free().model_dump())
        empty_env = cli_env(Path(tmp) / "empty", LocalPorts.free().model_dump())
        status = [MODELREG, "serve", "status"]
        rollback = [MODELREG, "rollback", MODEL, "--rationale", "bench", "--yes"]
        other_env = None
        if args.compare_src is not None:
            other_env = dict(env, PYTHONPATH=str(args.compare_src.resolve()))
        other_rollback = [sys.executable, "-c", ENTRY, *rollback[1:]]
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], env),
            "modelreg --help": ([MODELREG, "--help"], env),
            "models list": ([MODELREG, "models", "list"], env),
            "serve status (empty home)": (status, empty_env),
            "serve status (1 model, stopped)": (status, stopped_env),
        }
        if no_serving is None:
            print("starting TorchServe (modelreg serve up) ...", flush=True)
            try:
                started = subprocess.run(
                    [MODELREG, "serve", "up"], env=env, capture_output=True, text=True, check=False
                )
                if started.returncode != 0:
                    last = (started.stderr.strip().splitlines() or ["no output"])[-1]
                    no_serving = f"`modelreg serve up` failed: {last}"
                else:
                    commands["serve status (1 model, running)"] = (status, env)
                    commands["rollback --yes (serving up)"] = (rollback, env)
                    if other_env is not None:
                        commands["rollback --yes (serving up) [compare-src]"] = (
                            other_rollback,
                            other_env,
                        )
                    samples = measure(commands, args.runs)
            finally:
                subprocess.run([MODELREG, "serve", "down"], env=env, capture_output=True)
        if no_serving is not None:
            commands["rollback --yes (serving down)"] = (rollback, env)
            if other_env is not None:
                commands["rollback --yes (serving down) [compare-src]"] = (
                    other_rollback,
                    other_env,
                )
            samples = measure(commands, args.runs)

    rows = summarise(samples)
    print_table(rows)
    if no_serving is not None:
        print(f"TorchServe not started ({no_serving}): rollback measured with serving down.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "cli_startup",
                "runs": args.runs,
                "serving": no_serving is None,
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                "results": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

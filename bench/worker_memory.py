"""Memory of a TorchServe pod per model: the frontend (JVM) and one worker per loaded version.

A model's pod loads its Production version, the previous Production version warm (for an
instant rollback) and the Staging version, each with its own worker process (models.yaml
``torchserve.workers``: one each). So a pod's memory grows by one worker per loaded version:
the first promotion leaves two versions loaded, a Staging version a third. This starts the
real TorchServe, trains each model's architecture (two or three seeds: distinct versions),
registers the versions one after the other with the model's batching, sends predictions to
each, and reads every process's memory from /proc:

- RSS: resident pages, shared libraries counted in each process (a worker is mostly the
  Python interpreter, torch and MLflow, mapped from the same files as its siblings);
- PSS: each shared page divided among the processes sharing it (the sum of the pod's PSS is
  close to what the container's memory cgroup is charged; RSS summed over-counts).

    python bench/worker_memory.py [--quick]

Prints one table and writes bench/results/worker_memory.json. The models.yaml limits are
sized from the three-version row (Production + previous + Staging), with headroom.
"""

from __future__ import annotations

import argparse
import json
import os
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

from bench.out_path import out_file  # noqa: E402
from registry_mcp.training.trainer import TrainConfig, train  # noqa: E402
from serving.archive import build_archive  # noqa: E402
from serving.config import load_models_config  # noqa: E402
from serving.local import LocalPorts, LocalTorchServe  # noqa: E402
from serving.naming import served_name  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODELS = {"mnist-classifier": "mlp", "mnist-cnn": "cnn", "digits-encoder": "encoder"}
MIB = 1024 * 1024


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (TorchServe's workers are the JVM's children)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                text = (task / "children").read_text()
            except OSError:
                continue
            for child in text.split():
                if int(child) not in found:
                    found.add(int(child))
                    todo.append(int(child))
    return found


def _memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in bytes, from smaps_rollup."""
    rss = pss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key == "Rss":
            rss = int(rest.split()[0]) * 1024
        elif key == "Pss":
            pss = int(rest.split()[0]) * 1024
    return rss, pss


def _python_workers(jvm: int) -> set[int]:
    workers = set()
    for pid in _children(jvm):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"model_service_worker" in command:
            workers.add(pid)
    return workers


def _jvm_pid(ts: LocalTorchServe) -> int:
    pid = ts.status().pid
    if pid is None:
        raise SystemExit("TorchServe is not running")
    return pid


def _save(architecture: str, seed: int, path: Path, epochs: int) -> None:
    import mlflow.pytorch

    result = train(TrainConfig(architecture=architecture, epochs=epochs, seed=seed))  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.pytorch.save_model(
            result.model,
            str(path),
            input_example=result.input_example,
            pip_requirements=["torch", "mlflow"],
        )


def _wait_workers(jvm: int, count: int, deadline_s: float = 180.0) -> set[int]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        workers = _python_workers(jvm)
        if len(workers) >= count:
            return workers
        time.sleep(0.5)
    raise SystemExit(f"expected {count} TorchServe workers, found {len(_python_workers(jvm))}")


def one_model(
    ts: LocalTorchServe, root: Path, model: str, versions: int, epochs: int
) -> dict[str, Any]:
    config = load_models_config(ROOT / "configs" / "models.yaml").get(model)
    served = served_name(model)
    jvm = _jvm_pid(ts)
    rows = [[0.25] * 64 for _ in range(config.torchserve.batch_size)]
    steps: list[dict[str, Any]] = []
    before = _python_workers(jvm)
    with ts.client() as client:
        for version in range(1, versions + 1):
            model_dir = root / f"{model}-v{version}"
            _save(MODELS[model], version, model_dir, epochs)
            archive = build_archive(model_dir, model, version, ts.model_store, task=config.task)
            client.register(
                archive.file_name,
                served,
                version,
                initial_workers=1,
                batch_size=config.torchserve.batch_size,
                max_batch_delay_ms=config.torchserve.max_batch_delay_ms,
            )
            workers = _wait_workers(jvm, len(before) + version) - before
            for loaded in range(1, version + 1):  # every loaded version answers (warm)
                for _ in range(20):
                    client.predict(served, {"inputs": rows}, loaded)
            time.sleep(1.0)
            jvm_rss, jvm_pss = _memory(jvm)
            per_worker = [_memory(pid) for pid in sorted(workers)]
            worker_rss = sum(r for r, _ in per_worker)
            worker_pss = sum(p for _, p in per_worker)
            steps.append(
                {
                    "versions_loaded": version,
                    "jvm_rss_mib": round(jvm_rss / MIB, 1),
                    "jvm_pss_mib": round(jvm_pss / MIB, 1),
                    "worker_rss_mib": [round(r / MIB, 1) for r, _ in per_worker],
                    "worker_pss_mib": [round(p / MIB, 1) for _, p in per_worker],
                    "pod_rss_mib": round((jvm_rss + worker_rss) / MIB, 1),
                    "pod_pss_mib": round((jvm_pss + worker_pss) / MIB, 1),
                }
            )
        for version in range(versions, 0, -1):  # v1, the default, goes last
            client.unregister(served, version)
    return {"model": model, "architecture": MODELS[model], "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=3, help="versions loaded, one by one")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs per version")
    parser.add_argument("--quick", action="store_true", help="A smoke run: one model, 2 versions.")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "worker_memory.json",
        help="The JSON to write, or a directory for worker_memory.json in it.",
    )
    args = parser.parse_args()
    args.out = out_file(parser, args.out, "worker_memory")
    models = list(MODELS)
    if args.quick:
        models, args.versions, args.epochs = models[:1], 2, 1
    with tempfile.TemporaryDirectory(prefix="modelreg-worker-memory-") as tmp:
        root = Path(tmp)
        ts = LocalTorchServe(root / "serving", ports=LocalPorts.free())
        ts.up()
        try:
            results = [one_model(ts, root, m, args.versions, args.epochs) for m in models]
        finally:
            ts.down()
    print(
        f"{'model':<17} {'loaded':>6} {'jvm RSS':>8} {'worker RSS (each)':>22} "
        f"{'pod RSS':>8} {'pod PSS':>8}  (MiB)"
    )
    for result in results:
        for step in result["steps"]:
            each = "/".join(f"{w:.0f}" for w in step["worker_rss_mib"])
            print(
                f"{result['model']:<17} {step['versions_loaded']:>6} {step['jvm_rss_mib']:>8.0f} "
                f"{each:>22} {step['pod_rss_mib']:>8.0f} {step['pod_pss_mib']:>8.0f}"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "worker_memory",
                "versions": args.versions,
                "cpu_count": os.cpu_count(),
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

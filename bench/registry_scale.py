"""Registry at scale: our registry core vs the plain MlflowClient, side by side in one run.

Seeds N models x M versions (three tags each, a production alias each) into a fresh
registry database, then times the same jobs both ways:

  list-production   every model with a Production version (all pages)
  tag-search        every model tagged task=classification (half of them, all pages)
  get-model         one model with its versions

Prints p50/p95 per job and backend and writes JSON under bench/results/. Seeding uses
MLflow's own ORM classes in bulk (creating 20,000 versions one API call at a time would
take an hour); a plain MlflowClient then writes on top to check that our reads see it.

    python bench/registry_scale.py [--models 2000] [--versions 10] [--backend both]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlflow import MlflowClient  # noqa: E402
from mlflow.store.model_registry.dbmodels.models import (  # noqa: E402
    SqlModelVersion,
    SqlModelVersionTag,
    SqlRegisteredModel,
    SqlRegisteredModelAlias,
    SqlRegisteredModelTag,
)
from sqlalchemy.orm import Session  # noqa: E402

from registry_mcp.core.registry import Registry  # noqa: E402
from registry_mcp.store.settings import Settings  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def seed(registry: Registry, models: int, versions: int) -> None:
    engine = registry._engine
    now = int(time.time() * 1000)
    with Session(engine) as session:
        for i in range(models):
            name = f"model-{i:05d}"
            session.add(SqlRegisteredModel(name=name, creation_time=now, last_updated_time=now))
            for key, value in (
                ("task", "classification" if i % 2 == 0 else "regression"),
                ("team", f"team-{i % 7}"),
                ("environment", "dev"),
            ):
                session.add(SqlRegisteredModelTag(name=name, key=key, value=value))
            for v in range(1, versions + 1):
                session.add(
                    SqlModelVersion(
                        name=name,
                        version=v,
                        creation_time=now,
                        last_updated_time=now,
                        source=f"file:///artifacts/{name}/{v}",
                        storage_location=f"file:///artifacts/{name}/{v}",
                        status="READY",
                    )
                )
                if v == versions:
                    session.add(
                        SqlModelVersionTag(
                            name=name, version=v, key="modelreg.stage", value="Production"
                        )
                    )
            session.add(SqlRegisteredModelAlias(name=name, alias="production", version=versions))
            if i % 500 == 499:
                session.flush()
        session.commit()
    if engine.dialect.name == "postgresql":
        # Fresh planner statistics, as autovacuum would gather after a bulk load; without
        # them PostgreSQL picks poor plans for MLflow's latest-versions query.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


def timed(fn: Callable[[], int], repeat: int) -> dict[str, Any]:
    fn()  # warm caches and connection pools on both sides alike
    samples, count = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return {"p50_ms": statistics.median(samples), "p95_ms": p95, "items": count, "n": repeat}


def ours_jobs(registry: Registry) -> dict[str, Callable[[], int]]:
    def all_pages(**filters: Any) -> int:
        total, cursor = 0, None
        while True:
            page = registry.list_models(limit=1000, cursor=cursor, **filters)
            total += len(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return total

    return {
        "list-production": lambda: all_pages(stage="production"),
        "tag-search": lambda: all_pages(tags={"task": "classification"}),
        "get-model": lambda: len(registry.get_model("model-00042", limit=100).versions.items),
    }


def mlflow_jobs(client: MlflowClient) -> dict[str, Callable[[], int]]:
    def all_pages(filter_string: str | None, predicate: Callable[[Any], bool]) -> int:
        total, token = 0, None
        while True:
            page = client.search_registered_models(
                filter_string=filter_string, max_results=1000, page_token=token
            )
            total += sum(1 for model in page if predicate(model))
            token = page.token
            if not token:
                return total

    def get_model() -> int:
        client.get_registered_model("model-00042")
        return len(client.search_model_versions("name = 'model-00042'"))

    return {
        # The plain way: page through every model, keep those with a production alias.
        "list-production": lambda: all_pages(None, lambda m: "production" in m.aliases),
        "tag-search": lambda: all_pages("tags.task = 'classification'", lambda m: True),
        "get-model": get_model,
    }


def check_concurrent_writer(
    registry: Registry, client: MlflowClient, versions: int
) -> dict[str, bool]:
    """A plain MlflowClient writes; our next reads must reflect it (no cache to go stale)."""
    client.set_registered_model_tag("model-00001", "task", "classification")
    client.delete_registered_model_alias("model-00003", "production")
    client.create_registered_model("written-by-mlflow", tags={"task": "classification"})

    def names(**filters: Any) -> set[str]:
        found: set[str] = set()
        cursor = None
        while True:
            page = registry.list_models(limit=1000, cursor=cursor, **filters)
            found |= {m.name for m in page.items}
            cursor = page.next_cursor
            if cursor is None:
                return found

    tagged = names(tags={"task": "classification"})
    prod = names(stage="production")
    result = {
        "sees_new_tag": "model-00001" in tagged,
        "sees_new_model": "written-by-mlflow" in tagged,
        "sees_removed_alias": "model-00003" not in prod,
    }
    # Restore the seeded shape so both sides time identical data.
    client.set_registered_model_tag("model-00001", "task", "regression")
    client.set_registered_model_alias("model-00003", "production", str(versions))
    client.delete_registered_model("written-by-mlflow")
    return result


def run_backend(
    kind: str, uri: str, home: Path, models: int, versions: int, repeat: int
) -> dict[str, Any]:
    settings = Settings(home=home, tracking_uri=uri, registry_uri=uri)
    registry = Registry.open(settings)
    started = time.perf_counter()
    seed(registry, models, versions)
    seed_s = time.perf_counter() - started
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    correctness = check_concurrent_writer(registry, client, versions)
    ours, theirs = ours_jobs(registry), mlflow_jobs(client)
    jobs: dict[str, Any] = {}
    for job in ours:
        # Interleave the two sides so machine noise hits both alike.
        jobs[job] = {"ours": timed(ours[job], repeat), "mlflow": timed(theirs[job], repeat)}
        jobs[job]["speedup_p50"] = jobs[job]["mlflow"]["p50_ms"] / jobs[job]["ours"]["p50_ms"]
    registry.close()
    return {"backend": kind, "seed_seconds": seed_s, "correctness": correctness, "jobs": jobs}


def print_table(results: list[dict[str, Any]]) -> None:
    header = (
        f"{'backend':<10} {'job':<16} {'ours p50':>9} {'ours p95':>9} "
        f"{'mlflow p50':>11} {'mlflow p95':>11} {'x faster':>9} {'items':>6}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        for job, row in result["jobs"].items():
            print(
                f"{result['backend']:<10} {job:<16} {row['ours']['p50_ms']:>8.1f}  "
                f"{row['ours']['p95_ms']:>8.1f}  {row['mlflow']['p50_ms']:>10.1f}  "
                f"{row['mlflow']['p95_ms']:>10.1f}  {row['speedup_p50']:>8.1f}  "
                f"{row['ours']['items']:>6}"
            )
        print(f"{result['backend']:<10} concurrent-writer checks: {result['correctness']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--out", type=Path, default=RESULTS / "registry_scale.json")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory(prefix="modelreg-bench-") as tmp:
        if args.backend in ("sqlite", "both"):
            home = Path(tmp) / "sqlite"
            uri = f"sqlite:///{home / 'mlflow.db'}"
            results.append(
                run_backend("sqlite", uri, home, args.models, args.versions, args.repeat)
            )
        if args.backend in ("postgres", "both"):
            from tests import pg

            bindir = pg.find_bindir()
            if bindir is None:
                print("PostgreSQL is not installed; skipping the postgres backend")
            else:
                server = pg.start_server(bindir)
                try:
                    import sqlalchemy as sa

                    admin = sa.create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT")
                    with admin.connect() as conn:
                        conn.execute(sa.text("CREATE DATABASE bench"))
                    admin.dispose()
                    results.append(
                        run_backend(
                            "postgres",
                            server.url("bench"),
                            Path(tmp) / "pg",
                            args.models,
                            args.versions,
                            args.repeat,
                        )
                    )
                finally:
                    server.stop()
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "registry_scale",
        "models": args.models,
        "versions_per_model": args.versions,
        "repeat": args.repeat,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "results": results,
    }
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Registry at scale: our registry core vs the plain MlflowClient, side by side in one run.

Seeds N models x M versions (three tags each, a production alias each) into a fresh
registry database, then times the same jobs both ways:

  first-page-prod   the first page (50) of models with a Production version
  first-page-tag    the first page (50) of models tagged task=classification
  list-production   every model with a Production version (all pages of 1,000)
  tag-search        every model tagged task=classification (half of them, all pages)
  get-model         one model with its versions
  get-model-info    what the MCP tool get_model_info reads (model, 10 newest versions,
                    the shown version's card, 5 audit rows); MLflow: model, its versions
                    and the version's tags

The two jobs that page through every model are also timed as raw SQL: the same statement
per page as ours (the summary query, each model's tags as one JSON object column), sent
through the database driver's own cursor and fetched, with no objects built. ``ours / raw``
is what building typed results costs on top of the database; the two are timed in turn, one
sample each, ``--repeat`` times (``paired``: the median of each turn's own ratio).

Prints p50/p95 per job and backend and writes JSON under bench/results/. Seeding inserts
rows into MLflow's own tables with bulk SQL (``executemany``; creating 200,000 versions one
MlflowClient call at a time would take hours, and even MLflow's ORM classes take minutes);
a plain MlflowClient then writes on top to check that our reads see it, and reads what was
seeded.

    python bench/registry_scale.py [--models 20000] [--versions 10] [--backend both] [--quick]
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

import sqlalchemy as sa  # noqa: E402
from mlflow import MlflowClient  # noqa: E402

from bench.out_path import out_file  # noqa: E402
from registry_mcp.core.registry import Registry  # noqa: E402
from registry_mcp.domain.cards import CARD_TAG, CardView, card_from_tag  # noqa: E402
from registry_mcp.store.settings import Settings  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CHUNK = 20_000

# MLflow's registry tables (mlflow.store.model_registry.dbmodels.models), as seeded.
_models = sa.table(
    "registered_models",
    *map(sa.column, ("workspace", "name", "creation_time", "last_updated_time")),
)
_model_tags = sa.table(
    "registered_model_tags", *map(sa.column, ("workspace", "name", "key", "value"))
)
_versions = sa.table(
    "model_versions",
    *map(
        sa.column,
        (
            "workspace",
            "name",
            "version",
            "creation_time",
            "last_updated_time",
            "current_stage",
            "source",
            "storage_location",
            "status",
        ),
    ),
)
_version_tags = sa.table(
    "model_version_tags", *map(sa.column, ("workspace", "name", "version", "key", "value"))
)
_aliases = sa.table(
    "registered_model_aliases", *map(sa.column, ("workspace", "name", "alias", "version"))
)
# modelreg's own record of the approved aliases (as if each production alias had been set
# through modelreg), so the models read as a managed registry, not as unapproved changes.
_approved = sa.table(
    "modelreg_approved_state", *map(sa.column, ("model", "production", "updated_ms"))
)


def _rows(models: int, versions: int, now: int) -> dict[sa.TableClause, list[dict[str, Any]]]:
    ws = "default"
    rows: dict[sa.TableClause, list[dict[str, Any]]] = {
        table: [] for table in (_models, _model_tags, _versions, _version_tags, _aliases, _approved)
    }
    for i in range(models):
        name = f"model-{i:05d}"
        rows[_models].append(
            {"workspace": ws, "name": name, "creation_time": now, "last_updated_time": now}
        )
        for key, value in (
            ("task", "classification" if i % 2 == 0 else "regression"),
            ("team", f"team-{i % 7}"),
            ("environment", "dev"),
        ):
            rows[_model_tags].append({"workspace": ws, "name": name, "key": key, "value": value})
        for v in range(1, versions + 1):
            rows[_versions].append(
                {
                    "workspace": ws,
                    "name": name,
                    "version": v,
                    "creation_time": now,
                    "last_updated_time": now,
                    "current_stage": "None",
                    "source": f"file:///artifacts/{name}/{v}",
                    "storage_location": f"file:///artifacts/{name}/{v}",
                    "status": "READY",
                }
            )
        rows[_version_tags].append(
            {
                "workspace": ws,
                "name": name,
                "version": versions,
                "key": "modelreg.stage",
                "value": "Production",
            }
        )
        rows[_aliases].append(
            {"workspace": ws, "name": name, "alias": "production", "version": versions}
        )
        rows[_approved].append({"model": name, "production": versions, "updated_ms": now})
    return rows


def seed(registry: Registry, models: int, versions: int) -> None:
    """Bulk-insert the models into MLflow's tables (one transaction, chunked executemany)."""
    engine = registry.engine
    with engine.begin() as conn:
        for table, rows in _rows(models, versions, int(time.time() * 1000)).items():
            for start in range(0, len(rows), CHUNK):
                conn.execute(sa.insert(table), rows[start : start + CHUNK])
    if engine.dialect.name == "postgresql":
        # Fresh planner statistics, as autovacuum would gather after a bulk load; without
        # them PostgreSQL picks poor plans for MLflow's latest-versions query.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


def model_info(registry: Registry, name: str) -> int:
    """What the MCP tool get_model_info reads, through the registry core."""
    detail = registry.get_model(name, limit=10)
    version = detail.model.production_version or detail.model.latest_version
    info = next(v for v in detail.versions.items if v.version == version)
    card = CardView.of(card_from_tag(info.system_tags.get(CARD_TAG)))
    audit = registry.audit_log(model=name, limit=5)
    registry.policy(name)
    return len(detail.versions.items) + len(audit.items) + int(card.complete)


def _summary(samples: list[float], count: int) -> dict[str, Any]:
    samples = sorted(samples)
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return {
        "p50_ms": statistics.median(samples),
        "p95_ms": p95,
        "items": count,
        "n": len(samples),
        "samples_ms": [round(ms, 1) for ms in samples],
    }


def _sample(fn: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    count = fn()
    return (time.perf_counter() - started) * 1000, count


def timed(fn: Callable[[], int], repeat: int) -> dict[str, Any]:
    fn()  # warm caches and connection pools on both sides alike
    samples, count = [], 0
    for _ in range(repeat):
        ms, count = _sample(fn)
        samples.append(ms)
    return _summary(samples, count)


def timed_pair(
    ours: Callable[[], int], raw: Callable[[], int], repeat: int
) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Ours and the raw SQL one sample each in turn, so machine noise hits both alike; also
    the median of each turn's ratio (less moved by load that drifts during the run)."""
    ours()
    raw()
    ours_ms: list[float] = []
    raw_ms: list[float] = []
    ours_count = raw_count = 0
    for _ in range(repeat):
        ms, ours_count = _sample(ours)
        ours_ms.append(ms)
        ms, raw_count = _sample(raw)
        raw_ms.append(ms)
    paired = statistics.median(a / b for a, b in zip(ours_ms, raw_ms, strict=True))
    return _summary(ours_ms, ours_count), _summary(raw_ms, raw_count), paired


def ours_jobs(registry: Registry) -> dict[str, Callable[[], int]]:
    def all_pages(**filters: Any) -> int:
        total, cursor = 0, None
        while True:
            page = registry.list_models(limit=1000, cursor=cursor, **filters)
            total += len(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return total

    def first_page(**filters: Any) -> int:
        return len(registry.list_models(limit=50, **filters).items)

    return {
        "first-page-prod": lambda: first_page(stage="production"),
        "first-page-tag": lambda: first_page(tags={"task": "classification"}),
        "list-production": lambda: all_pages(stage="production"),
        "tag-search": lambda: all_pages(tags={"task": "classification"}),
        "get-model": lambda: len(registry.get_model("model-00042", limit=100).versions.items),
        "get-model-info": lambda: model_info(registry, "model-00042"),
    }


_SUMMARY_SQL = """
SELECT m.name, m.description, m.last_updated_time,
  (SELECT a.version FROM registered_model_aliases a
    WHERE a.workspace = {p} AND a.name = m.name AND a.alias = 'production') AS production,
  (SELECT a.version FROM registered_model_aliases a
    WHERE a.workspace = {p} AND a.name = m.name AND a.alias = 'staging') AS staging,
  (SELECT a.version FROM registered_model_aliases a
    WHERE a.workspace = {p} AND a.name = m.name AND a.alias = 'previous_production') AS previous,
  (SELECT s.production FROM modelreg_approved_state s WHERE s.model = m.name),
  (SELECT s.staging FROM modelreg_approved_state s WHERE s.model = m.name),
  (SELECT s.previous FROM modelreg_approved_state s WHERE s.model = m.name),
  (SELECT s.moving_ms FROM modelreg_approved_state s WHERE s.model = m.name),
  (SELECT max(v.version) FROM model_versions v
    WHERE v.workspace = {p} AND v.name = m.name AND v.current_stage != 'Deleted_Internal'),
  (SELECT {tags_object}(t.key, t.value) FROM registered_model_tags t
    WHERE t.workspace = {p} AND t.name = m.name)
FROM registered_models m
WHERE m.workspace = {p} AND {filter} AND m.name > {p}
ORDER BY m.name LIMIT 1001
"""
_PRODUCTION_FILTER = """EXISTS (SELECT 1 FROM registered_model_aliases a
  WHERE a.workspace = {p} AND a.name = m.name AND a.alias = 'production')"""
_TAG_FILTER = """EXISTS (SELECT 1 FROM registered_model_tags t
  WHERE t.workspace = {p} AND t.name = m.name AND t.key = 'task' AND t.value = 'classification')"""
_TAGS_OBJECT = {"sqlite": "json_group_object", "postgresql": "json_object_agg"}


def raw_jobs(registry: Registry) -> dict[str, Callable[[], int]]:
    """The all-pages jobs as the same SQL through the driver's cursor: the database's floor."""
    engine = registry.engine
    p = "?" if engine.dialect.name == "sqlite" else "%s"
    tags_object = _TAGS_OBJECT[engine.dialect.name]

    def all_pages(filter_sql: str) -> int:
        summary = _SUMMARY_SQL.format(p=p, filter=filter_sql.format(p=p), tags_object=tags_object)
        total, after = 0, ""
        with engine.connect() as conn:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            while True:
                cursor.execute(summary, ("default",) * 7 + (after,))
                rows = cursor.fetchall()
                page = rows[:1000]
                names = [row[0] for row in page]
                total += len(page)
                if len(rows) <= 1000:
                    cursor.close()
                    conn.rollback()
                    return total
                after = names[-1]

    return {
        "list-production": lambda: all_pages(_PRODUCTION_FILTER),
        "tag-search": lambda: all_pages(_TAG_FILTER),
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

    def first_page(filter_string: str | None, predicate: Callable[[Any], bool]) -> int:
        found, token = 0, None
        while found < 50:
            page = client.search_registered_models(
                filter_string=filter_string, max_results=50, page_token=token
            )
            found += sum(1 for model in page if predicate(model))
            token = page.token
            if not token:
                break
        return min(found, 50)

    def model_info() -> int:
        model = client.get_registered_model("model-00042")
        production = client.get_model_version_by_alias("model-00042", "production")
        versions = client.search_model_versions("name = 'model-00042'", max_results=10)
        return len(versions) + len(production.tags) + len(model.tags) // 100

    return {
        # The plain way: page through the models, keep those with a production alias.
        "first-page-prod": lambda: first_page(None, lambda m: "production" in m.aliases),
        "first-page-tag": lambda: first_page("tags.task = 'classification'", lambda m: True),
        "list-production": lambda: all_pages(None, lambda m: "production" in m.aliases),
        "tag-search": lambda: all_pages("tags.task = 'classification'", lambda m: True),
        "get-model": get_model,
        "get-model-info": model_info,
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


SLOW_JOBS = {"list-production", "tag-search"}
"""Jobs that page through every model: MLflow's side is timed ``max(3, repeat // 3)`` times
(seconds per run at 20,000 models); ours and the raw SQL ``repeat`` times, in turn."""


def run_backend(
    kind: str, uri: str, home: Path, models: int, versions: int, repeat: int
) -> dict[str, Any]:
    home.mkdir(parents=True, exist_ok=True)  # the SQLite file's folder (uri is explicit)
    settings = Settings(home=home, tracking_uri=uri, registry_uri=uri)
    registry = Registry.open(settings)
    started = time.perf_counter()
    seed(registry, models, versions)
    seed_s = time.perf_counter() - started
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    correctness = check_concurrent_writer(registry, client, versions)
    ours, theirs, raw = ours_jobs(registry), mlflow_jobs(client), raw_jobs(registry)
    jobs: dict[str, Any] = {}
    for job in ours:
        # MLflow's side of the all-pages jobs takes seconds per run: fewer samples there.
        times = max(3, repeat // 3) if job in SLOW_JOBS else repeat
        if job in raw:
            ours_row, raw_row, paired = timed_pair(ours[job], raw[job], repeat)
            if raw_row["items"] != ours_row["items"]:
                raise SystemExit(f"{job}: raw SQL found {raw_row['items']} models")
            jobs[job] = {"ours": ours_row, "mlflow": timed(theirs[job], times), "raw_sql": raw_row}
            jobs[job]["ours_over_raw_p50"] = ours_row["p50_ms"] / raw_row["p50_ms"]
            jobs[job]["ours_over_raw_paired_p50"] = paired
        else:
            jobs[job] = {"ours": timed(ours[job], repeat), "mlflow": timed(theirs[job], times)}
        jobs[job]["speedup_p50"] = jobs[job]["mlflow"]["p50_ms"] / jobs[job]["ours"]["p50_ms"]
    registry.close()
    return {"backend": kind, "seed_seconds": seed_s, "correctness": correctness, "jobs": jobs}


def print_table(results: list[dict[str, Any]]) -> None:
    header = (
        f"{'backend':<10} {'job':<16} {'ours p50':>9} {'ours p95':>9} "
        f"{'mlflow p50':>11} {'mlflow p95':>11} {'x faster':>9} {'items':>6} "
        f"{'raw p50':>8} {'ours/raw':>8} {'paired':>7}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        for job, row in result["jobs"].items():
            print(
                f"{result['backend']:<10} {job:<16} {row['ours']['p50_ms']:>8.1f}  "
                f"{row['ours']['p95_ms']:>8.1f}  {row['mlflow']['p50_ms']:>10.1f}  "
                f"{row['mlflow']['p95_ms']:>10.1f}  {row['speedup_p50']:>8.1f}  "
                f"{row['ours']['items']:>6} "
                + (
                    f"{row['raw_sql']['p50_ms']:>8.1f} {row['ours_over_raw_p50']:>8.2f} "
                    f"{row['ours_over_raw_paired_p50']:>7.2f}"
                    if "raw_sql" in row
                    else ""
                )
            )
        print(f"{result['backend']:<10} concurrent-writer checks: {result['correctness']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20_000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--quick", action="store_true", help="A smoke run: 200 models x 3 versions, 3 repeats."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "registry_scale.json",
        help="The JSON to write, or a directory for registry_scale.json in it.",
    )
    args = parser.parse_args()
    args.out = out_file(parser, args.out, "registry_scale")
    if args.quick:
        args.models, args.versions, args.repeat = 200, 3, 3

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

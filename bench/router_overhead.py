"""Router overhead: the same load straight to TorchServe and through the router, measured
with a client that is shown not to be the bottleneck.

A digits classifier (sklearn's load_digits, a small torch MLP saved with MLflow) is served by
a local TorchServe (one worker); routers (``serving.router``'s app on uvicorn) sit in front.

1. The clients' headroom. Each available client drives TorchServe directly and a null server
   (``bench/loadgen.py null-server``, answers at once): ``loadgen`` (the bench's own asyncio
   client, one process), ``loadgen x2`` (two processes) and ``wrk`` (a C load generator,
   Debian's ``wrk``, when installed). The fastest client against TorchServe measures the rest.
   A level where that client's direct rate is not well below its null-server ceiling
   (``--headroom`` times) is marked ``client_limited``: its ratio measures the client too.
2. Router variants side by side (``--variants``): ``shipped`` is ``python -m serving.router``
   as it runs, its table put through the admin API; ``shipped@DIR`` is the same command run
   from the source tree ``DIR`` (``PYTHONPATH=DIR``, e.g. another checkout's ``src``: the
   router before and after a change, in one run, against the same TorchServe); the others
   are the same app on uvicorn with a chosen HTTP parser and event loop (``h11``/``asyncio``,
   ``httptools``/``uvloop``) and a number of worker processes sharing one port through
   ``SO_REUSEPORT`` (each with its own copy of the table, read from the same file: enough to
   measure throughput, not a way to run the router). At each level direct and router rounds
   alternate, so both see the same noise.

Prints the tables and writes JSON under bench/results/.

    python bench/router_overhead.py [--concurrency 1 8 16] [--rounds 3] [--duration 2]
        [--variants shipped shipped@../main/src httptools/uvloop/2 ...] [--client wrk]
    python bench/router_overhead.py --requests 40 --concurrency 1 --rounds 1   # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.loadgen import (  # noqa: E402
    NullServer,
    Spec,
    run_child,
    run_children,
    run_wrk,
    summarize,
    wrk_available,
)
from bench.out_path import out_file  # noqa: E402
from serving.archive import build_archive  # noqa: E402
from serving.keyfile import read_keys  # noqa: E402
from serving.local import LocalPorts, LocalTorchServe  # noqa: E402
from serving.naming import served_name  # noqa: E402
from serving.router.server import LocalRouter, RouterSettings, free_port  # noqa: E402
from serving.router.stack import server_stack  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODEL = "bench-digits"
BODY = json.dumps({"inputs": [[0.25] * 64]})
Client = Callable[[Spec], dict[str, Any]]
#: The router as it runs: ``python -m serving.router``, its table put through the admin API.
SHIPPED = "shipped"
VARIANTS = (SHIPPED, "h11/asyncio/1", "httptools/uvloop/1", "h11/asyncio/2", "httptools/uvloop/2")
TABLE = {
    "models": {
        MODEL: {
            "served_name": served_name(MODEL),
            "production": 1,
            "input_schema": {"n_features": 64, "dtype": "float32"},
        }
    }
}


def pct(samples: list[float], q: float) -> float:
    """The q-quantile of samples (nearest rank); the other benches import it from here."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


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


def clients(counted: bool) -> dict[str, Client]:
    """The clients available here; only the bench's own counts requests (``--requests``)."""
    found: dict[str, Client] = {"loadgen": run_child}
    if not counted:
        found["loadgen x2"] = lambda spec: run_children(spec, 2)
        if wrk_available():
            found["wrk"] = run_wrk
    return found


def variant_parts(variant: str) -> tuple[str, str, int]:
    """``http/loop/workers``, e.g. ``httptools/uvloop/2``; ``shipped`` is checked by the caller."""
    try:
        http, loop, workers = variant.split("/")
        count = int(workers)
    except ValueError:
        raise SystemExit(
            f"--variants: {variant!r} is not http/loop/workers, e.g. h11/asyncio/1"
        ) from None
    if http not in ("h11", "httptools") or loop not in ("asyncio", "uvloop") or count < 1:
        raise SystemExit(
            f"--variants: {variant!r}: http is h11 or httptools, loop asyncio or uvloop, "
            "workers >= 1"
        )
    return http, loop, count


def shipped_source(variant: str) -> Path | None:
    """The source tree of a ``shipped@DIR`` variant (None: this tree); exits if not one."""
    if variant == SHIPPED:
        return None
    src = Path(variant.removeprefix(SHIPPED + "@")).resolve()
    if not (src / "serving" / "router" / "__main__.py").is_file():
        raise SystemExit(
            f"--variants: {variant!r}: {src} holds no serving/router package; give the src "
            "directory of a checkout, e.g. shipped@/path/to/checkout/src"
        )
    return src


def variant_available(variant: str) -> bool:
    if variant == SHIPPED or variant.startswith(SHIPPED + "@"):
        shipped_source(variant)
        return True
    http, loop, _ = variant_parts(variant)
    return all(
        importlib.util.find_spec(name) is not None
        for name in {http, loop} & {"httptools", "uvloop"}
    )


def router_worker() -> None:
    """One router process on a shared port (``SO_REUSEPORT``); its spec as JSON on stdin."""
    import uvicorn

    from serving.router.server import _TIMEOUTS, build_app, install_initial_table, read_table
    from serving.torchserve import TorchServeClient

    spec = json.loads(sys.stdin.read())
    settings = RouterSettings.model_validate(spec["settings"])
    endpoints = settings.endpoints()
    assert endpoints is not None
    assert settings.initial_table is not None
    initial = read_table(settings.initial_table)
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets whose proto says TCP
    # (with proto 0, Nagle and the client's delayed ACK add ~40 ms to every answer).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((settings.host, settings.port))
    with TorchServeClient.create(endpoints, settings.key_file, timeouts=_TIMEOUTS) as default:
        app = build_app(settings, spec["admin_token"], default, refresh_token=default)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            http=spec["http"],
            loop=spec["loop"],
        )
        server = uvicorn.Server(config)

        async def run() -> None:
            loader = asyncio.create_task(install_initial_table(app.tables, initial))
            await server.serve(sockets=[sock])
            loader.cancel()

        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(run())


@contextlib.contextmanager
def routers(ts: LocalTorchServe, root: Path, variant: str) -> Iterator[tuple[str, list[int]]]:
    """The router(s) of ``variant`` on one port, each with the table ready; yields the URL
    and the routers' process ids."""
    if variant == SHIPPED or variant.startswith(SHIPPED + "@"):
        with shipped_router(ts, root, shipped_source(variant)) as found:
            yield found
        return
    http, loop, workers = variant_parts(variant)
    port = free_port()
    table = root / "table.json"
    table.write_text(json.dumps(TABLE))
    processes = []
    try:
        for index in range(workers):
            settings = RouterSettings(
                port=port,
                inference_url=ts.endpoints.inference,
                management_url=ts.endpoints.management,
                key_file=ts.key_file,
                state_file=root / f"router-{port}-{index}.json",
                initial_table=table,
            )
            spec = {
                "settings": settings.model_dump(mode="json"),
                "admin_token": secrets.token_urlsafe(24),
                "http": http,
                "loop": loop,
            }
            process = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "router-worker"],
                stdin=subprocess.PIPE,
                stderr=(root / f"router-{port}-{index}.log").open("wb"),
                text=True,
                start_new_session=True,
            )
            assert process.stdin is not None
            process.stdin.write(json.dumps(spec))
            process.stdin.close()
            processes.append(process)
        url = f"http://127.0.0.1:{port}"
        ready = 0  # a new connection each time lands on any worker: many in a row = all
        deadline = time.monotonic() + 120
        while ready < 20 * workers:
            if any(process.poll() is not None for process in processes):
                raise RuntimeError(f"a router worker exited; see {root}/router-{port}-*.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the routers did not become ready; see {root}")
            try:
                ok = httpx.get(url + "/readyz", timeout=5, trust_env=False).status_code == 200
            except httpx.HTTPError:
                ok = False
            ready = ready + 1 if ok else 0
            if not ok:
                time.sleep(0.1)
        yield url, [process.pid for process in processes]
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@contextlib.contextmanager
def python_path(src: Path | None) -> Iterator[None]:
    """``PYTHONPATH=src`` for the processes started inside (nothing changed when None)."""
    if src is None:
        yield
        return
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(src)
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


@contextlib.contextmanager
def shipped_router(
    ts: LocalTorchServe, root: Path, src: Path | None = None, inference: str | None = None
) -> Iterator[tuple[str, list[int]]]:
    """``python -m serving.router`` with the bench's table; ``inference``: another inference
    address than TorchServe's (the null server; then without TorchServe's key, and the table
    not checked against TorchServe, which needs that key)."""
    settings = RouterSettings(
        port=free_port(),
        inference_url=inference or ts.endpoints.inference,
        management_url=ts.endpoints.management,
        key_file=ts.key_file if inference is None else None,
        state_file=root / f"router-state-{secrets.token_hex(4)}.json",
        verify_loaded=inference is None,
    )
    token = secrets.token_urlsafe(24)
    router = LocalRouter(settings, token, log_file=root / f"router-{settings.port}.log")
    with python_path(src):
        router.start()  # the child process reads PYTHONPATH as it starts
    with router:
        httpx.put(
            router.url + "/admin/table",
            json={"expected_generation": 0, "table": TABLE},
            headers={"Authorization": f"Bearer {token}"},
            trust_env=False,
        ).raise_for_status()
        assert router.pid is not None
        yield router.url, [router.pid]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


class _AnsweringUpstream:
    """In place of the upstream client: TorchServe's recorded answer, at once (no socket)."""

    def __init__(self, body: bytes) -> None:
        from serving.router.upstream import UpstreamReply

        self._reply = UpstreamReply(200, body, b"application/json")

    async def forward(
        self, target: object, raw: bytes, rows: list[Any], *, merges: bool = False
    ) -> Any:
        return self._reply

    async def aclose(self) -> None:
        return None


def app_cost(reply: bytes, requests: int, root: Path) -> dict[str, Any]:
    """The router app's own CPU per prediction: ASGI calls in this process, the upstream
    answering at once with ``reply`` (TorchServe's real answer), no server and no socket.
    What is left of the routed CPU per request is uvicorn, the upstream client, the event
    loop and the kernel."""
    from serving.router.app import RouterApp
    from serving.router.auth import AdminAuth, ClientKeys
    from serving.router.state import StateFile
    from serving.router.table import RoutingTable, TableUpdate
    from serving.schemas import ModelDescription, PingResult

    class NoManagement:  # verify_loaded is off: nothing asks it
        def ping(self) -> PingResult:
            return PingResult(healthy=True, status="in-process")

        def describe(self, model: str) -> ModelDescription:
            raise AssertionError("not asked with verify_loaded off")

    upstream: Any = _AnsweringUpstream(reply)
    app = RouterApp(
        upstream=upstream,
        management=NoManagement(),
        state_file=StateFile(root / f"app-cost-{secrets.token_hex(4)}.json"),
        admin=AdminAuth(secrets.token_urlsafe(24)),
        clients=ClientKeys({}, required=False),
        verify_loaded=False,
    )
    body = BODY.encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": f"/predictions/{MODEL}",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
    }
    message = {"type": "http.request", "body": body, "more_body": False}
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return message

    async def send(sent: Any) -> None:
        if sent["type"] == "http.response.start":
            statuses.append(sent["status"])

    async def run() -> list[float]:
        table = RoutingTable.model_validate(TABLE)
        await app.tables.update(TableUpdate(expected_generation=0, table=table))
        for _ in range(min(requests, 2000)):  # warm-up
            await app(dict(scope), receive, send)
        rounds = []
        for _ in range(5):
            started = time.process_time()
            for _ in range(requests):
                await app(dict(scope), receive, send)
            rounds.append((time.process_time() - started) / requests * 1e6)
        return rounds

    rounds = asyncio.run(run())
    if set(statuses) != {200}:
        raise RuntimeError(f"the in-process router did not answer 200: {sorted(set(statuses))}")
    return {
        "requests_per_round": requests,
        "cpu_us_per_request_rounds": [round(r, 1) for r in rounds],
        "cpu_us_per_request": round(statistics.median(rounds), 1),
    }


def null_upstream(bench: Bench, client: Client, variant: str, reply: str) -> dict[str, Any]:
    """The shipped router in front of the null server (an answer of TorchServe's size, at
    once) instead of TorchServe, at the highest concurrency: its CPU per request when no
    model competes for the cores, the figure that moves least between runs."""
    top = max(bench.args.concurrency)
    src = shipped_source(variant)
    with (
        NullServer(reply.encode()) as null,
        shipped_router(bench.ts, bench.root, src, null.url) as (url, pids),
    ):
        runs = [bench.routed(client, url, pids, top) for _ in range(bench.args.rounds)]
    return {
        "concurrency": top,
        "rps": round(statistics.median(run["rps"] for run in runs), 1),
        "failed": sum(run["failed"] for run in runs),
        "router_cpu_us_per_request": round(
            statistics.median(run["router_cpu_us"] for run in runs), 1
        ),
    }


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one path: p50/p99 the median of the rounds', the rate the median rate."""
    rows = [summarize(run) for run in runs]
    return {
        "p50_ms": round(statistics.median(r["p50_ms"] for r in rows), 3),
        "p99_ms": round(statistics.median(r["p99_ms"] for r in rows), 3),
        "rps": round(statistics.median(r["rps"] for r in rows), 1),
        "n": sum(r["n"] for r in rows),
        "failed": sum(r["failed"] for r in rows),
        "client_cpu_share": round(max(r["client_cpu_share"] for r in rows), 3),
    }


class Bench:
    def __init__(self, ts: LocalTorchServe, args: argparse.Namespace, root: Path) -> None:
        self.ts = ts
        self.root = root
        self.args = args
        self.direct_path = f"/predictions/{served_name(MODEL)}/1"

    def spec(self, url: str, path: str, concurrency: int, token: str | None) -> Spec:
        return Spec(
            url=url,
            path=path,
            body=BODY,
            concurrency=concurrency,
            duration_s=self.args.duration,
            warmup_s=self.args.warmup,
            token=token,
            requests=self.args.requests,
        )

    def direct(self, client: Client, concurrency: int) -> dict[str, Any]:
        keys = read_keys(self.ts.key_file) or {}
        token = keys["inference"].key
        return client(self.spec(self.ts.endpoints.inference, self.direct_path, concurrency, token))

    def routed(self, client: Client, url: str, pids: list[int], concurrency: int) -> dict[str, Any]:
        """A run through the router, with the routers' CPU time per request it answered."""
        cpu = cpu_seconds(pids)
        result = client(self.spec(url, f"/predictions/{MODEL}", concurrency, None))
        result["router_cpu_us"] = (cpu_seconds(pids) - cpu) / max(result["total"], 1) * 1e6
        return result


def headroom(bench: Bench, found: dict[str, Client], reply: str) -> dict[str, Any]:
    """Per client and level: its rate against TorchServe and against the null server."""
    out: dict[str, Any] = {}
    with NullServer(reply.encode()) as null:
        for name, client in found.items():
            row: dict[str, Any] = {}
            for c in bench.args.concurrency:
                direct = combine([bench.direct(client, c) for _ in range(bench.args.rounds)])
                ceiling = summarize(client(bench.spec(null.url, "/predictions/null/1", c, None)))
                row[f"c{c}"] = {
                    "direct": direct,
                    "null_server_rps": ceiling["rps"],
                    "null_over_direct": round(ceiling["rps"] / max(direct["rps"], 1e-9), 2),
                }
                print(
                    f"  client {name:<11} c{c:<3} direct {direct['rps']:>8.1f} req/s  "
                    f"null server {ceiling['rps']:>8.1f} req/s",
                    flush=True,
                )
            out[name] = row
    return out


def pick_client(heads: dict[str, Any], level: str) -> str:
    """Of the clients whose direct rate at ``level`` is within 10 % of the best (they all
    saturate TorchServe), the one with the most headroom (the cheapest per request)."""
    best = max(head[level]["direct"]["rps"] for head in heads.values())
    saturating = [n for n, head in heads.items() if head[level]["direct"]["rps"] >= 0.9 * best]
    return max(saturating, key=lambda n: heads[n][level]["null_server_rps"])


def measure_variant(
    bench: Bench, client: Client, url: str, pids: list[int], heads: dict[str, Any]
) -> list[dict[str, Any]]:
    rows = []
    for c in bench.args.concurrency:
        runs: dict[str, list[dict[str, Any]]] = {"direct": [], "router": []}
        for _ in range(bench.args.rounds):
            runs["direct"].append(bench.direct(client, c))
            runs["router"].append(bench.routed(client, url, pids, c))
        row: dict[str, Any] = {"concurrency": c}
        row.update({name: combine(found) for name, found in runs.items()})
        row["added_p50_ms"] = round(row["router"]["p50_ms"] - row["direct"]["p50_ms"], 3)
        row["throughput_ratio"] = round(row["router"]["rps"] / row["direct"]["rps"], 3)
        # The routers' own CPU per answer: what limits them on a busy machine, and far less
        # noisy there than rates (10 ms clock ticks over a whole run).
        row["router_cpu_us_per_request"] = round(
            statistics.median(run["router_cpu_us"] for run in runs["router"]), 1
        )
        head = heads[f"c{c}"]
        # The client's ceiling must stand well above what it measured straight to TorchServe.
        row["client_limited"] = head["null_server_rps"] < bench.args.headroom * row["direct"]["rps"]
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 16])
    parser.add_argument(
        "--requests",
        type=int,
        default=None,
        help="a fixed number of requests per run instead of --duration (a smoke run): only "
        "the bench's own client counts, and --variants defaults to the shipped router",
    )
    parser.add_argument("--rounds", type=int, default=3, help="direct/router alternations")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each run")
    parser.add_argument(
        "--headroom",
        type=float,
        default=1.5,
        help="a level is client_limited unless the client's null-server rate is this many "
        "times its direct rate",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        default=None,
        help=f"router variants: {SHIPPED} (python -m serving.router), {SHIPPED}@DIR (the same "
        "from the source tree DIR) or http/loop/workers, e.g. httptools/uvloop/2 (default: "
        f"{' '.join(VARIANTS)})",
    )
    parser.add_argument(
        "--client", default=None, help="measure with this client (default: the fastest)"
    )
    parser.add_argument(
        "--app-requests",
        type=int,
        default=20_000,
        help="requests per round of the in-process measurement of the app alone",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "router_overhead.json",
        help="The JSON to write, or a directory for router_overhead.json in it.",
    )
    args = parser.parse_args()
    args.out = out_file(parser, args.out, "router_overhead")
    if args.variants is None:
        args.variants = [SHIPPED] if args.requests is not None else list(VARIANTS)
    variants = [v for v in args.variants if variant_available(v)]
    skipped = sorted(set(args.variants) - set(variants))
    found = clients(counted=args.requests is not None)
    if args.client is not None and args.client not in found:
        raise SystemExit(f"--client: {args.client!r} is not one of {', '.join(found)}")
    load_before = os.getloadavg()
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="modelreg-router-bench-") as tmp:
        root = Path(tmp)
        save_digits_model(root / "model")
        ts = LocalTorchServe(root / "serving", ports=LocalPorts.free())
        ts.up()
        try:
            archive = build_archive(root / "model", MODEL, 1, ts.model_store)
            with ts.client() as client:
                client.register(archive.file_name, served_name(MODEL), 1)
            bench = Bench(ts, args, root)
            token = (read_keys(ts.key_file) or {})["inference"].key
            reply = httpx.post(
                ts.endpoints.inference + bench.direct_path,
                content=BODY,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                trust_env=False,
            ).text
            print("== clients' headroom", flush=True)
            # A smoke run (--requests) makes as few calls here too.
            app_requests = args.app_requests if args.requests is None else args.requests
            in_process = app_cost(reply.encode(), app_requests, root)
            print(
                f"== the router app alone, in process: {in_process['cpu_us_per_request']:.1f} us "
                "CPU per request",
                flush=True,
            )
            heads = headroom(bench, found, reply)
            top = max(args.concurrency)
            fastest = args.client or pick_client(heads, f"c{top}")
            print(f"== measuring with {fastest}", flush=True)
            results = []
            for variant in variants:
                with routers(ts, root, variant) as (url, pids):
                    rows = measure_variant(bench, found[fastest], url, pids, heads[fastest])
                result: dict[str, Any] = {"variant": variant, "rows": rows}
                if variant == SHIPPED or variant.startswith(SHIPPED + "@"):
                    result["null_upstream"] = null_upstream(bench, found[fastest], variant, reply)
                results.append(result)
                print_variant(variant, rows, result.get("null_upstream"))
        finally:
            ts.down()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "router_overhead",
                "cpus": os.cpu_count(),
                "load_average_before": [round(v, 2) for v in load_before],
                "load_average_after": [round(v, 2) for v in os.getloadavg()],
                "seconds": round(time.perf_counter() - started, 1),
                "duration_s": args.duration if args.requests is None else None,
                "requests_per_run": args.requests,
                "warmup_s": args.warmup,
                "rounds": args.rounds,
                "headroom_required": args.headroom,
                "clients": heads,
                # The app's own share of the router's CPU (no server, client or socket).
                "app_in_process": in_process,
                "measured_with": fastest,
                "variants_skipped_not_installed": skipped,
                "shipped_stack": server_stack().name,  # what `python -m serving.router` ran on
                # The shipped router's levels (what `make bench` summarises), then every variant.
                "results": next((r["rows"] for r in results if r["variant"] == SHIPPED), []),
                "variants": results,
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")


def print_variant(
    variant: str, rows: list[dict[str, Any]], null: dict[str, Any] | None = None
) -> None:
    print(f"-- router {variant}")
    print(
        f"{'conc':>4} {'path':<7} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'n':>7} {'failed':>6}"
    )
    for row in rows:
        for name in ("direct", "router"):
            r = row[name]
            print(
                f"{row['concurrency']:>4} {name:<7} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} "
                f"{r['rps']:>8.1f} {r['n']:>7} {r['failed']:>6}"
            )
        limited = "  (client-limited: the ratio measures the client too)"
        print(
            f"{'':>4} router adds {row['added_p50_ms']:.3f} ms at p50; throughput ratio "
            f"{row['throughput_ratio']:.2f}; router CPU "
            f"{row['router_cpu_us_per_request']:.0f} us/request"
            f"{limited if row['client_limited'] else ''}",
            flush=True,
        )
    if null is not None:
        print(
            f"{'':>4} before the null server (c{null['concurrency']}): {null['rps']:.0f} req/s, "
            f"router CPU {null['router_cpu_us_per_request']:.0f} us/request",
            flush=True,
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["router-worker"]:
        router_worker()
    else:
        main()

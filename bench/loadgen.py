"""A closed-loop HTTP/1.1 load generator cheap enough not to be what a benchmark measures.

Each of ``concurrency`` keep-alive connections sends one pre-built request, waits for the
whole answer and sends the next, for ``duration_s`` after ``warmup_s`` (or until ``requests``
have been sent after it); only requests sent inside the measured window count. The request is
written with one ``write`` and the answer parsed in a raw ``asyncio.Protocol`` (no stream
objects, no header dictionary), so one request costs the client a few tens of microseconds of
CPU; the client's own CPU time during the window is reported with every run, so a reader can
see whether it was near a full core. ``run_children`` splits the connections between several
processes; ``run_wrk`` drives the same load with ``wrk`` (C) where it is installed.

Its ceiling is measured, not assumed: ``python bench/loadgen.py null-server`` answers every
request at once with a canned body, and ``headroom`` = (the client's rate against it) /
(the rate it measured against the real server) at the same concurrency.

Standard library only, so ``python bench/loadgen.py run`` starts in milliseconds: benchmarks
run it as a child process (away from their own event loop and imports), one JSON spec on
stdin, one JSON result on stdout.

    python bench/loadgen.py null-server [--port 0]         # prints "port N", serves until killed
    echo '{"url": ..., "path": ..., "body": ..., "concurrency": 8}' | python bench/loadgen.py run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_END = b"\r\n\r\n"


@dataclass(frozen=True)
class Spec:
    """One load run: where, what, how many connections, how long."""

    url: str  # base URL, http://host:port
    path: str
    body: str
    concurrency: int
    duration_s: float = 2.0
    warmup_s: float = 0.5
    token: str | None = None  # Authorization: Bearer ...
    requests: int | None = None  # stop after this many measured requests (not after duration_s)


def build_request(spec: Spec) -> tuple[str, int, bytes]:
    parts = urlsplit(spec.url)
    if parts.scheme != "http" or parts.hostname is None or parts.port is None:
        raise SystemExit(f"loadgen: {spec.url!r} is not http://host:port")
    body = spec.body.encode()
    head = (
        f"POST {spec.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
    )
    if spec.token:
        head += f"Authorization: Bearer {spec.token}\r\n"
    return parts.hostname, parts.port, (head + "\r\n").encode() + body


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
        if name.strip().lower() == b"transfer-encoding":
            raise SystemExit("loadgen: chunked answers are not supported")
    return 0


class _Connection(asyncio.Protocol):
    """One keep-alive connection in a closed loop: send, read the whole answer, repeat."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.need = -1
        self.status = 0
        self.sent_at = 0.0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        if self.sent_at >= self.run.start:
            self.run.issued += 1
        self.transport.write(self.run.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.need < 0:
            end = self.buffer.find(_END)
            if end < 0:
                return
            head = self.buffer[:end]
            self.status = int(head[9:12])
            self.need = end + 4 + _content_length(head)
        if len(self.buffer) < self.need:
            return
        now = time.perf_counter()
        self.buffer = self.buffer[self.need :]
        self.need = -1
        self.run.record(self.sent_at, now, self.status)
        if now < self.run.end and self.run.issued < self.run.limit:
            self.send()
        elif not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"loadgen: connection lost ({exc})"))


class _Run:
    def __init__(self, request: bytes, start: float, end: float, limit: float) -> None:
        self.request = request
        self.start = start
        self.end = end
        self.limit = limit  # measured requests to send (inf: until ``end``)
        self.issued = 0
        self.total = 0  # answers, warm-up included (what the server did during the run)
        self.latencies_ms: list[float] = []
        self.failed = 0
        self.last_done = start

    def record(self, sent: float, done: float, status: int) -> None:
        self.total += 1
        if sent < self.start or sent >= self.end:
            return  # warm-up, or sent after the window closed
        self.latencies_ms.append((done - sent) * 1000)
        self.failed += status != 200
        self.last_done = max(self.last_done, done)


async def run(spec: Spec) -> dict[str, Any]:
    """Drive ``spec``; latencies (ms) of the requests sent inside the window, its rate and the
    client's CPU share (process CPU seconds / wall seconds over the window)."""
    host, port, request = build_request(spec)
    loop = asyncio.get_running_loop()
    limit = float("inf") if spec.requests is None else spec.requests
    state = _Run(request, float("inf"), float("inf"), limit)
    connections: list[_Connection] = []
    for _ in range(spec.concurrency):
        _, conn = await loop.create_connection(lambda: _Connection(state), host, port)
        connections.append(conn)
    state.start = time.perf_counter() + spec.warmup_s
    state.end = state.start + spec.duration_s if spec.requests is None else float("inf")
    state.last_done = state.start
    for conn in connections:
        conn.send()
    await asyncio.sleep(max(0.0, state.start - time.perf_counter()))
    cpu_started = time.process_time()
    wall_started = time.perf_counter()
    await asyncio.gather(*(conn.done for conn in connections))
    wall = time.perf_counter() - wall_started
    cpu = time.process_time() - cpu_started
    for conn in connections:
        assert conn.transport is not None
        conn.transport.close()
    # Requests sent in [start, end) finished by last_done: the window they really took.
    window = max(state.last_done - state.start, 1e-9)
    return {
        "latencies_ms": state.latencies_ms,
        "n": len(state.latencies_ms),
        "total": state.total,
        "failed": state.failed,
        "rps": len(state.latencies_ms) / window,
        "client_cpu_share": cpu / wall if wall > 0 else 0.0,
    }


def run_child(spec: Spec) -> dict[str, Any]:
    """``run(spec)`` in a fresh child process (this file, standard library only)."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "run"],
        input=json.dumps(spec.__dict__),
        capture_output=True,
        text=True,
        timeout=spec.warmup_s + spec.duration_s + 120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_children(spec: Spec, processes: int) -> dict[str, Any]:
    """``run`` in ``processes`` child processes at once, the connections split between them
    (a second process takes the client past one core); rates added, latencies pooled."""
    base, extra = divmod(spec.concurrency, processes)
    shares = [n for n in (base + (i < extra) for i in range(processes)) if n > 0]
    children = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "run"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in shares
    ]
    for child, share in zip(children, shares, strict=True):
        assert child.stdin is not None
        child.stdin.write(json.dumps({**spec.__dict__, "concurrency": share}))
        child.stdin.close()
    results = []
    for child in children:
        assert child.stdout is not None
        assert child.stderr is not None
        out = child.stdout.read()  # one JSON line; stderr stays small (an error only)
        err = child.stderr.read()
        child.wait(timeout=spec.warmup_s + spec.duration_s + 120)
        if child.returncode != 0:
            raise RuntimeError(f"loadgen failed: {err.strip()[-2000:]}")
        results.append(json.loads(out))
    return {
        "latencies_ms": [ms for r in results for ms in r["latencies_ms"]],
        "n": sum(r["n"] for r in results),
        "total": sum(r["total"] for r in results),
        "failed": sum(r["failed"] for r in results),
        "rps": sum(r["rps"] for r in results),
        "client_cpu_share": sum(r["client_cpu_share"] for r in results),
    }


_WRK_SCRIPT = """wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{auth}
"""
_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(text: str) -> float:
    found = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if found is None:
        raise RuntimeError(f"wrk: unexpected latency {text!r}")
    return float(found[1]) * _WRK_UNITS[found[2]]


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(spec: Spec) -> dict[str, Any]:
    """The same load with ``wrk`` (a C load generator; Debian's package ``wrk``), one thread.

    wrk has no warm-up: a ``warmup_s`` run is made first and dropped. Its latency percentiles
    come from its own histogram; ``latencies_ms`` is empty and ``p50_ms``/``p99_ms`` given."""
    auth = f'wrk.headers["Authorization"] = "Bearer {spec.token}"' if spec.token else ""
    with tempfile.TemporaryDirectory(prefix="loadgen-wrk-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(_WRK_SCRIPT.format(body=json.dumps(spec.body), auth=auth))

        def wrk(seconds: float) -> tuple[str, float]:
            cpu = _child_cpu_s()
            done = subprocess.run(
                [
                    "wrk",
                    "-t1",
                    f"-c{spec.concurrency}",
                    f"-d{max(1, round(seconds))}s",
                    "--latency",
                    "-s",
                    str(script),
                    spec.url + spec.path,
                ],
                capture_output=True,
                text=True,
                timeout=seconds + 120,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"wrk failed: {done.stderr.strip()[-2000:]}")
            return done.stdout, _child_cpu_s() - cpu

        warm = wrk(spec.warmup_s)[0] if spec.warmup_s > 0 else ""
        out, cpu = wrk(spec.duration_s)
    seconds = max(1, round(spec.duration_s))
    total = re.search(r"(\d+) requests in ([0-9.]+)(\w+)", out)
    rate = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if total is None or rate is None or p50 is None or p99 is None:
        raise RuntimeError(f"wrk: cannot read its report: {out[-2000:]}")
    warm_total = re.search(r"(\d+) requests in", warm)
    return {
        "latencies_ms": [],
        "p50_ms": _wrk_ms(p50[1]),
        "p99_ms": _wrk_ms(p99[1]),
        "n": int(total[1]),
        "total": int(total[1]) + (int(warm_total[1]) if warm_total else 0),
        "failed": (int(bad[1]) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0),
        "rps": float(rate[1]),
        "client_cpu_share": cpu / seconds,
    }


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """p50/p99 (from the latencies when the client kept them), rate, failures, CPU share."""
    latencies = sorted(result["latencies_ms"])
    if latencies:
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
    else:
        p50, p99 = result["p50_ms"], result["p99_ms"]
    return {
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "rps": round(result["rps"], 1),
        "n": result["n"],
        "failed": result["failed"],
        "client_cpu_share": round(result["client_cpu_share"], 3),
    }


class NullServer:
    """``python bench/loadgen.py null-server`` as a child process: answers at once."""

    def __init__(self, reply_body: bytes) -> None:
        self._reply_bytes = len(reply_body)
        self._process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> NullServer:
        self._process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "null-server",
                "--body-bytes",
                str(self._reply_bytes),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().split()
        if len(line) != 2 or line[0] != "port":
            self._process.kill()
            raise RuntimeError(f"null server did not start: {line}")
        self.url = f"http://127.0.0.1:{line[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=30)


class _NullProtocol(asyncio.Protocol):
    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(_END)
            if end < 0:
                return
            need = end + 4 + _content_length(self.buffer[:end])
            if len(self.buffer) < need:
                return
            self.buffer = self.buffer[need:]
            assert self.transport is not None
            self.transport.write(self.reply)


async def serve_null(port: int, body_bytes: int) -> None:
    body = b"x" * body_bytes
    reply = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _NullProtocol(reply), "127.0.0.1", port)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    null = sub.add_parser("null-server", help="answer every request at once")
    null.add_argument("--port", type=int, default=0)
    null.add_argument("--body-bytes", type=int, default=100)
    sub.add_parser("run", help="one run: a JSON spec on stdin, a JSON result on stdout")
    args = parser.parse_args()
    if args.command == "null-server":
        asyncio.run(serve_null(args.port, args.body_bytes))
        return
    spec = Spec(**json.loads(sys.stdin.read()))
    print(json.dumps(asyncio.run(run(spec))))


if __name__ == "__main__":
    main()

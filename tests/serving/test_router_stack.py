"""The router's HTTP server stack: the one ``python -m serving.router`` runs, and its cap on the
request head (uvicorn's httptools protocol has none of its own)."""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from serving.router.server import LocalRouter, RouterSettings, free_port
from serving.router.stack import MAX_HEAD_BYTES, server_stack


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRouter]:
    """A router process with no TorchServe of its own (enough for HTTP-level checks)."""
    root = tmp_path_factory.mktemp("router-stack")
    settings = RouterSettings(port=free_port(), key_file=None, state_file=root / "state.json")
    with LocalRouter(settings, "admin-" + "s" * 26, log_file=root / "router.log") as running:
        yield running


def exchange(url: str, head: bytes) -> bytes:
    """Send ``head`` on a new connection; everything the router answers until it closes
    (b"" if it reset the connection first). A router that keeps reading times out here."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    chunks: list[bytes] = []
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        try:
            sock.sendall(head)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, BrokenPipeError):
            pass
    return b"".join(chunks)


def get_with_headers(padding: int) -> bytes:
    lines = [b"GET /healthz HTTP/1.1", b"Host: router", b"Connection: close"]
    lines += [b"X-Pad-%d: %s" % (i, b"a" * 1000) for i in range(padding // 1000)]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_the_router_runs_on_the_stack_it_chooses(router: LocalRouter) -> None:
    expected = "httptools" if importlib.util.find_spec("httptools") else "h11"
    expected += "/uvloop" if importlib.util.find_spec("uvloop") else "/asyncio"
    assert server_stack().name == expected
    log = Path(router.log_file).read_text()
    assert f"({expected})" in log, log


def test_a_head_within_the_cap_is_answered(router: LocalRouter) -> None:
    answer = exchange(router.url, get_with_headers(8_000))
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_a_head_past_the_cap_is_refused_and_the_router_goes_on(router: LocalRouter) -> None:
    answer = exchange(router.url, get_with_headers(MAX_HEAD_BYTES + 16_000)[:-4])
    # 400 and closed (or reset while the rest was still arriving); never read on and on.
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert exchange(router.url, get_with_headers(0)).startswith(b"HTTP/1.1 200")


def read_answer(sock: socket.socket, buffer: bytes) -> tuple[bytes, bytes, bytes]:
    """(head, body, rest) of the next answer on ``sock`` (Content-Length bodies)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"closed mid-head: {buffer!r}"
        buffer += chunk
    head, _, buffer = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(buffer) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed mid-body"
        buffer += chunk
    return head, buffer[:length], buffer[length:]


def test_answers_stay_whole_on_a_kept_alive_connection_and_100_continue_comes_first(
    router: LocalRouter,
) -> None:
    """Heads are held until their body (one write): every answer still arrives whole and in
    order, and an interim 100 Continue is sent before the request's body is read."""
    parts = urlsplit(router.url)
    assert parts.hostname is not None
    assert parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        rest = b""
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: router\r\n\r\n")
            head, body, rest = read_answer(sock, rest)
            assert head.startswith(b"HTTP/1.1 200"), head
            assert body == b'{"status":"alive"}'
        body_out = b'{"request_id": "r1", "token": "' + b"0" * 32 + b'", "label": 1}'
        sock.sendall(
            b"POST /feedback HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body_out)
        )
        while b"\r\n\r\n" not in rest:
            rest += sock.recv(65536)
        assert rest.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), rest[:100]
        rest = rest[len(b"HTTP/1.1 100 Continue\r\n\r\n") :]
        sock.sendall(body_out)
        head, body, rest = read_answer(sock, rest)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b'"unmatched":["r1"]' in body, body
        sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: router\r\n\r\n")
        while b"\r\n\r\n" not in rest:
            rest += sock.recv(65536)
        assert rest.startswith(b"HTTP/1.1 "), rest[:100]

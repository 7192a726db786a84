"""The router's upstream client: token renewal against the real TorchServe, transport failures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from serving.local import LocalTorchServe
from serving.router.errors import RouterError, RouterErrorCode
from serving.router.server import free_port
from serving.router.upstream import InferenceToken, Upstream
from tests.serving.conftest import ROUTER_MODEL, Digits, RouterModels


def test_a_refused_key_is_renewed_once_and_the_request_retried(
    torchserve: LocalTorchServe, router_models: RouterModels, digits: Digits, tmp_path: Path
) -> None:
    real = json.loads(torchserve.key_file.read_text())
    stale = {**real, "inference": {**real["inference"], "key": "stale-key"}}
    key_file = tmp_path / "key_file.json"
    key_file.write_text(json.dumps(stale))
    renewals: list[int] = []

    def renew() -> None:  # what TorchServeClient.ping does: make the file hold a valid key
        renewals.append(1)
        key_file.write_text(json.dumps(real))

    body = json.dumps({"inputs": digits.x[:1].tolist()}).encode()
    path = f"/predictions/{router_models.served[ROUTER_MODEL]}/1"

    async def run() -> list[int]:
        upstream = Upstream(torchserve.endpoints.inference, InferenceToken(key_file, renew))
        try:
            replies = await asyncio.gather(*(upstream.predict(path, body) for _ in range(6)))
        finally:
            await upstream.aclose()
        return [reply.status for reply in replies]

    assert asyncio.run(run()) == [200] * 6
    assert renewals == [1]  # once for all concurrent requests


def test_unreachable_torchserve_is_unavailable() -> None:
    async def run() -> None:
        upstream = Upstream(f"http://127.0.0.1:{free_port()}", InferenceToken(None, None))
        await upstream.predict("/predictions/m/1", b"[]")

    with pytest.raises(RouterError) as caught:
        asyncio.run(run())
    assert caught.value.code is RouterErrorCode.UNAVAILABLE
    assert caught.value.status == 503


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _with_server(handler: Handler, call: Callable[[Upstream], Awaitable[Any]]) -> Any:
    handlers: list[asyncio.Task[None]] = []

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    upstream = Upstream(f"http://127.0.0.1:{port}", InferenceToken(None, None), timeout_s=0.3)
    try:
        return await call(upstream)
    finally:
        await upstream.aclose()
        server.close()
        await server.wait_closed()
        await asyncio.wait_for(asyncio.gather(*handlers, return_exceptions=True), 5)


def test_a_silent_upstream_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers; returns when the client gives up

    async def call(upstream: Upstream) -> Any:
        return await upstream.predict("/predictions/m/1", b"[]")

    with pytest.raises(RouterError) as caught:
        asyncio.run(_with_server(silent, call))
    assert caught.value.code is RouterErrorCode.TIMEOUT


def test_chunked_answers_and_reused_connections() -> None:
    connections: list[int] = []

    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b'Transfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n'
            )
            await writer.drain()

    async def call(upstream: Upstream) -> Any:
        return [await upstream.predict("/predictions/m/1", b"[1]") for _ in range(3)]

    replies = asyncio.run(_with_server(chunked, call))
    assert [(r.status, r.body) for r in replies] == [(200, b'{"a": 1}')] * 3
    assert connections == [1]  # kept alive


# --------------------------------------------------------------------- one pool per base URL


async def _recording_server(seen: list[bytes]) -> asyncio.Server:
    """Answers every request 200 and records its head (one connection after another)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    break
                seen.append(head)
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(handler, "127.0.0.1", 0)


def test_each_base_url_has_its_pool_and_only_the_default_gets_the_key(tmp_path: Path) -> None:
    key_file = tmp_path / "key_file.json"
    key_file.write_text(json.dumps({"inference": {"key": "default-key"}}))
    default_seen: list[bytes] = []
    own_seen: list[bytes] = []

    async def run() -> list[str]:
        default = await _recording_server(default_seen)
        own = await _recording_server(own_seen)
        default_url = f"http://127.0.0.1:{default.sockets[0].getsockname()[1]}"
        own_url = f"http://127.0.0.1:{own.sockets[0].getsockname()[1]}"
        upstream = Upstream(default_url + "/", InferenceToken(key_file, None))
        try:
            await upstream.predict("/predictions/a/1", b"[]")
            await upstream.predict("/predictions/b/1", b"[]", own_url)
            await upstream.predict("/predictions/a/1", b"[]", default_url)  # the default's pool
            await upstream.predict("/predictions/b/1", b"[]", own_url)
            return upstream.bases
        finally:
            await upstream.aclose()
            for server in (default, own):
                server.close()
                await server.wait_closed()

    bases = asyncio.run(run())
    assert len(bases) == 2  # the default, and the model's own
    assert len(default_seen) == len(own_seen) == 2
    assert all(b"Authorization: Bearer default-key\r\n" in head for head in default_seen)
    assert not any(b"authorization" in head.lower() for head in own_seen)  # not its key


def test_without_a_default_a_model_needs_its_own_upstream() -> None:
    async def run() -> None:
        upstream = Upstream(None, InferenceToken(None, None))
        try:
            await upstream.predict("/predictions/m/1", b"[]")
        finally:
            await upstream.aclose()

    with pytest.raises(RouterError) as caught:
        asyncio.run(run())
    assert caught.value.code is RouterErrorCode.UNAVAILABLE
    assert "no default TorchServe" in caught.value.message


def test_a_dead_model_upstream_is_unavailable_and_names_the_table() -> None:
    async def run() -> None:
        upstream = Upstream(None, InferenceToken(None, None))
        try:
            await upstream.predict("/predictions/m/1", b"[]", f"http://127.0.0.1:{free_port()}")
        finally:
            await upstream.aclose()

    with pytest.raises(RouterError) as caught:
        asyncio.run(run())
    assert caught.value.code is RouterErrorCode.UNAVAILABLE
    assert "check the model's upstream in the routing table" in caught.value.message


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_https_upstreams_are_verified(tmp_path: Path) -> None:
    import ssl

    cert_file, key_file = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    trusting = ssl.create_default_context(cafile=str(cert_file))
    seen: list[bytes] = []

    async def run(tls: ssl.SSLContext | None) -> int:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                seen.append(await reader.readuntil(b"\r\n\r\n"))
                await reader.readexactly(2)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                pass  # the client refused our certificate
            finally:
                writer.close()

        server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=server_tls)
        url = f"https://localhost:{server.sockets[0].getsockname()[1]}"
        upstream = Upstream(None, InferenceToken(None, None), tls=tls)
        try:
            return (await upstream.predict("/predictions/m/1", b"[]", url)).status
        finally:
            await upstream.aclose()
            server.close()
            await server.wait_closed()

    assert asyncio.run(run(trusting)) == 200
    (head,) = seen
    assert head.startswith(b"POST /predictions/m/1 HTTP/1.1\r\nHost: localhost:")
    with pytest.raises(RouterError) as caught:  # the system's trust store: not our certificate
        asyncio.run(run(None))
    assert caught.value.code is RouterErrorCode.UNAVAILABLE
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.message

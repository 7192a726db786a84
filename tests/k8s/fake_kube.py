"""A small fake Kubernetes API server (HTTP, on loopback) answering
``GET /api/v1/namespaces/<ns>/configmaps/<name>`` from a dict, with bearer-token auth and
the API's 401/404 Status bodies; it records every request so a test can check that only
GETs were made. Plus a kubeconfig pointing at it."""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/configmaps/([^/?]+)$")


@dataclass
class FakeKube:
    token: str
    url: str = ""
    #: (namespace, name) -> the ConfigMap object
    configmaps: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def put(self, namespace: str, name: str, data: dict[str, str], annotations: Any) -> None:
        self.configmaps[(namespace, name)] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
            "data": data,
        }

    def kubeconfig(
        self,
        path: Path,
        namespace: str | None = None,
        *,
        ca: bytes | None = None,
        client_cert: tuple[bytes, bytes] | None = None,
    ) -> Path:
        """A kubeconfig for this server: its token, or ``client_cert`` (PEM cert and key, as
        ``-data``); ``ca``: the CA's PEM, as ``certificate-authority-data``."""
        context: dict[str, Any] = {"cluster": "fake", "user": "reader"}
        if namespace is not None:
            context["namespace"] = namespace
        cluster: dict[str, Any] = {"server": self.url}
        if ca is not None:
            cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
        user: dict[str, Any] = {"token": self.token}
        if client_cert is not None:
            user = {
                "client-certificate-data": base64.b64encode(client_cert[0]).decode(),
                "client-key-data": base64.b64encode(client_cert[1]).decode(),
            }
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": cluster}],
            "users": [{"name": "reader", "user": user}],
            "contexts": [{"name": "fake", "context": context}],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(doc))
        return path


def _status(code: int, reason: str) -> bytes:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
    return json.dumps({**body, "reason": reason}).encode()


@contextmanager
def fake_kube(
    token: str = "reader-token-0123456789",
    *,
    tls: ssl.SSLContext | None = None,
    cert_user: bool = False,
) -> Iterator[FakeKube]:
    """``tls``: serve HTTPS on https://localhost:<port>; ``cert_user``: a request needs no
    token (``tls`` verified the client's certificate)."""
    kube = FakeKube(token=token)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _any(self) -> None:
            kube.requests.append((self.command, self.path))
            if not cert_user and self.headers.get("Authorization") != f"Bearer {kube.token}":
                self._answer(401, _status(401, "Unauthorized"))
                return
            match = PATH.match(self.path)
            if self.command != "GET" or match is None:
                self._answer(405, _status(405, "MethodNotAllowed"))
                return
            found = kube.configmaps.get((match[1], match[2]))
            if found is None:
                self._answer(404, _status(404, "NotFound"))
                return
            self._answer(200, json.dumps(found).encode())

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is None:
        kube.url = f"http://127.0.0.1:{server.server_address[1]}"
    else:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        kube.url = f"https://localhost:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield kube
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

"""Read the live ConfigMaps Terraform owns from a cluster's API server (``modelreg k8s diff
--kubeconfig``): ``GET /api/v1/namespaces/<ns>/configmaps/<name>`` with the kubeconfig's
server, bearer token (``token`` / ``tokenFile``) or client certificate, and CA. Read-only:
nothing here writes to the cluster. Exec and auth-provider plugins are not run (they execute
programs named in the file); use a kubeconfig with a token or a client certificate.
"""

from __future__ import annotations

import base64
import contextlib
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import yaml  # type: ignore[import-untyped]  # no stubs installed
from pydantic import BaseModel, ConfigDict

from registry_mcp.deploy.kubernetes.desired import (
    CHANGE_ID_ANNOTATION,
    DesiredVersions,
    ModelVersions,
    k8s_name,
)
from registry_mcp.deploy.kubernetes.workloads import versions_configmap
from registry_mcp.domain.errors import ErrorCode, RegistryError

TIMEOUT_S = 10.0


class KubeAccess(BaseModel):
    """Where and how to reach the API server (from one context of a kubeconfig)."""

    model_config = ConfigDict(frozen=True)

    server: str
    namespace: str | None = None
    token: str | None = None
    ca_pem: bytes | None = None
    insecure: bool = False
    cert_pem: bytes | None = None
    key_pem: bytes | None = None


def _bad(path: Path, what: str) -> RegistryError:
    return RegistryError(ErrorCode.INVALID_INPUT, f"kubeconfig {path}: {what}")


def _named(doc: dict[str, Any], kind: str, name: str, path: Path) -> dict[str, Any]:
    for item in doc.get(kind + "s") or []:
        if isinstance(item, dict) and item.get("name") == name:
            body = item.get(kind)
            if isinstance(body, dict):
                return body
    raise _bad(path, f"no {kind} named {name!r}")


def _pem(entry: dict[str, Any], key: str, base: Path, path: Path) -> bytes | None:
    """``<key>-data`` (base64) or ``<key>`` (a file, relative to the kubeconfig)."""
    data = entry.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=True)
        except ValueError:
            raise _bad(path, f"{key}-data is not base64") from None
    file = entry.get(key)
    if not file:
        return None
    try:
        return (base / str(file)).expanduser().read_bytes()
    except OSError as exc:
        raise _bad(path, f"cannot read {key} {file}: {exc.strerror or exc}") from None


def load_kubeconfig(path: Path, context: str | None = None) -> KubeAccess:
    """The server, credentials and namespace of ``context`` (default: current-context)."""
    path = path.expanduser()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _bad(
            path, "does not exist; pass the file kubectl uses (e.g. ~/.kube/config)"
        ) from None
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise _bad(path, f"cannot read it: {exc}") from None
    if not isinstance(doc, dict):
        raise _bad(path, "not a kubeconfig (expected clusters, users and contexts)")
    name = context or doc.get("current-context")
    if not name:
        raise _bad(path, "no current-context; pass --context NAME")
    ctx = _named(doc, "context", str(name), path)
    cluster = _named(doc, "cluster", str(ctx.get("cluster", "")), path)
    user = _named(doc, "user", str(ctx.get("user", "")), path) if ctx.get("user") else {}
    if "exec" in user or "auth-provider" in user:
        raise _bad(
            path,
            f"user {ctx.get('user')!r} authenticates through a plugin, which is not run here; "
            "use a context whose user has a token or a client certificate",
        )
    server = str(cluster.get("server") or "")
    if urlsplit(server).scheme not in ("http", "https") or not urlsplit(server).netloc:
        raise _bad(path, f"cluster server {server!r} is not an http(s) URL")
    base = path.parent
    token = user.get("token")
    if not token and user.get("tokenFile"):
        try:
            token = (base / str(user["tokenFile"])).expanduser().read_text().strip()
        except OSError as exc:
            raise _bad(path, f"cannot read tokenFile: {exc.strerror or exc}") from None
    return KubeAccess(
        server=server.rstrip("/"),
        namespace=ctx.get("namespace"),
        token=str(token) if token else None,
        ca_pem=_pem(cluster, "certificate-authority", base, path),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        cert_pem=_pem(user, "client-certificate", base, path),
        key_pem=_pem(user, "client-key", base, path),
    )


@contextlib.contextmanager
def _tls(access: KubeAccess) -> Iterator[ssl.SSLContext | bool]:
    if not access.server.startswith("https://"):
        yield True
        return
    if access.insecure:
        yield False
        return
    context = ssl.create_default_context(
        cadata=access.ca_pem.decode() if access.ca_pem is not None else None
    )
    if access.cert_pem is not None and access.key_pem is not None:
        # ssl reads a client certificate from files only: a private directory, removed after.
        with tempfile.TemporaryDirectory(prefix="modelreg-kube-") as tmp:
            cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
            cert.write_bytes(access.cert_pem)
            key.touch(mode=0o600)
            key.write_bytes(access.key_pem)
            context.load_cert_chain(cert, key)
        yield context
        return
    yield context


class ConfigMaps:
    """``get`` a ConfigMap of ``namespace`` (None when it does not exist)."""

    def __init__(self, access: KubeAccess, namespace: str, http: httpx.Client) -> None:
        self.access, self.namespace, self._http = access, namespace, http

    def get(self, name: str) -> dict[str, Any] | None:
        url = (
            f"{self.access.server}/api/v1/namespaces/{quote(self.namespace, safe='')}"
            f"/configmaps/{quote(name, safe='')}"
        )
        try:
            reply = self._http.get(url)
        except httpx.HTTPError as exc:
            raise RegistryError(
                ErrorCode.BACKEND, f"cannot reach the API server {self.access.server}: {exc}"
            ) from None
        if reply.status_code == 404:
            return None
        if reply.status_code in (401, 403):
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                f"the API server refused to read ConfigMap {self.namespace}/{name} "
                f"(HTTP {reply.status_code}); the kubeconfig's user needs get on configmaps",
            )
        if reply.status_code != 200:
            raise RegistryError(
                ErrorCode.BACKEND,
                f"the API server answered HTTP {reply.status_code} for ConfigMap "
                f"{self.namespace}/{name}",
            )
        try:
            body = reply.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("kind") != "ConfigMap":
            raise RegistryError(
                ErrorCode.BACKEND, f"the API server's answer for {name} is not a ConfigMap"
            )
        return body


@contextlib.contextmanager
def open_configmaps(access: KubeAccess, namespace: str) -> Iterator[ConfigMaps]:
    headers = {"Accept": "application/json"}
    if access.token is not None:
        headers["Authorization"] = f"Bearer {access.token}"
    with (
        _tls(access) as verify,
        httpx.Client(verify=verify, headers=headers, timeout=TIMEOUT_S, trust_env=False) as http,
    ):
        yield ConfigMaps(access, namespace, http)


def _number(value: object) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() and int(text) >= 1 else None


def read_live(configmaps: ConfigMaps, models: list[str]) -> DesiredVersions:
    """Each model's ``model-versions-<model>`` ConfigMap, as Terraform applied it (a model
    without one is absent: never applied)."""
    found: dict[str, ModelVersions] = {}
    for model in models:
        body = configmaps.get(versions_configmap(k8s_name(model)))
        if body is None:
            continue
        data = body.get("data") or {}
        annotations = (body.get("metadata") or {}).get("annotations") or {}
        found[model] = ModelVersions(
            production=_number(data.get("PRODUCTION")),
            staging=_number(data.get("STAGING")),
            previous=_number(data.get("PREVIOUS")),
            change_id=_number(annotations.get(CHANGE_ID_ANNOTATION)),
        )
    return DesiredVersions(models=found)

"""The KServe model server process: kserve's REST app, versioned v2 routes, a management API.

Run as ``python -m serving.kserve.server --port N --model-store DIR --work-dir DIR
--token-file FILE`` (``serving.kserve.local`` does). It binds 127.0.0.1 unless ``--host``
names another address (a Kubernetes pod: ``--host 0.0.0.0``), loads the versions of ``--load
FILE`` (``serving.kserve.preload``) before it answers, and serves:

- kserve's Open Inference Protocol v2 app: ``/v2/health/live|ready``, ``/v2/models``,
  ``/v2/models/{name}[/ready|/infer]`` (the default version), ``/metrics``;
- per version (kserve 0.21 refuses a version in the path, so routing here rewrites it to the
  model plus a header only the router sets): ``/v2/models/{name}/versions/{v}[/ready|/infer]``;
- the management API under ``/modelreg/v1`` (load / unload / set default / describe), which
  needs ``Authorization: Bearer <token from --token-file>``. Archives are loaded by bare file
  name from the model store only. kserve's own unauthenticated ``/v2/repository`` load and
  unload routes and its v1 protocol are refused.
"""

from __future__ import annotations

import argparse
import hmac
import json
import re
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from serving.kserve.preload import LoadPlan, LoadPlanError, read_plan
from serving.naming import is_archive_file_name, registry_version, served_name

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

HOST = "127.0.0.1"  # the default bind address: loopback
_VERSIONED = re.compile(r"^/v2/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)(?P<rest>/.*)?$")
_REFUSED = re.compile(r"^/(v1/|v2/repository/)")
_MANAGEMENT = "/modelreg/v1"


class Registry:
    """The served models by name, shared by the routing and the management API."""

    def __init__(self, repository: Any, model_store: Path, work_dir: Path) -> None:
        self.repository = repository
        self.model_store = model_store
        self.work_dir = work_dir

    def model(self, name: str) -> Any:
        return self.repository.get_model(name)

    def describe(self, name: str) -> dict[str, Any] | None:
        model = self.model(name)
        if model is None:
            return None
        return {
            "name": name,
            "default": model.default,
            "versions": [
                {"version": v, "archive": model.archives[v], "ready": True}
                for v in sorted(model.versions, key=_key)
            ],
        }

    def load(self, name: str, version: str, archive: str) -> None:
        from serving.kserve.model import LoadRefused, VersionedModel

        if served_name(name) != name or registry_version(version) is None:
            raise LoadRefused(
                400,
                f"model {name!r} version {version!r}: load a served model name "
                "(serving.naming.served_name) and a registry version (1, 2, ...)",
            )
        if not is_archive_file_name(archive):
            raise LoadRefused(
                400,
                f"{archive!r} is not a bare .mar file name; load archives from the model "
                "store by file name (paths and URLs are refused)",
            )
        path = self.model_store / archive
        if not path.is_file():
            raise LoadRefused(404, f"no archive {archive} in the model store {self.model_store}")
        model = self.model(name) or VersionedModel(name)
        model.load_version(path, version, self.work_dir)
        self.repository.update(model)

    def unload(self, name: str, version: str) -> None:
        from serving.kserve.model import LoadRefused

        model = self.model(name)
        if model is None:
            raise LoadRefused(404, f"no model {name} is loaded")
        model.unload_version(version)
        if not model.versions:
            self.repository.unload(name)


def versioned_routing(app: Asgi, registry: Registry, token: str) -> Asgi:
    """ASGI wrapper: versioned v2 paths, refused kserve routes, the management API."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path: str = scope["path"]
        # Only this routing may name a version: drop a client's own header.
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"x-modelreg-version"]
        scope = {**scope, "headers": headers}
        if _REFUSED.match(path):
            await _reply(send, 404, {"error": f"{path} is not served here; use /v2/models/..."})
            return
        if path.startswith(_MANAGEMENT + "/") or path == _MANAGEMENT:
            await _management(scope, receive, send, registry, token)
            return
        match = _VERSIONED.match(path)
        if match is None:
            await app(scope, receive, send)
            return
        name, version, rest = match["name"], match["version"], match["rest"] or ""
        model = registry.model(name)
        if model is None or version not in model.versions:
            await _reply(send, 404, {"error": f"model {name} has no version {version} loaded"})
            return
        if rest == "" and scope["method"] == "GET":
            await _reply(send, 200, model.metadata(version))
        elif rest == "/ready" and scope["method"] == "GET":
            await _reply(send, 200, {"name": name, "version": version, "ready": True})
        elif rest == "/infer":
            scope["path"] = f"/v2/models/{name}/infer"
            scope["raw_path"] = scope["path"].encode()
            scope["headers"] = [*headers, (b"x-modelreg-version", version.encode())]
            await app(scope, receive, send)
        else:
            await _reply(send, 404, {"error": f"no route {scope['method']} {path}"})

    return wrapped


async def _management(
    scope: Scope, receive: Receive, send: Send, registry: Registry, token: str
) -> None:
    from serving.kserve.model import LoadRefused

    given = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        await _reply(send, 401, {"error": "management needs the bearer token of --token-file"})
        return
    parts = scope["path"][len(_MANAGEMENT) :].strip("/").split("/")
    method = scope["method"]
    body = await _body(receive)
    try:
        if parts == ["models"] and method == "GET":
            names = sorted(registry.repository.get_models())
            await _reply(send, 200, {"models": [registry.describe(n) for n in names]})
        elif len(parts) == 2 and parts[0] == "models" and method == "GET":
            described = registry.describe(parts[1])
            if described is None:
                raise LoadRefused(404, f"no model {parts[1]} is loaded")
            await _reply(send, 200, described)
        elif len(parts) == 4 and parts[0] == "models" and parts[2] == "versions":
            if method == "POST":
                registry.load(parts[1], parts[3], str(body.get("archive", "")))
            elif method == "DELETE":
                registry.unload(parts[1], parts[3])
            else:
                raise LoadRefused(405, f"{method} is not allowed here; use POST or DELETE")
            await _reply(send, 200, {"status": "ok"})
        elif len(parts) == 3 and parts[0] == "models" and parts[2] == "default":
            model = registry.model(parts[1])
            if model is None or method != "PUT":
                raise LoadRefused(404, f"no model {parts[1]} is loaded (PUT sets the default)")
            model.set_default(str(body.get("version", "")))
            await _reply(send, 200, {"status": "ok", "default": model.default})
        else:
            raise LoadRefused(404, f"no management route {method} {scope['path']}")
    except LoadRefused as exc:
        await _reply(send, exc.status, {"error": str(exc)})


async def _body(receive: Receive) -> dict[str, Any]:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    raw = b"".join(chunks)
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


async def _reply(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _key(version: str) -> tuple[int, str]:
    return (int(version), version) if version.isdigit() else (1 << 62, version)


def preload(registry: Registry, plan: LoadPlan) -> None:
    """Load the plan's versions, the default first, and make it the default."""
    for version in plan.order():
        registry.load(plan.model, version, plan.versions[version])
    if plan.default is not None:
        registry.model(plan.model).set_default(plan.default)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="KServe model server for modelreg archives")
    parser.add_argument(
        "--host",
        default=HOST,
        help="Address to bind (default: loopback). In a pod, 0.0.0.0; the management API "
        "still needs the token.",
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model-store", type=Path, required=True)
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--token-file", type=Path, required=True)
    parser.add_argument(
        "--load",
        type=Path,
        default=None,
        help="A load plan (JSON: model, default, versions -> archive file names in the model "
        "store) to load before serving.",
    )
    args = parser.parse_args(argv)
    try:
        token = args.token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        parser.error(f"cannot read --token-file {args.token_file}: {exc.strerror or exc}")
    if len(token) < 32:
        parser.error(f"{args.token_file} must hold a token of at least 32 characters")
    plan = None
    if args.load is not None:
        try:
            plan = read_plan(args.load)
        except LoadPlanError as exc:
            parser.error(str(exc))
    sys.argv = sys.argv[:1]  # kserve parses the command line when imported
    import uvicorn
    from kserve.model_repository import ModelRepository
    from kserve.model_server import FASTAPI_APP_IMPORT_STRING
    from kserve.protocol.dataplane import DataPlane
    from kserve.protocol.model_repository_extension import ModelRepositoryExtension
    from kserve.protocol.rest.server import RESTServer

    repository = ModelRepository(models_dir=str(args.work_dir))
    rest = RESTServer(
        FASTAPI_APP_IMPORT_STRING,
        DataPlane(model_registry=repository),
        ModelRepositoryExtension(model_registry=repository),
        args.port,
    )
    rest.create_application()
    import kserve.model_server

    registry = Registry(repository, args.model_store.resolve(), args.work_dir.resolve())
    if plan is not None:
        from serving.kserve.model import LoadRefused

        try:
            preload(registry, plan)
        except LoadRefused as exc:
            parser.exit(1, f"cannot load {args.load}: {exc}\n")
    app = versioned_routing(kserve.model_server.app, registry, token)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_config=None, workers=1)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()

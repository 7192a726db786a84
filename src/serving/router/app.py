"""The router's ASGI app: prediction endpoints (native JSON and the Open Inference Protocol
v2), admin table API, health, metrics, docs.

A plain ASGI callable rather than a framework: the prediction path is a handful of dict
lookups, one JSON parse and one upstream call. Measured in-process, a Starlette route with
Request/Response objects costs about 11 us more per request than this; small next to the
~0.3 ms the router adds end to end, but the endpoints are few enough not to need routing.

Switching and table updates live in ``serving.router.switch``; the OIP's translation to and
from the native path lives in ``serving.router.oip`` (one prediction path for both).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from pydantic import ValidationError

from serving.errors import ServingError
from serving.router import entropy, feedback, inputs, oip
from serving.router.auth import AdminAuth, ClientKeys
from serving.router.errors import RouterError, RouterErrorCode
from serving.router.feedback import Asker, FeedbackBook
from serving.router.metrics import CONTENT_TYPE, Outcome, RouterMetrics
from serving.router.openapi import docs_page, openapi_document
from serving.router.rules import pick_model
from serving.router.state import StateFile
from serving.router.switch import Management, Tables
from serving.router.table import (
    CompiledTable,
    Confirmation,
    TableUpdate,
    Target,
    canary_bucket,
)
from serving.router.upstream import Upstream
from serving.router.window import Windows

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Which API a prediction came in by: the native JSON one or the Open Inference Protocol v2.
ApiProtocol = Literal["native", "oip"]
_JSON = b"application/json"
#: Seconds a client waits before asking again for a model that is not ready yet.
_NOT_READY_RETRY = b"5"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_OUTCOME: dict[RouterErrorCode, Outcome] = {
    RouterErrorCode.INVALID_INPUT: "invalid_input",
    RouterErrorCode.BODY_TOO_LARGE: "invalid_input",
    RouterErrorCode.UNAUTHORIZED: "unauthorized",
    RouterErrorCode.FORBIDDEN: "forbidden",
    RouterErrorCode.NOT_FOUND: "not_found",
    RouterErrorCode.NOT_SERVED: "not_served",
    RouterErrorCode.MODEL_NOT_READY: "unavailable",
    RouterErrorCode.UNCONFIRMED: "unconfirmed",
    RouterErrorCode.UPSTREAM_REJECTED: "upstream_rejected",
    RouterErrorCode.UNAVAILABLE: "unavailable",
    RouterErrorCode.TIMEOUT: "timeout",
}


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1 << 20
    max_table_bytes: int = 4 << 20
    max_rows: int = 1024
    max_shadow_in_flight: int = 64  # mirrored requests beyond this are skipped, not queued


class RouterApp:
    """One router: its table, its clients, its metrics. Nothing global."""

    def __init__(
        self,
        *,
        upstream: Upstream,
        management: Management,
        state_file: StateFile,
        admin: AdminAuth,
        clients: ClientKeys,
        metrics: RouterMetrics | None = None,
        limits: Limits | None = None,
        verify_loaded: bool = True,
        feedback: FeedbackBook | None = None,
        windows: Windows | None = None,
        start_unconfirmed: bool = False,
        unconfirmed_wait_s: float = 5.0,
    ) -> None:
        self.upstream = upstream
        self.management = management
        self.admin = admin
        self.clients = clients
        self.metrics = metrics or RouterMetrics()
        self.limits = limits or Limits()
        self.tables = Tables(
            state_file,
            management,
            self.metrics,
            verify_loaded=verify_loaded,
            start_unconfirmed=start_unconfirmed,
        )
        self.unconfirmed_wait_s = unconfirmed_wait_s
        self.feedback = feedback or FeedbackBook()
        self.windows = windows or Windows()
        self._shadows: set[asyncio.Task[None]] = set()
        self._openapi = json.dumps(openapi_document()).encode()
        #: (model, version) -> the OIP outputs it last answered with (model metadata).
        self._oip_outputs: dict[tuple[str, str], tuple[dict[str, Any], ...]] = {}

    @property
    def table(self) -> CompiledTable:
        """The table in use now (a request reads this once, at its start)."""
        return self.tables.current

    # ----------------------------------------------------------------- ASGI entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.upstream.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        headers = dict(scope["headers"])  # once per request: the handlers share it
        if path.startswith("/predictions/"):
            parts = path[len("/predictions/") :].split("/")
            if method == "POST" and 1 <= len(parts) <= 2 and all(parts):
                version = parts[1] if len(parts) == 2 else None
                await self._predict(scope, headers, receive, send, parts[0], version, None)
                return
        elif path.startswith("/routes/"):
            name = path[len("/routes/") :]
            if method == "POST" and name and "/" not in name:
                await self._predict(scope, headers, receive, send, None, None, name)
                return
        elif path == "/v2" or path.startswith("/v2/"):
            await self._oip(scope, headers, receive, send, method, path)
            return
        elif path == "/feedback" and method == "POST":
            await self._feedback(scope, headers, receive, send)
            return
        elif path == "/admin/table" and method in ("GET", "PUT"):
            await self._admin(method, headers, receive, send)
            return
        elif path == "/admin/confirm" and method == "POST":
            await self._confirm(headers, receive, send)
            return
        elif path == "/admin/stats" and method == "GET":
            await self._stats(headers, scope.get("query_string", b""), send)
            return
        elif method == "GET" and path in _PAGES:
            await _PAGES[path](self, send)
            return
        await _error(send, RouterError(RouterErrorCode.NOT_FOUND, f"no endpoint {method} {path}"))

    # ----------------------------------------------------------------- predictions

    async def _predict(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        receive: Receive,
        send: Send,
        model: str | None,
        version: str | None,
        route: str | None,
        *,
        protocol: ApiProtocol = "native",
    ) -> None:
        started = time.perf_counter()
        request_id = _request_id(headers)
        if not self.tables.confirmed and not await self._confirmed(
            route, started, request_id, send, protocol
        ):
            return
        table = self.tables.current  # this request uses this table, whatever is swapped later
        target: Target | None = None
        shadow: Target | None = None
        route_label = ""
        request: oip.InferRequest | None = None
        answer: oip.Answer | None = None
        try:
            client = self._client(headers)
            if route is None:
                if protocol == "oip":
                    oip.refuse_route(table, str(model))
                target = _direct_target(table, str(model), version)
                if version is None:
                    target, shadow = _canary(table, target, headers)
                elif target.stage != "production":
                    self._check_pinned(target, headers, protocol)
                raw = await _read_body(receive, headers, self.limits.max_body_bytes)
                if protocol == "oip":
                    request = oip.parse_infer(raw, headers, target.schema, self.limits.max_rows)
                    body, raw = request.body, request.forward
                else:
                    body = inputs.decode(raw)
            else:
                table_route = table.routes.get(route)
                if table_route is None:
                    raise RouterError(RouterErrorCode.NOT_FOUND, f"no route {route!r}")
                route_label = route
                raw = await _read_body(receive, headers, self.limits.max_body_bytes)
                body = inputs.decode(raw)
                chosen = pick_model(
                    table_route,
                    lambda name: _text(headers.get(name.encode("latin-1"))),
                    body.payload,
                    len(body.rows),
                )
                target, shadow = _canary(table, table.production[chosen], headers)
            self._check_ready(target)
            inputs.check_rows(body.rows, target.schema, self.limits.max_rows)
            if shadow is not None:
                self._mirror(shadow, raw, body)
            reply = await self.upstream.forward(target, raw, body.rows, merges=body.merges)
            if request is not None:
                answer = oip.encode_answer(reply.body, request, target)
                self._oip_outputs[(target.model, target.version)] = answer.outputs
        except RouterError as exc:
            self._observe(target, route_label, _OUTCOME.get(exc.code, "backend_error"), started)
            retry = [(b"retry-after", _NOT_READY_RETRY)]
            extra = retry if exc.code is RouterErrorCode.MODEL_NOT_READY else None
            await _error(send, exc, request_id, target, extra, protocol)
            return
        self._observe(target, route_label, "ok", started)
        token = self.feedback.remember(
            request_id.decode(),
            target.model,
            target.version,
            reply.body,
            _asker(scope, client),
            len(body.rows),
        )
        if answer is None:
            content = reply.body
            response_headers = [(b"content-type", reply.content_type)]
        else:
            content = answer.body
            response_headers = [(b"content-type", answer.content_type)]
            if answer.header_length is not None:
                length = str(answer.header_length).encode()
                response_headers.append((oip.HEADER_LENGTH, length))
        response_headers += (
            (b"x-request-id", request_id),
            (b"x-feedback-token", token.encode()),
            *target.reply_headers,
        )
        if route_label:
            response_headers.append((b"x-route", route_label.encode()))
        await _respond(send, 200, content, response_headers)

    def _check_ready(self, target: Target) -> None:
        """MODEL_NOT_READY for a model of the initial table whose TorchServe has not loaded
        every version yet (the router's other models serve meanwhile)."""
        why = self.tables.pending.get(target.model)
        if why is not None:
            raise RouterError(
                RouterErrorCode.MODEL_NOT_READY,
                f"model {target.model!r} is not ready on this router yet ({why}); retry "
                "later, GET /readyz shows each model's state",
            )

    async def _confirmed(
        self,
        route: str | None,
        started: float,
        request_id: bytes,
        send: Send,
        protocol: ApiProtocol = "native",
    ) -> bool:
        """Wait for the control plane to confirm the table; False once refused (503)."""
        with self.metrics.unconfirmed_waiting.track_inprogress():
            confirmed = await self.tables.wait_confirmed(self.unconfirmed_wait_s)
        if confirmed:
            self.metrics.unconfirmed("waited")
            return True
        self.metrics.unconfirmed("refused")
        self._observe(None, route or "", "unconfirmed", started)
        exc = RouterError(
            RouterErrorCode.UNCONFIRMED,
            "the router restarted and its routing table is not confirmed yet (the registry may "
            "have changed meanwhile); retry in a moment, or confirm the table with "
            "POST /admin/confirm (the control plane does this)",
        )
        await _error(send, exc, request_id, extra=[(b"retry-after", b"1")], protocol=protocol)
        return False

    def _client(self, headers: dict[bytes, bytes]) -> str | None:
        """The client name of the presented API key (None when keys are not required)."""
        if not self.clients.required:
            return None
        client = self.clients.client_for(
            _text(headers.get(b"authorization")), _text(headers.get(b"x-api-key"))
        )
        if client is None:
            raise RouterError(
                RouterErrorCode.UNAUTHORIZED,
                "this router needs an API key: send Authorization: Bearer <key> or "
                "X-Api-Key: <key>",
            )
        return client

    def _check_pinned(
        self, target: Target, headers: dict[bytes, bytes], protocol: ApiProtocol = "native"
    ) -> None:
        """Apply the model's ``pinned_versions`` policy to a non-Production version by path."""
        if target.pinned == "approved":
            return
        name = quote(target.model, safe="")
        path = f"/v2/models/{name}/infer" if protocol == "oip" else f"/predictions/{name}"
        production = f"POST {path} answers with Production"
        if target.pinned == "production":
            raise RouterError(
                RouterErrorCode.FORBIDDEN,
                f"version {target.version} of model {target.model!r} is its {target.stage} "
                "version, and the model's policy (pinned_versions: production) lets only the "
                f"Production version be called by path; {production}",
            )
        presented = headers.get(b"x-admin-token")
        if presented is not None and self.admin.allows("Bearer " + presented.decode("latin-1")):
            return
        if self.admin.allows(_text(headers.get(b"authorization"))):
            return
        raise RouterError(
            RouterErrorCode.FORBIDDEN,
            f"version {target.version} of model {target.model!r} is its {target.stage} "
            "version, and the model's policy (pinned_versions: admin) needs the router's admin "
            f"token to call it by path: send X-Admin-Token: <admin token>; {production}",
        )

    async def _feedback(
        self, scope: Scope, headers: dict[bytes, bytes], receive: Receive, send: Send
    ) -> None:
        try:
            client = self._client(headers)
            raw = await _read_body(receive, headers, self.limits.max_body_bytes)
            settled = self.feedback.settle(
                feedback.parse(raw),
                _FeedbackSinks(self.metrics, self.windows),
                _asker(scope, client),
            )
        except RouterError as exc:
            await _error(send, exc)
            return
        await _respond(send, 200, settled.model_dump_json().encode(), [(b"content-type", _JSON)])

    def _observe(self, target: Target | None, route: str, outcome: Outcome, started: float) -> None:
        model, version = (target.model, target.version) if target else ("", "")
        seconds = time.perf_counter() - started
        self.metrics.observe(model, version, route, outcome, seconds)
        self.windows.record(model, version, outcome, seconds)

    def _mirror(self, target: Target, raw: bytes, body: inputs.Body) -> None:
        """Send a copy of the request to a shadow version; its answer is only measured."""
        if len(self._shadows) >= self.limits.max_shadow_in_flight:
            self.metrics.shadow_skipped(target.model)
            return
        task = asyncio.create_task(self._shadow_call(target, raw, body))
        self._shadows.add(task)
        task.add_done_callback(self._shadows.discard)

    async def _shadow_call(self, target: Target, raw: bytes, body: inputs.Body) -> None:
        started = time.perf_counter()
        try:
            await self.upstream.forward(target, raw, body.rows, merges=body.merges)
        except RouterError as exc:
            self._observe(target, "shadow", _OUTCOME.get(exc.code, "backend_error"), started)
            return
        self._observe(target, "shadow", "ok", started)

    # ----------------------------------------------------------------- admin

    async def _admin_refused(self, headers: dict[bytes, bytes], send: Send) -> bool:
        """Answer 401 unless the request carries the admin token; True when refused."""
        if self.admin.allows(_text(headers.get(b"authorization"))):
            return False
        await _error(
            send,
            RouterError(
                RouterErrorCode.UNAUTHORIZED,
                "admin endpoints need Authorization: Bearer <the router's admin token>",
            ),
            extra=[(b"www-authenticate", b"Bearer")],
        )
        return True

    async def _admin(
        self, method: str, headers: dict[bytes, bytes], receive: Receive, send: Send
    ) -> None:
        if await self._admin_refused(headers, send):
            return
        try:
            if method == "GET":
                state = self.tables.reply()
            else:
                raw = await _read_body(receive, headers, self.limits.max_table_bytes)
                state = await self.tables.update(_parse_update(raw))
        except RouterError as exc:
            await _error(send, exc)
            return
        await _respond(send, 200, state.model_dump_json().encode(), [(b"content-type", _JSON)])

    async def _confirm(self, headers: dict[bytes, bytes], receive: Receive, send: Send) -> None:
        if await self._admin_refused(headers, send):
            return
        try:
            raw = await _read_body(receive, headers, self.limits.max_body_bytes)
            state = await self.tables.confirm(_parse_confirmation(raw).generation)
        except RouterError as exc:
            await _error(send, exc)
            return
        await _respond(send, 200, state.model_dump_json().encode(), [(b"content-type", _JSON)])

    async def _stats(self, headers: dict[bytes, bytes], query: bytes, send: Send) -> None:
        if await self._admin_refused(headers, send):
            return
        try:
            since, until = _window(query)
        except RouterError as exc:
            await _error(send, exc)
            return
        reply = self.windows.stats(since, until)
        await _respond(send, 200, reply.model_dump_json().encode(), [(b"content-type", _JSON)])

    # ----------------------------------------------------------------- Open Inference Protocol

    async def _oip(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        receive: Receive,
        send: Send,
        method: str,
        path: str,
    ) -> None:
        """``/v2...``: server and model metadata, health and readiness, and inference (the
        native prediction path, with OIP translation)."""
        parts = path[len("/v2/") :].split("/") if path != "/v2" else []
        infer = len(parts) in (3, 5) and parts[0] == "models" and parts[-1] == "infer"
        if (
            method == "POST"
            and infer
            and all(parts)
            and (len(parts) == 3 or parts[2] == "versions")
        ):
            version = parts[3] if len(parts) == 5 else None
            await self._predict(
                scope, headers, receive, send, parts[1], version, None, protocol="oip"
            )
            return
        if method == "GET":
            if not parts:
                server = json.dumps(oip.server_metadata()).encode()
                await _respond(send, 200, server, [(b"content-type", _JSON)])
                return
            if parts == ["health", "live"]:
                await _respond(send, 200, b'{"live":true}', [(b"content-type", _JSON)])
                return
            if parts == ["health", "ready"]:
                ready = await self._readiness()
                body = {"ready": ready["ready"], "problems": ready["problems"]}
                status = 200 if ready["ready"] else 503
                await _respond(send, status, json.dumps(body).encode(), [(b"content-type", _JSON)])
                return
            if parts[0] == "models" and len(parts) >= 2 and all(parts):
                await self._oip_model(headers, send, parts[1], parts[2:])
                return
        exc = RouterError(RouterErrorCode.NOT_FOUND, f"no endpoint {method} {path}")
        await _error(send, exc, protocol="oip")

    async def _oip_model(
        self, headers: dict[bytes, bytes], send: Send, model: str, rest: list[str]
    ) -> None:
        """Model metadata and readiness: ``[versions/{v}][/ready]`` after the model's name."""
        version = None
        if len(rest) >= 2 and rest[0] == "versions":
            version, rest = rest[1], rest[2:]
        if rest not in ([], ["ready"]):
            exc = RouterError(RouterErrorCode.NOT_FOUND, f"no endpoint GET under model {model!r}")
            await _error(send, exc, protocol="oip")
            return
        table = self.tables.current
        try:
            self._client(headers)
            metadata = oip.model_metadata(table, model, version, self._oip_outputs)
            if rest == ["ready"]:
                metadata = {"name": model, "ready": True}
                if version is not None:
                    metadata["version"] = version
                self._check_model_ready(table, model, version)
        except RouterError as exc:
            waiting = exc.code in (RouterErrorCode.MODEL_NOT_READY, RouterErrorCode.UNCONFIRMED)
            extra = [(b"retry-after", _NOT_READY_RETRY)] if waiting else None
            await _error(send, exc, extra=extra, protocol="oip")
            return
        await _respond(send, 200, json.dumps(metadata).encode(), [(b"content-type", _JSON)])

    def _check_model_ready(self, table: CompiledTable, model: str, version: str | None) -> None:
        """What a prediction of ``model`` (``version``) would meet before its backend: an
        unconfirmed table, no Production version, a model still loading."""
        if not self.tables.confirmed:
            raise RouterError(
                RouterErrorCode.UNCONFIRMED,
                "the router's routing table is not confirmed yet; retry in a moment",
            )
        target = _direct_target(table, model, version)
        self._check_ready(target)

    # ----------------------------------------------------------------- small pages

    async def _healthz(self, send: Send) -> None:
        await _respond(send, 200, b'{"status":"alive"}', [(b"content-type", _JSON)])

    async def _readyz(self, send: Send) -> None:
        """Ready (200) when a confirmed table is in place, TorchServe answers and at least
        one model of the table serves (or it has none): one model still loading, or whose
        TorchServe is down, must not take the router out of its Service for every other
        model. ``models`` names each model's own state; a model not ready answers 503
        MODEL_NOT_READY."""
        body = await self._readiness()
        status = 200 if body["ready"] else 503
        await _respond(send, status, json.dumps(body).encode(), [(b"content-type", _JSON)])

    async def _readiness(self) -> dict[str, Any]:
        """The body of /readyz (also behind ``GET /v2/health/ready``)."""
        problems = []
        if self.tables.current.generation == 0:
            problems.append("no routing table yet: the control plane must PUT /admin/table")
        elif not self.tables.confirmed:
            problems.append(
                "the table read from the state file is not confirmed yet: the control plane "
                "must PUT /admin/table or POST /admin/confirm"
            )
        try:
            ping = await asyncio.to_thread(self.management.ping)
            if not ping.healthy:
                problems.append(f"TorchServe is not healthy ({ping.status})")
        except ServingError as exc:
            problems.append(f"TorchServe is not reachable: {exc}")
        generation = self.tables.current.generation
        pending = self.tables.pending
        models = {
            model: {"ready": False, "problem": pending[model]}
            if model in pending
            else {"ready": True}
            for model in sorted(self.tables.current.state.table.models)
        }
        if models and len(pending) >= len(models):
            problems.append(f"no model of the table is ready: {sorted(pending)}")
        return {
            "ready": not problems,
            "generation": generation,
            "problems": problems,
            "models": models,
        }

    async def _metrics(self, send: Send) -> None:
        await _respond(send, 200, self.metrics.render(), [(b"content-type", CONTENT_TYPE.encode())])

    async def _openapi_json(self, send: Send) -> None:
        await _respond(send, 200, self._openapi, [(b"content-type", _JSON)])

    async def _docs(self, send: Send) -> None:
        page = docs_page(json.loads(self._openapi))
        await _respond(send, 200, page, [(b"content-type", b"text/html; charset=utf-8")])


_PAGES: dict[str, Callable[[RouterApp, Send], Awaitable[None]]] = {
    "/healthz": RouterApp._healthz,
    "/readyz": RouterApp._readyz,
    "/metrics": RouterApp._metrics,
    "/openapi.json": RouterApp._openapi_json,
    "/docs": RouterApp._docs,
}


# --------------------------------------------------------------------- helpers


def _direct_target(table: CompiledTable, model: str, version: str | None) -> Target:
    if version is None:
        target = table.production.get(model)
        if target is not None:
            return target
        if model in table.known_models:
            raise RouterError(
                RouterErrorCode.NOT_SERVED,
                f"model {model!r} has no Production version in the routing table",
            )
        raise RouterError(RouterErrorCode.NOT_FOUND, f"no model {model!r} in the routing table")
    target = table.versions.get((model, version))
    if target is not None:
        return target
    if model not in table.known_models:
        raise RouterError(RouterErrorCode.NOT_FOUND, f"no model {model!r} in the routing table")
    served = sorted(v for m, v in table.versions if m == model)
    raise RouterError(
        RouterErrorCode.NOT_FOUND,
        f"version {version!r} of model {model!r} is not served (served versions: {served})",
    )


def _canary(
    table: CompiledTable, production: Target, headers: dict[bytes, bytes]
) -> tuple[Target, Target | None]:
    """(who answers, who gets a mirrored copy) for a request bound for ``production``."""
    canary = table.canaries.get(production.model)
    if canary is None:
        return production, None
    key = headers.get(b"x-routing-key")
    bucket = canary_bucket(production.model, None if key is None else key.decode("latin-1"))
    if bucket >= canary.threshold:
        return production, None
    if canary.shadow:
        return production, canary.target
    return canary.target, None


def _window(query: bytes) -> tuple[float, float | None]:
    """``since`` (default 0) and ``until`` (default None: now) of a stats query."""
    found: dict[str, float] = {}
    for part in query.decode("latin-1").split("&"):
        name, _, value = part.partition("=")
        if name not in ("since", "until"):
            continue
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not (math.isfinite(number) and number >= 0):  # not NaN, infinite or negative
            raise RouterError(
                RouterErrorCode.INVALID_INPUT,
                f"{name} must be a Unix time in seconds (e.g. ?since=1764230400.5)",
            )
        found[name] = number
    since, until = found.get("since", 0.0), found.get("until")
    if until is not None and until < since:
        raise RouterError(
            RouterErrorCode.INVALID_INPUT,
            f"until ({until:g}) is before since ({since:g}); give until >= since, or omit it",
        )
    return since, until


class _FeedbackSinks:
    """Feedback counted in the Prometheus metrics and in the per-version windows."""

    def __init__(self, metrics: RouterMetrics, windows: Windows) -> None:
        self._metrics = metrics
        self._windows = windows

    def feedback(self, model: str, version: str, rows: int, correct: int) -> None:
        self._metrics.feedback(model, version, rows, correct)
        self._windows.record_feedback(model, version, rows, correct)

    def feedback_unmatched(self, count: int) -> None:
        self._metrics.feedback_unmatched(count)


def _parse_update(raw: bytes) -> TableUpdate:
    try:
        return TableUpdate.model_validate_json(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '<body>'}: {e['msg']}" for e in exc.errors()
        ]
        raise RouterError(
            RouterErrorCode.INVALID_TABLE, "invalid table update: " + "; ".join(problems[:20])
        ) from None


def _parse_confirmation(raw: bytes) -> Confirmation:
    try:
        return Confirmation.model_validate_json(raw)
    except ValidationError:
        raise RouterError(
            RouterErrorCode.INVALID_INPUT,
            'the body must be {"generation": N} with N the generation GET /admin/table returned',
        ) from None


async def _read_body(receive: Receive, headers: dict[bytes, bytes], limit: int) -> bytes:
    declared = headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RouterError(RouterErrorCode.INVALID_INPUT, "the client went away mid-body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> RouterError:
    return RouterError(
        RouterErrorCode.BODY_TOO_LARGE, f"the body exceeds {limit} bytes; split the request"
    )


def _request_id(headers: dict[bytes, bytes]) -> bytes:
    given = headers.get(b"x-request-id")
    if given is not None and _REQUEST_ID.match(given.decode("latin-1")):
        return given
    return entropy.token_bytes(16).hex().encode()  # 32 hex digits, as uuid4().hex


def _asker(scope: Scope, client: str | None) -> Asker:
    peer = scope.get("client")
    return Asker(address=str(peer[0]) if peer else None, client=client)


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(
    send: Send,
    exc: RouterError,
    request_id: bytes | None = None,
    target: Target | None = None,
    extra: list[tuple[bytes, bytes]] | None = None,
    protocol: ApiProtocol = "native",
) -> None:
    """The error reply: ``{"error": {"code", "message"}}``, or in the OIP's form
    ``{"error": message, "code": code}`` (clients of either branch on the code)."""
    payload: dict[str, Any] = (
        {"error": exc.message, "code": exc.code.value}
        if protocol == "oip"
        else {"error": {"code": exc.code.value, "message": exc.message}}
    )
    headers = [(b"content-type", _JSON), *(extra or [])]
    if request_id is not None:
        payload["request_id"] = request_id.decode()
        headers.append((b"x-request-id", request_id))
    if target is not None:
        headers += target.reply_headers
    await _respond(send, exc.status, json.dumps(payload).encode(), headers)

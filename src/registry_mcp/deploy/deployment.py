"""Keeps serving following the registry: desired state, archives, switch, reconcile, drift.

Each model is served by its backend (``backend:`` in models.yaml): the local TorchServe, or
the local KServe model server (``kserve_side``), both driven through ``ServingBackend``.
The registry decides (aliases move first); this module then makes serving match: the new
Production version becomes the backend's default with one verified ``set-default`` call, and a
reconcile loads the rest of the desired set (previous Production warm, Staging loaded) and
unloads what is no longer wanted. A failed switch is reported, never hidden; the controller
(``controller.py``, started by ``serve up``) repairs the drift on its next tick, and
``modelreg serve reconcile`` does the same by hand. Whoever changes what serves holds the
serving lock (this process's threads and other processes alike) for milliseconds.

After TorchServe follows (and after every reconcile), the prediction router in front of it
gets the routing table computed from the registry (``router_sync``); a router that is down
is reported in the result and never blocks the registry change.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from pathlib import Path

import filelock
import httpx
from pydantic import BaseModel, ConfigDict

from registry_mcp.core.ports import RouterUpdate, ServingState, ServingUpdate
from registry_mcp.core.registry import Registry
from registry_mcp.deploy.coalesced import Coalesced
from registry_mcp.deploy.kserve_side import KServeSide, open_kserve
from registry_mcp.deploy.router_client import RouterAdmin
from registry_mcp.deploy.router_process import RouterProcess, read_admin_token
from registry_mcp.deploy.router_settings import RouterPlace
from registry_mcp.deploy.router_sync import RouterSync, last_write
from registry_mcp.deploy.routing_table import BuiltTable, TableBuilder
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.schemas import VersionInfo
from registry_mcp.store.models_file import ModelsFile
from registry_mcp.store.settings import Settings
from serving.archive import build_archive
from serving.backend import ServingBackend, TorchServeBackend
from serving.config import Backend, ModelsConfig
from serving.errors import ServingError, ServingErrorCode
from serving.local import LocalPorts, LocalTorchServe
from serving.naming import served_name
from serving.rollout import (
    LOAD_STEPS,
    DesiredModel,
    ModelServingStatus,
    ReconcileReport,
    SwitchResult,
    reconcile,
    serving_status,
    switch_default,
)
from serving.router.table import ModelUpstream
from serving.torchserve import TorchServeClient

_log = logging.getLogger(__name__)

RECONCILE_SETTLE_S = 0.25
"""How long a deferred reconcile waits after a move before it starts: the moves of one
burst (a promotion and its rollback, an agent's retries) share one reconcile, which never
competes with the next move's switch."""


def local_server(settings: Settings) -> LocalTorchServe:
    ports = LocalPorts(
        inference=settings.serving_inference_port,
        management=settings.serving_management_port,
        metrics=settings.serving_metrics_port,
        grpc_inference=settings.serving_grpc_inference_port,
        grpc_management=settings.serving_grpc_management_port,
    )
    return LocalTorchServe(settings.resolved_serving_dir, ports=ports)


_USER_CODES = {
    "INVALID_REQUEST": ErrorCode.INVALID_INPUT,
    "NOT_FOUND": ErrorCode.NOT_FOUND,
    "CONFIG_INVALID": ErrorCode.INVALID_INPUT,
}


def serving_error(exc: ServingError) -> RegistryError:
    """A serving failure in the registry's error tree (user mistakes stay user errors)."""
    return RegistryError(_USER_CODES.get(exc.code.value, ErrorCode.BACKEND), f"Serving: {exc}")


class ServingLock:
    """One changer of what serves at a time: a re-entrant lock for this process's threads,
    and a file lock beside the serving directory for the other processes."""

    def __init__(self, path: Path, *, timeout_s: float = 60.0) -> None:
        self._local = threading.RLock()
        self._file = filelock.FileLock(str(path), timeout=timeout_s)
        self._path = path

    def __enter__(self) -> ServingLock:
        self._local.acquire()
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._file.acquire()
        except filelock.Timeout:
            self._local.release()
            raise RegistryError(
                ErrorCode.BACKEND,
                f"another process has held the serving lock {self._path} for over "
                f"{self._file.timeout:.0f} s; check `modelreg serve status`",
            ) from None
        except BaseException:
            self._local.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._file.release()
        finally:
            self._local.release()


class ReconcileOutcome(BaseModel):
    """A reconcile of TorchServe, then of the router's table."""

    model_config = ConfigDict(frozen=True)

    reports: list[ReconcileReport]
    router: RouterUpdate | None = None


class Deployment:
    """The registry's view of one local TorchServe and the router in front of it."""

    def __init__(
        self,
        registry: Registry,
        server: LocalTorchServe,
        client: TorchServeClient,
        models: ModelsConfig,
        *,
        defer_reconcile: bool = False,
        kserve: KServeSide | None = None,
    ) -> None:
        self._registry = registry
        self.server = server
        self._client = client
        self._torchserve = TorchServeBackend(client)
        self.kserve = kserve
        self._models = models
        self._index_path = server.serving_dir / "archives.json"
        self._defer = defer_reconcile
        self._lock = ServingLock(server.serving_dir / "serving.lock")
        self.models_file: ModelsFile | None = None  # where ``models`` came from, if a file
        self._background = Coalesced(
            self._reconcile_logged, settle_s=RECONCILE_SETTLE_S, name="reconcile"
        )
        self.router: RouterSync | None = None
        self.router_process: RouterProcess | None = None
        self.router_problem: str | None = None  # why there is no router (bad settings)
        self._owned_http: httpx.Client | None = None

    @classmethod
    def open(cls, registry: Registry, *, defer_reconcile: bool = False) -> Deployment:
        settings = registry.settings
        server = local_server(settings)
        models = registry.policies.file  # the one models file the registry's policy uses
        deployment = cls(
            registry,
            server,
            server.client(),
            models.config,
            defer_reconcile=defer_reconcile,
            kserve=open_kserve(settings, server.model_store),
        )
        deployment.models_file = models
        try:
            place = RouterPlace.resolve(settings)
        except RegistryError as exc:
            # A bad router setting must not block registry changes: it is reported instead.
            deployment.router_problem = exc.message
            return deployment
        http = httpx.Client(timeout=httpx.Timeout(30.0, connect=2.0), trust_env=False)
        deployment._owned_http = http
        deployment.attach_router(
            RouterAdmin(place.url, lambda: read_admin_token(place), http),
            RouterProcess(place, server),
        )
        return deployment

    def attach_router(self, admin: RouterAdmin, process: RouterProcess | None = None) -> None:
        """Keep the router at ``admin`` following this deployment (tables from the registry)."""
        self.router = RouterSync(
            admin, self.routing_table, alive=None if process is None else process.running
        )
        self.router_process = process

    def close(self) -> None:
        self._background.close()  # what is pending runs now; close waits for it
        self._client.close()
        if self.kserve is not None:
            self.kserve.close()
        if self._owned_http is not None:
            self._owned_http.close()

    @property
    def models_config(self) -> ModelsConfig:
        return self._models

    @property
    def client(self) -> TorchServeClient:
        """TorchServe's client (a model's own backend: ``backend_for``)."""
        return self._client

    # ---------------------------------------------------------- backends

    def backend_kind(self, model: str) -> Backend:
        return self._models.get(model).backend

    def backend_for(self, model: str) -> ServingBackend:
        """The backend that serves ``model`` (models.yaml ``backend:``)."""
        if self.backend_kind(model) == "torchserve":
            return self._torchserve
        if self.kserve is None:
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                f"{model!r} has backend: kserve in models.yaml, but this deployment has no "
                "KServe model server; set backend: torchserve, or serve it with `modelreg "
                "serve up`",
            )
        return self.kserve.backend

    def server_name(self, model: str) -> str:
        return "TorchServe" if self.backend_kind(model) == "torchserve" else "the KServe server"

    def backend_running(self, model: str) -> bool:
        try:
            self.backend_for(model).health()
        except (ServingError, RegistryError):
            return False
        return True

    def kserve_needed(self, models: list[str] | None = None) -> bool:
        """Some managed model (or one of ``models``) is served by KServe."""
        names = self.managed_models() if models is None else models
        return any(self.backend_kind(name) == "kserve" for name in names)

    def upstream(self, model: str) -> ModelUpstream | None:
        """Where the router reaches ``model``: None for the router's default TorchServe."""
        if self.backend_kind(model) == "torchserve" or self.kserve is None:
            return None
        url = self.kserve.server.url
        return ModelUpstream(inference_url=url, management_url=url, backend="kserve")

    # ---------------------------------------------------------- desired state

    def desired(self, model: str, *, build: bool) -> DesiredModel:
        """What the registry wants served; ``build`` packs missing archives (slow).

        Serving follows the stage aliases a human approved through modelreg, never aliases
        moved around it (MLflow UI, REST): those are reported and wait for a human."""
        summary = self._registry.model_summary(model)
        approved = summary.approved
        versions = sorted(
            {v for v in (approved.production, approved.previous, approved.staging) if v is not None}
        )
        # The versions and their trust in one read each, the archive index read once.
        infos = self._registry.get_versions(summary.name, versions)
        trusted = self._registry.trust.trusted_among(summary.name, versions)
        index = self._read_index()
        found = {
            v: self._archive_of(infos[v], v in trusted, build=build, index=index) for v in versions
        }
        archives = {v: name for v, name in found.items() if name is not None}
        config = self._models.get(model)
        return DesiredModel(
            name=summary.name,
            production=approved.production,
            previous=approved.previous,
            staging=approved.staging,
            archives=archives,
            backend=config.backend,
            serving=config.torchserve,
        )

    def _archive(
        self, model: str, version: int, *, build: bool, refuse: bool = False
    ) -> str | None:
        """The version's archive in the model store; None if not built and ``build`` is off.
        ``refuse``: a version that cannot be packed is refused as a stage change
        (INVALID_TRANSITION) rather than reported as a serving failure."""
        info = self._registry.get_version(model, version)
        trusted = self._registry.trust.is_trusted(info.name, info.version)
        return self._archive_of(info, trusted, build=build, refuse=refuse)

    def _archive_of(
        self,
        info: VersionInfo,
        trusted: bool,
        *,
        build: bool,
        refuse: bool = False,
        index: dict[str, str] | None = None,
    ) -> str | None:
        """``_archive`` of a version already read (``index``: the archive index, if read)."""
        model, version = info.name, info.version
        task = self._models.get(model).task
        # Trust and task are part of the key: changing either builds a different archive.
        key = f"{model}\t{version}\t{info.source}\t{task}" + ("\ttrusted" if trusted else "")
        index = self._read_index() if index is None else index
        known = index.get(key)
        if known and (self.server.model_store / known).exists():
            return known
        if not build:
            return None
        self.server.model_store.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="modelreg-archive-") as tmp:
            model_dir = self._registry.download_version(model, version, Path(tmp))
            try:
                built = build_archive(
                    model_dir,
                    model,
                    version,
                    self.server.model_store,
                    allow_code_on_load=trusted,
                    task=task,
                )
            except ServingError as exc:
                if refuse:
                    raise RegistryError(
                        ErrorCode.INVALID_TRANSITION,
                        f"Serving cannot load v{version} of {model!r}, so it cannot serve "
                        f"Production; nothing moved. {exc}",
                    ) from None
                raise serving_error(exc) from None
        with filelock.FileLock(str(self._index_path) + ".lock", timeout=30):
            index = self._read_index()
            index[key] = built.file_name
            tmp_path = self._index_path.with_suffix(".tmp")
            tmp_path.write_text(json.dumps(index, indent=1, sort_keys=True))
            tmp_path.replace(self._index_path)
        return built.file_name

    def _read_index(self) -> dict[str, str]:
        try:
            data = json.loads(self._index_path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def managed_models(self) -> list[str]:
        """Registered models with a Production or Staging version (all pages)."""
        names: list[str] = []
        cursor = None
        while True:
            page = self._registry.list_models(limit=1000, cursor=cursor)
            names += [
                m.name
                for m in page.items
                if m.approved.production is not None
                or m.approved.staging is not None
                or m.production_version is not None
                or m.staging_version is not None
            ]
            cursor = page.next_cursor
            if cursor is None:
                return names

    # --------------------------------------------------------------- actions

    def running(self) -> bool:
        try:
            self._client.ping()
        except ServingError:
            return False
        return True

    def check_warm(self, model: str, version: int) -> None:
        """Raise INVALID_TRANSITION unless the model's backend has ``version`` ready (a
        canary's share of traffic must never meet a cold or missing version)."""
        server = self.server_name(model)
        if not self.backend_running(model):
            raise RegistryError(
                ErrorCode.INVALID_TRANSITION,
                f"{_cap(server)} is not running, so no version is loaded for a canary; start "
                "serving with `modelreg serve up`, then start the canary.",
            )
        try:
            description = self.backend_for(model).describe(served_name(model))
        except ServingError as exc:
            if exc.code is ServingErrorCode.NOT_FOUND:
                description = None
            else:
                raise RegistryError(
                    ErrorCode.BACKEND, f"{_cap(server)} did not answer: {exc}"
                ) from None
        ready = sorted(
            v.registry_version
            for v in (description.versions if description is not None else [])
            if v.status in ("READY", "PARTIAL") and v.registry_version is not None
        )
        if version not in ready:
            raise RegistryError(
                ErrorCode.INVALID_TRANSITION,
                f"v{version} of {model!r} is not loaded in {server} (ready: "
                f"{', '.join(f'v{v}' for v in ready) or 'none'}); a canary needs a warm version. "
                "Run `modelreg serve reconcile` and retry once it is ready.",
            )

    def check_loadable(self, model: str, version: int) -> None:
        """Raise unless serving can load ``version`` of ``model``: its archive builds (a
        format that runs no code on load, or a version an operator trusted; complete
        artifacts). The archive is kept, so serving later loads exactly it."""
        self._archive(model, version, build=True, refuse=True)

    def reconcile(self, models: list[str] | None = None) -> list[ReconcileReport]:
        return self.reconcile_all(models).reports

    def reconcile_all(self, models: list[str] | None = None) -> ReconcileOutcome:
        """Reconcile the backends (``models``, default all managed), then the router's table."""
        reports = []
        for model in models if models is not None else self.managed_models():
            try:
                reports.append(self._reconcile_one(model))
            except ServingError as exc:
                raise serving_error(exc) from None
        return ReconcileOutcome(reports=reports, router=self.sync_router())

    # --------------------------------------------------------------- router

    def routing_table(self) -> BuiltTable:
        """The table the registry wants now, limited to versions their backends have ready."""
        builder = TableBuilder(self._registry, self._models, self.backend_for, self.upstream)
        return builder.build(self.managed_models())

    def sync_router(self) -> RouterUpdate | None:
        """Push the registry's routing table to the router; None when no router is set up."""
        if self.router is None:
            if self.router_problem is None:
                return None
            return RouterUpdate(
                updated=False, url="", detail=f"Router not updated: {self.router_problem}"
            )
        with self._lock:
            return self.router.push()

    def follow(self, model: str) -> ServingUpdate:
        """After the registry moved: switch the default (verified), then reconcile.

        The switch is the instant part (one ``set-default`` plus a read-back); reconciling
        (warm previous, load Staging, scale, unload) runs after it, in the background when
        this deployment was opened with ``defer_reconcile`` (once for a burst of moves,
        ``RECONCILE_SETTLE_S`` after the first).
        """
        try:
            self.backend_for(model)
        except RegistryError:
            return self._not_running(model)
        production = self._registry.approved_state(model).production
        router = None
        try:
            try:
                with self._lock:
                    switch = self._switch_if_loaded(model, production)
            except ServingError as exc:
                if exc.code is ServingErrorCode.UNAVAILABLE:
                    return self._not_running(model)
                raise
            # The switch itself shows the server answers; without one, ask it first (a
            # reconcile against a stopped server would only fail later and less clearly).
            if switch is None and not self.backend_running(model):
                return self._not_running(model)
            if switch is not None:
                # The router switches next, before the slow part, and before a reconcile
                # unloads a version its current table still names.
                router = self.sync_router()
            report = None
            if switch is None or not self._defer:
                report = self._reconcile_one(model)
                if switch is None and production is not None:
                    with self._lock:
                        switch = switch_default(self.backend_for(model), model, production)
                router = last_write(router, self.sync_router())  # with what reconcile loaded
            else:
                self._background.request(model)
        except (ServingError, RegistryError) as exc:
            router = self.sync_router()
            return ServingUpdate(
                model=model,
                switched_to=None,
                router=router,
                detail=f"Serving did not follow: {exc}. The registry change stands; run "
                "`modelreg serve reconcile` to repair serving."
                + ("" if router is None else f" {router.detail}"),
            )
        detail = (
            f"Serving default is v{switch.version} (verified)."
            if switch is not None
            else "No Production version: nothing to make default."
        )
        if report is None and switch is not None:
            detail += " Reconciling the other versions in the background."
        if router is not None:
            detail += f" {router.detail}"
        return ServingUpdate(
            model=model,
            switched_to=None if switch is None else switch.version,
            switch=switch,
            reconcile=report,
            in_sync=None if report is None else report.in_sync,
            router=router,
            detail=detail,
        )

    def _not_running(self, model: str) -> ServingUpdate:
        server = self.server_name(model)
        skipped = (
            None
            if self.router is None
            else self.router.not_updated(f"{_cap(server)} is not running")
        )
        return ServingUpdate(
            model=model,
            switched_to=None,
            router=skipped,
            detail=f"{_cap(server)} is not running; the registry moved. A running "
            f"controller restarts {server} and brings serving to the registry (`modelreg "
            "serve status` shows it); with none, start serving with `modelreg serve up`."
            + ("" if skipped is None else f" {skipped.detail}"),
        )

    def _switch_if_loaded(self, model: str, production: int | None) -> SwitchResult | None:
        if production is None:
            return None
        try:
            return switch_default(self.backend_for(model), model, production)
        except ServingError as exc:
            if exc.code is ServingErrorCode.NOT_FOUND:
                return None  # not loaded yet: reconcile registers it first
            raise

    def _reconcile_one(self, model: str) -> ReconcileReport:
        """Load what is missing (slow, no lock: it changes nothing that serves), then switch
        and unload under the serving lock, on a fresh reading of the registry."""
        backend = self.backend_for(model)
        loaded = reconcile(backend, self.desired(model, build=True), only=LOAD_STEPS)
        with self._lock:
            switched = reconcile(backend, self.desired(model, build=False))
        return switched.model_copy(update={"actions": [*loaded.actions, *switched.actions]})

    @property
    def background_reconciles(self) -> int:
        """How many deferred reconciles have started (a burst of moves shares one)."""
        return self._background.runs

    @property
    def serving_lock(self) -> ServingLock:
        """Held by whoever changes what serves (this process's threads and other processes:
        the CLI, the MCP server, the controller), for milliseconds at a time."""
        return self._lock

    def _reconcile_logged(self, model: str) -> None:
        try:
            report = self._reconcile_one(model)
        except (ServingError, RegistryError) as exc:
            _log.warning("background reconcile of %s failed: %s", model, exc)
            return
        if not report.in_sync:
            _log.warning("%s still drifts after reconcile: %s", model, report.remaining)
        router = self.sync_router()  # the versions loaded meanwhile join the table
        if router is not None and not router.updated:
            _log.warning("after the background reconcile of %s: %s", model, router.detail)

    def status(self, model: str) -> ModelServingStatus:
        try:
            return serving_status(self.backend_for(model), self.desired(model, build=False))
        except ServingError as exc:
            raise serving_error(exc) from None

    # ServingProbe (for the MCP tool get_serving_version)
    def probe(self, model: str, production_version: int | None) -> ServingState:
        server = _cap(self.server_name(model))
        if not self.backend_running(model):
            return ServingState(
                configured=True,
                detail=f"{server} is not running; start it with `modelreg serve up`.",
            )
        try:
            status = serving_status(self.backend_for(model), self.desired(model, build=False))
        except ServingError as exc:
            return ServingState(configured=True, detail=f"{server} did not answer: {exc}")
        return ServingState(
            configured=True,
            default_version=status.serving_default,
            loaded_versions=status.loaded_versions,
            in_sync=status.in_sync,
            detail="In sync with the registry."
            if status.in_sync
            else "Drift: " + "; ".join(status.drift_reasons),
        )


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]

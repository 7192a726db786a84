"""The table in use and its atomic replacement (compare-and-set, verified, persisted).

The compiled table is one attribute, ``Tables.current``. A request reads it once, at its
start, and uses that object to its end, so an update switches every later request to the
new table in one reference assignment while requests in flight finish on the version they
started with. Updates are serialised and compare-and-set on ``expected_generation``; one is
accepted only after every version it names is loaded in TorchServe and the state file holds
it, so a refused update changes nothing, on disk or in memory. Each model is checked against
the TorchServe that serves it: its own ``upstream`` when the entry names one, else the
router's default.

The initial table (``--initial-table``, the desired state on Kubernetes) is the exception: it
is installed even when some of its models are not ready, and those models are *pending*
(``pending``: model -> why), answered with 503 MODEL_NOT_READY while the others serve, and
re-checked until ready (``recheck_pending``). One model's TorchServe failing to load then
never keeps the router from serving every other model. A table the control plane PUTs is
checked whole, as before, and clears ``pending``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from serving.errors import ServingError, ServingErrorCode
from serving.router.errors import RouterError, RouterErrorCode
from serving.router.metrics import RouterMetrics
from serving.router.oip_upstream import OipReadiness
from serving.router.state import StateFile
from serving.router.table import (
    CompiledTable,
    ModelEntry,
    ModelUpstream,
    RoutingTable,
    TableState,
    TableUpdate,
    changed_stages,
    compile_table,
)
from serving.schemas import ModelDescription, PingResult


class Management(Protocol):
    """What the router asks TorchServe's management side (``TorchServeClient`` does this)."""

    def ping(self) -> PingResult: ...

    def describe(self, model: str) -> ModelDescription: ...


class VersionReadiness(Protocol):
    """Whether a KServe model server has a version ready (``oip_upstream.OipReadiness``)."""

    def ready(self, inference_url: str, served_name: str, version: int) -> bool: ...


@runtime_checkable
class Managements(Management, Protocol):
    """The default TorchServe's management side, and each model's own (``server.TorchServes``)."""

    def at(self, upstream: ModelUpstream | None) -> Management | None:
        """The management API of ``upstream`` (None: the router's default); None when the
        router has no default TorchServe."""
        ...


class Tables:
    """The current table, loaded from the state file at start (generation 0 if none).

    With ``start_unconfirmed``, a table read from the state file is *unconfirmed*: the
    registry may have moved on while the router was down, so requests wait (``confirmed``)
    until the control plane accepts it (``confirm``) or replaces it (``update``).
    """

    def __init__(
        self,
        state_file: StateFile,
        management: Management,
        metrics: RouterMetrics,
        *,
        verify_loaded: bool = True,
        start_unconfirmed: bool = False,
        readiness: VersionReadiness | None = None,
    ) -> None:
        self.state_file = state_file
        self._management = management
        self._readiness = readiness or OipReadiness()
        self._metrics = metrics
        self._verify_loaded = verify_loaded
        loaded = state_file.load()
        self.current: CompiledTable = compile_table(loaded or TableState(generation=0))
        self._publish(self.current, changed=[])
        self._lock = asyncio.Lock()
        self._confirmed = asyncio.Event()
        self.pending: dict[str, str] = {}
        if not (start_unconfirmed and loaded is not None and loaded.generation > 0):
            self._confirmed.set()

    @property
    def confirmed(self) -> bool:
        """False while a table read from the state file awaits the control plane."""
        return self._confirmed.is_set()

    async def wait_confirmed(self, timeout_s: float) -> bool:
        """True once confirmed, False if ``timeout_s`` passed first (0: do not wait)."""
        if self._confirmed.is_set():
            return True
        if timeout_s <= 0:
            return False
        try:
            async with asyncio.timeout(timeout_s):
                await self._confirmed.wait()
        except TimeoutError:
            return False
        return True

    def reply(self) -> TableState:
        """The current state as ``GET /admin/table`` answers it (with ``confirmed``)."""
        return self.current.state.model_copy(update={"confirmed": self.confirmed})

    async def confirm(self, generation: int) -> TableState:
        """Confirm the table in use (CONFLICT when ``generation`` is not the current one)."""
        async with self._lock:
            current = self.current.generation
            if generation != current:
                raise RouterError(
                    RouterErrorCode.CONFLICT,
                    f"cannot confirm generation {generation}: the router is at generation "
                    f"{current}; GET /admin/table and confirm what it returns, or PUT the "
                    "table you want",
                )
            self._confirmed.set()
            return self.reply()

    async def update(self, update: TableUpdate) -> TableState:
        """Compare-and-set the table; on any refusal nothing changes."""
        async with self._lock:
            current = self.current
            if update.expected_generation != current.generation:
                raise RouterError(
                    RouterErrorCode.CONFLICT,
                    f"stale table: expected_generation is {update.expected_generation}, the "
                    f"router is at generation {current.generation}; GET /admin/table, reapply "
                    "your change, and PUT again",
                )
            if self._verify_loaded:
                problems = await asyncio.to_thread(self._not_loaded, update.table)
                if problems:
                    raise RouterError(RouterErrorCode.INVALID_TABLE, "; ".join(problems))
            state = TableState(
                generation=current.generation + 1,
                updated_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
                table=update.table,
            )
            compiled = compile_table(state)
            await asyncio.to_thread(self.state_file.save, state)
            self.current = compiled  # the switch: one reference assignment
            self.pending = {}  # every version of it was checked
            self._confirmed.set()  # the control plane wrote it: confirmed by definition
            self._publish(compiled, changed_stages(current.state.table, update.table))
            return self.reply()

    async def install_initial(self, table: RoutingTable) -> TableState:
        """Install ``table`` as generation 1 with its not-ready models pending (CONFLICT
        when the router has a table already: the control plane got there first)."""
        async with self._lock:
            current = self.current
            if current.generation != 0:
                raise RouterError(
                    RouterErrorCode.CONFLICT,
                    f"the router is at generation {current.generation} already; the initial "
                    "table is for a router without a table",
                )
            pending: dict[str, str] = {}
            if self._verify_loaded:
                pending = await asyncio.to_thread(self._pending_of, table, list(table.models))
            state = TableState(
                generation=1,
                updated_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
                table=table,
            )
            compiled = compile_table(state)
            await asyncio.to_thread(self.state_file.save, state)
            self.current = compiled
            self.pending = pending
            self._confirmed.set()  # the desired state itself, as rendered
            self._publish(compiled, changed_stages(current.state.table, table))
            return self.reply()

    async def recheck_pending(self) -> dict[str, str]:
        """Check the pending models again; those now ready serve. Returns the rest."""
        async with self._lock:
            if self.pending:
                table = self.current.state.table
                self.pending = await asyncio.to_thread(self._pending_of, table, list(self.pending))
            return dict(self.pending)

    def _pending_of(self, table: RoutingTable, models: list[str]) -> dict[str, str]:
        """model -> why it is not ready, for each of ``models`` that is not (an unreachable
        TorchServe makes only its own models pending)."""
        found: dict[str, str] = {}
        for model in models:
            try:
                problems = self._model_problems(model, table.models[model])
            except RouterError as exc:
                problems = [exc.message]
            if problems:
                found[model] = "; ".join(problems)
        return found

    def _not_loaded(self, table: RoutingTable) -> list[str]:
        """Every version the table names that TorchServe does not have ready."""
        problems: list[str] = []
        for model, entry in table.models.items():
            problems += self._model_problems(model, entry)
        return problems

    def _model_problems(self, model: str, entry: ModelEntry) -> list[str]:
        """Every version of ``model`` that its TorchServe (or KServe model server) does not
        have ready; UNAVAILABLE when that server cannot be asked."""
        if entry.upstream is not None and entry.upstream.backend == "kserve":
            return self._kserve_problems(model, entry, entry.upstream.inference_url)
        management = self._management_of(entry.upstream)
        where = "" if entry.upstream is None else f" at {entry.upstream.management_url}"
        if management is None:
            return [
                f"model {model!r} names no upstream and this router has no default "
                "TorchServe (--inference-url/--management-url)"
                if entry.upstream is None
                else f"model {model!r}: this router cannot check TorchServe{where}"
            ]
        try:
            description = management.describe(entry.served_name)
        except ServingError as exc:
            if exc.code is ServingErrorCode.NOT_FOUND:
                return [f"model {model!r}: TorchServe{where} has no model {entry.served_name!r}"]
            raise RouterError(
                RouterErrorCode.UNAVAILABLE,
                f"cannot check the table against TorchServe{where} (model {model!r}): {exc}",
            ) from None
        problems: list[str] = []
        for stage, version in entry.versions().items():
            served = description.get(str(version))
            if served is None:
                problems.append(
                    f"model {model!r} {stage} version {version} is not loaded in "
                    f"TorchServe{where} (loaded: {[v.version for v in description.versions]})"
                )
            elif served.status not in ("READY", "PARTIAL"):
                problems.append(
                    f"model {model!r} {stage} version {version} has no ready worker "
                    f"({served.status})"
                )
        return problems

    def _kserve_problems(self, model: str, entry: ModelEntry, url: str) -> list[str]:
        """Every version of ``model`` that its KServe model server at ``url`` has not ready."""
        problems: list[str] = []
        for stage, version in entry.versions().items():
            try:
                ready = self._readiness.ready(url, entry.served_name, version)
            except ServingError as exc:
                raise RouterError(
                    RouterErrorCode.UNAVAILABLE,
                    f"cannot check the table against the KServe model server at {url} (model "
                    f"{model!r}): {exc}",
                ) from None
            if not ready:
                problems.append(
                    f"model {model!r} {stage} version {version} is not loaded and ready in the "
                    f"KServe model server at {url} (served as {entry.served_name!r})"
                )
        return problems

    def _management_of(self, upstream: ModelUpstream | None) -> Management | None:
        if isinstance(self._management, Managements):
            return self._management.at(upstream)
        return self._management if upstream is None else None

    def _publish(self, table: CompiledTable, changed: Sequence[tuple[str, str]]) -> None:
        active: dict[tuple[str, str], int] = {
            (model, stage): version
            for model, entry in table.state.table.models.items()
            for stage, version in entry.versions().items()
        }
        self._metrics.table_changed(table.generation, active, changed)
        self._metrics.canaries_changed(
            {
                model: (str(entry.canary.version), entry.canary.percent)
                for model, entry in table.state.table.models.items()
                if entry.canary is not None
            }
        )

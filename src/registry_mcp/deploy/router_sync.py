"""Push the registry's routing table to the router: compare-and-set, read back, verify.

Each attempt reads the router's generation *before* computing the table from the registry,
then writes with that generation. A writer that computed its table from an older registry
state therefore either wrote before this attempt read the generation (and is overwritten by
a newer table) or is refused with 409 (and recomputes): a stale table never replaces a
newer one, whichever process (CLI, MCP server, reconcile) writes. A router that is down or
refuses is reported in the result, never raised: the registry change has happened already.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.core.ports import RouterUpdate
from registry_mcp.deploy.router_client import RouterAdmin, RouterCallCode, RouterCallError
from registry_mcp.deploy.routing_table import BuiltTable
from registry_mcp.domain.errors import RegistryError
from serving.errors import ServingError

_RETRY = (RouterCallCode.CONFLICT, RouterCallCode.REFUSED)


class RouterTableStatus(BaseModel):
    """The router's table compared with the one the registry wants now."""

    model_config = ConfigDict(frozen=True)

    reachable: bool
    generation: int | None = None
    updated_at: str | None = None
    in_sync: bool | None = Field(
        default=None, description="The router's table equals the registry's; null if unknown."
    )
    confirmed: bool | None = Field(
        default=None,
        description="False while a restarted router waits for its table to be confirmed.",
    )
    production: dict[str, int | None] = Field(
        default_factory=dict, description="Model -> the Production version the router serves."
    )
    routes: dict[str, str] = Field(default_factory=dict, description="Route -> default model.")
    detail: str


class RouterSync:
    """Writes ``build()``'s table to one router."""

    def __init__(
        self,
        admin: RouterAdmin,
        build: Callable[[], BuiltTable],
        *,
        alive: Callable[[], bool] | None = None,
        attempts: int = 4,
    ) -> None:
        """``alive`` says whether our router process runs: when it does not, nothing is sent,
        so the admin token never reaches whatever else may listen on the router's port."""
        self.admin = admin
        self._build = build
        self._alive = alive
        self._attempts = attempts

    @property
    def url(self) -> str:
        return self.admin.url

    def not_updated(self, why: str) -> RouterUpdate:
        return RouterUpdate(updated=False, url=self.url, detail=f"Router not updated: {why}.")

    def push(self) -> RouterUpdate:
        if self._alive is not None and not self._alive():
            return self.not_updated(
                f"the router at {self.url} is not running; start it with `modelreg serve up`"
            )
        last: RouterCallError | None = None
        for _ in range(self._attempts):
            try:
                current = self.admin.get_table()
            except RouterCallError as exc:
                return self.not_updated(str(exc))
            try:
                built = self._build()
            except (ServingError, RegistryError, ValueError) as exc:
                # ValueError: a table the router's schema refuses; reported, never raised
                # into the registry change that already happened.
                return self.not_updated(f"cannot compute the routing table: {exc}")
            if built.table == current.table:
                if current.confirmed is False:
                    # A restarted router read this table from its file and waits for us.
                    try:
                        self.admin.confirm(current.generation)
                    except RouterCallError as exc:
                        if exc.code in _RETRY:
                            last = exc
                            continue
                        return self.not_updated(str(exc))
                    result = self._result(built, current.generation, changed=True, verified=True)
                    return result.model_copy(
                        update={
                            "detail": f"Router table generation {current.generation} (read "
                            "from its state file after a restart) confirmed: it matches the "
                            "registry."
                        }
                    )
                return self._result(built, current.generation, changed=False, verified=True)
            try:
                accepted = self.admin.put_table(current.generation, built.table)
            except RouterCallError as exc:
                if exc.code in _RETRY:
                    last = exc  # another writer, or a version unloaded meanwhile: recompute
                    continue
                return self.not_updated(str(exc))
            return self._verify(built, accepted.generation)
        assert last is not None
        return self.not_updated(f"{last} (after {self._attempts} attempts)")

    def status(self, *, compare: bool = True) -> RouterTableStatus:
        """What the router serves, and (``compare``) whether it is the table the registry
        wants now (that needs TorchServe: the table holds only versions it has ready)."""
        if self._alive is not None and not self._alive():
            return RouterTableStatus(reachable=False, detail="The router is not running.")
        try:
            state = self.admin.get_table()
        except RouterCallError as exc:
            return RouterTableStatus(reachable=False, detail=str(exc))
        table = state.table
        seen = RouterTableStatus(
            reachable=True,
            generation=state.generation,
            updated_at=state.updated_at,
            confirmed=state.confirmed,
            production={name: entry.production for name, entry in table.models.items()},
            routes={name: route.default for name, route in table.routes.items()},
            detail="",
        )
        if not compare:
            return seen.model_copy(update={"detail": "Not compared: TorchServe is not running."})
        try:
            wanted = self._build()
        except (ServingError, RegistryError) as exc:
            return seen.model_copy(update={"detail": f"cannot compute the wanted table: {exc}"})
        in_sync = wanted.table == table and state.confirmed is not False
        detail = (
            "In sync with the registry."
            if in_sync
            else "Drift: the table differs from the registry's; run `modelreg serve reconcile`."
        )
        return seen.model_copy(update={"in_sync": in_sync, "detail": detail})

    def _verify(self, built: BuiltTable, generation: int) -> RouterUpdate:
        try:
            back = self.admin.get_table()
        except RouterCallError as exc:
            result = self._result(built, generation, changed=True, verified=False)
            return result.model_copy(update={"detail": f"{result.detail} Read-back failed: {exc}"})
        if back.generation == generation and back.table == built.table:
            return self._result(built, generation, changed=True, verified=True)
        # Only a later writer can change it, with a table computed from a newer registry state.
        result = self._result(built, generation, changed=True, verified=False)
        return result.model_copy(
            update={
                "generation": back.generation,
                "detail": f"Router table generation {generation} written, then superseded by "
                f"generation {back.generation} from another writer.",
            }
        )

    def _result(
        self, built: BuiltTable, generation: int, *, changed: bool, verified: bool
    ) -> RouterUpdate:
        routes = {name: route.default for name, route in built.table.routes.items()}
        detail = (
            f"Router table generation {generation} "
            + ("written and verified" if changed else "already up to date")
            + "."
        )
        if built.omitted:
            detail += f" Left out: {'; '.join(built.omitted)}."
        return RouterUpdate(
            updated=True,
            verified=verified,
            url=self.url,
            generation=generation,
            changed=changed,
            routes=routes,
            omitted=built.omitted,
            detail=detail,
        )


def last_write(first: RouterUpdate | None, second: RouterUpdate | None) -> RouterUpdate | None:
    """The second push's result, unless it found the table the first push wrote (then the
    first one says what happened: written and verified, rather than "already up to date")."""
    if (
        first is not None
        and second is not None
        and first.changed
        and second.updated
        and not second.changed
        and second.generation == first.generation
    ):
        return first
    return second

"""The routing table the registry wants: per model the versions its backend has ready, and the
routes of models.yaml with every ``{best_of_task: T}`` resolved from the registry.

A model served by KServe's model server gets ``upstream`` (that server's URL, ``backend:
kserve``): the router forwards to it over the Open Inference Protocol; a TorchServe model
has none (the router's default TorchServe).

A version enters the table only when its backend reports it ready (the router refuses any
other), so a Staging version still loading is left out, reported in ``omitted``, and added
by the next push. A route enters the table only when every model it can pick has a ready
Production version; otherwise the whole route is left out (never a route with a rule
silently dropped) and ``omitted`` says why.

``best_of_task: T`` is the model, among the managed models of task T (per the registry's
policy) with a ready Production version, whose Production card has the best primary metric,
in that policy's direction; ties go to the first name. Models of one task ranked by
different metrics (or directions) are not comparable: such a task has no winner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.core.registry import Registry
from serving.backend import ServingBackend
from serving.config import BestOfTask, ModelsConfig, Task
from serving.errors import ServingError, ServingErrorCode
from serving.naming import served_name
from serving.router.table import (
    Canary,
    ModelEntry,
    ModelUpstream,
    RoutingTable,
    TableRoute,
    routes_from_config,
)

_READY = ("READY", "PARTIAL")


class BuiltTable(BaseModel):
    """A routing table and what was left out of it, with the reason."""

    model_config = ConfigDict(frozen=True)

    table: RoutingTable
    winners: dict[Task, str] = Field(default_factory=dict, description="task -> best model")
    omitted: list[str] = Field(default_factory=list)


class TableBuilder:
    """Computes the routing table from the registry and what each model's backend has ready."""

    def __init__(
        self,
        registry: Registry,
        config: ModelsConfig,
        backend_for: Callable[[str], ServingBackend],
        upstream_for: Callable[[str], ModelUpstream | None],
    ) -> None:
        self._registry = registry
        self._config = config
        self._backend_for = backend_for
        self._upstream_for = upstream_for

    def build(self, models: Iterable[str]) -> BuiltTable:
        omitted: list[str] = []
        entries: dict[str, ModelEntry] = {}
        for name in models:
            entry = self._entry(name, omitted)
            if entry is not None:
                entries[name] = entry
        winners = self._winners(entries, omitted)
        routes: dict[str, TableRoute] = {}
        for route_name, route in self._config.routes.items():
            single = self._config.model_copy(update={"routes": {route_name: route}})
            try:
                (table_route,) = routes_from_config(single, winners).values()
            except KeyError as exc:
                omitted.append(f"route {route_name!r}: {exc.args[0]}")
                continue
            problem = _unserved_target(table_route, entries)
            if problem is not None:
                omitted.append(f"route {route_name!r}: {problem}")
                continue
            routes[route_name] = table_route
        return BuiltTable(
            table=RoutingTable(models=entries, routes=routes), winners=winners, omitted=omitted
        )

    def _entry(self, name: str, omitted: list[str]) -> ModelEntry | None:
        summary = self._registry.model_summary(name)
        approved = summary.approved
        served = served_name(summary.name)
        ready = self._ready(name, served)
        where = "TorchServe" if self._config.get(name).backend == "torchserve" else "KServe"
        versions: dict[str, int] = {}
        for stage in ("production", "previous", "staging"):
            version = getattr(approved, stage)
            if version is None:
                continue
            if version in ready:
                versions[stage] = version
            else:
                omitted.append(f"model {name!r} {stage} v{version}: not ready in {where}")
        if versions.get("previous") is not None and versions.get("previous") == versions.get(
            "production"
        ):
            del versions["previous"]
        if not versions:
            return None
        return ModelEntry(
            served_name=served,
            input_schema=self._config.get(name).input_schema,
            pinned_versions=self._config.get(name).pinned_versions,
            canary=self._canary(name, versions, omitted),
            upstream=self._upstream_for(name),
            in_flight=self._config.get(name).router_in_flight(),
            **versions,
        )

    def _canary(self, name: str, versions: dict[str, int], omitted: list[str]) -> Canary | None:
        running = self._registry.releases.canary(name)
        if running is None:
            return None
        canary = running.canary
        warm = {versions.get("previous"), versions.get("staging")}
        if canary.version not in warm or canary.version == versions.get("production"):
            omitted.append(f"model {name!r} canary v{canary.version}: not ready in TorchServe")
            return None
        return Canary(version=canary.version, percent=canary.percent, mode=canary.mode)

    def _ready(self, name: str, served: str) -> set[int]:
        try:
            description = self._backend_for(name).describe(served)
        except ServingError as exc:
            if exc.code is ServingErrorCode.NOT_FOUND:
                return set()
            raise
        return {
            v.registry_version
            for v in description.versions
            if v.status in _READY and v.registry_version is not None
        }

    def _winners(self, entries: dict[str, ModelEntry], omitted: list[str]) -> dict[Task, str]:
        """The best Production model of every task a route asks for."""
        tasks = sorted(
            {
                target.best_of_task
                for route in self._config.routes.values()
                for _, target in route.targets()
                if isinstance(target, BestOfTask)
            }
        )
        winners: dict[Task, str] = {}
        for task in tasks:
            winner, problem = self._best_of(task, entries)
            if winner is not None:
                winners[task] = winner
            elif problem is not None:
                omitted.append(f"best_of_task {task!r}: {problem}")
        return winners

    def _best_of(self, task: Task, entries: dict[str, ModelEntry]) -> tuple[str | None, str | None]:
        candidates = [
            (name, entry.production)
            for name, entry in sorted(entries.items())
            if entry.production is not None and self._registry.policy(name).task == task
        ]
        if not candidates:
            return None, None  # routes_from_config names the task in the route's reason
        cards = self._registry.cards_for(candidates)
        ranked = []
        for name, version in candidates:
            policy = self._registry.policy(name)
            value = cards[(name, version)].baseline_metrics.get(policy.primary_metric)
            ranked.append(Ranked(name, value, policy.primary_metric, policy.metric_direction))
        return best_ranked(ranked)


@dataclass(frozen=True)
class Ranked:
    """One candidate of ``best_of_task``: its Production card's primary metric value."""

    model: str
    value: float | None
    metric: str
    direction: str  # "higher" or "lower" is better


def best_ranked(candidates: Iterable[Ranked]) -> tuple[str | None, str | None]:
    """(the winner, or None and why): the best value in its direction; ties go to the first.
    Candidates ranked by different metrics or directions are not comparable."""
    scored: list[tuple[str, float]] = []
    rankings: set[tuple[str, str]] = set()
    for c in candidates:
        if c.value is None:
            continue  # a card without the metric cannot win
        rankings.add((c.metric, c.direction))
        scored.append((c.model, -c.value if c.direction == "lower" else c.value))
    if len(rankings) > 1:
        return None, (
            "its Production models rank by different metrics or directions "
            f"({sorted(rankings)}); give them one primary_metric in models.yaml"
        )
    if not scored:
        return None, "no Production model of this task has its primary metric on its card"
    best = max(score for _, score in scored)
    return next(name for name, score in scored if score == best), None


def _unserved_target(route: TableRoute, entries: dict[str, ModelEntry]) -> str | None:
    targets = [("default", route.default)]
    targets += [(f"rules[{i}]", rule.model) for i, rule in enumerate(route.rules)]
    for where, model in targets:
        entry = entries.get(model)
        if entry is None or entry.production is None:
            return f"{where} model {model!r} has no Production version ready in TorchServe"
    return None

"""The router's routing table on Kubernetes (ConfigMap ``router-table``, written by Terraform
from ``modelreg tf vars``; the router follows the mounted file).

What ``modelreg serve`` PUTs to a local router, computed from the desired versions instead of
from what a TorchServe reports ready: every model with a desired version enters with its
Production, previous and Staging (the versions its pods load), its input schema, and
``upstream`` = its own Services (``ts-<model>:8080``, ``ts-<model>-management:8081``; a
KServe-backed model: its InferenceService's predictor Service ``ks-<model>-predictor`` for
both, ``"backend": "kserve"``); a model without a version is left out (its pods load
nothing). The router checks the table against each model's TorchServe before it uses it, as
it checks ``PUT /admin/table``.

A route of models.yaml enters only when every model it can pick has a desired Production
version and its ``{best_of_task: T}`` targets are resolved; otherwise the whole route is left
out and ``omitted`` says why (never a route with a rule silently dropped). ``best_of_task: T``
is resolved by the rule of ``deploy.routing_table``: among the models of task T with a
Production version, the one whose Production card has the best primary metric, in its
direction; ties go to the first name; models of one task ranked by different metrics (or
directions) have no winner. The cards come from the registry: written with
``--no-registry`` (``cards`` None), no card is known and such routes are left out. Canaries
are not part of the cluster's desired state: the table has none.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.core.registry import Registry
from registry_mcp.deploy.kubernetes.desired import DesiredVersions, k8s_name
from registry_mcp.deploy.kubernetes.inferenceservice import Backend, backend_of, predictor_service
from registry_mcp.deploy.kubernetes.workloads import (
    INFERENCE_PORT,
    MANAGEMENT_PORT,
    torchserve_name,
)
from registry_mcp.deploy.routing_table import Ranked, best_ranked
from serving.config import BestOfTask, ModelsConfig, RouteConfig, Task
from serving.naming import served_name
from serving.router.table import (
    ModelEntry,
    ModelUpstream,
    RoutingTable,
    routes_from_config,
)

#: (model, version) -> the primary metrics on that version's card
Cards = Mapping[tuple[str, int], Mapping[str, float]]


class RouterTable(BaseModel):
    """The rendered table and what was left out of it, with the reason."""

    model_config = ConfigDict(frozen=True)

    table: RoutingTable
    omitted: list[str] = Field(default_factory=list)
    backends: dict[str, Backend] = Field(
        default_factory=dict, description="Model -> its backend, where it is not TorchServe."
    )

    def text(self) -> str:
        """The table file (JSON, keys sorted, no nulls): what ``--initial-table`` reads."""
        data = self.table.model_dump(mode="json", exclude_none=True)
        for model, backend in self.backends.items():
            # Written here while the table's schema has no backend field (it then round-trips).
            data["models"][model]["upstream"].setdefault("backend", backend)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def checksum(self) -> str:
        return hashlib.sha256(self.text().encode()).hexdigest()


def model_upstream(model: str, backend: Backend = "torchserve") -> ModelUpstream:
    """The model's Services, by their names in the router's namespace: TorchServe's two, or
    the predictor Service of its InferenceService (port 80; OIP and the management API)."""
    if backend == "kserve":
        url = f"http://{predictor_service(k8s_name(model))}"
        fields: dict[str, str] = {"inference_url": url, "management_url": url}
        if "backend" in ModelUpstream.model_fields:
            fields["backend"] = backend
        return ModelUpstream.model_validate(fields)
    name = torchserve_name(k8s_name(model))
    return ModelUpstream(
        inference_url=f"http://{name}:{INFERENCE_PORT}",
        management_url=f"http://{name}-management:{MANAGEMENT_PORT}",
    )


def production_cards(registry: Registry, desired: DesiredVersions, models: list[str]) -> Cards:
    """The metrics on the cards of the desired Production versions."""
    pairs = [(m, v) for m in models if (v := desired.of(m).production) is not None]
    return {pair: card.baseline_metrics for pair, card in registry.cards_for(pairs).items()}


def router_table(
    config: ModelsConfig, desired: DesiredVersions, models: list[str], cards: Cards | None
) -> RouterTable:
    omitted: list[str] = []
    entries: dict[str, ModelEntry] = {}
    backends: dict[str, Backend] = {}
    for model in models:
        versions = desired.of(model)
        if not versions.loaded():
            omitted.append(f"model {model!r}: no version to serve")
            continue
        previous = versions.previous if versions.previous != versions.production else None
        entries[model] = ModelEntry(
            served_name=served_name(model),
            production=versions.production,
            previous=previous,
            staging=versions.staging,
            input_schema=config.get(model).input_schema,
            pinned_versions=config.get(model).pinned_versions,
            upstream=model_upstream(model, backend_of(config.get(model))),
            in_flight=config.get(model).router_in_flight(config.get(model).kubernetes.replicas),
        )
        if backend_of(config.get(model)) != "torchserve":
            backends[model] = backend_of(config.get(model))
    winners = _winners(config, entries, cards, omitted)
    served = {
        name: route
        for name, route in sorted(config.routes.items())
        if not _omitted_route(name, route, entries, winners, omitted)
    }
    routes = routes_from_config(config.model_copy(update={"routes": served}), winners)
    table = RoutingTable(models=entries, routes=routes)
    return RouterTable(table=table, omitted=omitted, backends=backends)


def _omitted_route(
    name: str,
    route: RouteConfig,
    entries: dict[str, ModelEntry],
    winners: Mapping[Task, str],
    omitted: list[str],
) -> bool:
    """Whether the route can pick a model without a Production version (then it says why)."""
    for where, target in route.targets():
        if isinstance(target, BestOfTask):
            if target.best_of_task not in winners:
                omitted.append(
                    f"route {name!r}: {where} is {{best_of_task: {target.best_of_task}}}, "
                    "which has no winner"
                )
                return True
            continue
        entry = entries.get(target)
        if entry is None or entry.production is None:
            omitted.append(f"route {name!r}: {where} model {target!r} has no Production version")
            return True
    return False


def _winners(
    config: ModelsConfig, entries: dict[str, ModelEntry], cards: Cards | None, omitted: list[str]
) -> dict[Task, str]:
    tasks = sorted(
        {
            target.best_of_task
            for route in config.routes.values()
            for _, target in route.targets()
            if isinstance(target, BestOfTask)
        }
    )
    winners: dict[Task, str] = {}
    for task in tasks:
        if cards is None:
            omitted.append(
                f"best_of_task {task!r}: ranking needs the Production cards in the registry "
                "(written with --no-registry)"
            )
            continue
        candidates = [
            (name, entry.production)
            for name, entry in sorted(entries.items())
            if entry.production is not None and config.get(name).task == task
        ]
        winner, problem = _best_of(config, candidates, cards)
        if winner is not None:
            winners[task] = winner
        elif problem is not None:
            omitted.append(f"best_of_task {task!r}: {problem}")
    return winners


def _best_of(
    config: ModelsConfig, candidates: list[tuple[str, int]], cards: Cards
) -> tuple[str | None, str | None]:
    if not candidates:
        return None, None  # routes_from_config names the task in the route's reason
    ranked = []
    for name, version in candidates:
        model = config.get(name)
        assert model.metric_direction is not None  # resolved by the schema's validator
        value = cards.get((name, version), {}).get(model.primary_metric)
        ranked.append(Ranked(name, value, model.primary_metric, model.metric_direction))
    return best_ranked(ranked)  # the rule `serve up` uses

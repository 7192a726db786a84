"""What the registry says should serve, for Prometheus (scraped by monitoring/prometheus).

Collected at each scrape, from the registry's own tables (no cache, nothing written)::

    modelreg_registry_version{model,stage}                 gauge  stage: production, staging,
                                                                  previous (the rollback target)
    modelreg_registry_stage_changes_total{model,kind}      counter kind: promote (to Production),
                                                                  rollback, outside (aliases
                                                                  moved outside modelreg)
    modelreg_registry_last_change_timestamp_seconds{model} gauge  time of the last such change
    modelreg_model_latency_sla_seconds{model}              gauge  models.yaml latency_sla_ms
    modelreg_model_error_budget_ratio{model}               gauge  models.yaml error_budget
    modelreg_registry_up                                   gauge  1 if the registry answered

The router exports what *does* serve (``modelreg_router_active_version``); the alert rules
compare the two, and judge each model's latency and errors against its own SLO series here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy.exc import SQLAlchemyError

from registry_mcp.core.registry import Registry
from registry_mcp.domain.errors import RegistryError
from registry_mcp.domain.schemas import AuditAction, Decision, Stage
from registry_mcp.store.database import audit_table

_log = logging.getLogger(__name__)
_PAGE = 1000


class RegistryCollector(Collector):
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("modelreg_registry_up", "1 if the registry answered this scrape.")
        try:
            families = [*self._versions(), *self._changes(), *self._slos()]
        except (RegistryError, SQLAlchemyError) as exc:
            _log.warning("registry metrics unavailable: %s", exc)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from families

    def _versions(self) -> list[Metric]:
        family = GaugeMetricFamily(
            "modelreg_registry_version",
            "The version a human approved in each stage (previous = the rollback target).",
            labels=["model", "stage"],
        )
        pending = GaugeMetricFamily(
            "modelreg_registry_unapproved_version",
            "The version MLflow's alias shows in a stage moved outside modelreg, pending a "
            "human's decision (absent when MLflow agrees with the approved stages).",
            labels=["model", "stage"],
        )
        cursor: str | None = None
        while True:
            page = self._registry.list_models(limit=_PAGE, cursor=cursor)
            for model in page.items:
                for stage, version in (
                    ("production", model.production_version),
                    ("staging", model.staging_version),
                    ("previous", model.previous_production_version),
                ):
                    if version is not None:
                        family.add_metric([model.name, stage], float(version))
                found = model.unapproved_aliases
                if found is None:
                    continue
                for stage, version in (
                    ("production", found.production),
                    ("staging", found.staging),
                    ("previous", found.previous),
                ):
                    # -1: the alias was removed (a stage left empty around modelreg).
                    pending.add_metric([model.name, stage], -1.0 if version is None else version)
            cursor = page.next_cursor
            if cursor is None:
                return [family, pending]

    def _changes(self) -> list[Metric]:
        a = audit_table.c
        kind = sa.case(
            (a.action == AuditAction.ROLLBACK.value, "rollback"),
            (a.action == AuditAction.UNAPPROVED_CHANGE.value, "outside"),
            else_="promote",
        ).label("kind")
        counted = sa.or_(
            sa.and_(
                a.action == AuditAction.TRANSITION.value,
                a.to_stage == Stage.PRODUCTION.value,
                a.decision == Decision.DONE.value,
            ),
            sa.and_(a.action == AuditAction.ROLLBACK.value, a.decision == Decision.DONE.value),
            a.action == AuditAction.UNAPPROVED_CHANGE.value,
        )
        query = (
            sa.select(a.model, kind, sa.func.count(), sa.func.max(a.at_ms))
            .where(counted)
            .group_by(a.model, kind)
        )
        changes = CounterMetricFamily(
            "modelreg_registry_stage_changes",
            "Production changes per model: promote, rollback, or outside (made around modelreg).",
            labels=["model", "kind"],
        )
        last = GaugeMetricFamily(
            "modelreg_registry_last_change_timestamp_seconds",
            "Unix time of the model's last Production change.",
            labels=["model"],
        )
        latest: dict[str, int] = {}
        with self._registry.engine.connect() as conn:
            for model, change, count, at_ms in conn.execute(query):
                changes.add_metric([model, change], float(count))
                latest[model] = max(latest.get(model, 0), int(at_ms))
        for model, at_ms in sorted(latest.items()):
            last.add_metric([model], at_ms / 1000)
        return [changes, last]

    def _slos(self) -> list[Metric]:
        sla = GaugeMetricFamily(
            "modelreg_model_latency_sla_seconds",
            "The model's latency SLA from models.yaml (alerts compare p99 with it).",
            labels=["model"],
        )
        budget = GaugeMetricFamily(
            "modelreg_model_error_budget_ratio",
            "Share of the model's requests that may fail (models.yaml error_budget).",
            labels=["model"],
        )
        config = self._registry.policies.file.config
        for name in sorted(config.models):
            model = config.get(name)
            sla.add_metric([name], model.latency_sla_ms / 1000)
            budget.add_metric([name], model.error_budget)
        return [sla, budget]


def registry_metrics(registry: Registry) -> CollectorRegistry:
    """A collector registry holding only the registry's metrics (nothing global)."""
    from registry_mcp.metrics.control_exporter import ControlCollector
    from registry_mcp.store.settings import controller_heartbeat

    collectors = CollectorRegistry(auto_describe=False)
    collectors.register(RegistryCollector(registry))
    collectors.register(ControlCollector(registry, controller_heartbeat(registry.settings.home)))
    return collectors

"""What the serving controller and the guards did, for Prometheus (next to the registry's).

Collected at each scrape from the audit trail, the guards table and the controller's
heartbeat file under the data home (nothing written)::

    modelreg_serving_repairs_total{model,outcome}        counter repairs the controller made
                                                                 (outcome: done, failed; model
                                                                 "*": a restarted process)
    modelreg_guard_outcomes_total{model,status}          counter guards that ended: passed,
                                                                 rolled_back, rolling_back,
                                                                 unjudged, superseded
    modelreg_controller_last_tick_timestamp_seconds      gauge   when the controller last
                                                                 checked serving and guards

A guard ending ``unjudged`` (its evidence was lost) and a controller that stopped ticking
are alerts (monitoring/prometheus/rules/alerts.yml).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from registry_mcp.core.registry import Registry
from registry_mcp.domain.schemas import AuditAction
from registry_mcp.store.database import audit_table, guards_table
from registry_mcp.store.releases import GuardStatus


class ControlCollector(Collector):
    def __init__(self, registry: Registry, heartbeat: Path) -> None:
        self._registry = registry
        self._heartbeat = heartbeat

    def collect(self) -> Iterator[Metric]:
        repairs = CounterMetricFamily(
            "modelreg_serving_repairs",
            "Repairs the controller made to keep serving on the approved registry state.",
            labels=["model", "outcome"],
        )
        outcomes = CounterMetricFamily(
            "modelreg_guard_outcomes",
            "Guarded promotions that ended, by how (unjudged: the window's evidence was lost).",
            labels=["model", "status"],
        )
        a, g = audit_table.c, guards_table.c
        with self._registry.engine.connect() as conn:
            for model, decision, count in conn.execute(
                sa.select(a.model, a.decision, sa.func.count())
                .where(a.action == AuditAction.REPAIR.value)
                .group_by(a.model, a.decision)
            ):
                repairs.add_metric([model, decision], float(count))
            for model, status, count in conn.execute(
                sa.select(g.model, g.status, sa.func.count())
                .where(g.status != GuardStatus.WATCHING.value)
                .group_by(g.model, g.status)
            ):
                outcomes.add_metric([model, status], float(count))
        yield repairs
        yield outcomes
        tick = GaugeMetricFamily(
            "modelreg_controller_last_tick_timestamp_seconds",
            "Unix time the controller last checked serving and guards (absent: never).",
        )
        with contextlib.suppress(OSError, ValueError):
            tick.add_metric([], float(self._heartbeat.read_text().strip()))
            yield tick

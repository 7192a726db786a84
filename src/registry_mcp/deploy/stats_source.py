"""Where a guard's window comes from: the router's own ``/admin/stats`` (one router, the
local stack) or Prometheus (every router pod summed: a cluster, where each router replica
holds only its share of the traffic). Chosen by ``MODELREG_GUARD_STATS_FROM`` /
``MODELREG_PROMETHEUS_URL`` or the controller's ``--stats-from`` / ``--prometheus-url``.

Errors: RegistryError(INVALID_INPUT) for a choice that cannot work (Prometheus without a
URL, a URL that is not http(s)); reading the window raises what each source raises.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlparse

import httpx

from registry_mcp.deploy.deployment import Deployment
from registry_mcp.deploy.guard_watch import StatsSource
from registry_mcp.deploy.prometheus_stats import PrometheusStats
from registry_mcp.deploy.releases import router_stats
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.store.settings import Settings

StatsFrom = Literal["router", "prometheus"]


def parse_stats_from(text: str | None) -> StatsFrom | None:
    """``--stats-from``'s value (None: not given), or INVALID_INPUT."""
    if text is None:
        return None
    if text == "router":
        return "router"
    if text == "prometheus":
        return "prometheus"
    raise RegistryError(
        ErrorCode.INVALID_INPUT,
        f"--stats-from {text!r}: give router (the router's own window) or prometheus (every "
        "router replica summed, with --prometheus-url)",
    )


def check_prometheus_url(url: str, setting: str) -> str:
    """``url`` without a trailing slash, or INVALID_INPUT naming ``setting``."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"{setting} {url!r} is not an http(s) URL; give Prometheus' address, e.g. "
            "http://prometheus.monitoring:9090",
        )
    return url.rstrip("/")


def prometheus_url_of(
    settings: Settings, stats_from: StatsFrom | None, prometheus_url: str | None
) -> str | None:
    """The Prometheus to read guards' windows from (None: the router's own window). Options
    win over settings; checked before anything starts."""
    chosen = stats_from or settings.guard_stats_from
    if chosen == "router":
        return None
    if prometheus_url is not None:
        return check_prometheus_url(prometheus_url, "--prometheus-url")
    if settings.prometheus_url is not None:
        return check_prometheus_url(settings.prometheus_url, "MODELREG_PROMETHEUS_URL")
    raise RegistryError(
        ErrorCode.INVALID_INPUT,
        "guard statistics from Prometheus need its address: pass --prometheus-url URL or set "
        "MODELREG_PROMETHEUS_URL (e.g. http://prometheus.monitoring:9090), or read the "
        "router's own window with --stats-from router",
    )


def guard_stats(
    prometheus_url: str | None,
    http: httpx.Client,
    *,
    scrape_interval_s: float,
    deployment: Deployment | None,
) -> StatsSource:
    """The guard watcher's source: Prometheus when ``prometheus_url`` is given (``http``
    reaches it), else ``deployment``'s router."""
    if prometheus_url is not None:
        return PrometheusStats(prometheus_url, http, scrape_interval_s=scrape_interval_s)
    if deployment is None:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            "guards read the router's window, and no local serving is open here; read "
            "Prometheus instead (--stats-from prometheus --prometheus-url URL)",
        )
    local = deployment
    return lambda since, until: router_stats(local, since, until)

"""A guard's window from Prometheus (every router replica summed), in the shape of the
router's ``GET /admin/stats`` (``StatsReply``), so a guard in the cluster does not judge one
router pod's share of the traffic.

Counted as the router's window counts: ``requests`` are outcomes ok, backend_error,
unavailable and timeout; ``errors`` the last three; ``rejected`` is upstream_rejected; p50/p99
are over those requests' latency histogram. ``increase()`` over the window widened by one
scrape interval (Prometheus extrapolates to its edges, so counts are rounded estimates, exact
only in their ratio when both counters move together). Feedback is per row
(``feedback_rows``, ``correct``, ``accuracy``): the router exports no per-request accuracy,
so ``feedback_requests`` is 0 and ``request_accuracy`` None here, and a guard on accuracy
cannot be judged from this source.

Errors: RegistryError(BACKEND) when Prometheus cannot be reached or refuses a query.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import httpx

from registry_mcp.domain.errors import ErrorCode, RegistryError
from serving.router.window import StatsReply, VersionStats

_COUNTED = 'outcome=~"ok|backend_error|unavailable|timeout"'
_ERRORS = 'outcome=~"backend_error|unavailable|timeout"'
_Key = tuple[str, str]


class PrometheusStats:
    """``StatsSource`` over Prometheus' HTTP API (``/api/v1/query``)."""

    def __init__(
        self,
        url: str,
        http: httpx.Client,
        *,
        scrape_interval_s: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = http
        self._lookback = scrape_interval_s
        self._clock = clock

    def __call__(self, since: float, until: float | None = None) -> StatsReply:
        now = self._clock()
        end = now if until is None else until
        # increase() sees only samples inside its range: one scrape interval more reaches
        # the last sample before ``since``, so a jump between it and the first one after
        # counts (at the price of up to one interval of earlier traffic).
        window = f"{max(1, math.ceil(end - since + self._lookback))}s"

        def increase(metric: str, where: str) -> dict[_Key, float]:
            return self._query(
                f"sum by (model, version) (increase({metric}{{{where}}}[{window}]))", end
            )

        def quantile(q: float) -> dict[_Key, float]:
            buckets = f'modelreg_router_request_duration_seconds_bucket{{model!="", {_COUNTED}}}'
            return self._query(
                f"histogram_quantile({q}, sum by (model, version, le) "
                f"(increase({buckets}[{window}])))",
                end,
            )

        requests = increase("modelreg_router_requests_total", f'model!="", {_COUNTED}')
        errors = increase("modelreg_router_requests_total", f'model!="", {_ERRORS}')
        rejected = increase("modelreg_router_requests_total", 'outcome="upstream_rejected"')
        rows = increase("modelreg_router_feedback_rows_total", 'model!=""')
        correct = increase("modelreg_router_feedback_correct_total", 'model!=""')
        p50, p99 = quantile(0.5), quantile(0.99)
        models: dict[str, dict[str, VersionStats]] = {}
        for key in sorted(set(requests) | set(rejected) | set(rows)):
            model, version = key
            count, failed = round(requests.get(key, 0.0)), round(errors.get(key, 0.0))
            labelled, right = round(rows.get(key, 0.0)), round(correct.get(key, 0.0))
            models.setdefault(model, {})[version] = VersionStats(
                requests=count,
                errors=failed,
                error_ratio=errors.get(key, 0.0) / requests[key] if requests.get(key) else None,
                p50_ms=_ms(p50.get(key)) if count else None,
                p99_ms=_ms(p99.get(key)) if count else None,
                rejected=round(rejected.get(key, 0.0)),
                feedback_requests=0,
                request_accuracy=None,
                feedback_rows=labelled,
                correct=right,
                accuracy=correct.get(key, 0.0) / rows[key] if rows.get(key) else None,
                first_error_at=None,
                truncated=False,
                complete_since=since,
            )
        return StatsReply(now=now, since=since, until=end, started_at=since, models=models)

    def _query(self, promql: str, at: float) -> dict[_Key, float]:
        try:
            reply = self._http.get(
                f"{self.url}/api/v1/query", params={"query": promql, "time": f"{at:.3f}"}
            )
        except httpx.HTTPError as exc:
            raise RegistryError(
                ErrorCode.BACKEND, f"Prometheus at {self.url} did not answer: {exc}"
            ) from None
        body = reply.json() if reply.headers.get("content-type", "").startswith("app") else {}
        if reply.status_code != 200 or body.get("status") != "success":
            raise RegistryError(
                ErrorCode.BACKEND,
                f"Prometheus at {self.url} refused a query ({reply.status_code}): "
                f"{body.get('error', reply.text[:200])}",
            )
        found: dict[_Key, float] = {}
        for sample in body["data"]["result"]:
            labels = sample["metric"]
            value = float(sample["value"][1])
            if "model" in labels and "version" in labels and not math.isnan(value):
                found[(labels["model"], labels["version"])] = value
        return found


def _ms(seconds: float | None) -> float | None:
    """Milliseconds; None without a finite value. A quantile in the +Inf bucket (timeouts)
    is the top finite bucket's bound: a lower bound of the true latency."""
    if seconds is None or math.isinf(seconds):
        return None
    return seconds * 1000

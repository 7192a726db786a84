"""The Prometheus config of a local stack: its scrape targets at the ports in effect.

The same document for `modelreg monitoring config` (a Prometheus you run next to `serve up`)
and the demo's own Prometheus: the router, TorchServe's metrics port and the registry
exporter (`modelreg metrics`), with the checkout's recording and alert rules when present.
"""

from __future__ import annotations

from pathlib import Path

import yaml  # type: ignore[import-untyped]

RULES = Path(__file__).resolve().parents[3] / "monitoring" / "prometheus" / "rules"
"""The checkout's rules (absent from an installed wheel)."""

EXPORTER_PORT = 9109
"""`modelreg metrics`' default port."""


def prometheus_config(
    *,
    router: str,
    exporter: str,
    torchserve_metrics: str,
    rules: Path | None,
    interval: str = "15s",
) -> str:
    """YAML for ``prometheus --config.file``; targets are ``host:port``; rule files are
    absolute, so the config works from any working directory."""
    document: dict[str, object] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
    }
    if rules is not None:
        document["rule_files"] = [str(p.resolve()) for p in sorted(rules.glob("*.yml"))]
    document["scrape_configs"] = [
        {"job_name": job, "static_configs": [{"targets": [target]}]}
        for job, target in (
            ("modelreg-router", router),
            ("modelreg-registry", exporter),
            ("torchserve", torchserve_metrics),
        )
    ]
    text: str = yaml.safe_dump(document, sort_keys=False)
    return text

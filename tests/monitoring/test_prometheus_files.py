"""monitoring/prometheus: the config, the rules and each alert's unit tests, checked by
Prometheus' own promtool (Debian package `prometheus`; `make test` installs it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

PROMETHEUS = Path(__file__).resolve().parents[2] / "monitoring" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`; `make tools`)")
    return found


def _run(promtool: str, *args: str) -> str:
    done = subprocess.run(
        [promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_the_config_and_rules_are_valid(promtool: str) -> None:
    out = _run(promtool, "check", "config", "prometheus.yml")
    assert "2 rule files found" in out
    out = _run(promtool, "check", "rules", *sorted(str(p) for p in PROMETHEUS.glob("rules/*")))
    assert "SUCCESS" in out


def test_every_alert_has_a_firing_and_a_quiet_case(promtool: str) -> None:
    _run(promtool, "test", "rules", "tests/alerts_test.yml")
    alerts = {
        rule["alert"]
        for group in yaml.safe_load((PROMETHEUS / "rules" / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    }
    tests = yaml.safe_load((PROMETHEUS / "tests" / "alerts_test.yml").read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    firing = {c["alertname"] for c in cases if c["exp_alerts"]}
    quiet = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert alerts == firing == quiet


# Each change undoes one property the unit tests pin; the named case must then fail.
BROKEN = {
    "a higher threshold silences an alert": (
        "alerts.yml",
        "group_left 14.4 * max by (model) (modelreg_model_error_budget_ratio)",
        "group_left 144 * max by (model) (modelreg_model_error_budget_ratio)",
        "alertname: ModelErrorBudgetBurnFast, time: 4m",
    ),
    "without the volume minimum the canary's blip pages": (
        "alerts.yml",
        "and model_version:modelreg_router_requests:increase1h >= 100",
        "and model_version:modelreg_router_requests:increase1h >= 10",
        "alertname: ModelErrorBudgetBurnFast, time: 4m",
    ),
    "a `for: 15m` on the 15-minute window fires at 30": (
        "alerts.yml",
        "        # No `for`: the 15-minute window is the wait (a `for: 15m` on top made it 30).\n",
        "        for: 15m\n",
        "alertname: ProductionModelWithoutTraffic, time: 26m",
    ),
    "a p99 of the answers that came back hides timeouts": (
        "recording.yml",
        "histogram_quantile(0.99, sum by (model, version, le) (rate("
        'modelreg_router_request_duration_seconds_bucket{model!="", '
        'outcome=~"ok|unavailable|timeout|backend_error|not_served"}',
        "histogram_quantile(0.99, sum by (model, version, le) (rate("
        'modelreg_router_request_duration_seconds_bucket{model!="", outcome="ok"}',
        "alertname: ModelP99AboveLatencySLA, time: 20m",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_rule_fails_the_unit_tests(promtool: str, tmp_path: Path, case: str) -> None:
    """The unit tests can fail: undoing a fix makes the case that pins it fail."""
    file, old, new, failing = BROKEN[case]
    rules = tmp_path / "rules"
    shutil.copytree(PROMETHEUS / "rules", rules)
    text = (rules / file).read_text()
    assert old in text, old
    (rules / file).write_text(text.replace(old, new))
    (tmp_path / "tests").mkdir()
    shutil.copy(PROMETHEUS / "tests" / "alerts_test.yml", tmp_path / "tests")
    done = subprocess.run(
        [promtool, "test", "rules", "tests/alerts_test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "parse error" not in out
    assert failing in out


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE):
        found.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return found


def test_every_alert_links_a_runbook_section_of_the_readme() -> None:
    readme = (PROMETHEUS.parents[1] / "README.md").read_text(encoding="utf-8")
    anchors = _anchors(readme)
    groups = yaml.safe_load((PROMETHEUS / "rules" / "alerts.yml").read_text())["groups"]
    alerts = [rule for group in groups for rule in group["rules"]]
    assert len(alerts) >= 11
    for alert in alerts:
        url = alert["annotations"].get("runbook_url", "")
        assert url.startswith("README.md#"), alert["alert"]
        assert url.removeprefix("README.md#") in anchors, (alert["alert"], url)
    # The anchors are the ones GitHub writes.
    assert {"monitoring-prometheus-and-grafana", "canaries-and-guarded-promotions"} <= anchors

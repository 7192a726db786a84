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


def test_a_broken_rule_fails_the_unit_tests(promtool: str, tmp_path: Path) -> None:
    """The unit tests can fail: raising a threshold silences an alert they expect."""
    rules = tmp_path / "rules"
    shutil.copytree(PROMETHEUS / "rules", rules)
    alerts = rules / "alerts.yml"
    alerts.write_text(
        alerts.read_text().replace(
            "> on (model) group_left max by (model) (modelreg_model_error_budget_ratio)",
            "> on (model) group_left max by (model) (10 * modelreg_model_error_budget_ratio)",
        )
    )
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
    assert re.search(r"alertname: ModelErrorRatioAboveBudget, time: 15m", out)

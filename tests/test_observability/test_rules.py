"""The rules pass promtool's tests, every alert has a case that fires and one that must not."""
from __future__ import annotations

import subprocess

import pytest

import yaml

from tests.test_observability.stack import DOCKER

pytestmark = pytest.mark.timeout(180)


def test_promtool_rule_tests_pass() -> None:
    tests = sorted((DOCKER / "prometheus" / "tests").glob("*.yml"))
    assert tests
    done = subprocess.run(["promtool", "test", "rules", *map(str, tests)], cwd=DOCKER / "prometheus",
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_promtool_case() -> None:
    rules = [r for f in (DOCKER / "prometheus" / "rules").glob("*.yml")
             for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]
    tested: dict[str, set[str]] = {}
    for path in (DOCKER / "prometheus" / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                tested.setdefault(check["alertname"], set()).add("fires" if check["exp_alerts"] else "silent")
    for rule in rules:
        if "alert" in rule:
            assert tested.get(rule["alert"]) == {"fires", "silent"}, f"{rule['alert']}: {tested.get(rule['alert'])}"
        assert "severity" in rule.get("labels", {"severity": ""}) and rule.get("annotations", {"summary": 1})["summary"]


def test_prometheus_config_and_rules_check() -> None:
    done = subprocess.run(["promtool", "check", "config", "prometheus.yml"], cwd=DOCKER / "prometheus",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr

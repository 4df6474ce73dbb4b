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


ALERTMANAGER = DOCKER / "alertmanager"


def test_alertmanager_config_checks() -> None:
    done = subprocess.run(["amtool", "check-config", "alertmanager.yml"], cwd=ALERTMANAGER,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "1 templates" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize(("labels", "receiver"), [
    (["alertname=MovieRecsServiceDown", "severity=critical"], "slack-critical"),
    (["alertname=MovieRecsWorkerDown", "severity=warning"], "slack-alerts"),
])
def test_critical_alerts_route_to_their_own_channel(labels: list[str], receiver: str) -> None:
    done = subprocess.run(["amtool", "config", "routes", "test", "--config.file=alertmanager.yml", *labels],
                          cwd=ALERTMANAGER, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == receiver, done.stdout + done.stderr


def test_the_webhook_url_is_never_in_the_repo() -> None:
    config = yaml.safe_load((ALERTMANAGER / "alertmanager.yml").read_text())
    assert config["global"]["slack_api_url_file"].startswith("/run/secrets/")
    receivers = [c for r in config["receivers"] for c in r.get("slack_configs", [])]
    assert receivers and not any("api_url" in c for c in receivers) and "slack_api_url" not in config["global"]
    channels = {c["channel"] for c in receivers}
    assert len(channels) == 2


def test_every_alert_is_routed_by_a_known_severity() -> None:
    severities = {r["labels"]["severity"] for f in (DOCKER / "prometheus" / "rules").glob("*.yml")
                  for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"] if "alert" in r}
    assert severities == {"warning", "critical"}

"""docker/docker-compose.yml (Docker cannot run here): what it mounts exists, and the services,
ports and paths the mounted configs name are the ones compose defines."""
from __future__ import annotations

import yaml

from tests.test_observability.stack import DOCKER, WORKER_JOB

COMPOSE = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def mounts(service: str) -> dict[str, str]:
    """Container path -> host path of a service's bind mounts (named volumes left out)."""
    out = {}
    for volume in SERVICES[service].get("volumes", []):
        host, container = volume.split(":")[:2]
        if host.startswith("."):
            out[container] = host
    return out


def test_the_full_stack_is_there() -> None:
    assert {"kafka", "worker-1", "worker-2", "prometheus", "alertmanager", "grafana", "minio"} <= set(SERVICES)
    kafka = SERVICES["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    ids = {SERVICES[w]["environment"]["MOVIE_RECS_WORKER_ID"] for w in ("worker-1", "worker-2")}
    assert ids == {"worker-1", "worker-2"}
    assert {v.split(":")[0] for w in ("worker-1", "worker-2") for v in SERVICES[w]["volumes"]
            if "data" in v} == {"worker-1-data", "worker-2-data"}  # never one data dir for two workers
    named = {v.split(":")[0] for s in SERVICES.values() for v in s.get("volumes", []) if not v.startswith(".")}
    assert named <= set(COMPOSE["volumes"])


def test_every_mounted_file_exists() -> None:
    for name in SERVICES:
        for host in mounts(name).values():
            assert (DOCKER / host).exists(), f"{name} mounts {host}, which is not in the repo"


def test_prometheus_scrapes_the_compose_workers_and_loads_the_tested_rules() -> None:
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == WORKER_JOB)
    port = SERVICES["worker-1"]["environment"]["MOVIE_RECS_WEB_PORT"]
    assert job["static_configs"][0]["targets"] == [f"worker-1:{port}", f"worker-2:{port}"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    mounted = mounts("prometheus")
    assert mounted["/etc/prometheus/prometheus.yml"] == "./prometheus/prometheus.yml"
    assert mounted["/etc/prometheus/rules"] == "./prometheus/rules" and config["rule_files"] == ["rules/*.yml"]


def test_alertmanager_gets_its_webhook_from_a_secret_and_its_templates() -> None:
    config = yaml.safe_load((DOCKER / "alertmanager" / "alertmanager.yml").read_text())
    secret = config["global"]["slack_api_url_file"]
    assert secret == "/run/secrets/slack_webhook_url" and "slack_webhook_url" in SERVICES["alertmanager"]["secrets"]
    assert COMPOSE["secrets"]["slack_webhook_url"] == {"environment": "SLACK_WEBHOOK_URL"}
    assert mounts("alertmanager")["/etc/alertmanager/templates"] == "./alertmanager/templates"
    assert config["templates"] == ["templates/*.tmpl"]


def test_grafana_provisions_the_data_source_and_the_generated_dashboards() -> None:
    mounted = mounts("grafana")
    provider = yaml.safe_load((DOCKER / "grafana" / "provisioning" / "dashboards" / "movierecs.yml").read_text())
    assert mounted[provider["providers"][0]["options"]["path"]] == "./grafana/dashboards"
    source = yaml.safe_load((DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DOCKER / "grafana" / "dashboards" / home.rsplit("/", 1)[1]).exists()

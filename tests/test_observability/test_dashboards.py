"""Dashboards as code: the files are the generator's output, and every query names exported series."""
from __future__ import annotations

import importlib.util
import json

import pytest
import yaml

from tests.test_observability.exported import PENDING, exported_names, names_in, registered
from tests.test_observability.stack import DOCKER

GRAFANA = DOCKER / "grafana"


def generator():
    spec = importlib.util.spec_from_file_location("grafana_generate", GRAFANA / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recording_rules() -> set[str]:
    return {r["record"] for f in (DOCKER / "prometheus" / "rules").glob("*.yml")
            for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"] if "record" in r}


def all_exprs() -> list[tuple[str, str, str]]:
    """(dashboard, panel, expr) of every target of every generated dashboard."""
    return [(name, p["title"], t["expr"]) for name, board in generator().DASHBOARDS.items()
            for p in board["panels"] for t in p["targets"]]


def test_checked_in_dashboards_are_the_generators_output() -> None:
    gen = generator()
    files = {p.stem: p.read_text() for p in (GRAFANA / "dashboards").glob("*.json")}
    assert files == {name: gen.render(board) for name, board in gen.DASHBOARDS.items()}, \
        "run python docker/grafana/generate.py"


def test_dashboards_cover_the_five_areas_and_use_the_provisioned_data_source() -> None:
    boards = generator().DASHBOARDS
    assert set(boards) == {"slo", "stream", "models", "fairness", "security"}
    uid = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"][0]["uid"]
    for board in boards.values():
        assert board["panels"] and len({p["id"] for p in board["panels"]}) == len(board["panels"])
        assert all(p["datasource"]["uid"] == uid and p["targets"] for p in board["panels"])
    assert len({b["uid"] for b in boards.values()}) == len(boards)


def test_every_query_names_only_series_the_app_exports() -> None:
    exported, recorded = exported_names(), recording_rules()
    for board, title, expr in all_exprs():
        rules, series = names_in(expr)
        assert rules <= recorded, f"{board}/{title}: no recording rule {rules - recorded}"
        assert rules or series, f"{board}/{title}: reads no series"
        assert series <= exported, f"{board}/{title}: {series - exported} never exported"


def test_every_alert_and_recording_rule_names_only_exported_series() -> None:
    exported, recorded = exported_names(), recording_rules()
    for f in (DOCKER / "prometheus" / "rules").glob("*.yml"):
        for group in yaml.safe_load(f.read_text())["groups"]:
            for rule in group["rules"]:
                rules, series = names_in(rule["expr"])
                assert rules <= recorded and series <= exported, (rule, rules - recorded, series - exported)


def test_the_name_check_catches_a_typo_and_pending_names_are_not_registered_twice() -> None:
    assert not names_in("rate(movierecs_answer_total[5m])")[1] <= exported_names()  # answers, not answer
    stale = set(PENDING) & set(registered())
    assert not stale, f"now registered, delete from PENDING: {sorted(stale)}"


@pytest.mark.parametrize("name", ["slo", "stream", "models", "fairness", "security"])
def test_dashboard_json_loads(name: str) -> None:
    board = json.loads((GRAFANA / "dashboards" / f"{name}.json").read_text())
    assert board["uid"] == f"movierecs-{name}" and board["editable"] is False

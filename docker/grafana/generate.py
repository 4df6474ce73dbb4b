"""Grafana dashboards of movie-recs as code: ``python docker/grafana/generate.py`` rewrites dashboards/*.json.

The JSON is generated, never edited by hand; tests/test_observability checks that the files
match this generator and that every panel's query runs in a real Prometheus and names only
series the worker exports (or recording rules of docker/prometheus/rules).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
JOB = 'job="movie-recs-worker"'
WIDTH, HEIGHT = 8, 8


def panel(title: str, *exprs: tuple[str, str], unit: str = "short", kind: str = "timeseries",
          description: str = "") -> dict[str, Any]:
    """One panel; ``exprs`` are (PromQL, legend) pairs."""
    return {"type": kind, "title": title, "description": description, "datasource": DATASOURCE,
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {},
            "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend, "datasource": DATASOURCE}
                        for i, (expr, legend) in enumerate(exprs)]}


def dashboard(uid: str, title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    """A dashboard with ``panels`` laid out three to a row."""
    placed = []
    for i, p in enumerate(panels):
        placed.append({**p, "id": i + 1, "gridPos": {"x": (i % 3) * WIDTH, "y": (i // 3) * HEIGHT, "w": WIDTH, "h": HEIGHT}})
    return {"uid": uid, "title": title, "tags": ["movie-recs"], "timezone": "utc", "schemaVersion": 39,
            "version": 1, "editable": False, "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
            "templating": {"list": []}, "annotations": {"list": []}, "panels": placed}


def rate(metric: str, by: str, window: str = "5m", where: str = "") -> str:
    selector = ",".join(filter(None, [JOB, where]))
    return f"sum by ({by}) (rate({metric}{{{selector}}}[{window}]))"


def quantile(q: float, by: str) -> str:
    return f"histogram_quantile({q}, {rate('movierecs_answer_seconds_bucket', f'le, {by}')})"


SLO = dashboard("movierecs-slo", "movie-recs: service SLOs", [
    panel("Answers per second by status", (rate("movierecs_answers_total", "status"), "{{status}}"), unit="reqps"),
    panel("5xx share of answers (SLO 1%)", ("job:movierecs_answer_errors:ratio_rate5m", "5m"),
          ("job:movierecs_answer_errors:ratio_rate1h", "1h"), unit="percentunit"),
    panel("Availability: workers up", ("job:up:ratio", "share up"), (f"up{{{JOB}}}", "{{instance}}"), unit="percentunit"),
    panel("p95 answer time by channel (SLO 5 ms)", ("job_via:movierecs_answer_seconds:p95_5m", "{{via}}"), unit="s"),
    panel("p99 answer time by channel (SLO 10 ms)", ("job_via:movierecs_answer_seconds:p99_5m", "{{via}}"), unit="s"),
    panel("p99 answer time by arm", (quantile(0.99, "arm"), "{{arm}}"), unit="s"),
    panel("Answers by strategy", (rate("movierecs_answers_total", "strategy"), "{{strategy}}"), unit="reqps"),
    panel("Answers by arm", (rate("movierecs_answers_total", "arm"), "{{arm}}"), unit="reqps"),
    panel("Answers never recorded (trace or response lost)", (rate("movierecs_unrecorded_answers_total", "instance"),
                                                              "{{instance}}"), unit="reqps"),
])

STREAM = dashboard("movierecs-stream", "movie-recs: stream health", [
    panel("Events ingested per second", ("topic:movierecs_events_ingested:rate5m", "{{topic}}"), unit="ops"),
    panel("Consumer lag by group", ("group:movierecs_consumer_lag:sum", "{{group}}")),
    panel("Consumer lag by partition", (f"max by (group, topic, partition) (movierecs_consumer_lag{{{JOB}}})",
                                        "{{group}} {{topic}}/{{partition}}")),
    panel("Lag reading stale", (f"max by (group) (movierecs_consumer_lag_stale{{{JOB}}})", "{{group}}")),
    panel("Dead letters per second by reason", (rate("movierecs_dead_letters_total", "topic, reason"),
                                                "{{topic}} {{reason}}"), unit="ops"),
    panel("Events rerouted and replayed", (rate("movierecs_events_rerouted_total", "topic"), "rerouted {{topic}}"),
          (rate("movierecs_events_replayed_total", "topic"), "replayed {{topic}}"), unit="ops"),
    panel("Snapshot rows per second", (rate("movierecs_snapshot_rows_written_total", "topic"), "{{topic}}"), unit="ops"),
    panel("Since the last snapshot file", (f"time() - max by (topic) (movierecs_snapshot_last_file_timestamp_seconds{{{JOB}}})",
                                           "{{topic}}"), unit="s"),
    panel("Snapshot store", (f"min(movierecs_snapshot_store_available{{{JOB}}})", "available"),
          (f"max(movierecs_snapshot_consumption_paused{{{JOB}}})", "paused"),
          (f"sum(movierecs_snapshot_buffered_events{{{JOB}}})", "buffered events")),
    panel("Table rows", (f"sum by (table) (movierecs_table_rows{{{JOB}}})", "{{table}}")),
    panel("Tables recovered", (f"movierecs_tables_recovered{{{JOB}}}", "{{instance}}")),
    panel("Partitions owned and standby", (f"movierecs_partitions_owned{{{JOB}}}", "owned {{instance}}"),
          (f"movierecs_standby_partitions{{{JOB}}}", "standby {{instance}}")),
])

MODELS = dashboard("movierecs-models", "movie-recs: models and rollout", [
    panel("Models served", (f"movierecs_model_info{{{JOB}}}",
                            "{{arm}} {{model_name}} v{{model_version}} {{git_sha}} {{data_snapshot_id}}"), kind="table"),
    panel("Canary percent", (f"max(movierecs_rollout_canary_percent{{{JOB}}})", "canary %"), unit="percent"),
    panel("Lists served by arm", (rate("movierecs_rollout_served_lists_total", "arm"), "{{arm}}"), unit="ops"),
    panel("Conversion rate by arm", (f"{rate('movierecs_rollout_conversions_total', 'arm', '30m')} / "
                                     f"{rate('movierecs_rollout_served_lists_total', 'arm', '30m')}", "{{arm}}"),
          unit="percentunit"),
    panel("Rollbacks by reason (1h)", (f"sum by (reason) (increase(movierecs_rollout_rollbacks_total{{{JOB}}}[1h]))",
                                       "{{reason}}")),
    panel("Decision by experiment (1 ship, 0 inconclusive, -1 keep)",
          (f"max by (experiment, arm) (movierecs_rollout_decision{{{JOB}}})", "{{experiment}} {{arm}}")),
    panel("Retrain runs by outcome (1d)", ("sum by (outcome) (increase(movierecs_retrain_runs_total[1d]))", "{{outcome}}")),
    panel("Model age by arm", (f"time() - max by (arm) (movierecs_model_trained_timestamp_seconds{{{JOB}}})", "{{arm}}"),
          ("time() - max(movierecs_retrain_last_success_timestamp_seconds)", "since last retrain"), unit="s"),
    panel("Model load p95", ("histogram_quantile(0.95, sum by (le, model_name) "
                             f"(rate(movierecs_model_load_seconds_bucket{{{JOB}}}[1h])))", "{{model_name}}"), unit="s"),
])

FAIRNESS = dashboard("movierecs-fairness", "movie-recs: fairness", [
    panel("Exposure Gini by arm", (f"max by (arm) (movierecs_fairness_gini{{{JOB}}})", "{{arm}}")),
    panel("Catalog coverage by arm (alert < 10%)", (f"min by (arm) (movierecs_fairness_coverage{{{JOB}}})", "{{arm}}"),
          unit="percentunit"),
    panel("Starvation by arm", (f"max by (arm) (movierecs_fairness_starvation{{{JOB}}})", "{{arm}}"), unit="percentunit"),
    panel("Long-tail share by arm (alert < 5%)", (f"min by (arm) (movierecs_fairness_tail_share{{{JOB}}})", "{{arm}}"),
          unit="percentunit"),
    panel("Amplification by tier", (f"max by (arm, tier) (movierecs_fairness_amplification{{{JOB}}})",
                                    "{{arm}} {{tier}}")),
    panel("Responses in the window", (f"sum by (arm) (movierecs_fairness_responses{{{JOB}}})", "{{arm}}")),
    panel("Catalog size", (f"max(movierecs_catalog_movies{{{JOB}}})", "movies")),
])

SECURITY = dashboard("movierecs-security", "movie-recs: security and spam", [
    panel("Refused admin calls by status", (rate("movierecs_auth_denied_total", "status"), "{{status}}"), unit="reqps"),
    panel("Rate limited by channel", (rate("movierecs_rate_limited_total", "channel"), "{{channel}}"), unit="reqps"),
    panel("Spam flags by action (1h)", (f"sum by (action) (increase(movierecs_spam_flags_total{{{JOB}}}[1h]))",
                                        "{{action}}")),
    panel("Quarantined users", (f"max(movierecs_spam_quarantined_users{{{JOB}}})", "users")),
    panel("Spam threshold (rate events per window)", (f"max(movierecs_spam_threshold{{{JOB}}})", "threshold")),
    panel("Build running", (f"count by (version, git_sha) (movierecs_build_info{{{JOB}}})", "{{version}} {{git_sha}}"),
          kind="table"),
])

DASHBOARDS = {"slo": SLO, "stream": STREAM, "models": MODELS, "fairness": FAIRNESS, "security": SECURITY}


def render(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, sort_keys=True) + "\n"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, board in DASHBOARDS.items():
        (OUT / f"{name}.json").write_text(render(board))
    print(f"wrote {len(DASHBOARDS)} dashboards to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every ``bench/`` module runs at a tiny size and ends with its JSON line.

A refactor of the shared bench harness once broke ``python -m bench.snapshots`` (a README
command) and nothing noticed; these runs are what notices. They check that a run finishes
and reports sane counts, never a speed: speed claims are the benchmarks' own business.
A new bench module adds its entry to ``SMOKE``, or a smoke test of its own elsewhere under
``tests/`` (``test_smoke.py`` here runs the model benchmarks) (``test_every_bench_module_has_a_smoke_run`` fails until one of them exists).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO

BENCH = REPO / "bench"


@dataclass(frozen=True)
class Smoke:
    """A tiny run of one bench module and what its JSON line must say."""

    args: list[str]
    check: Callable[[dict], None]
    kafka: bool = True
    timeout_s: float = 240.0
    env: dict[str, str] = field(default_factory=dict)


def ingest_counts(result: dict) -> None:
    assert result["events"] == 3000
    assert 0 < result["worker_measured_events"] <= 3000 and result["events_per_s"] > 0
    assert result["faust_noop_events_per_s"] > 0 and result["worker_cpu_us_per_event"] > 0
    assert 0 < result["user_row_bytes"] < result["user_row_json_bytes"]


def snapshot_counts(result: dict) -> None:
    assert result["events"] == 3000 and result["exactly_once"] is True and result["files"] >= 1


def serve_answers(result: dict) -> None:
    assert result["errors"] == 0 and result["p50_ms"] > 0
    # the worker's recovered changelog partitions are held paused, not fetched
    assert result["servers"]["ours"]["consumer_partitions"]["paused"] > 0 and result["fetched_partitions"] > 0


def fetch_cases(result: dict) -> None:
    cases = result["cases"]
    assert all(c["arrived"] == c["messages"] > 0 for c in cases.values())
    assert [cases[k]["fetched"] for k in ("floor", "assigned", "paused", "fewer")] == [8, 24, 16, 16]


def failover_figures(result: dict) -> None:
    (round_,) = result["rounds"]
    assert result["workers"] == 2 and all(round_[k] > 0 for k in ("resume_s", "restart_s", "failover_s", "join_s"))
    phases = round_["phases"]  # read from the restarted worker's log, in the order a start goes through
    assert 0 < phases["logs_s"] < phases["joined_s"] < round_["restart_s"], phases
    assert 0 < phases["model_s"] <= round_["restart_s"], phases
    # an owner answers once its user's partition is rebuilt: the last one may still be read then
    assert phases["recovered_s"] is None or phases["recovered_s"] > phases["joined_s"], phases


def soak_figures(result: dict) -> None:
    assert [p["workers"] for p in result["phases"]] == [1, 2]
    assert all(p["samples"] >= 2 and p["requests"] > 0 and p["ingest_events_per_s"] > 0 for p in result["phases"])
    assert all(p["per_minute"] and p["per_minute"][0]["rss_mb"] > 0 for p in result["phases"])


def sink_memory_figures(result: dict) -> None:
    assert result["events"] == 3000 and result["buffer_bytes_per_event"] > 0 and result["service_bytes_per_event"] > 0
    assert result["add_us_per_event"] > 0 and result["encode_us_per_event"] > 0


def serve_http_answers(result: dict) -> None:
    assert result["ours_50_errors"] == 0 and result["ours_50_p50_ms"] > 0


SMOKE: dict[str, Smoke] = {
    "ingest": Smoke(["--events", "3000", "--faust-noop"], ingest_counts),
    "snapshots": Smoke(["--events", "3000", "--rounds", "1"], snapshot_counts),
    "failover": Smoke(["--workers", "2", "--rounds", "1", "--events", "500"], failover_figures, timeout_s=400),
    "soak": Smoke(["--minutes", "0.25", "--workers", "1,2", "--sample-s", "3", "--event-rate", "100",
                   "--request-rate", "5"], soak_figures, timeout_s=400),
    "fetch_partitions": Smoke(["--rate", "50", "--seconds", "1", "--warmup-s", "0.2", "--topics-of-8", "3",
                               "--paused", "8"], fetch_cases),
    "serve_kafka": Smoke(["--rate", "20", "--requests", "20", "--warmup-s", "0.5"], serve_answers),
    "sink_memory": Smoke(["--smoke"], sink_memory_figures, kafka=False),
    "serve_http": Smoke(["--rates", "50", "--requests", "20", "--rounds", "1", "--no-max",
                         "--settle-s", "0.5"], serve_http_answers),
}
"""Bench module -> its smoke run."""
HELPERS = {"faust_noop", "serving_peers"}
"""Modules the benchmarks start or import, run by their smoke runs, not benchmarks of their own."""


def smoked_elsewhere(module: str) -> bool:
    """Whether another test runs or imports ``bench/<module>.py`` (its author's own smoke run)."""
    pattern = re.compile(rf"bench[./]{module}\b|from bench import [^\n]*\b{module}\b")
    return any(pattern.search(path.read_text(errors="replace")) for path in (REPO / "tests").rglob("test_*.py")
               if path.resolve() != Path(__file__).resolve())


def test_every_bench_module_has_a_smoke_run() -> None:
    modules = {path.stem for path in BENCH.glob("*.py")} - {"__init__"} - HELPERS - set(SMOKE)
    assert {m for m in modules if not smoked_elsewhere(m)} == set(), "bench modules without a smoke run"


def last_json_line(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines, "no output"
    return json.loads(lines[-1])


@pytest.mark.parametrize("module", sorted(SMOKE))
def test_bench_module_finishes_with_its_json_line(module: str, request: pytest.FixtureRequest) -> None:
    smoke = SMOKE[module]
    request.node.add_marker(pytest.mark.timeout(smoke.timeout_s + 30))
    env = {**os.environ, **smoke.env}
    if smoke.kafka:
        request.node.add_marker(pytest.mark.kafka)
        env["MOVIE_RECS_KAFKA_BOOTSTRAP"] = request.getfixturevalue("kafka_bootstrap")
    done = subprocess.run([sys.executable, "-m", f"bench.{module}", *smoke.args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=smoke.timeout_s)
    trace = done.stderr.rfind("Traceback")
    assert done.returncode == 0, f"bench.{module} exited {done.returncode}:\n{done.stderr[trace:][-4000:]}"
    smoke.check(last_json_line(done.stdout))

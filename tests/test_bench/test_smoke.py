"""Every quality benchmark runs at a tiny size and ends with its JSON line (what CI checks of bench/)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.timeout(300)


def last_json(*args: str) -> dict:
    done = subprocess.run([sys.executable, *args, "--smoke"], cwd=REPO, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_models_bench_reports_leave_last_out_with_intervals_and_paired_differences() -> None:
    report = last_json("bench/models.py", "--models", "popularity,als")
    als = report["models"]["als"]
    full = next(m for m in als["metrics"] if m["protocol"] == "full")
    assert full["hr@10_ci"][0] <= full["hr@10"] <= full["hr@10_ci"][1]
    paired, popularity = als["paired"]["vs_baseline"], report["models"]["popularity"]["paired"]
    assert paired["ndcg@10"] == pytest.approx(als["paired"]["ndcg@10"] - popularity["ndcg@10"], abs=2e-4)


def test_policy_bench_reports_every_protocol_beside_most_popular() -> None:
    report = last_json("bench/policy.py", "--protocol", "leave-last-out,temporal,cold-start", "--models", "als")
    rows = report["rows"]
    assert {r["protocol"] for r in rows} == {"leave-last-out", "temporal", "cold-start"}
    assert {r["n"] for r in rows if r["protocol"] == "cold-start"} == {0, 1, 3, 5, 10}
    for row in rows:
        assert row["ndcg@10_ci"][0] <= row["ndcg@10"] <= row["ndcg@10_ci"][1]
        assert (row["vs_most_popular"] is None) == (row["ranker"] == "most-popular")
    served = [r for r in rows if r["ranker"] == "als served" and r["protocol"] == "cold-start"]
    assert all("vs_plain" in r and "vs_no_history" in r for r in served)
    assert set(report["policies"]) == {"leave-last-out", "time cut"}
    assert "fold-in" in report["policies"]["time cut"]["als"] and "config" in report["policies"]["time cut"]["als"]

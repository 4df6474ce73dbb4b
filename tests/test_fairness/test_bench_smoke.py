"""The offline fairness bench at its smoke size: it runs, writes its figure, and ends with its JSON."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_bench_fairness_smoke(tmp_path):
    out = subprocess.run([sys.executable, "bench/fairness.py", "--smoke", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=170, check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert (tmp_path / "fairness_tradeoff.png").stat().st_size > 1000
    assert len(report["rows"]) == 4
    base = report["baseline"]["test"]
    assert 0 < base["coverage"] <= 1 and 0 <= base["ndcg@10"] <= 1
    # The popularity penalty moves exposure to the tail: what the bench exists to show.
    penalty = next(r for r in report["rows"] if r["spec"].startswith("popularity_penalty"))
    assert penalty["test"]["tail_share"] > base["tail_share"]
    assert f"{base['coverage']:.3f}" in (tmp_path / "fairness_tradeoff.md").read_text()


@pytest.mark.timeout(180)
def test_bench_rerank_latency_smoke():
    out = subprocess.run([sys.executable, "bench/rerank_latency.py", "--smoke"], cwd=ROOT, capture_output=True,
                         text=True, timeout=170, check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert len(report["baseline"]["runs"]) == 2 and report["baseline"]["p50_ms"] > 0
    deep = report["specs"]["popularity_penalty:beta=0.3|explore:slots=2,depth=100"]
    assert deep["p50_ms"] > 0 and deep["p50_ratio"] == pytest.approx(deep["p50_ms"] / report["baseline"]["p50_ms"])

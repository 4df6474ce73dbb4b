"""The closed-loop simulation at smoke size: the loop runs, learns from watches, and writes its outputs."""
import json
import subprocess
import sys

import numpy as np
import pytest

from models.data.synthetic import generate
from models.simulation import SimulationConfig, run_closed_loop
from models.simulation.closed_loop import _ndcg_against_truth
from scipy.sparse import csr_matrix
from tests.conftest import REPO


def test_ndcg_against_truth_by_hand():
    chance = np.array([[0.9, 0.5, 0.1, 0.0] + [0.0] * 8])
    seen = csr_matrix(([1.0], ([0], [0])), shape=(1, 12))  # movie 0 already watched
    lists = np.array([[2, 1] + [-1] * 8])
    ideal = 0.5 + 0.1 / np.log2(3)
    assert _ndcg_against_truth(lists, chance, seen)[0] == pytest.approx((0.1 + 0.5 / np.log2(3)) / ideal)


@pytest.mark.timeout(120)
def test_exploration_widens_coverage_in_the_loop():
    frame, catalog = generate(n_users=60, n_movies=120, n_interactions=1_800, seed=1)
    results = run_closed_loop(frame, catalog, SimulationConfig(days=3, retrain_every=2),
                              ["none", "explore:slots=3,depth=10"])
    plain, explore = results["none"], results["explore:slots=3,depth=10"]
    assert [d["day"] for d in plain] == [1, 2, 3]
    assert all(0 <= d["ndcg@10"] <= 1 and d["watches_per_list"] > 0 for d in plain)
    assert np.mean([d["coverage"] for d in explore]) > np.mean([d["coverage"] for d in plain])


@pytest.mark.timeout(170)
def test_cli_smoke_writes_the_table_and_plot(tmp_path):
    run = subprocess.run([sys.executable, "-m", "app.cli", "simulate", "--closed-loop", "--smoke", "--days", "2",
                          "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=160)
    assert run.returncode == 0, run.stderr[-2000:]
    table = (tmp_path / "closed_loop.md").read_text()
    data = json.loads((tmp_path / "closed_loop.json").read_text())
    assert set(data["days"]) == {"none", "explore:slots=2,depth=10"} and len(data["days"]["none"]) == 2
    assert "simulate --closed-loop --smoke" in table and (tmp_path / "closed_loop.png").stat().st_size > 1000
    last = data["days"]["none"][-1]
    assert f"{np.mean([d['coverage'] for d in data['days']['none']]):.3f}" in table and last["coverage"] > 0

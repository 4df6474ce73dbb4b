"""``movie-recs evaluate --protocol cold-start|temporal --json`` on a tiny ratings file: one row per ranker."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.data.synthetic import generate
from tests.conftest import REPO

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def ratings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A u.data file (tab-separated, seconds) of tiny synthetic data."""
    frame, _ = generate(n_users=120, n_movies=150, n_interactions=3000, seed=1)
    path = tmp_path_factory.mktemp("ml") / "u.data"
    lines = (f"{u}\t{m}\t{int(r)}\t{ts // 1000}" for u, m, r, ts in frame[["user_id", "movie_id", "rating", "ts"]]
             .itertuples(index=False))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("protocol", ["cold-start", "temporal"])
def test_evaluate_protocol_prints_each_ranker_with_intervals(ratings: Path, tmp_path: Path, protocol: str) -> None:
    env = {**os.environ, "MOVIE_RECS_DATA_DIR": str(tmp_path), "MOVIE_RECS_REGISTRY": f"file://{tmp_path / 'reg'}"}
    done = subprocess.run([sys.executable, "-m", "app.cli", "evaluate", "--protocol", protocol, "--data", str(ratings),
                           "--models", "als", "--no-tune", "--json"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=280)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert rows and {r["protocol"] for r in rows} == {protocol}
    rankers = {r["ranker"] for r in rows}
    assert {"most-popular", "als plain", "als served"} <= rankers
    for row in rows:
        low, high = row["ndcg@10_ci"]
        assert low <= row["ndcg@10"] <= high
        assert ("vs_most_popular.ndcg@10" in row) == (row["ranker"] != "most-popular")

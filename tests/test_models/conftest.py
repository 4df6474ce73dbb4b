"""Fixtures of the model tests: a tiny two-cluster data set whose right answers are known."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.interactions import IdMaps, recency_matrix

ML100K = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ml-100k"

CLUSTER_USERS = 12
CLUSTER_ITEMS = 10
"""Users 0-11 watch only items 0-9 (cluster A); users 12-23 only items 10-19 (cluster B)."""

# Parameters that make each model learn a 24 x 20 matrix quickly; the defaults are sized for
# MovieLens (NCF's batch of 2048 would be one step per epoch here).
TINY_PARAMS = {
    "popularity": {},
    "itemcf": {"neighbours": 5},
    "als": {"factors": 2, "regularization": 1.0},  # rank 2: the two clusters, nothing to memorise
    # tiny embeddings for the same reason as ALS's rank 2 (seed 0 is fixed: training is stochastic)
    "ncf": {"gmf_dim": 2, "mlp_dim": 2, "mlp_layers": (4,), "epochs": 40, "batch_size": 64, "lr": 0.01},
}


def cluster_frame(seed: int = 7) -> pd.DataFrame:
    """Each user has 6 of their cluster's 10 items, at increasing times; raw ids are not dense."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(2 * CLUSTER_USERS):
        cluster = user // CLUSTER_USERS
        items = rng.choice(CLUSTER_ITEMS, size=6, replace=False) + cluster * CLUSTER_ITEMS
        for step, item in enumerate(items):
            rows.append((1000 + 7 * user, 500 + 3 * int(item), 4.0, 1_000_000 + 60_000 * (user + step)))
    frame = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "ts"])
    return frame.astype({"rating": "float32"}).sort_values("ts", kind="stable").reset_index(drop=True)


@pytest.fixture(scope="session")
def clusters():
    """(frame, id maps, recency matrix) of the two-cluster data."""
    frame = cluster_frame()
    maps = IdMaps.from_frame(frame)
    return frame, maps, recency_matrix(frame, maps)


@pytest.fixture(scope="session")
def ml100k_path() -> Path:
    """MovieLens 100K beside the project (skips when the shared data is not there)."""
    if not ML100K.exists():
        pytest.skip(f"MovieLens 100K not found at {ML100K}")
    return ML100K


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: trains on MovieLens 100K (tens of seconds)")

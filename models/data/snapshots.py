"""Interactions from snapshot events: a user's first watch or any rating of a movie counts."""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.data.movielens import INTERACTION_COLUMNS


def interactions_from_events(watch: pd.DataFrame, rate: pd.DataFrame,
                             excluded_users: frozenset[int] = frozenset()) -> pd.DataFrame:
    """One row per (user, movie) in the MovieLens frame layout, sorted by time.

    ``ts`` is the first time the user watched or rated the movie; ``rating`` the latest
    rating, NaN when the movie was only watched. ``excluded_users`` (quarantined spam
    accounts) contribute nothing.
    """
    events = pd.concat([
        watch[["user_id", "movie_id", "ts"]].assign(rating=np.nan),
        rate[["user_id", "movie_id", "ts", "rating"]].astype({"rating": "float64"}),
    ], ignore_index=True)
    if excluded_users:
        events = events[~events["user_id"].isin(list(excluded_users))]
    events = events.sort_values(["ts", "user_id", "movie_id"], kind="stable")
    pairs = events.groupby(["user_id", "movie_id"], sort=False)
    frame = pd.DataFrame({"ts": pairs["ts"].min(), "rating": pairs["rating"].last()}).reset_index()
    frame = frame.astype({"user_id": "int64", "movie_id": "int64", "rating": "float32", "ts": "int64"})
    return frame[INTERACTION_COLUMNS].sort_values(["ts", "user_id", "movie_id"], kind="stable").reset_index(drop=True)

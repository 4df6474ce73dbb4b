"""Snapshot events become one interaction per user and movie."""
import math

import pandas as pd

from models.data.snapshots import interactions_from_events


def test_first_time_and_latest_rating_per_pair() -> None:
    watch = pd.DataFrame({"ts": [10, 11, 12, 50], "user_id": [1, 1, 1, 2], "movie_id": [7, 7, 7, 8],
                          "minute": [0, 1, 2, 0]})
    rate = pd.DataFrame({"ts": [20, 30, 5], "user_id": [1, 1, 3], "movie_id": [7, 7, 9], "rating": [2, 5, 4]})
    frame = interactions_from_events(watch, rate)
    assert frame[["user_id", "movie_id", "ts"]].values.tolist() == [[3, 9, 5], [1, 7, 10], [2, 8, 50]]
    assert frame["rating"].tolist()[:2] == [4.0, 5.0] and math.isnan(frame["rating"].iloc[2])


def test_excluded_users_leave_no_trace() -> None:
    watch = pd.DataFrame({"ts": [1, 2], "user_id": [1, 2], "movie_id": [1, 1], "minute": [0, 0]})
    rate = pd.DataFrame({"ts": [3], "user_id": [2], "movie_id": [2], "rating": [5]})
    assert interactions_from_events(watch, rate, frozenset({2}))["user_id"].tolist() == [1]

"""Decayed per-movie counts: exact decay, top-k with exclusions, rebuilds and serialisation."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.trending import DAY_MS, TrendingCounts

T0 = 1_700_000_000_000


def test_two_events_one_half_life_apart_score_exactly():
    trending = TrendingCounts(half_life_days=1.0)
    trending.update(7, T0)
    trending.update(7, T0 + DAY_MS)
    assert trending.scores_of([7], now=T0 + DAY_MS)[0] == pytest.approx(1.5)  # 0.5 + 1
    assert trending.scores_of([7], now=T0 + 3 * DAY_MS)[0] == pytest.approx(0.375)  # 1.5 / 4


def test_without_half_life_counts_are_all_time():
    trending = TrendingCounts(None)
    for ts in (T0, T0 + 400 * DAY_MS, T0 - 50 * DAY_MS):
        trending.update(3, ts)
    assert trending.scores_of([3, 4], now=T0 + 9999 * DAY_MS).tolist() == [3.0, 0.0]


def test_order_of_events_does_not_matter():
    events = [(1, T0), (2, T0 + DAY_MS // 2), (1, T0 + 2 * DAY_MS), (2, T0 - DAY_MS)]
    forward, backward = TrendingCounts(2.0), TrendingCounts(2.0)
    for movie, ts in events:
        forward.update(movie, ts)
    for movie, ts in reversed(events):
        backward.update(movie, ts)
    now = T0 + 3 * DAY_MS
    np.testing.assert_allclose(forward.scores_of([1, 2], now), backward.scores_of([1, 2], now))
    assert forward.scores_of([2], now)[0] == pytest.approx(2 ** -1.25 + 2 ** -2)


def test_update_many_equals_one_update_per_event():
    movies = np.array([5, 9, 5, 1, 9, 5])
    ts = T0 + np.array([0, 1, 2, 3, 4, 5]) * DAY_MS
    one_by_one, at_once = TrendingCounts(1.5), TrendingCounts(1.5)
    for movie, when in zip(movies, ts):
        one_by_one.update(int(movie), int(when))
    at_once.update_many(movies, ts)
    now = int(ts[-1])
    np.testing.assert_allclose(one_by_one.scores_of([1, 5, 9], now), at_once.scores_of([1, 5, 9], now))


def test_years_of_short_half_lives_neither_overflow_nor_lose_the_ranking():
    trending = TrendingCounts(half_life_days=1.0)
    trending.update(1, T0)
    for day in range(0, 2000, 7):  # 2000 half-lives: 2 ** 2000 would overflow without rebasing
        trending.update(2, T0 + day * DAY_MS)
    trending.update(1, T0 + 2000 * DAY_MS)
    assert np.all(np.isfinite(trending.scores()))
    # movie 2: weekly events, the last one 5 days ago, a geometric series
    np.testing.assert_allclose(trending.scores_of([1, 2]), [1.0, 2 ** -5 / (1 - 2 ** -7)])
    assert trending.top_k(2)[0].tolist() == [1, 2]


def test_top_k_honours_exclude_and_only_returns_counted_movies():
    trending = TrendingCounts(None, movie_ids=[10, 20, 30, 40])  # 40 registered, never counted
    trending.update_many(np.array([10, 10, 10, 20, 20, 30]), np.full(6, T0))
    movies, scores = trending.top_k(3, exclude=[10, 99])
    assert movies.tolist() == [20, 30] and scores.tolist() == [2.0, 1.0]
    assert trending.top_k(2)[0].tolist() == [10, 20]


def test_scores_follow_the_slot_order_and_unknown_movies_score_zero():
    trending = TrendingCounts(None, movie_ids=[3, 1, 2])
    trending.update(2, T0)
    trending.update(8, T0)  # a new movie takes the next slot
    assert trending.movie_ids.tolist() == [3, 1, 2, 8]
    assert trending.scores().tolist() == [0.0, 0.0, 1.0, 1.0]
    assert trending.scores_of([8, 5, 2]).tolist() == [1.0, 0.0, 1.0]


def test_state_round_trips_through_json_and_keeps_counting():
    trending = TrendingCounts(3.0)
    trending.update_many(np.array([4, 5, 4]), T0 + np.array([0, DAY_MS, 2 * DAY_MS]))
    copy = TrendingCounts.from_dict(json.loads(json.dumps(trending.to_dict())))
    for counts in (trending, copy):
        counts.update(5, T0 + 4 * DAY_MS)
    np.testing.assert_allclose(copy.scores(T0 + 5 * DAY_MS), trending.scores(T0 + 5 * DAY_MS))
    assert copy.movie_ids.tolist() == trending.movie_ids.tolist() and copy.half_life_days == 3.0


def test_from_interactions_rebuilds_from_a_snapshot_frame():
    frame = pd.DataFrame({"movie_id": [1, 2, 1], "ts": [T0, T0, T0 + DAY_MS]})
    trending = TrendingCounts.from_interactions(frame, half_life_days=1.0, movie_ids=[2, 1])
    assert trending.movie_ids.tolist() == [2, 1]
    np.testing.assert_allclose(trending.scores(), [0.5, 1.5])


def test_half_life_must_be_positive():
    with pytest.raises(ValueError):
        TrendingCounts(0.0)

"""Temporal and cold-start protocols: the split, the cases, the list metrics and their intervals, by hand."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models.bundle import ModelBundle
from models.evaluation import (
    Case, cold_start_cases, compare, list_metrics, mean_ci, quantile_ts, session_cases, summarise, temporal_cases,
    time_cut,
)
from models.factory import create_model
from models.interactions import IdMaps, recency_matrix
from models.serving.offline import Ranker, popular, serve_cases

CUT = 100


@pytest.fixture
def frame() -> pd.DataFrame:
    rows = [
        # user 1, known: 10, 11 before the cut; after it 12, a re-watch of 10 (not news) and 13
        (1, 10, 10), (1, 11, 20), (1, 12, 100), (1, 10, 110), (1, 13, 120),
        # user 2, known, nothing after the cut: in no test
        (2, 10, 30), (2, 14, 40),
        # user 3, new: 15 and 16 tie at 130 (movie id breaks it), then 11 and 17
        (3, 16, 130), (3, 15, 130), (3, 11, 140), (3, 17, 150),
        # user 4, new, one movie after the cut only
        (4, 12, 160),
    ]
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "ts"])


def test_the_cut_splits_by_time_and_a_rewatch_is_not_news(frame):
    split = time_cut(frame, CUT)
    assert sorted(map(tuple, split.before[["user_id", "movie_id"]].to_numpy())) == [(1, 10), (1, 11), (2, 10), (2, 14)]
    assert list(map(tuple, split.after[["user_id", "movie_id"]].to_numpy())) == [
        (1, 12), (1, 13), (3, 15), (3, 16), (3, 11), (3, 17), (4, 12)]
    assert split.known_users.tolist() == [1, 2]
    assert len(time_cut(frame, CUT, end=140).after) == 4  # 12, 13, 15, 16


def test_quantile_cut_leaves_that_share_before_it(frame):
    cut = quantile_ts(frame, 0.5)
    assert (frame.ts < cut).mean() == pytest.approx(6 / 12)


def test_temporal_cases_ask_at_the_cut_with_the_pre_cut_movies_excluded(frame):
    split = time_cut(frame, CUT)
    (known,) = temporal_cases(split, known=True)
    assert (known.user_id, known.ts, known.history, known.exclude) == (1, CUT, (), (10, 11))
    assert known.last_active == 20
    assert known.relevant == {12, 13}
    everyone = {c.user_id: c for c in temporal_cases(split, known=None)}
    assert set(everyone) == {1, 3, 4} and everyone[3].relevant == {11, 15, 16, 17} and everyone[3].exclude == ()
    assert {c.user_id for c in temporal_cases(split, known=False)} == {3, 4}


def test_session_cases_ask_known_users_for_their_next_movie_with_the_earlier_ones_live(frame):
    split = time_cut(frame, CUT)
    first, second = session_cases(split)
    assert (first.user_id, first.ts, first.history, first.exclude, first.last_active) == (1, 100, (), (10, 11), 20)
    assert (second.ts, second.history, second.last_active, second.relevant) == (120, (12,), 100, frozenset({13}))
    assert first.relevant == {12}
    assert session_cases(split, per_user=1) == [second]


def test_cold_start_cases_show_the_first_n_and_score_the_rest(frame):
    split = time_cut(frame, CUT)
    (two,) = cold_start_cases(split, 2)
    assert (two.user_id, two.history, two.ts, two.relevant) == (3, (15, 16), 131, frozenset({11, 17}))
    assert {c.user_id: c.ts for c in cold_start_cases(split, 0)} == {3: 130, 4: 160}
    assert {c.user_id for c in cold_start_cases(split, 1)} == {3}  # user 4 has nothing left to predict
    assert cold_start_cases(split, 4) == []


def test_list_metrics_by_hand():
    relevant = [frozenset({2, 9}), frozenset({6}), frozenset({7, 8, 9, 10})]
    metrics = list_metrics([[1, 2, 3], [4, 5, 6], [7, 8]], relevant, 3)
    d = [1.0, 1 / math.log2(3), 0.5]  # discounts of positions 1..3
    assert metrics["hr@3"].tolist() == [1.0, 1.0, 1.0]
    assert metrics["recall@3"].tolist() == pytest.approx([1 / 2, 1.0, 2 / 4])
    assert metrics["ndcg@3"].tolist() == pytest.approx([d[1] / (d[0] + d[1]), d[2] / d[0], (d[0] + d[1]) / sum(d)])
    assert list_metrics([[5, 6]], [frozenset({1})], 3)["ndcg@3"].tolist() == [0.0]
    with pytest.raises(ValueError):
        list_metrics([[1]], [frozenset()], 3)


def test_normal_interval_and_paired_difference_by_hand():
    mean, low, high = mean_ci(np.array([0.0, 1.0, 1.0, 0.0]))
    half = 1.959963984540054 * math.sqrt(1 / 3) / 2  # sample sd of 0,1,1,0 is sqrt(1/3)
    assert (mean, low, high) == pytest.approx((0.5, 0.5 - half, 0.5 + half))
    summary = summarise({"hr@10": np.array([1.0, 1.0, 0.0, 1.0])}, {"hr@10": np.array([0.0, 1.0, 0.0, 0.0])})
    assert summary["users"] == 4 and summary["hr@10"] == 0.75
    half = 1.959963984540054 * np.array([1.0, 0.0, 0.0, 1.0]).std(ddof=1) / 2  # of the per-user differences
    assert summary["vs_baseline"]["hr@10"] == 0.5
    assert summary["vs_baseline"]["hr@10_ci"] == pytest.approx([round(0.5 - half, 4), round(0.5 + half, 4)])


def test_leave_last_out_comparison_is_paired_on_the_same_users():
    rows = compare({"popularity": np.array([0, 20, 5]), "als": np.array([0, 3, 20])}, "popularity", k=10)
    assert rows["als"]["hr@10"] == rows["popularity"]["hr@10"] == pytest.approx(round(2 / 3, 4))
    assert rows["als"]["vs_baseline"]["hr@10"] == 0.0 and "vs_baseline" not in rows["popularity"]
    gain = 1 / math.log2(5) - 1 / math.log2(7)  # user 2 gains rank 3, user 3 loses rank 5
    assert rows["als"]["vs_baseline"]["ndcg@10"] == pytest.approx(round(gain / 3, 4), abs=1e-4)


def test_served_cases_count_only_what_happened_before_each_moment():
    events = pd.DataFrame({"user_id": [1, 2, 3, 4, 5, 6, 7, 8], "movie_id": [20, 20, 20, 21, 21, 21, 21, 22],
                           "ts": [10, 20, 30, 140, 141, 142, 143, 144]})
    maps = IdMaps.from_frame(events)
    bundle = ModelBundle(create_model("popularity").fit(recency_matrix(events[events.ts < CUT], maps)), maps)
    cases = [Case(9, ts, (), (), frozenset({22})) for ts in (160, 130, 140)]
    by_counts = serve_cases(Ranker(bundle, popular(None), anonymous=True), cases, events, k=1)
    assert by_counts == [[21], [20], [20]]  # the event at 140 itself is not counted yet at 140
    by_training = serve_cases(Ranker(bundle, popular(training=True), anonymous=True), cases, events, k=1)
    assert by_training == [[20], [20], [20]]  # the training counts never move


def test_anonymous_baselines_never_show_the_live_history():
    events = pd.DataFrame({"user_id": [1, 2, 3], "movie_id": [20, 20, 21], "ts": [10, 20, 30]})
    maps = IdMaps.from_frame(events)
    bundle = ModelBundle(create_model("popularity").fit(recency_matrix(events, maps)), maps)
    case = Case(9, 50, (20,), (), frozenset({21}))
    assert serve_cases(Ranker(bundle, popular(None), anonymous=True), [case], events, k=2) == [[21]]

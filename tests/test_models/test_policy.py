"""The serving policy: strategy choice, what is never served, back-fill, the blend, and its tuning."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from models.bundle import ModelBundle
from models.factory import create_model
from models.serving import PolicyConfig, recommend, tune_policy
from models.serving.ranking import rank_of, ranked_top_k
from models.evaluation import quantile_ts
from models.serving.tuning import HALF_LIVES_DAYS, VALIDATION_QUANTILE
from models.trending import DAY_MS, TrendingCounts

from tests.test_models.conftest import CLUSTER_ITEMS, TINY_PARAMS

NEW_USER = 1  # conftest.cluster_frame's users are 1000 + 7 * u
CATALOG = 2 * CLUSTER_ITEMS


def raw_movie(item_index: int) -> int:
    return 500 + 3 * item_index  # how conftest.cluster_frame numbers movies


def weights(w: float) -> PolicyConfig:
    return PolicyConfig(fold_in_weights=(w,) * 5)


@pytest.fixture(scope="module", params=["itemcf", "als"])
def bundle(request, clusters) -> ModelBundle:
    _, maps, matrix = clusters
    return ModelBundle(create_model(request.param, TINY_PARAMS[request.param]).fit(matrix), maps)


@pytest.fixture
def trending() -> TrendingCounts:
    """Movie index i counted i + 1 times lately: cluster B trends, every count distinct."""
    movies = np.repeat([raw_movie(i) for i in range(CATALOG)], np.arange(1, CATALOG + 1))
    return TrendingCounts.from_interactions(pd.DataFrame({"movie_id": movies, "ts": 0}), half_life_days=7.0)


def trained_movies(frame: pd.DataFrame, user: int) -> set[int]:
    return set(frame.query("user_id == @user").movie_id)


class TestStrategy:
    def test_a_known_user_is_served_by_the_model(self, bundle, clusters, trending):
        frame, _, _ = clusters
        answer = recommend(bundle, 1000, 3, trending=trending)
        assert answer.strategy == "model" and len(answer.movie_ids) == 3
        assert set(answer.movie_ids) <= {raw_movie(i) for i in range(CLUSTER_ITEMS)}  # its own cluster
        assert not set(answer.movie_ids) & trained_movies(frame, 1000)

    def test_movies_watched_after_training_are_not_served_and_count(self, bundle, clusters, trending):
        frame, _, _ = clusters
        trained = trained_movies(frame, 1000)
        newer = [m for m in (raw_movie(i) for i in range(CLUSTER_ITEMS)) if m not in trained][:2]
        answer = recommend(bundle, 1000, 4, history=[*sorted(trained), *newer], trending=trending)
        assert answer.strategy == "model" and len(answer.movie_ids) == 4
        assert not set(answer.movie_ids) & (trained | set(newer))

    def test_a_new_user_with_history_is_folded_in(self, bundle, trending):
        history = [raw_movie(12), raw_movie(15), 999_999]  # cluster B, and a movie the model never saw
        answer = recommend(bundle, NEW_USER, 3, history=history, trending=trending)
        assert answer.strategy == "fold-in"
        assert set(answer.movie_ids) <= {raw_movie(i) for i in range(CLUSTER_ITEMS, CATALOG)}
        assert not set(answer.movie_ids) & set(history)

    def test_no_known_history_gets_trending(self, bundle, trending):
        for history in ([], [999_999]):
            answer = recommend(bundle, NEW_USER, 4, history=history, exclude=[raw_movie(19)], trending=trending)
            assert answer.strategy == "popular-fallback"
            assert answer.movie_ids == trending.top_k(4, exclude=[raw_movie(19)])[0].tolist()
            assert answer.scores == pytest.approx(trending.top_k(4, exclude=[raw_movie(19)])[1].tolist())

    def test_without_trending_the_fallback_is_the_training_popularity(self, bundle):
        assert recommend(bundle, NEW_USER, 5).movie_ids == bundle.popular(k=5).movie_ids


class TestNeverServed:
    @pytest.mark.parametrize("user, history", [(1000, [raw_movie(12)]), (NEW_USER, [raw_movie(3)]),
                                               (NEW_USER, [])])
    def test_seen_and_excluded_never_come_back_and_the_rest_fills_k(self, bundle, clusters, trending,
                                                                    user, history):
        frame, _, _ = clusters
        exclude = [raw_movie(0), raw_movie(11), 123_456]
        banned = trained_movies(frame, user) | set(history) | set(exclude)
        answer = recommend(bundle, user, 100, history=history, exclude=exclude, trending=trending)
        assert len(answer.movie_ids) == CATALOG - len(banned & {raw_movie(i) for i in range(CATALOG)})
        assert not set(answer.movie_ids) & banned and len(set(answer.movie_ids)) == len(answer.movie_ids)

    def test_k_fills_from_trending_where_the_model_has_no_signal(self, clusters, trending):
        _, maps, matrix = clusters
        sparse = ModelBundle(create_model("itemcf", {"neighbours": 2}).fit(matrix), maps)
        answer = recommend(sparse, NEW_USER, 8, history=[raw_movie(2)], trending=trending, config=weights(1.0))
        signal = [m for m, s in zip(answer.movie_ids, answer.scores) if s > 0]
        assert 0 < len(signal) <= 2 and len(answer.movie_ids) == 8
        expected = trending.top_k(6, exclude=[raw_movie(2), *signal])[0].tolist()
        assert answer.movie_ids[len(signal):] == expected


class TestBlend:
    def test_weight_one_is_the_fold_in_order(self, clusters, trending):
        _, maps, matrix = clusters
        als = ModelBundle(create_model("als", TINY_PARAMS["als"]).fit(matrix), maps)
        history = [raw_movie(1), raw_movie(14), raw_movie(4)]
        answer = recommend(als, NEW_USER, 12, history=history, trending=trending, config=weights(1.0))
        assert answer.movie_ids == als.recommend_from_history(history, k=12).movie_ids

    def test_weight_zero_is_the_trending_order(self, bundle, trending):
        history = [raw_movie(1), raw_movie(14)]
        answer = recommend(bundle, NEW_USER, 12, history=history, trending=trending, config=weights(0.0))
        assert answer.strategy == "fold-in"
        assert answer.movie_ids == trending.top_k(12, exclude=history)[0].tolist()

    def test_the_weight_follows_the_history_length(self):
        config = PolicyConfig(fold_in_weights=(0.1, 0.2, 0.3, 0.4, 0.5))
        lengths = [1, 2, 3, 4, 7, 8, 15, 16, 500]
        assert [config.fold_in_weight(n)[0] for n in lengths] == [0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.5, 0.5]


class TestConfig:
    def test_round_trips_through_json(self):
        config = PolicyConfig(trending_half_life_days=14.0, fold_in_weights=(0.6, 0.7, 0.7, 0.8, 1.0))
        assert PolicyConfig.model_validate(json.loads(json.dumps(config.model_dump(mode="json")))) == config

    @pytest.mark.parametrize("fields", [{"fold_in_weights": (1.0,)}, {"history_buckets": (2, 3, 4, 5, 6)},
                                        {"history_buckets": (1, 4, 4, 8, 16)}, {"fold_in_weights": (1.5,) * 5},
                                        {"trending_half_life_days": 0.0}, {"window": 3},
                                        {"fold_in_popularity": ("trending",)}, {"model_weight": 1.5},
                                        {"fallback_popularity": "yesterday"}])
    def test_rejects_inconsistent_settings(self, fields):
        with pytest.raises(ValidationError):
            PolicyConfig(**fields)


def test_rank_of_is_the_place_in_ranked_top_k():
    rng = np.random.default_rng(3)
    keys = (rng.integers(0, 4, 60).astype(float), rng.integers(0, 3, 60).astype(float), rng.random(60))
    allowed = rng.random(60) > 0.2
    order = ranked_top_k(keys, 60, allowed)
    assert order.size == allowed.sum()
    assert [int(rank_of(keys, int(item), allowed)) for item in order] == list(range(order.size))


def shifting_frame(seed: int = 0, users: int = 300, days: int = 120) -> pd.DataFrame:
    """Two taste clusters of 30 movies; each user watches 10 of their cluster's in one session,
    6 of them from the cluster's hot window, which moves every 10 days: trending must be recent
    (all-time counts see every window at once), and the cluster must come from fold-in."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(users):
        cluster, day = user % 2, rng.uniform(0, days)
        hot = (int(day // 10) * 2 + np.arange(6)) % 30
        cold = rng.choice(np.setdiff1d(np.arange(30), hot), 4, replace=False)
        for step, movie in enumerate(rng.permutation(np.r_[hot, cold]) + 30 * cluster):
            rows.append((user, int(movie), 4.0, int(day * DAY_MS) + step * 3_600_000))
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "ts"])


class TestPopularitySources:
    def test_training_counts_answer_the_fallback_when_chosen(self, bundle, trending):
        config = PolicyConfig(fallback_popularity="training")
        answer = recommend(bundle, NEW_USER, 5, trending=trending, config=config)
        top_counts = sorted(bundle.model.popularity, reverse=True)[:5]  # ties are ordered by trending
        assert answer.strategy == "popular-fallback" and answer.scores == pytest.approx(top_counts)
        assert recommend(bundle, NEW_USER, 5, trending=trending).movie_ids != answer.movie_ids

    def test_each_history_bucket_blends_with_its_own_counts(self, bundle, trending):
        config = PolicyConfig(fold_in_weights=(0.0,) * 5, fold_in_popularity=("training",) + ("trending",) * 4)
        one, two = [raw_movie(1)], [raw_movie(1), raw_movie(2)]
        by_training = recommend(bundle, NEW_USER, 5, history=one, trending=trending, config=config).movie_ids
        popularity = dict(zip(bundle.maps.items.raw.tolist(), bundle.model.popularity.tolist()))
        assert [popularity[m] for m in by_training] == sorted(
            (c for m, c in popularity.items() if m not in one), reverse=True)[:5]
        assert recommend(bundle, NEW_USER, 5, history=two, trending=trending, config=config).movie_ids == \
            trending.top_k(5, exclude=two)[0].tolist()

    def test_a_known_users_model_weight_blends_in_popularity(self, bundle, clusters, trending):
        frame, _, _ = clusters
        alone = recommend(bundle, 1000, 5, trending=trending)
        same = recommend(bundle, 1000, 5, trending=trending, config=PolicyConfig(model_weight=1.0))
        counts = recommend(bundle, 1000, 5, trending=trending, config=PolicyConfig(model_weight=0.0))
        assert same == alone and counts.strategy == "model"
        assert counts.movie_ids == trending.top_k(5, exclude=trained_movies(frame, 1000))[0].tolist()


class TestActiveUsers:
    NOW = 50 * DAY_MS
    ACTIVE_ONLY = PolicyConfig(model_weight=0.0, active_model_weight=1.0, active_within_hours=1.0)

    def test_the_weight_follows_the_time_since_the_latest_event(self):
        config = PolicyConfig(model_weight=0.3, active_model_weight=0.9, active_within_hours=2.0)
        assert [config.model_weight_for(idle) for idle in (0, 2 * 3_600_000, 2 * 3_600_000 + 1, None)] == \
            [0.9, 0.9, 0.3, 0.3]

    def test_an_active_known_user_gets_the_model_and_an_idle_one_the_blend(self, bundle, clusters, trending):
        frame, _, _ = clusters
        alone = recommend(bundle, 1000, 5, trending=trending, now=self.NOW).movie_ids
        counts = trending.top_k(5, exclude=trained_movies(frame, 1000))[0].tolist()
        assert alone != counts

        def served(last_active):
            return recommend(bundle, 1000, 5, trending=trending, now=self.NOW, last_active=last_active,
                             config=self.ACTIVE_ONLY).movie_ids

        assert served(self.NOW - 1_800_000) == alone
        assert served(self.NOW - 7_200_000) == counts and served(None) == counts

    def test_a_new_user_is_not_affected(self, bundle, trending):
        history = [raw_movie(1), raw_movie(14)]
        plain = recommend(bundle, NEW_USER, 5, history=history, trending=trending, now=self.NOW)
        assert recommend(bundle, NEW_USER, 5, history=history, trending=trending, now=self.NOW,
                         last_active=self.NOW, config=self.ACTIVE_ONLY) == plain


class TestTuning:
    def test_moving_popularity_picks_a_short_half_life_for_newcomers(self):
        tuning = tune_policy(shifting_frame(), "als", seed=0, params={"factors": 4})
        log = {row["half_life_days"]: row["ndcg@10"] for row in tuning.card()["popular-fallback"]
               if row["popularity"] == "trending"}
        assert set(log) == set(HALF_LIVES_DAYS)
        chosen = tuning.config.trending_half_life_days
        assert chosen is not None and chosen <= 7.0 and log[chosen] > 2 * log[None]
        assert tuning.config.fallback_popularity == "trending"

    def test_blend_weights_need_both_signals_and_are_logged(self):
        tuning = tune_policy(shifting_frame(), "als", seed=0, params={"factors": 4})
        config, card = tuning.config, tuning.card()
        filled = {row["bucket"] for row in card["fold-in"] if row["queries"]}
        assert filled and len(card["fold-in"]) == len(config.history_buckets) * 2 * 11
        active = card["model (active)"]
        assert len(active) == 11 and active[0]["queries"] > 0
        assert max(r["ndcg@10"] for r in active) == next(
            r["ndcg@10"] for r in active if r["weight"] == config.active_model_weight)
        for low, weight in zip(config.history_buckets, config.fold_in_weights):
            # trending alone mixes both clusters, fold-in alone ignores time; empty buckets stay untuned
            assert 0.0 < weight < 1.0 if low in filled else weight == 1.0
        json.dumps(card)

    def test_the_window_is_the_freshest_part_of_the_data_and_nothing_later_counts(self):
        frame = shifting_frame(days=120)
        tuning = tune_policy(frame, "popularity")
        assert tuning.window["cut_ts"] == quantile_ts(frame, VALIDATION_QUANTILE)
        assert tuning.window["end_ts"] == frame["ts"].max() and tuning.window["new_users"] > 0
        later = shifting_frame(seed=1, days=60).assign(user_id=lambda f: f.user_id + 1000,
                                                       ts=lambda f: f.ts + 120 * DAY_MS)
        retrained = tune_policy(pd.concat([frame, later]), "popularity")
        assert retrained.window["cut_ts"] > tuning.window["end_ts"] - 30 * DAY_MS
        assert retrained.window["cut_ts"] > tuning.window["cut_ts"]

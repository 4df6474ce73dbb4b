"""The leave-last-out split and the evaluation protocols."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.base import Recommender
from models.evaluation import PROTOCOLS, evaluate, leave_last_split
from models.factory import create_model


@pytest.fixture
def frame() -> pd.DataFrame:
    rows = [
        # user 1: five movies, rows shuffled; last by time is 14, the one before 12
        (1, 13, 300), (1, 14, 500), (1, 10, 100), (1, 12, 400), (1, 11, 200),
        # user 2: only two interactions: all in train, not evaluated
        (2, 10, 100), (2, 11, 50),
        # user 3: a time tie at the end is broken by movie id; a re-watch counts once (first time)
        (3, 15, 10), (3, 17, 90), (3, 16, 90), (3, 15, 95),
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "movie_id", "ts"])
    frame["rating"] = np.float32(3)
    return frame


def test_test_item_is_each_users_last_and_validation_the_one_before(frame):
    split = leave_last_split(frame)
    assert split.test.set_index("user_id")["movie_id"].to_dict() == {1: 14, 3: 17}
    assert split.validation.set_index("user_id")["movie_id"].to_dict() == {1: 12, 3: 16}
    assert sorted(split.train.query("user_id == 2")["movie_id"]) == [10, 11]
    assert sorted(split.train.query("user_id == 3")["movie_id"]) == [15]


def test_no_leakage_train_precedes_validation_precedes_test(frame):
    split = leave_last_split(frame)
    for user, test in split.test.groupby("user_id"):
        train = split.train[split.train.user_id == user]
        validation = split.validation[split.validation.user_id == user]
        assert train.ts.max() <= validation.ts.iloc[0] <= test.ts.iloc[0]
        seen = set(train.movie_id) | set(validation.movie_id)
        assert test.movie_id.iloc[0] not in seen
    total = len(split.train) + len(split.validation) + len(split.test)
    assert total == len(frame.drop_duplicates(["user_id", "movie_id"]))


def test_split_on_movielens_holds_out_the_last_item_of_every_user(ml100k_path):
    from models.data.movielens import load_interactions

    frame = load_interactions(ml100k_path)
    split = leave_last_split(frame)
    assert len(split.test) == len(split.validation) == 943
    last_ts = frame.groupby("user_id").ts.max()
    assert (split.test.set_index("user_id").ts == last_ts.loc[split.test.user_id].to_numpy()).all()
    train_last = split.train.groupby("user_id").ts.max()
    assert (train_last <= split.validation.set_index("user_id").ts.loc[train_last.index]).all()


class FixedScores(Recommender):
    """A stub whose scores are given, to check ranks by hand."""

    name = "popularity"  # any registered name: this stub is never saved

    def __init__(self, scores):
        super().__init__()
        self.fixed = np.asarray(scores, dtype=np.float32)

    def _fit(self, matrix, *, progress):
        pass

    def score_users(self, user_indexes):
        return self.fixed[user_indexes]

    def score_history(self, item_indexes, ranks):
        raise NotImplementedError


def _one_user_split():
    # one user, items 0..5; train = {0, 1, 2}, validation = 3, test = 4; item 5 is never seen
    frame = pd.DataFrame({"user_id": [9] * 5 + [8], "movie_id": [0, 1, 2, 3, 4, 5],
                          "ts": [1, 2, 3, 4, 5, 1], "rating": np.float32(1)})
    return leave_last_split(frame)


def test_full_rank_counts_unseen_items_scoring_higher_and_ties_at_lower_index():
    split = _one_user_split()
    user = split.maps.users.index(9)
    scores = np.zeros((2, 6), dtype=np.float32)
    # test item 4; history {0,1,2,3} is masked even though it scores highest
    scores[user] = [9, 9, 9, 9, 0.5, 0.5]
    model = FixedScores(scores).fit(split.matrix("train+validation"))
    full = {r["protocol"]: r for r in evaluate(model, split, "test", k=1)}["full"]
    assert full["hr@1"] == 1.0  # item 5 ties but has the higher index, so item 4 ranks first
    scores[user, 5] = 0.6
    full = evaluate(FixedScores(scores).fit(split.matrix("train+validation")), split, "test", k=1)[0]
    assert full["hr@1"] == 0.0 and full["ndcg@1"] == 0.0


def test_validation_target_uses_only_the_train_history():
    split = _one_user_split()
    user = split.maps.users.index(9)
    scores = np.zeros((2, 6), dtype=np.float32)
    scores[user] = [9, 9, 9, 0.5, 0.7, 0.0]  # validation item 3 loses to item 4 (the future test item)
    model = FixedScores(scores).fit(split.matrix("train"))
    results = {r["protocol"]: r for r in evaluate(model, split, "validation", k=1)}
    assert results["full"]["hr@1"] == 0.0
    results = {r["protocol"]: r for r in evaluate(model, split, "validation", k=2)}
    assert results["full"]["hr@2"] == 1.0


def test_result_dicts_have_the_agreed_keys_and_sampled_protocols_are_easier(clusters):
    frame, _, _ = clusters
    split = leave_last_split(frame)
    model = create_model("itemcf", {"neighbours": 5}).fit(split.matrix("train+validation"))
    results = evaluate(model, split, "test")
    assert [r["protocol"] for r in results] == list(PROTOCOLS)
    for r in results:
        assert set(r) == {"model", "protocol", "hr@10", "ndcg@10", "hr@10_ci", "ndcg@10_ci", "coverage@10", "gini@10",
                          "tail_share@10"}
    # sampled candidate sets are subsets of the full one, so hit rates can only rise
    assert results[1]["hr@10"] >= results[0]["hr@10"] and results[2]["hr@10"] >= results[0]["hr@10"]
    assert evaluate(model, split, "test") == results  # fixed sampling seed: same numbers


def test_fold_in_scoring_of_itemcf_matches_its_model_scoring(clusters):
    frame, _, _ = clusters
    split = leave_last_split(frame)
    model = create_model("itemcf", {"neighbours": 5}).fit(split.matrix("train+validation"))
    assert evaluate(model, split, "test", fold_in=True) == evaluate(model, split, "test")


def test_unknown_protocol_is_refused(clusters):
    frame, _, _ = clusters
    split = leave_last_split(frame)
    model = create_model("popularity").fit(split.matrix("train+validation"))
    with pytest.raises(ValueError):
        evaluate(model, split, "test", protocols=["sampled"])


@pytest.mark.parametrize("name", ["popularity", "itemcf"])
def test_full_hit_rate_is_the_share_of_users_whose_item_is_in_their_real_list(name, clusters):
    frame, _, _ = clusters
    split = leave_last_split(frame)
    model = create_model(name, {"neighbours": 5} if name == "itemcf" else {}).fit(split.matrix("train+validation"))
    users, items = split.targets("test")
    for k in (1, 3):
        shown = np.mean([item in model.recommend(user, k=k)[0] for user, item in zip(users, items)])
        full = evaluate(model, split, "test", protocols=["full"], k=k)[0]
        assert full[f"hr@{k}"] == pytest.approx(shown)

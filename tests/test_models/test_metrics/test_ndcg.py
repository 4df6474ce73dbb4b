"""NDCG@K with one relevant item, by hand."""
import math

import pytest

from models.metrics import ndcg


def test_gain_is_one_over_log2_of_position_plus_one():
    # first place: 1; second place: 1/log2(3); outside the top 10: 0
    assert ndcg([0, 1, 10], 10) == pytest.approx((1 + 1 / math.log2(3) + 0) / 3)
    assert ndcg([9], 10) == pytest.approx(1 / math.log2(11))
    assert ndcg([], 10) == 0.0

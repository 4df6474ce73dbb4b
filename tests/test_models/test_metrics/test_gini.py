"""Exposure Gini by hand."""
import pytest

from models.metrics import exposure_counts, gini


def test_equal_exposure_is_zero_and_one_item_takes_all_is_n_minus_1_over_n():
    assert gini([3, 3, 3, 3]) == 0.0
    assert gini([0, 0, 0, 10]) == pytest.approx(0.75)
    assert gini([0, 0]) == 0.0


def test_sorted_values_formula():
    # x = 1, 2, 3: sum((2i - n - 1) x_i) = -2 + 0 + 6 = 4; n * sum(x) = 18
    assert gini([3, 1, 2]) == pytest.approx(4 / 18)


def test_never_shown_items_count_as_zero():
    counts = exposure_counts([[0, 1], [0, -1]], 4)
    assert counts.tolist() == [2, 1, 0, 0]
    # x = 0, 0, 1, 2 (n=4, sum 3): (-3*0) + (-1*0) + (1*1) + (3*2) = 7, over 12
    assert gini(counts) == pytest.approx(7 / 12)

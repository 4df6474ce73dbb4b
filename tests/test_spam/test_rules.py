"""The robust rule and the plain one on histograms whose figures are worked out by hand."""
import math

import pytest

from app.spam.rules import mad, median, merge, move, plain_threshold, verdict

# Ten users: 1,1,1,2,2,2,2,3,3 rate events and one spammer with 50.
WINDOW = {1: 3, 2: 4, 3: 2, 50: 1}


def test_median_and_mad_by_hand() -> None:
    assert median(WINDOW) == 2.0  # 5th and 6th of ten are both 2
    assert mad(WINDOW, 2.0) == 1.0  # deviations 0 x4, 1 x5, 48 x1: middle pair 1, 1
    assert median({1: 1, 5: 1, 9: 1}) == 5 and mad({1: 1, 5: 1, 9: 1}, 5) == 4
    assert median({1: 1, 4: 1}) == 2.5
    with pytest.raises(ValueError):
        median({})


def test_robust_rule_flags_the_spammer_the_plain_rule_misses() -> None:
    decided = verdict(WINDOW, floor=5, window_start=0, window_end=3_600_000)
    assert decided.population == 10
    assert decided.scale == pytest.approx(1.4826)
    assert decided.threshold == pytest.approx(2 + 3 * 1.4826)  # 6.4478: 50 is far above
    # mean 6.7; variance (3 x 5.7^2 + 4 x 4.7^2 + 2 x 3.7^2 + 43.3^2) / 10 = 208.81
    assert decided.mean == pytest.approx(6.7)
    assert decided.std == pytest.approx(math.sqrt(208.81))
    assert decided.plain_threshold == pytest.approx(6.7 + 3 * math.sqrt(208.81))  # 50.05: 50 hides
    assert plain_threshold(WINDOW) == pytest.approx(decided.plain_threshold)
    assert 50 > decided.threshold and 50 < decided.plain_threshold
    assert decided.zscore(50) == pytest.approx(48 / 1.4826)


def test_floor_wins_over_a_tight_population() -> None:
    assert verdict(WINDOW, floor=60, window_start=0, window_end=1).threshold == 60
    # MAD 0 (most users rate once): the threshold is the floor; z uses a scale of one event.
    tight = verdict({1: 9, 4: 1}, floor=3, window_start=0, window_end=1)
    assert (tight.median, tight.scale, tight.threshold) == (1, 0, 3)
    assert tight.zscore(4) == 3


def test_merged_partitions_give_the_whole_population_figures() -> None:
    one, other = {1: 2, 2: 1}, {1: 1, 2: 3, 3: 2, 50: 1}
    assert merge([one, other]) == WINDOW
    assert verdict(merge([one, other]), 5, 0, 1) == verdict(WINDOW, 5, 0, 1)
    # Each partition's own rule would see other figures: partition one alone has median 1.
    assert median(one) == 1


def test_move_keeps_the_histogram_exact() -> None:
    hist: dict[int, int] = {}
    move(hist, 0, 1)
    move(hist, 0, 1)
    move(hist, 1, 2)
    assert hist == {1: 1, 2: 1}
    move(hist, 1, 2)
    assert hist == {2: 2}


def test_a_window_too_small_for_a_median_is_decided_by_the_floor() -> None:
    # One honest user and a spammer: the median (152.5) and MAD (147.5) hide the spammer.
    alone = {5: 1, 300: 1}
    assert verdict(alone, floor=30, window_start=0, window_end=1).threshold == pytest.approx(152.5 + 3 * 1.4826 * 147.5)
    assert verdict(alone, floor=30, window_start=0, window_end=1, min_population=10).threshold == 30
    assert verdict(WINDOW, floor=5, window_start=0, window_end=1, min_population=10).threshold == pytest.approx(6.4478)

"""Whole-catalog exposure figures by hand (DESIGN.md section 6)."""
import numpy as np
import pytest

from models.fairness import Catalog, summarise
from models.fairness.exposure import lorenz

# 5 movies; training popularity 50, 20, 10, 10, 10: the head (ceil(0.2 x 5) = 1) is movie 1.
CATALOG = Catalog.from_popularity({3: 10, 1: 50, 2: 20, 4: 10, 5: 10})


def test_catalog_sorts_ids_and_takes_the_head_from_training_popularity():
    assert CATALOG.movie_ids.tolist() == [1, 2, 3, 4, 5]
    assert CATALOG.tail_ids() == {2, 3, 4, 5}


def test_counts_from_lists_and_from_a_mapping_ignore_movies_outside_the_catalog():
    assert CATALOG.counts([[1, 2], [1, 99]]).tolist() == [2, 1, 0, 0, 0]
    assert CATALOG.counts({1: 3, 5: 1, 99: 7}).tolist() == [3, 0, 0, 0, 1]


def test_summary_by_hand():
    # lists [1, 2], [1, 3]: counts 2, 1, 1, 0, 0 over the WHOLE catalog of 5
    s = summarise(CATALOG.counts([[1, 2], [1, 3]]), CATALOG, n_responses=2)
    # sorted 0, 0, 1, 1, 2: sum((2i - 6) x_i) = 0 + 0 + 0 + 2 + 8 = 10, over n x sum = 5 x 4
    assert s.gini == pytest.approx(10 / 20)
    assert s.coverage == pytest.approx(3 / 5)
    assert s.starvation == pytest.approx(2 / 5)
    assert s.tail_share == pytest.approx(2 / 4)
    # head: 2/4 of exposure over 50/100 of training = 1.0; tail: 0.5 / 0.5 = 1.0
    assert s.amplification == {"head": pytest.approx(1.0), "tail": pytest.approx(1.0)}
    s = summarise(CATALOG.counts([[1], [1], [1], [2]]), CATALOG, n_responses=4)
    assert s.amplification["head"] == pytest.approx(0.75 / 0.5)
    assert s.amplification["tail"] == pytest.approx(0.25 / 0.5)
    assert s.exposures == 4 and s.n_responses == 4


def test_gini_over_exposed_only_would_be_lower():
    # The replaced system's mistake: the same lists over exposed movies only look fairer.
    counts = CATALOG.counts([[1, 2], [1, 3]])
    from models.metrics import gini
    assert gini(counts[counts > 0]) < summarise(counts, CATALOG, 2).gini


def test_an_empty_window_is_zeros_not_a_division_error():
    s = summarise(np.zeros(5), CATALOG, n_responses=0)
    assert (s.n_responses, s.gini, s.coverage, s.tail_share) == (0, 0.0, 0.0, 0.0)
    assert s.starvation == 1.0
    assert s.amplification == {"head": 0.0, "tail": 0.0}
    empty = summarise(np.zeros(0), Catalog.from_popularity({}), 0)
    assert (empty.gini, empty.coverage, empty.starvation) == (0.0, 0.0, 0.0)


def test_counts_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError):
        summarise(np.zeros(3), CATALOG, 0)


def test_lorenz_curve_by_hand():
    x, y = lorenz([2, 0, 2])
    assert x.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert y.tolist() == pytest.approx([0, 0, 0.5, 1])

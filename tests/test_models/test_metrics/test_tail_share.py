"""Long-tail share by hand."""
from models.metrics import long_tail_mask, tail_share


def test_head_is_the_most_popular_fifth():
    # 5 items: the head is ceil(0.2 * 5) = 1 item, the most popular (item 0)
    assert long_tail_mask([10, 5, 0, 1, 3]).tolist() == [False, True, True, True, True]
    # 10 items, ties broken by lower index: head = items 1 and 2
    assert long_tail_mask([0, 4, 4, 4, 0, 0, 0, 0, 0, 0]).tolist() == [True, False, False] + [True] * 7


def test_share_of_exposures_that_go_to_the_tail():
    tail = long_tail_mask([10, 5, 0, 1, 3])
    assert tail_share([[0, 1], [0, 4]], tail) == 0.5
    assert tail_share([[0, -1]], tail) == 0.0

"""HR@K by hand."""
from models.metrics import hit_rate


def test_share_of_ranks_inside_k():
    assert hit_rate([0, 3, 10, 20], 10) == 0.5  # ranks are 0-based: 9 is the 10th place
    assert hit_rate([9], 10) == 1.0
    assert hit_rate([], 10) == 0.0

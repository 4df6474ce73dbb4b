"""Hit rate at K: the share of users whose held-out item is ranked in the top K."""
from __future__ import annotations

import numpy as np


def hit_rate(ranks, k: int) -> float:
    """Mean of ``rank < k`` over users; ``ranks`` are 0-based positions of the held-out item."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        return 0.0
    return float(np.mean(ranks < k))

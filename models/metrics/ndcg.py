"""NDCG at K with one relevant item per user: 1 / log2(rank + 2) when it is in the top K."""
from __future__ import annotations

import numpy as np


def ndcg(ranks, k: int) -> float:
    """Mean NDCG@k over users; ``ranks`` are 0-based positions of the single held-out item.

    With one relevant item the ideal DCG is 1, so the gain is ``1 / log2(rank + 2)``.
    """
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        return 0.0
    gains = np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)
    return float(np.mean(gains))

"""Long-tail share: the share of all exposures that go to items outside the popular head."""
from __future__ import annotations

import math

import numpy as np

HEAD_SHARE = 0.2


def long_tail_mask(popularity, head_share: float = HEAD_SHARE) -> np.ndarray:
    """True for items outside the most popular ``head_share`` of the catalog.

    ``popularity`` is the training interaction count per item. The head is the
    ``ceil(head_share * n_items)`` most popular items; ties are broken by lower item index.
    """
    popularity = np.asarray(popularity, dtype=np.float64)
    n_head = math.ceil(head_share * popularity.size)
    order = np.lexsort((np.arange(popularity.size), -popularity))
    tail = np.ones(popularity.size, dtype=bool)
    tail[order[:n_head]] = False
    return tail


def tail_share(top_k, tail_mask) -> float:
    """Share of the entries of the lists ``top_k`` (-1 pads) that are long-tail items."""
    items = np.asarray(top_k, dtype=np.int64).ravel()
    items = items[items >= 0]
    if items.size == 0:
        return 0.0
    return float(np.mean(np.asarray(tail_mask, dtype=bool)[items]))

"""Catalog coverage: the share of the catalog that appears in at least one top-K list."""
from __future__ import annotations

import numpy as np


def catalog_coverage(top_k, n_items: int) -> float:
    """Distinct items in the lists ``top_k`` (rows of item indexes; -1 pads) over ``n_items``."""
    items = np.asarray(top_k, dtype=np.int64).ravel()
    items = items[items >= 0]
    if n_items <= 0:
        return 0.0
    return float(np.unique(items).size / n_items)

"""Gini coefficient of exposure over the whole catalog (never-shown items count as 0)."""
from __future__ import annotations

import numpy as np


def exposure_counts(top_k, n_items: int) -> np.ndarray:
    """How many times each of ``n_items`` items appears in the lists ``top_k`` (-1 pads)."""
    items = np.asarray(top_k, dtype=np.int64).ravel()
    return np.bincount(items[items >= 0], minlength=n_items).astype(np.int64)


def gini(counts) -> float:
    """Gini coefficient of non-negative ``counts``: 0 when equal, towards 1 when concentrated.

    Uses the sorted-values form ``G = sum((2i - n - 1) x_i) / (n sum x)`` with ``i`` from 1 to
    ``n`` over the counts in ascending order; all-zero counts give 0.
    """
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n = x.size
    total = x.sum()
    if n == 0 or total == 0:
        return 0.0
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(np.sum((2 * i - n - 1) * x) / (n * total))

"""Per-user top-K metrics with many relevant items, 95% confidence intervals, paired differences.

Every protocol reduces to one value per evaluated user (HR, Recall, NDCG at K), so its
uncertainty is that of a mean over users: the normal interval ``mean +- 1.96 s / sqrt(n)``
(``s`` the sample standard deviation). A comparison with a baseline measured on the SAME users
is the interval of the per-user differences, much narrower than two overlapping intervals.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

Z95 = 1.959963984540054
"""Two-sided 95% quantile of the standard normal."""
METRICS = ("hr", "recall", "ndcg")
"""Per-user metrics, in report order; keys are ``<metric>@<k>``."""


def list_metrics(lists: Sequence[Sequence[int]], relevant: Sequence[frozenset], k: int) -> dict[str, np.ndarray]:
    """Per user, of the first ``k`` of their list against their relevant set: HR, Recall, NDCG.

    HR is 1 when any relevant item is listed; Recall is hits / relevant items; NDCG divides the
    list's DCG (gain ``1 / log2(position + 2)``) by the ideal DCG of ``min(k, relevant)`` hits.
    A user with no relevant item is a caller's mistake: each protocol keeps only users with one.
    """
    discounts = 1.0 / np.log2(np.arange(k) + 2.0)
    hits = np.zeros((len(lists), k), dtype=bool)
    sizes = np.fromiter((len(r) for r in relevant), dtype=np.int64, count=len(relevant))
    if len(lists) != sizes.size or (sizes == 0).any():
        raise ValueError("one non-empty relevant set per list is required")
    for row, (items, wanted) in enumerate(zip(lists, relevant)):
        shown = list(items)[:k]
        hits[row, : len(shown)] = [item in wanted for item in shown]
    ideal = np.cumsum(discounts)[np.minimum(sizes, k) - 1]
    return {
        f"hr@{k}": hits.any(axis=1).astype(np.float64),
        f"recall@{k}": hits.sum(axis=1) / sizes,
        f"ndcg@{k}": (hits * discounts).sum(axis=1) / ideal,
    }


def mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high) of the 95% normal interval of a mean over users."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return 0.0, 0.0, 0.0
    mean = float(values.mean())
    half = Z95 * float(values.std(ddof=1)) / np.sqrt(values.size) if values.size > 1 else 0.0
    return mean, mean - half, mean + half


def summarise(per_user: Mapping[str, np.ndarray], baseline: Mapping[str, np.ndarray] | None = None,
              digits: int = 4) -> dict:
    """Means and 95% intervals of per-user metrics; with ``baseline`` (same users) the paired differences.

    Keys: ``users``, each metric, ``<metric>_ci`` = [low, high], and under ``vs_baseline`` each
    metric's mean difference and its ``_ci``. A difference whose interval excludes 0 is a win
    (or a loss) that the sample supports.
    """
    def block(values: Mapping[str, np.ndarray]) -> dict:
        out: dict = {}
        for key, array in values.items():
            mean, low, high = mean_ci(array)
            out[key], out[f"{key}_ci"] = round(mean, digits), [round(low, digits), round(high, digits)]
        return out

    summary = {"users": int(len(next(iter(per_user.values())))), **block(per_user)}
    if baseline is not None:
        summary["vs_baseline"] = block({key: per_user[key] - baseline[key] for key in per_user})
    return summary

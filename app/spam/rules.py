"""The spam rule of DESIGN §6 over exact, mergeable histograms of per-user window counts.

A window's population is summarised as ``{count: number of users with that count}``: small
(one entry per distinct count), exact, and merged by adding, so every partition can publish
its own and one coordinator adds them up. Median, MAD, mean and standard deviation all
follow exactly from the merged histogram, so the threshold is the one the whole population
would give, however users are spread over partitions and workers.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping, TypeVar

Histogram = dict[int, int]
K = TypeVar("K", int, str)
MAD_TO_SIGMA = 1.4826
"""MAD times this estimates a normal distribution's standard deviation."""
SIGMAS = 3.0


def merge(histograms: Iterable[Mapping[int, int]]) -> Histogram:
    """The histogram of the union of the populations."""
    merged: Histogram = {}
    for histogram in histograms:
        for count, users in histogram.items():
            merged[count] = merged.get(count, 0) + users
    return {count: users for count, users in merged.items() if users}


def move(histogram: dict[K, int], old: K | None, new: K) -> None:
    """Record in place that one user's count went from ``old`` (0 or None: absent) to ``new``.

    Counts are the keys, as ints or as the strings of a JSON-ready row.
    """
    if old:
        histogram[old] -= 1
        if not histogram[old]:
            del histogram[old]
    histogram[new] = histogram.get(new, 0) + 1


def population(histogram: Mapping[int, int]) -> int:
    return sum(histogram.values())


def median(histogram: Mapping[int, float | int]) -> float:
    """The median of the values a histogram counts (mean of the two middle ones if even)."""
    n = population(histogram)
    if not n:
        raise ValueError("median of an empty population")
    lower, upper = (n - 1) // 2, n // 2  # 0-based ranks of the middle value(s)
    seen, low_value = 0, None
    for value in sorted(histogram):
        seen += histogram[value]
        if low_value is None and seen > lower:
            low_value = value
        if seen > upper:
            return (low_value + value) / 2
    raise AssertionError("unreachable")


def mad(histogram: Mapping[int, int], centre: float) -> float:
    """Median absolute deviation from ``centre``."""
    deviations: dict[float, int] = {}
    for count, users in histogram.items():
        deviation = abs(count - centre)
        deviations[deviation] = deviations.get(deviation, 0) + users
    return median(deviations)


def mean_std(histogram: Mapping[int, int]) -> tuple[float, float]:
    """Mean and population standard deviation (ddof 0) of the counts."""
    n = population(histogram)
    mean = sum(count * users for count, users in histogram.items()) / n
    variance = sum(users * (count - mean) ** 2 for count, users in histogram.items()) / n
    return mean, math.sqrt(variance)


def plain_threshold(histogram: Mapping[int, int]) -> float:
    """The legacy rule: mean + 3 sigma of the population, suspects included."""
    mean, std = mean_std(histogram)
    return mean + SIGMAS * std


@dataclass(frozen=True)
class Verdict:
    """A window's threshold and the population figures it came from."""

    window_start: int
    window_end: int
    population: int
    median: float
    scale: float
    """1.4826 x MAD: the robust standard deviation."""
    threshold: float
    """Counts strictly above this are flagged: max(floor, median + 3 x scale)."""
    mean: float
    std: float
    plain_threshold: float
    """mean + 3 sigma on the same data, for comparison only."""

    def zscore(self, count: int) -> float:
        """Robust z of ``count``; a scale under one event (MAD 0) counts as one event."""
        return (count - self.median) / max(self.scale, 1.0)

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def verdict(histogram: Mapping[int, int], floor: int, window_start: int, window_end: int,
            min_population: int = 1) -> Verdict:
    """The robust threshold of a window's whole population, never below ``floor``.

    Below ``min_population`` users the median is no honest majority's typical count (a lone
    spammer is its own median), so the floor alone decides.
    """
    centre = median(histogram)
    scale = MAD_TO_SIGMA * mad(histogram, centre)
    mean, std = mean_std(histogram)
    robust = centre + SIGMAS * scale if population(histogram) >= min_population else 0.0
    return Verdict(window_start, window_end, population(histogram), centre, scale,
                   max(float(floor), robust), mean, std, mean + SIGMAS * std)

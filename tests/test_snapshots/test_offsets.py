"""Offset runs count and forget exactly what a deque of every offset would."""
from __future__ import annotations

import random
from collections import deque

import pytest

from app.snapshots.offsets import OffsetRuns


def test_runs_agree_with_a_deque_of_every_offset() -> None:
    rng = random.Random(5)
    runs, every, offset = OffsetRuns(), deque[int](), 0
    for _ in range(5_000):
        if rng.random() < 0.9:
            offset += rng.choice([1, 1, 1, 1, 2, 7])  # mostly consecutive, some gaps
            runs.append(offset)
            every.append(offset)
        else:  # through a held offset, a gap, below all or above all
            last = offset + rng.randint(-60, 3)
            popped = 0
            while every and every[0] <= last:
                every.popleft()
                popped += 1
            assert runs.pop_through(last) == popped
        assert len(runs) == len(every)


def test_a_run_split_inside_keeps_its_tail() -> None:
    runs = OffsetRuns()
    for offset in [3, 4, 5, 6, 9, 10]:
        runs.append(offset)
    assert runs.pop_through(4) == 2 and len(runs) == 4
    assert runs.pop_through(8) == 2 and len(runs) == 2
    assert runs.pop_through(2) == 0
    assert runs.pop_through(10) == 2 and len(runs) == 0


def test_an_offset_not_above_the_last_is_refused() -> None:
    runs = OffsetRuns()
    runs.append(5)
    with pytest.raises(ValueError):
        runs.append(5)
    assert len(runs) == 1

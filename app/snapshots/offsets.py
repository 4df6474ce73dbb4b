"""Increasing Kafka offsets kept as runs of consecutive ones, for the offsets not yet in a file."""
from __future__ import annotations

from array import array
from bisect import bisect_right


class OffsetRuns:
    """A partition's offsets handed to the sink and not yet filed, in order.

    A partition's offsets are consecutive except where a transaction marker, a compacted
    record or a refused event leaves a gap, so a whole open hour is a few runs of 16 bytes,
    where a deque of its offsets cost about 36 bytes an offset.
    """

    def __init__(self) -> None:
        self._firsts = array("q")
        self._lasts = array("q")
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, offset: int) -> None:
        """Add ``offset``, which must be above every offset held."""
        if self._lasts and offset <= self._lasts[-1]:
            raise ValueError(f"offset {offset} is not above {self._lasts[-1]}")
        if self._lasts and offset == self._lasts[-1] + 1:
            self._lasts[-1] = offset
        else:
            self._firsts.append(offset)
            self._lasts.append(offset)
        self._count += 1

    def pop_through(self, last: int) -> int:
        """Forget every offset up to ``last`` inclusive; how many there were."""
        whole = bisect_right(self._lasts, last)
        popped = sum(self._lasts[:whole]) - sum(self._firsts[:whole]) + whole
        del self._firsts[:whole], self._lasts[:whole]
        if self._firsts and self._firsts[0] <= last:  # ``last`` falls inside the first run left
            popped += last - self._firsts[0] + 1
            self._firsts[0] = last + 1
        self._count -= popped
        return popped

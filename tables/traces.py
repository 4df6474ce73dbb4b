"""The traces table: a JSON row per served answer, on the partition of the user served."""
from __future__ import annotations

from collections import deque
from typing import Any, Iterable

import faust
import orjson
from faust.types import EventT


def trace_key(partition: int, request_id: str) -> bytes:
    """The ``traces`` key of an answer given on ``partition`` (its user's)."""
    return f"{partition}:{request_id}".encode()


class TraceTable(faust.Table):
    """Traces by ``<partition>:<request_id>``, each on the partition of the user it answered.

    The worker that answered owns that partition, so it writes the row itself, with no Kafka
    round trip per answer; ``/trace`` finds a request id by trying every partition. Rows are
    JSON bytes rather than dicts: one object per trace instead of dozens keeps the garbage
    collector's full passes short as traces pile up. Rows expire oldest first, through an
    index in the order they were written or applied from the changelog (a standby's rows
    too; re-sorted after every recovery), from memory only: the changelog topic deletes
    them at the same retention, so no tombstones are sent.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._written: deque[tuple[int, bytes]] = deque()
        self.on_recover(self._index_recovered)

    def partition_for_key(self, key: Any) -> int:
        return int(key.split(b":", 1)[0])

    def keep(self, key: bytes, row: dict[str, Any]) -> bytes:
        """Keep ``row`` (with its ``recorded_at``, epoch ms) and return its changelog value.

        What ``table[key] = value`` does, but the caller sends the changelog row, in bulk.
        """
        self._written.append((row["recorded_at"], key))
        value = self.data[key] = orjson.dumps(row)
        return value

    def apply_changelog_batch(self, batch: Iterable[EventT]) -> None:
        """Apply changelog rows (recovery, or a standby following), indexing them for expiry."""
        events = list(batch)
        super().apply_changelog_batch(events)
        self._written.extend((orjson.loads(event.value)["recorded_at"], event.key)
                             for event in events if event.message.value is not None)

    def row(self, key: bytes) -> dict[str, Any] | None:
        """The row under ``key``, decoded; None when there is none."""
        value = self.get(key)
        return None if value is None else orjson.loads(value)

    def expire(self, before_ms: int) -> int:
        """Drop the rows recorded before ``before_ms``; how many went."""
        dropped = 0
        while self._written and self._written[0][0] < before_ms:
            _, key = self._written.popleft()
            if self.data.pop(key, None) is not None:
                dropped += 1
        return dropped

    async def _index_recovered(self) -> None:
        self._written = deque(sorted((orjson.loads(value)["recorded_at"], key)
                                     for key, value in self.data.items()))

"""Tables of the rollout figures: users' pending served lists, and per-arm counts per partition.

Both live on the partition of the user they describe, which the worker answering that user
owns, so the answering worker writes them without a Kafka round trip; their changelog rows go
out in bursts with the answers' records (``agents.answer_records``), through one producer, so
a key's rows reach the changelog in the order they were written.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import faust
import orjson
from faust.types import EventT

from app.partitioning import partition_of
from app.rollout.conversions import MAX_PENDING, Entry, add, live
from app.rollout.stats import Row, new_row

ChangelogRow = tuple[int, bytes, bytes | None]
"""(partition, key, value or None for a tombstone)."""


class PendingTable(faust.Table):
    """Per user (the user key), the served lists that may still convert, newest last.

    A value is one JSON object per line, so an answer appends its list without decoding the
    others; expired lists go when the user has ``MAX_PENDING``, converts, or is swept.
    """

    def partition_for_key(self, key: Any) -> int:
        return partition_of(key, self.partitions)

    def entries(self, key: bytes) -> list[Entry]:
        value = self.data.get(key)
        return [] if value is None else [orjson.loads(line) for line in value.splitlines()]

    def put(self, key: bytes, entries: list[Entry]) -> ChangelogRow:
        """Keep ``entries`` under ``key`` (none: drop the key); the changelog row to send."""
        if entries:
            value = self.data[key] = b"".join(orjson.dumps(entry) + b"\n" for entry in entries)
        else:
            self.data.pop(key, None)
            value = None
        return self.partition_for_key(key), key, value

    def append(self, key: bytes, entry: Entry, now_ms: int, window_ms: int) -> ChangelogRow:
        """Add a served list to ``key``'s; the changelog row to send."""
        value = self.data.get(key)
        if value is not None and value.count(b"\n") >= MAX_PENDING:
            return self.put(key, add(self.entries(key), entry, now_ms, window_ms))
        value = self.data[key] = (value or b"") + orjson.dumps(entry) + b"\n"
        return self.partition_for_key(key), key, value

    def sweep(self, now_ms: int, window_ms: int, owned: Callable[[int], bool]) -> tuple[list[ChangelogRow], int]:
        """Drop expired lists of the users on partitions this worker owns; the rows to send and
        how many lists still wait."""
        rows, waiting = [], 0
        for key in list(self.data.keys()):
            if not owned(self.partition_for_key(key)):
                continue
            entries = self.entries(key)
            kept = live(entries, now_ms, window_ms)
            waiting += len(kept)
            if len(kept) != len(entries):
                rows.append(self.put(key, kept))
        return rows, waiting


def stats_key(partition: int, trial: str, arm: str) -> bytes:
    return f"{partition}|{trial}|{arm}".encode()


class ArmStatsTable(faust.Table):
    """Per (partition, trial, arm), the arm's counts (``app.rollout.stats``) as JSON bytes.

    Rows being counted are kept decoded and marked dirty; ``flush`` encodes the dirty ones
    for the changelog. Rows applied from the changelog (recovery, a standby) replace the
    decoded ones.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rows: dict[bytes, Row] = {}
        self._dirty: set[bytes] = set()
        self.on_recover(self._forget)

    def partition_for_key(self, key: Any) -> int:
        return int(key.split(b"|", 1)[0])

    def row(self, partition: int, trial: str, arm: str, model_name: str, model_version: str) -> Row:
        """The counts of ``arm`` in ``trial`` on ``partition``, to update (marked for the next flush)."""
        key = stats_key(partition, trial, arm)
        row = self._rows.get(key)
        if row is None:
            value = self.data.get(key)
            row = self._rows[key] = (orjson.loads(value) if value is not None
                                     else new_row(trial, arm, model_name, model_version))
        self._dirty.add(key)
        return row

    def flush(self, owned: Callable[[int], bool]) -> list[ChangelogRow]:
        """The changelog rows of every row changed since the last flush on a partition still owned."""
        rows = []
        for key in self._dirty:
            partition = self.partition_for_key(key)
            if owned(partition):
                value = self.data[key] = orjson.dumps(self._rows[key])
                rows.append((partition, key, value))
            else:  # moved to another worker, which counts on from the changelog
                self._rows.pop(key, None)
        self._dirty.clear()
        return rows

    def apply_changelog_batch(self, batch: Iterable[EventT]) -> None:
        events = list(batch)
        super().apply_changelog_batch(events)
        for event in events:
            self._rows.pop(event.key, None)
            self._dirty.discard(event.key)

    async def on_rebalance(self, assigned: Any, revoked: Any, newly_assigned: Any, generation_id: int = 0) -> None:
        """Rows counted here are re-read from the table after any rebalance (recovery is their truth)."""
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        await self._forget()

    async def _forget(self) -> None:
        self._rows.clear()
        self._dirty.clear()

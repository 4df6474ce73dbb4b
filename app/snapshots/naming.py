"""Snapshot file names: one file per partition, event-time hour (or span of hours) and Kafka offset range."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from app.snapshots.exceptions import NotASnapshotName

HOUR_MS = 3_600_000
OFFSET_DIGITS = 20  # a Kafka offset is a signed 64-bit integer: at most 19 digits
_TOPIC = re.compile(r"[A-Za-z0-9._-]+")
_KEY = re.compile(
    r"topic=(?P<topic>[A-Za-z0-9._-]+)/date=(?P<date>\d{4}-\d{2}-\d{2})/hour=(?P<hour>\d{2})"
    r"/part-(?P<partition>\d+)-(?P<first>\d{20})-(?P<last>\d{20})(?:-(?P<hours>\d+)h)?\.parquet"
)


def topic_prefix(topic: str) -> str:
    """The key prefix under which every file of ``topic`` lives."""
    return f"topic={topic}/"


@dataclass(frozen=True, order=True)
class SnapshotName:
    """Where the events of one partition, one event-time hour and one offset range are stored.

    Offsets are zero-padded so that names sort by offset within a partition. ``parse``
    accepts only the canonical spelling, so one offset range has exactly one name and a
    replay that produces the same range overwrites the same file.

    A compacted file (``app.snapshots.compaction``) merges consecutive files of a partition:
    it lives under its first hour and says how many hours it spans (``-<hours>h``); it
    *covers* every file whose offset range lies inside its own, and readers ignore those.
    """

    topic: str
    hour: int
    """Hours since the Unix epoch (UTC) of the file's first event's time."""
    partition: int
    first_offset: int
    last_offset: int
    hours: int = 1
    """Event-time hours the file spans from ``hour``: 1 as the sink writes, more once compacted."""

    def __post_init__(self) -> None:
        if not _TOPIC.fullmatch(self.topic) or self.topic in (".", ".."):
            raise NotASnapshotName(f"bad topic {self.topic!r}")
        if self.hour < 0 or self.partition < 0 or self.hours < 1 or not 0 <= self.first_offset <= self.last_offset:
            raise NotASnapshotName(f"bad hour, partition or offset range in {self!r}")

    @property
    def start(self) -> datetime:
        """The first instant of the file's hour."""
        return datetime.fromtimestamp(self.hour * 3600, UTC)

    @property
    def end_hour(self) -> int:
        """The first hour after the file's span."""
        return self.hour + self.hours

    def covers(self, other: SnapshotName) -> bool:
        """Whether ``other`` is another file of the same partition whose offsets all lie in this one."""
        return (other != self and other.topic == self.topic and other.partition == self.partition
                and self.first_offset <= other.first_offset and other.last_offset <= self.last_offset)

    @property
    def key(self) -> str:
        """The store key, relative to the snapshot root."""
        return (
            f"{topic_prefix(self.topic)}date={self.start:%Y-%m-%d}/hour={self.start:%H}/"
            f"part-{self.partition}-{self.first_offset:0{OFFSET_DIGITS}d}-{self.last_offset:0{OFFSET_DIGITS}d}"
            + (f"-{self.hours}h" if self.hours > 1 else "") + ".parquet"
        )

    @classmethod
    def parse(cls, key: str) -> SnapshotName:
        """The name a key spells; ``NotASnapshotName`` for any key we would not have written."""
        match = _KEY.fullmatch(key)
        if match is None:
            raise NotASnapshotName(key)
        try:
            start = datetime.strptime(f"{match['date']} {match['hour']}", "%Y-%m-%d %H").replace(tzinfo=UTC)
        except ValueError as err:
            raise NotASnapshotName(key) from err
        name = cls(
            match["topic"],
            int(start.timestamp()) // 3600,
            int(match["partition"]),
            int(match["first"]),
            int(match["last"]),
            int(match["hours"] or 1),
        )
        if name.key != key:  # e.g. a zero-padded partition: same range, second spelling
            raise NotASnapshotName(key)
        return name

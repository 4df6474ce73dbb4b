"""File names: exact spelling, round trip, offset order, and refusal of anything else."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.snapshots import NotASnapshotName, SnapshotName

HOUR = int(datetime(2024, 3, 5, 7, tzinfo=UTC).timestamp()) // 3600
KEY = "topic=watch/date=2024-03-05/hour=07/part-3-00000000000000000012-00000000000000000345.parquet"


def test_key_spelling_and_round_trip() -> None:
    name = SnapshotName("watch", HOUR, 3, 12, 345)
    assert name.key == KEY
    assert name.start == datetime(2024, 3, 5, 7, tzinfo=UTC)
    assert SnapshotName.parse(KEY) == name


def test_keys_sort_by_offset_within_a_partition() -> None:
    names = [SnapshotName("rate", HOUR, 0, first, first + 5) for first in (0, 9, 10, 99, 10**18)]
    assert sorted(names, key=lambda n: n.key) == names


@pytest.mark.parametrize(
    "key",
    [
        KEY.replace("part-3-", "part-03-"),  # a second spelling of the same range
        KEY.replace(".parquet", ".parquet.tmp"),
        KEY.replace("part-", ".part-"),
        KEY.replace("00000000000000000012", "12"),
        KEY.replace("hour=07", "hour=24"),
        KEY.replace("date=2024-03-05", "date=2024-02-30"),
        KEY.replace("date=2024-03-05", "date=2024-3-05"),
        KEY.replace("00000000000000000345", "00000000000000000011"),  # last before first
        KEY.replace("topic=watch", "topic=.."),
        "prefix/" + KEY,
        KEY.replace("hour=07/", "hour=07/extra/"),
        "topic=watch/date=2024-03-05/hour=07/_SUCCESS",
    ],
)
def test_rejects_names_that_are_not_ours(key: str) -> None:
    with pytest.raises(NotASnapshotName):
        SnapshotName.parse(key)

"""Where a consumer resumes: right after the last offset already in a file. Files are the truth."""
from __future__ import annotations

from app.snapshots.exceptions import NotASnapshotName
from app.snapshots.naming import SnapshotName, topic_prefix
from app.storage import Store


async def resume_offsets(store: Store, topic: str) -> dict[int, int]:
    """The next offset to consume for each partition of ``topic`` that has files: max last + 1.

    One listing serves every partition, so call this once per rebalance, not per partition.
    """
    following: dict[int, int] = {}
    for stored in await store.list(topic_prefix(topic)):
        try:
            name = SnapshotName.parse(stored.key)
        except NotASnapshotName:
            continue
        following[name.partition] = max(following.get(name.partition, 0), name.last_offset + 1)
    return following


async def resume_offset(store: Store, topic: str, partition: int) -> int | None:
    """The next offset to consume for one partition; None when it has no files yet."""
    return (await resume_offsets(store, topic)).get(partition)

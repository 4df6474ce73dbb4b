"""Kafka's default (murmur2) placement of a user key, the contract shared with outside clients."""
from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import murmur2


def user_key(user_id: int) -> bytes:
    """The message key of a user: the id as UTF-8 decimal (DESIGN §2)."""
    return str(user_id).encode()


@lru_cache(maxsize=1 << 16)
def partition_of(key: bytes, partitions: int) -> int:
    """The partition Java clients and aiokafka choose for ``key`` (pure Python murmur2: cached)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions

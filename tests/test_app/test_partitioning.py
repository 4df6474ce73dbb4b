"""The user-key placement must match Kafka's Java client (murmur2), the cross-client contract."""
import pytest

from app.partitioning import partition_of, user_key


def test_user_key_is_decimal_utf8() -> None:
    assert user_key(42) == b"42"


@pytest.mark.parametrize("key, partition", [
    (b"", 681), (b"a", 524), (b"ab", 434), (b"abc", 107), (b"123456789", 566), (b"\x00 ", 742),
])
def test_partition_matches_the_java_client(key: bytes, partition: int) -> None:
    # Reference values produced by org.apache.kafka.clients.producer.Partitioner over 1000
    # partitions (the vectors the Python Kafka clients test their murmur2 ports against).
    assert partition_of(key, 1000) == partition


def test_partition_is_stable_and_spread() -> None:
    parts = [partition_of(user_key(u), 8) for u in range(1, 1001)]
    assert parts == [partition_of(user_key(u), 8) for u in range(1, 1001)]
    assert set(parts) == set(range(8))
    assert max(parts.count(p) for p in range(8)) < 200

"""The behaviour every Store must have, run against the file and the S3 store alike."""
from __future__ import annotations

import asyncio
import os
from functools import partial

import pytest

from app.storage import Backoff, InvalidKey, KeyNotFound, Store, StoredObject, retry
from tests.s3server import PART_SIZE


async def test_put_then_get_returns_the_bytes(store: Store) -> None:
    await store.put("a/b/c.bin", b"\x00\x01payload")
    await store.put("empty", b"")
    assert await store.get("a/b/c.bin") == b"\x00\x01payload"
    assert await store.get("empty") == b""


async def test_put_replaces_an_object_whole(store: Store) -> None:
    await store.put("k", b"first version, longer")
    await store.put("k", b"second")
    assert await store.get("k") == b"second"


async def test_concurrent_puts_leave_one_whole_version(store: Store) -> None:
    versions = [bytes([n]) * 50_000 for n in range(4)]
    # Retried as callers do: moto (not S3) can answer a 500 to racing PUTs of one key.
    quick = Backoff(attempts=5, base_s=0.01, max_s=0.05)
    await asyncio.gather(*(retry(partial(store.put, "same", data), backoff=quick) for data in versions))
    assert await store.get("same") in versions


async def test_large_object_round_trips(store: Store) -> None:
    data = os.urandom(3 * PART_SIZE + 123)  # S3: a four-part multipart upload
    await store.put("big/object", data)
    assert await store.get("big/object") == data
    assert await store.list("big/") == [StoredObject("big/object", len(data))]


async def test_missing_key(store: Store) -> None:
    with pytest.raises(KeyNotFound):
        await store.get("nope")
    assert not await store.exists("nope")


async def test_exists_and_delete(store: Store) -> None:
    await store.put("x/y", b"1")
    assert await store.exists("x/y")
    assert not await store.exists("x")  # a "directory" is not an object
    await store.delete("x/y")
    await store.delete("x/y")  # deleting a missing key is fine
    assert not await store.exists("x/y")


async def test_list_is_a_sorted_string_prefix_match(store: Store) -> None:
    for key, size in [("topic=watch/b", 2), ("topic=watch/a/z", 1), ("topic=watchers/c", 3), ("other", 4)]:
        await store.put(key, b"x" * size)
    assert await store.list("topic=watch/") == [
        StoredObject("topic=watch/a/z", 1), StoredObject("topic=watch/b", 2)
    ]
    matches = ["topic=watch/a/z", "topic=watch/b", "topic=watchers/c"]
    assert [o.key for o in await store.list("topic=w")] == matches
    assert len(await store.list()) == 4
    assert await store.list("nothing/here/") == []


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/./b", "../up", "a/..", "dir/", "a\\b", "d/.x.tmp"])
async def test_bad_keys_are_rejected(store: Store, key: str) -> None:
    with pytest.raises(InvalidKey):
        await store.put(key, b"x")

"""S3 specifics over real HTTP to moto: multipart, prefixes, outages and recovery."""
from __future__ import annotations

import asyncio
import time

import pytest

from app.storage import Backoff, S3Store, StoreError, StoreUnavailable, retry
from tests.s3server import (
    PART_SIZE,
    boto_client,
    free_port,
    new_bucket,
    s3_store_at,
    start_moto,
)

pytestmark = pytest.mark.s3


async def test_large_objects_go_up_in_parts(s3_store: S3Store, s3_endpoint: str) -> None:
    await s3_store.put("big", b"y" * (3 * PART_SIZE + 1))
    await s3_store.put("small", b"y" * PART_SIZE)
    s3 = boto_client(s3_endpoint)
    etag = s3.head_object(Bucket=s3_store.bucket, Key="root/big")["ETag"]
    assert etag.strip('"').endswith("-4")  # S3's mark of a four-part upload
    assert "-" not in s3.head_object(Bucket=s3_store.bucket, Key="root/small")["ETag"]


async def test_failed_multipart_upload_is_aborted_and_invisible(s3_store: S3Store, s3_endpoint: str) -> None:
    client = await s3_store._s3()
    real_upload_part = client.upload_part

    async def second_part_fails(**kwargs: object) -> object:
        if kwargs["PartNumber"] == 2:
            raise TimeoutError("network went away")
        return await real_upload_part(**kwargs)

    client.upload_part = second_part_fails
    with pytest.raises(StoreUnavailable):
        await s3_store.put("half", b"z" * (3 * PART_SIZE))
    assert not await s3_store.exists("half")
    assert boto_client(s3_endpoint).list_multipart_uploads(Bucket=s3_store.bucket).get("Uploads", []) == []


async def test_prefix_scopes_the_store(s3_endpoint: str) -> None:
    bucket = new_bucket(s3_endpoint)
    one, two = s3_store_at(s3_endpoint, bucket, "snapshots/"), s3_store_at(s3_endpoint, bucket, "registry")
    async with one, two:
        await one.put("k", b"1")
        assert await two.list() == []
        assert not await two.exists("k")
    assert boto_client(s3_endpoint).get_object(Bucket=bucket, Key="snapshots/k")["Body"].read() == b"1"


async def test_missing_bucket_is_an_error_not_an_outage(s3_endpoint: str) -> None:
    async with s3_store_at(s3_endpoint, "no-such-bucket") as store:
        with pytest.raises(StoreError) as caught:
            await store.put("k", b"1")
    assert not isinstance(caught.value, StoreUnavailable)


async def test_closed_port_raises_store_unavailable_fast() -> None:
    started = time.monotonic()
    async with s3_store_at(f"http://127.0.0.1:{free_port()}", "bucket") as store:
        calls = (store.put("k", b"1"), store.get("k"), store.list(), store.exists("k"), store.delete("k"))
        for call in calls:
            with pytest.raises(StoreUnavailable):
                await call
    assert time.monotonic() - started < 5


async def test_retry_succeeds_once_the_endpoint_comes_back(s3_endpoint: str) -> None:
    bucket = new_bucket(s3_endpoint)  # moto servers in one process share their buckets
    port = free_port()
    retries: list[int] = []

    async def come_back_later() -> None:
        await asyncio.sleep(0.5)
        return await asyncio.to_thread(start_moto, port)

    async with s3_store_at(f"http://127.0.0.1:{port}", bucket) as store:
        comeback = asyncio.create_task(come_back_later())
        await retry(
            lambda: store.put("k", b"after the outage"),
            backoff=Backoff(attempts=30, base_s=0.05, max_s=0.2),
            on_retry=lambda attempt, error, delay: retries.append(attempt),
        )
        server = await comeback
        assert await store.get("k") == b"after the outage"
    server.stop()
    assert retries and retries == list(range(1, len(retries) + 1))

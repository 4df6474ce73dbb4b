"""A Store on an S3 bucket prefix via aioboto3: one PUT, or a multipart upload when large."""
from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import Iterator
from typing import Any

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from app.storage.base import Store, StoredObject, check_key, check_prefix
from app.storage.exceptions import KeyNotFound, StoreError, StoreUnavailable

MiB = 1024 * 1024
_MISSING = {"404", "NoSuchKey", "NotFound"}
_THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed"}


@contextlib.contextmanager
def _translated(key: str) -> Iterator[None]:
    """Map botocore/aiohttp errors onto the store's exceptions."""
    try:
        yield
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _MISSING:
            raise KeyNotFound(key) from err
        if status >= 500 or code in _THROTTLED:
            raise StoreUnavailable(f"{key}: {err}") from err
        raise StoreError(f"{key}: {err}") from err
    # aiobotocore does not wrap every aiohttp error (e.g. ServerTimeoutError) in botocore's.
    except (TimeoutError, ConnectionError, HTTPClientError, aiohttp.ClientError) as err:
        raise StoreUnavailable(f"{key}: {err}") from err
    except BotoCoreError as err:  # no credentials, bad parameters: configuration, not an outage
        raise StoreError(f"{key}: {err}") from err


class S3Store(Store):
    """Objects under ``prefix`` in ``bucket``; one client per store, opened on first use.

    Objects up to ``multipart_threshold`` bytes go in one PUT; larger ones in a multipart
    upload of ``part_size`` parts, which S3 makes visible only on completion (and which is
    aborted on failure), so readers never see half an object. botocore's own retries are
    off: retrying, its backoff and its reporting live in one place, ``app.storage.retry``.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        part_size: int = 8 * MiB,
        multipart_threshold: int | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self.part_size = part_size
        self.multipart_threshold = part_size if multipart_threshold is None else multipart_threshold
        self._endpoint_url = endpoint_url
        self._session = aioboto3.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
        )
        self._config = AioConfig(
            retries={"total_max_attempts": 1},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
        )
        self._exit_stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._client_lock = asyncio.Lock()

    async def _s3(self) -> Any:
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    client = self._session.client("s3", endpoint_url=self._endpoint_url, config=self._config)
                    self._client = await self._exit_stack.enter_async_context(client)
        return self._client

    def _full(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def put(self, key: str, data: bytes) -> None:
        full = self._full(key)
        s3 = await self._s3()
        with _translated(key):
            if len(data) <= self.multipart_threshold:
                await s3.put_object(Bucket=self.bucket, Key=full, Body=data)
            else:
                await self._put_multipart(s3, full, data)

    async def _put_multipart(self, s3: Any, full: str, data: bytes) -> None:
        upload = await s3.create_multipart_upload(Bucket=self.bucket, Key=full)
        upload_id = upload["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, len(data), self.part_size), start=1):
                body = data[start : start + self.part_size]
                answer = await s3.upload_part(
                    Bucket=self.bucket, Key=full, UploadId=upload_id, PartNumber=number, Body=body
                )
                parts.append({"ETag": answer["ETag"], "PartNumber": number})
            await s3.complete_multipart_upload(
                Bucket=self.bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            # Unfinished parts cost storage until aborted (or a bucket lifecycle rule runs).
            with contextlib.suppress(Exception):
                await s3.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
            raise

    async def get(self, key: str) -> bytes:
        full = self._full(key)
        s3 = await self._s3()
        with _translated(key):
            answer = await s3.get_object(Bucket=self.bucket, Key=full)
            async with answer["Body"] as body:
                return await body.read()

    async def list(self, prefix: str = "") -> builtins.list[StoredObject]:
        full = self.prefix + check_prefix(prefix)
        s3 = await self._s3()
        found = []
        with _translated(prefix):
            async for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix) :]
                    if not key.endswith("/"):  # "folder" placeholders some tools create
                        found.append(StoredObject(key, int(item["Size"])))
        return sorted(found)

    async def exists(self, key: str) -> bool:
        full = self._full(key)
        s3 = await self._s3()
        try:
            with _translated(key):
                await s3.head_object(Bucket=self.bucket, Key=full)
        except KeyNotFound:
            return False
        return True

    async def delete(self, key: str) -> None:
        full = self._full(key)
        s3 = await self._s3()
        with _translated(key):
            await s3.delete_object(Bucket=self.bucket, Key=full)

    async def close(self) -> None:
        await self._exit_stack.aclose()
        self._client = None

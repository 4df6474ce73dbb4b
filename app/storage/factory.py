"""Open the store a URL names: file://DIR or s3://bucket/prefix; retry policy from settings."""
from __future__ import annotations

from app.settings import Settings
from app.storage.base import Store
from app.storage.exceptions import UnsupportedStoreURL
from app.storage.file import FileStore
from app.storage.retry import Backoff


def open_store(url: str, settings: Settings) -> Store:
    """The store behind ``url``; S3 endpoint, region, credentials and part size come from ``settings``.

    The S3 store is imported only for an s3:// URL: aioboto3 and botocore take half a second
    of a worker's start-up, before it joins its group, on a machine that keeps files locally.
    """
    scheme, sep, rest = url.partition("://")
    if sep and scheme == "file" and rest:
        return FileStore(rest)
    if sep and scheme == "s3" and rest.partition("/")[0]:
        from app.storage.s3 import MiB, S3Store

        bucket, _, prefix = rest.partition("/")
        return S3Store(
            bucket,
            prefix,
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id or None,
            secret_access_key=settings.s3_secret_access_key or None,
            part_size=settings.s3_part_size_mib * MiB,
        )
    raise UnsupportedStoreURL(url)


def store_backoff(settings: Settings) -> Backoff:
    """How store calls are retried, as configured."""
    return Backoff(settings.store_retry_attempts, settings.store_retry_base_s, settings.store_retry_max_s)

"""Open the store a URL names: file://DIR or s3://bucket/prefix."""
from __future__ import annotations

from app.settings import Settings
from app.storage.base import Store
from app.storage.exceptions import UnsupportedStoreURL
from app.storage.file import FileStore
from app.storage.s3 import S3Store


def open_store(url: str, settings: Settings) -> Store:
    """The store behind ``url``; S3 endpoint, region and credentials come from ``settings``."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme == "file" and rest:
        return FileStore(rest)
    if sep and scheme == "s3" and rest.partition("/")[0]:
        bucket, _, prefix = rest.partition("/")
        return S3Store(
            bucket,
            prefix,
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id or None,
            secret_access_key=settings.s3_secret_access_key or None,
        )
    raise UnsupportedStoreURL(url)

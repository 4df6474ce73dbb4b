"""Object stores (file:// and s3://) behind one small async interface.

``S3Store`` is imported on first use (``app.storage.factory`` says why).
"""
from typing import Any

from app.storage.base import Store, StoredObject
from app.storage.exceptions import (
    InvalidKey,
    KeyNotFound,
    StoreError,
    StoreUnavailable,
    UnsupportedStoreURL,
)
from app.storage.factory import open_store
from app.storage.file import FileStore
from app.storage.retry import DEFAULT_BACKOFF, Backoff, OnRetry, retry

__all__ = [
    "DEFAULT_BACKOFF", "Backoff", "FileStore", "InvalidKey", "KeyNotFound", "OnRetry", "S3Store", "Store",
    "StoreError", "StoreUnavailable", "StoredObject", "UnsupportedStoreURL", "open_store", "retry",
]


def __getattr__(name: str) -> Any:
    if name == "S3Store":
        from app.storage.s3 import S3Store
        return S3Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

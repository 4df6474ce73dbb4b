"""Object stores (file:// and s3://) behind one small async interface."""
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
from app.storage.s3 import S3Store

__all__ = [
    "DEFAULT_BACKOFF", "Backoff", "FileStore", "InvalidKey", "KeyNotFound", "OnRetry", "S3Store", "Store",
    "StoreError", "StoreUnavailable", "StoredObject", "UnsupportedStoreURL", "open_store", "retry",
]

"""Errors raised by stores; StoreUnavailable is the one worth retrying."""
from __future__ import annotations


class StoreError(Exception):
    """A store operation failed and retrying will not help (bad key, bad URL, no permission)."""


class StoreUnavailable(StoreError):
    """The store could not be reached or is failing for now; retry with backoff."""


class KeyNotFound(StoreError, KeyError):
    """No object is stored under this key."""


class InvalidKey(StoreError, ValueError):
    """The key is not a relative, slash-separated path a store can hold."""


class UnsupportedStoreURL(StoreError, ValueError):
    """The store URL is neither file://DIR nor s3://bucket/prefix."""

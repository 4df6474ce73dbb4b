"""The one small async interface every object store implements."""
from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from typing import NamedTuple, Self

from app.storage.exceptions import InvalidKey


class StoredObject(NamedTuple):
    """A key and the size in bytes of the object stored under it."""

    key: str
    size: int


def is_temporary(name: str) -> bool:
    """Whether a file name is a FileStore write in flight; such names are never keys."""
    return name.startswith(".") and name.endswith(".tmp")


def check_key(key: str) -> str:
    """The key itself if it is a relative slash-separated path both stores can hold alike."""
    parts = key.split("/")
    if "\\" in key or any(p in ("", ".", "..") or is_temporary(p) for p in parts):
        raise InvalidKey(key)
    return key


def check_prefix(prefix: str) -> str:
    """The prefix itself if it cannot climb out of the store's root."""
    if prefix.startswith("/") or "\\" in prefix or ".." in prefix.split("/"):
        raise InvalidKey(prefix)
    return prefix


class Store(ABC):
    """Bytes under slash-separated keys; ``put`` makes an object visible whole or not at all.

    Keys are relative to the store's root (a directory or a bucket prefix). ``list`` takes a
    plain string prefix, as S3 does, so ``"topic=w"`` also matches ``"topic=watch/..."``.
    Transient failures raise ``StoreUnavailable``; retry those with ``app.storage.retry``.
    """

    url: str
    """Where the store points, for logs and error messages."""

    @abstractmethod
    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any object there, atomically."""

    @abstractmethod
    async def get(self, key: str) -> bytes:
        """The object under ``key``; ``KeyNotFound`` if there is none."""

    @abstractmethod
    async def list(self, prefix: str = "") -> builtins.list[StoredObject]:
        """Every object whose key starts with ``prefix``, sorted by key."""

    @abstractmethod
    async def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object under ``key``; removing a missing key is not an error."""

    async def close(self) -> None:
        """Release connections; the store must not be used afterwards."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

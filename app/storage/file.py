"""A Store on a local (or mounted) directory: temp file, fsync, rename."""
from __future__ import annotations

import asyncio
import builtins
import errno
import os
import uuid
from pathlib import Path

from app.storage.base import Store, StoredObject, check_key, check_prefix, is_temporary
from app.storage.exceptions import KeyNotFound, StoreError, StoreUnavailable

# Failures that a retry cannot fix; any other OSError (full disk, EIO, a stale NFS handle)
# may clear up, so it is reported as StoreUnavailable.
_PERMANENT = (errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR, errno.EROFS, errno.ENAMETOOLONG)


def _translate(err: OSError, key: str) -> StoreError:
    if isinstance(err, FileNotFoundError):
        return KeyNotFound(key)
    if err.errno in _PERMANENT:
        return StoreError(f"{key}: {err}")
    return StoreUnavailable(f"{key}: {err}")


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable; POSIX keeps directory entries in the directory."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same directory as the target so os.replace is a rename within one file system.
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _list(root: Path, prefix: str) -> list[StoredObject]:
    start = root / prefix.rpartition("/")[0]
    found = []
    for folder, _, names in os.walk(start):
        for name in names:
            if is_temporary(name):
                continue
            path = Path(folder, name)
            key = path.relative_to(root).as_posix()
            if not key.startswith(prefix):
                continue
            try:
                found.append(StoredObject(key, path.stat().st_size))
            except FileNotFoundError:  # deleted while we walked
                continue
    return sorted(found)


class FileStore(Store):
    """Objects are files under ``root``; a put is a temp file, fsync, then ``os.replace``.

    Blocking file I/O runs in a worker thread so the event loop never waits on the disk.
    A crash mid-put can leave a hidden ``.<name>.<random>.tmp`` file; it is never listed.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.url = f"file://{self.root}"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            await asyncio.to_thread(_write_atomically, path, data)
        except OSError as err:
            raise _translate(err, key) from err

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except OSError as err:
            raise _translate(err, key) from err

    async def list(self, prefix: str = "") -> builtins.list[StoredObject]:
        try:
            return await asyncio.to_thread(_list, self.root, check_prefix(prefix))
        except OSError as err:
            raise _translate(err, prefix) from err

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as err:
            raise _translate(err, key) from err

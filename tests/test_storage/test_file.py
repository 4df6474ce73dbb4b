"""File store specifics: what a crash or a failing disk leaves behind."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from app.storage import FileStore, StoreError, StoreUnavailable


async def test_leftover_temp_file_is_not_an_object(file_store: FileStore) -> None:
    await file_store.put("dir/real", b"1")
    (file_store.root / "dir" / ".real.0123abcd.tmp").write_bytes(b"half a write")
    assert [o.key for o in await file_store.list()] == ["dir/real"]


async def test_failed_write_keeps_the_old_object_and_no_temp_file(
    file_store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await file_store.put("k", b"old")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(StoreUnavailable):
        await file_store.put("k", b"new")
    monkeypatch.undo()
    assert await file_store.get("k") == b"old"
    assert sorted(p.name for p in file_store.root.iterdir()) == ["k"]


async def test_a_root_that_is_a_file_is_an_error_not_an_outage(tmp_path: Path) -> None:
    (tmp_path / "plain").write_bytes(b"")
    with pytest.raises(StoreError) as caught:
        await FileStore(tmp_path / "plain").put("a/b", b"1")
    assert not isinstance(caught.value, StoreUnavailable)

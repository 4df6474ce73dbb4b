"""open_store: the URL picks the store, settings supply S3's endpoint and credentials."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Settings
from app.storage import FileStore, S3Store, UnsupportedStoreURL, open_store


def test_file_url(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/snaps", Settings())
    assert isinstance(store, FileStore) and store.root == tmp_path / "snaps"
    assert open_store("file://./data/snapshots", Settings()).root == Path("data/snapshots")


def test_s3_url_takes_endpoint_from_settings() -> None:
    store = open_store("s3://bucket/some/prefix", Settings(s3_endpoint_url="http://127.0.0.1:9000"))
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.url) == ("bucket", "some/prefix/", "s3://bucket/some/prefix/")
    assert open_store("s3://bucket", Settings()).prefix == ""


@pytest.mark.parametrize("url", ["", "./dir", "gs://bucket/x", "s3://", "s3:///prefix", "file://"])
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(UnsupportedStoreURL):
        open_store(url, Settings())

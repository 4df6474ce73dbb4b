"""Fetch a MovieLens archive from GroupLens, verify its pinned SHA-256 and unpack it."""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

BASE_URL = "https://files.grouplens.org/datasets/movielens/"
VERIFIED_MARKER = ".sha256"
"""Written last into an unpacked folder; holds the archive digest the folder came from."""


@dataclass(frozen=True)
class Archive:
    """One published MovieLens zip and the digest it must have."""

    file_name: str
    sha256: str


# GroupLens publishes only MD5s (ml-100k 0e33842e..., ml-1m c4d9eecf...); these SHA-256s are the
# ones TensorFlow Datasets pins for the same URLs (tensorflow_datasets/url_checksums/movielens.txt).
ARCHIVES: dict[str, Archive] = {
    "ml-100k": Archive("ml-100k.zip", "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"),
    "ml-1m": Archive("ml-1m.zip", "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"),
}


class ChecksumError(ValueError):
    """A downloaded archive is not the one we pinned: corrupt, truncated or tampered with."""


def _is_verified(folder: Path, archive: Archive) -> bool:
    marker = folder / VERIFIED_MARKER
    return marker.is_file() and marker.read_text().strip() == archive.sha256


def _fetch(url: str, target: Path, timeout_s: float) -> str:
    """Stream ``url`` into ``target`` and return its SHA-256, never holding the file in memory."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout_s) as response, target.open("wb") as out:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _content_root(folder: Path) -> Path:
    """The folder holding the files: GroupLens zips wrap them in one top-level directory."""
    entries = list(folder.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else folder


def download(name: str, dest_dir: str | Path, base_url: str = BASE_URL, timeout_s: float = 60.0) -> Path:
    """Make ``dest_dir/<name>/`` hold the verified contents of a MovieLens archive; return it.

    Nothing is fetched when the folder already carries the pinned digest. The archive is
    downloaded and unpacked inside a temporary folder in ``dest_dir`` and moved into place
    only after its digest matched, so a failure (network, :class:`ChecksumError`, bad zip)
    leaves no partial data. ``base_url`` is GroupLens unless given (a mirror, or a test
    server; the CLI passes ``MOVIE_RECS_MOVIELENS_URL``). An unverified folder of the same
    name is replaced.
    """
    if name not in ARCHIVES:
        raise ValueError(f"unknown MovieLens archive {name!r}; known: {', '.join(ARCHIVES)}")
    archive = ARCHIVES[name]
    dest_dir = Path(dest_dir)
    target = dest_dir / name
    if _is_verified(target, archive):
        return target
    url = f"{base_url.rstrip('/')}/{archive.file_name}"
    dest_dir.mkdir(parents=True, exist_ok=True)
    # Same file system as the target, so the final move is a rename.
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=dest_dir) as tmp:
        zip_path = Path(tmp) / archive.file_name
        actual = _fetch(url, zip_path, timeout_s)
        if actual != archive.sha256:
            raise ChecksumError(
                f"{url}: SHA-256 {actual} does not match the pinned {archive.sha256}; nothing was extracted"
            )
        unpacked = Path(tmp) / "unpacked"
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(unpacked)  # strips absolute and '..' parts of member paths
        root = _content_root(unpacked)
        (root / VERIFIED_MARKER).write_text(archive.sha256 + "\n")
        if target.exists():
            shutil.rmtree(target)
        root.rename(target)
    return target

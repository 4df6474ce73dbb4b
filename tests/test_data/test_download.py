"""Downloads are verified against the pinned digest before anything is unpacked."""
from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.data import download as dl


class _Server:
    """A static file server on 127.0.0.1 that counts the archives it served."""

    def __init__(self, root: Path) -> None:
        self.archive = root / "files" / "ml-100k.zip"
        self.hits = 0
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=root))
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/files/"
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    root = tmp_path / "www"
    (root / "files").mkdir(parents=True)
    with zipfile.ZipFile(root / "files" / "ml-100k.zip", "w") as zf:
        zf.writestr("ml-100k/u.data", "1\t10\t5\t900000000\n")
        zf.writestr("ml-100k/README", "test archive\n")
    served = _Server(root)
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()


def _pin_served_archive(monkeypatch: pytest.MonkeyPatch, server: _Server) -> None:
    digest = hashlib.sha256(server.archive.read_bytes()).hexdigest()
    monkeypatch.setitem(dl.ARCHIVES, "ml-100k", dl.Archive("ml-100k.zip", digest))


def test_verified_archive_is_unpacked_once(tmp_path: Path, server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    _pin_served_archive(monkeypatch, server)
    dest = tmp_path / "data"
    folder = dl.download("ml-100k", dest, base_url=server.url)
    assert folder == dest / "ml-100k"
    assert (folder / "u.data").read_text() == "1\t10\t5\t900000000\n"
    assert sorted(p.name for p in dest.iterdir()) == ["ml-100k"]  # no temporary leftovers
    assert dl.download("ml-100k", dest, base_url=server.url) == folder
    assert server.hits == 1


def test_the_cli_downloads_from_the_configured_url(tmp_path: Path, server: _Server,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from app.commands import data_download
    from app.settings import get_settings

    _pin_served_archive(monkeypatch, server)
    monkeypatch.setenv("MOVIE_RECS_MOVIELENS_URL", server.url)
    get_settings.cache_clear()
    try:
        outcome = CliRunner().invoke(data_download, ["ml-100k", "--dest", str(tmp_path)])
    finally:
        get_settings.cache_clear()
    assert outcome.exit_code == 0, outcome.output
    assert (tmp_path / "ml-100k" / "README").exists() and server.hits == 1


def test_checksum_mismatch_raises_and_leaves_nothing(tmp_path: Path, server: _Server) -> None:
    dest = tmp_path / "data"
    # The served test zip is not the real archive, so the pinned digest cannot match.
    with pytest.raises(dl.ChecksumError, match="does not match the pinned"):
        dl.download("ml-100k", dest, base_url=server.url)
    assert list(dest.iterdir()) == []


def test_unverified_folder_is_replaced(tmp_path: Path, server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    _pin_served_archive(monkeypatch, server)
    stale = tmp_path / "ml-100k"
    stale.mkdir()
    (stale / "half-written").write_text("x")
    folder = dl.download("ml-100k", tmp_path, base_url=server.url)
    assert sorted(p.name for p in folder.iterdir()) == [dl.VERIFIED_MARKER, "README", "u.data"]


def test_missing_archive_and_unknown_name_raise(tmp_path: Path, server: _Server) -> None:
    with pytest.raises(OSError):  # HTTP 404
        dl.download("ml-1m", tmp_path / "data", base_url=server.url)
    assert list((tmp_path / "data").iterdir()) == []
    with pytest.raises(ValueError, match="unknown MovieLens archive"):
        dl.download("ml-7m", tmp_path)

"""Codecs against a registry speaking the Confluent REST API (a small fake on 127.0.0.1)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from app import schema_registry
from app.codec import AvroCodec, schema_json
from app.exceptions import DecodeError
from app.schema_registry import SchemaRegistry, codec_for


class FakeRegistry(BaseHTTPRequestHandler):
    schemas: dict[int, str] = {}
    subjects: dict[tuple[str, str], int] = {}

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        subject = self.path.split("/")[2]
        schema = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["schema"]
        key = (subject, schema)
        if key not in self.subjects:
            self.subjects[key] = 100 + len(self.schemas)
            self.schemas[self.subjects[key]] = schema
        self._reply(200, {"id": self.subjects[key]})

    def do_GET(self) -> None:  # noqa: N802
        schema_id = int(self.path.rsplit("/", 1)[1])
        if schema_id in self.schemas:
            self._reply(200, {"schema": self.schemas[schema_id]})
        else:
            self._reply(404, {"error_code": 40403, "message": "Schema not found"})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    FakeRegistry.schemas, FakeRegistry.subjects = {}, {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRegistry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    settings = schema_registry.get_settings().model_copy(update={"schema_registry_url": url})
    monkeypatch.setattr(schema_registry, "get_settings", lambda: settings)
    codec_for.cache_clear()
    yield url
    codec_for.cache_clear()
    server.shutdown()


def test_without_a_registry_the_bundled_id_is_used() -> None:
    codec_for.cache_clear()
    assert codec_for("WatchEvent", "watch").schema_id == AvroCodec("WatchEvent").schema_id


def test_registry_ids_are_used_and_older_versions_are_read(registry_url: str) -> None:
    codec = codec_for("RateEvent", "rate")
    assert codec.schema_id == 100
    # A producer registered an earlier version (another doc string, so another id).
    old = dict(schema_json("RateEvent"), doc="an earlier version")
    old_id = SchemaRegistry(registry_url).register("rate-value", old)
    assert old_id != codec.schema_id
    record = {"ts": 1, "user_id": 2, "movie_id": 3, "rating": 4}
    old_bytes = AvroCodec("RateEvent", schema_id=old_id).encode(record)
    assert codec.decode(old_bytes) == record


def test_an_id_the_registry_does_not_know_is_a_decode_error(registry_url: str) -> None:
    codec = codec_for("WatchEvent", "watch")
    foreign = AvroCodec("WatchEvent", schema_id=999).encode(
        {"ts": 1, "user_id": 1, "movie_id": 1, "minute": 0})
    with pytest.raises(DecodeError, match="unknown schema id 999"):
        codec.decode(foreign)

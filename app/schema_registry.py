"""Schema ids from a Confluent-compatible schema registry (Confluent, Karapace), when configured.

Without a registry the codecs use the ids bundled in ``app/schemas/ids.json``. With one,
each schema is registered under the topic's ``<topic>-value`` subject at start-up, and a
record written with another version of the schema is read by fetching that version once.
"""
from __future__ import annotations

import json
import urllib.request
from functools import lru_cache
from typing import Any

from fastavro import parse_schema

from app.codec import AvroCodec, parsed_schema, schema_json
from app.settings import get_settings

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaRegistry:
    """The two calls the codecs need: register a schema, fetch a schema by id."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def _call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data,
                                         headers={"Content-Type": CONTENT_TYPE})
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            return json.loads(response.read())

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """The id of ``schema`` under ``subject`` (registering it if new)."""
        return self._call(f"/subjects/{subject}/versions", {"schema": json.dumps(schema)})["id"]

    def schema(self, schema_id: int) -> dict[str, Any]:
        """The schema a producer registered as ``schema_id``."""
        return json.loads(self._call(f"/schemas/ids/{schema_id}")["schema"])


class RegistryWriters(dict):
    """Writer schemas by id, filled from the registry the first time an id is seen.

    The lookup blocks on HTTP, but only once per schema version, a rare event.
    """

    def __init__(self, registry: SchemaRegistry, known: dict[int, Any]) -> None:
        super().__init__(known)
        self.registry = registry

    def get(self, schema_id: int, default: Any = None) -> Any:
        if schema_id not in self:
            try:
                self[schema_id] = parse_schema(self.registry.schema(schema_id))
            except OSError:
                return default
        return self[schema_id]


@lru_cache(maxsize=None)
def codec_for(name: str, topic: str) -> AvroCodec:
    """The codec of record ``name`` on ``topic``: registry ids when configured, else bundled."""
    url = get_settings().schema_registry_url
    if not url:
        return AvroCodec(name)
    registry = SchemaRegistry(url)
    schema_id = registry.register(f"{topic}-value", schema_json(name))
    writers = RegistryWriters(registry, {schema_id: parsed_schema(name)})
    return AvroCodec(name, schema_id=schema_id, writer_schemas=writers)

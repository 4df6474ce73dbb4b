"""Confluent wire format (magic byte 0, 4-byte schema id, Avro binary) over fastavro.

The ``.avsc`` files in ``app/schemas`` are the one source of truth; their bundled ids live in
``app/schemas/ids.json`` and are replaced by a schema registry's ids when one is configured.
An older version of a record keeps its file and id as ``<Name>.v<N>`` (``ModelEvent.v1.avsc``),
so records written before a field was added still decode, the new field taking its default.
"""
from __future__ import annotations

import io
import json
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from app.exceptions import DecodeError

SCHEMA_DIR = Path(__file__).parent / "schemas"
_HEADER = struct.Struct(">bI")
MAGIC = 0


@lru_cache(maxsize=None)
def schema_json(name: str) -> dict[str, Any]:
    """The schema ``name`` as written in its ``.avsc`` file."""
    return json.loads((SCHEMA_DIR / f"{name}.avsc").read_text())


@lru_cache(maxsize=None)
def parsed_schema(name: str) -> dict[str, Any]:
    """The schema ``name`` parsed once by fastavro."""
    return parse_schema(schema_json(name))


@lru_cache(maxsize=1)
def bundled_ids() -> dict[str, int]:
    """Schema ids shipped with the schemas, used when no registry is configured."""
    return json.loads((SCHEMA_DIR / "ids.json").read_text())


class AvroCodec:
    """Encodes and decodes one record type in the Confluent wire format.

    ``writer_schemas`` maps every schema id this codec accepts to the schema the producer
    wrote with; by default the bundled ids of ``name`` and of its older versions
    (``<name>.v<N>``). A registry adds its own older versions. fastavro resolves every older
    version into the current schema.
    """

    def __init__(self, name: str, schema_id: int | None = None,
                 writer_schemas: Mapping[int, dict[str, Any]] | None = None) -> None:
        self.name = name
        self.schema = parsed_schema(name)
        self.schema_id = bundled_ids()[name] if schema_id is None else schema_id
        self._header = _HEADER.pack(MAGIC, self.schema_id)
        self._writers = writer_schemas if writer_schemas is not None else {
            **{schema_id: parsed_schema(older) for older, schema_id in bundled_ids().items()
               if older.startswith(f"{name}.v")},
            self.schema_id: self.schema}

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Frame ``record`` for Kafka; raises ``ValueError`` when it does not fit the schema."""
        buf = io.BytesIO()
        buf.write(self._header)
        schemaless_writer(buf, self.schema, record)
        return buf.getvalue()

    def decode(self, data: bytes | None) -> dict[str, Any]:
        """Unframe and read one record; every failure is a ``DecodeError`` with the reason."""
        if data is None:
            raise DecodeError(f"{self.name}: empty message (no value)")
        if len(data) < _HEADER.size + 1:
            raise DecodeError(f"{self.name}: {len(data)} bytes is too short for Confluent Avro")
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise DecodeError(f"{self.name}: magic byte {data[0]:#04x}, expected 0x00 (Confluent Avro)")
        writer = self._writers.get(schema_id)
        if writer is None:
            raise DecodeError(f"{self.name}: unknown schema id {schema_id}, expected {self.schema_id}")
        buf = io.BytesIO(data)
        buf.seek(_HEADER.size)
        try:
            record = schemaless_reader(buf, writer, self.schema if writer is not self.schema else None)
        except (EOFError, struct.error, ValueError, IndexError, TypeError, UnicodeDecodeError) as exc:
            raise DecodeError(f"{self.name}: truncated or corrupt Avro body ({type(exc).__name__}: {exc})") from exc
        if buf.tell() != len(data):
            raise DecodeError(f"{self.name}: {len(data) - buf.tell()} trailing bytes after the record")
        return record

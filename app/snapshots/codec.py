"""Parquet bytes from a batch, and the checks a stored file must pass to be served."""
from __future__ import annotations

import json
from array import array

import pyarrow as pa
import pyarrow.parquet as pq

from app.snapshots.exceptions import CorruptSnapshot
from app.snapshots.naming import SnapshotName
from app.snapshots.schema import event_columns, schema_for
from app.snapshots.writer import Batch

COMPRESSION = "zstd"
FOOTER_KEY = b"movierecs.snapshot"
"""Footer metadata naming the file's topic, partition and offset range."""


def _footer(name: SnapshotName) -> dict[str, object]:
    return {
        "topic": name.topic,
        "partition": name.partition,
        "first_offset": name.first_offset,
        "last_offset": name.last_offset,
    }


def _view(values: array, kind: pa.DataType) -> pa.Array:
    """The typed array as an Arrow array of ``kind`` (same width), sharing its memory."""
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def encode(batch: Batch) -> bytes:
    """The batch as one compressed Parquet file; the same batch always gives the same bytes."""
    schema = schema_for(batch.topic)
    types = [schema.field(name).type for name, _, _ in event_columns(batch.topic)]
    columns = [_view(values, kind) for values, kind in zip(batch.columns, types, strict=True)]
    columns.append(pa.repeat(pa.scalar(batch.partition, pa.int32()), len(batch.offsets)))
    columns.append(_view(batch.offsets, pa.int64()))
    return encode_table(batch.name, pa.Table.from_arrays(columns, schema=schema))


def encode_table(name: SnapshotName, table: pa.Table) -> bytes:
    """Rows of ``name``'s topic schema as the file ``name`` (what compaction writes)."""
    table = table.replace_schema_metadata({FOOTER_KEY: json.dumps(_footer(name), sort_keys=True)})
    out = pa.BufferOutputStream()
    # Page checksums let a reader tell a flipped bit from data.
    pq.write_table(table, out, compression=COMPRESSION, write_page_checksum=True)
    return out.getvalue().to_pybytes()


def decode(name: SnapshotName, data: bytes) -> pa.Table:
    """The file's rows, or ``CorruptSnapshot`` unless it is whole and is what its name says."""
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data), page_checksum_verification=True)
        footer = json.loads((parquet.schema_arrow.metadata or {})[FOOTER_KEY])
        table = parquet.read()
    except (pa.ArrowException, OSError, KeyError, ValueError) as err:
        raise CorruptSnapshot(f"unreadable Parquet: {err}") from err
    if footer != _footer(name):
        raise CorruptSnapshot(f"footer says {footer}, name says {_footer(name)}")
    table = table.replace_schema_metadata(None)
    if not table.schema.equals(schema_for(name.topic)):
        raise CorruptSnapshot(f"schema differs from the {name.topic} schema: {table.schema}")
    return table

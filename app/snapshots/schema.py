"""The explicit Parquet schema of each snapshot topic, and events checked against it."""
from __future__ import annotations

from array import array
from collections.abc import Mapping
from functools import cache
from typing import Any

import pyarrow as pa

from app.snapshots.exceptions import InvalidEvent, UnknownTopic

# ts is int64 epoch milliseconds, as in the Avro contract and the MovieLens loaders, so
# training frames need no conversion and no time zone can be misread.
_EVENT = [
    pa.field("ts", pa.int64(), nullable=False),
    pa.field("user_id", pa.int64(), nullable=False),
    pa.field("movie_id", pa.int64(), nullable=False),
]
# Where each row came from: dedupes a replay and traces a row back to its Kafka message.
_KAFKA = [
    pa.field("partition", pa.int32(), nullable=False),
    pa.field("offset", pa.int64(), nullable=False),
]
SCHEMAS: dict[str, pa.Schema] = {
    "watch": pa.schema([*_EVENT, pa.field("minute", pa.int32(), nullable=False), *_KAFKA]),
    "rate": pa.schema([*_EVENT, pa.field("rating", pa.int8(), nullable=False), *_KAFKA]),
}
KAFKA_COLUMNS = ("partition", "offset")
_TYPECODES = {array(code).itemsize * 8: code for code in "bhiq"}
"""The ``array`` typecode of each signed integer width: a buffered column is as wide as in Parquet."""


def schema_for(topic: str) -> pa.Schema:
    """The schema of ``topic``'s snapshot files."""
    try:
        return SCHEMAS[topic]
    except KeyError:
        raise UnknownTopic(topic) from None


@cache
def event_columns(topic: str) -> tuple[tuple[str, int, int], ...]:
    """(name, smallest, largest) of each column taken from the event, in schema order."""
    columns = []
    for field in schema_for(topic):
        if field.name not in KAFKA_COLUMNS:
            bits = field.type.bit_width
            columns.append((field.name, -(1 << (bits - 1)), (1 << (bits - 1)) - 1))
    return tuple(columns)


def empty_columns(topic: str) -> tuple[array, ...]:
    """A fresh typed array for each column taken from the event, in ``event_columns`` order."""
    schema = schema_for(topic)
    return tuple(array(_TYPECODES[schema.field(name).type.bit_width]) for name, _, _ in event_columns(topic))


def to_row(topic: str, event: Mapping[str, Any]) -> tuple[int, ...]:
    """The event's column values in schema order; ``InvalidEvent`` if one is missing or unfit.

    Checked when the event is buffered, so a bad event is rejected alone instead of
    failing the encoding of the whole file it would have joined. Extra fields are ignored.
    """
    row = []
    for name, lowest, highest in event_columns(topic):
        value = event.get(name)
        if type(value) is not int or not lowest <= value <= highest:
            raise InvalidEvent(f"{topic} event field {name}={value!r} is not an int in [{lowest}, {highest}]")
        row.append(value)
    if row[0] < 0:
        raise InvalidEvent(f"{topic} event ts={row[0]} is before 1970")
    return tuple(row)

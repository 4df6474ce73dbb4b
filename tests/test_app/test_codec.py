"""Confluent-framed Avro: round trips and every way a message can be unreadable."""
import struct

import pytest

from app.codec import AvroCodec, bundled_ids, schema_json
from app.exceptions import DecodeError

WATCH = {"ts": 900_000_000_000, "user_id": 42, "movie_id": 7, "minute": 3}


@pytest.fixture
def codec() -> AvroCodec:
    return AvroCodec("WatchEvent")


@pytest.mark.parametrize("name", sorted(bundled_ids()))
def test_every_schema_is_bundled_and_named_as_its_file(name: str) -> None:
    assert schema_json(name)["name"] == name.split(".")[0]  # ModelEvent.v1 is an older ModelEvent
    assert schema_json(name)["namespace"] == "movierecs"


def test_round_trip_and_confluent_header(codec: AvroCodec) -> None:
    data = codec.encode(WATCH)
    assert data[0] == 0
    assert struct.unpack(">I", data[1:5])[0] == bundled_ids()["WatchEvent"]
    assert codec.decode(data) == WATCH


def test_request_defaults_fill_in() -> None:
    codec = AvroCodec("RecoRequest")
    record = codec.decode(codec.encode({"request_id": "r1", "ts": 1, "user_id": 5, "k": 10,
                                        "client_id": "", "exclude": [3, 4]}))
    assert record["exclude"] == [3, 4] and record["k"] == 10


@pytest.mark.parametrize("mangle, reason", [
    (lambda d: b"\x01" + d[1:], "magic byte 0x01"),
    (lambda d: d[:3], "too short"),
    (lambda d: d[:-1], "truncated or corrupt"),
    (lambda d: d + b"\x00", "trailing bytes"),
    (lambda d: d[:1] + struct.pack(">I", 999) + d[5:], "unknown schema id 999"),
    (lambda d: None, "empty message"),
])
def test_unreadable_messages_say_why(codec: AvroCodec, mangle, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        codec.decode(mangle(codec.encode(WATCH)))


def test_another_schema_id_is_rejected(codec: AvroCodec) -> None:
    rate = AvroCodec("RateEvent").encode({"ts": 1, "user_id": 1, "movie_id": 1, "rating": 5})
    with pytest.raises(DecodeError, match="unknown schema id"):
        codec.decode(rate)


def test_encoding_a_record_that_breaks_the_schema_fails(codec: AvroCodec) -> None:
    with pytest.raises((ValueError, TypeError)):
        codec.encode({**WATCH, "user_id": "forty-two"})


def test_an_older_model_event_still_decodes_with_the_new_fields_defaulted() -> None:
    old = AvroCodec("ModelEvent.v1")
    data = old.encode({"ts": 1, "action": "promote", "model_name": "als", "model_version": "v1",
                       "percent": 100, "reason": "r", "actor": "cli"})
    assert struct.unpack(">I", data[1:5])[0] == bundled_ids()["ModelEvent.v1"]
    record = AvroCodec("ModelEvent").decode(data)
    assert record["model_version"] == "v1" and (record["experiment"], record["arm"], record["params"]) == ("", "", "")

"""Property-based fuzzing of every parser of outside input: each answers a value or its own clear error.

Codec: random bytes, wrong magic byte, unknown schema ids, truncated and trailing bytes, huge
array and string lengths. Movielog lines: any text. Request checks and HTTP parsers: any
record of the schema's types, any path or query text (unicode digits, very long, overflowing).
"""
from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.codec import AvroCodec
from app.events import MAX_USER_ID, Limits, to_rate
from app.exceptions import DecodeError, InvalidEvent
from app.movielog import parse_line
from app.reco_views import parse_exclude, parse_k
from app.serving import MAX_EXCLUDE, MAX_K, BadRequest, check_request
from app.views import parse_user_id

pytestmark = pytest.mark.timeout(120)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODECS = {name: AvroCodec(name) for name in ("WatchEvent", "RateEvent", "RecoRequest", "RecoResponse")}
INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
REQUESTS = st.fixed_dictionaries({
    "request_id": st.text(max_size=300), "ts": INT64, "user_id": INT32, "k": INT32,
    "client_id": st.text(max_size=300), "exclude": st.lists(INT32, max_size=1200)})
RATES = st.fixed_dictionaries({"ts": INT64, "user_id": INT32, "movie_id": INT32, "rating": INT32})
LIMITS = Limits(788_918_400_000, 86_400_000, 10_000_000)


def zigzag(n: int) -> bytes:
    """Avro's variable-length zigzag encoding of a long, to hand-craft hostile bodies."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def decode_or_reason(codec: AvroCodec, data: bytes) -> dict[str, Any] | str:
    try:
        return codec.decode(data)
    except DecodeError as exc:
        assert str(exc).startswith(codec.name) and len(str(exc)) < 2000
        return str(exc)


@FUZZ
@given(name=st.sampled_from(sorted(CODECS)), data=st.binary(max_size=400))
def test_random_bytes_decode_or_fail_with_a_reason(name: str, data: bytes) -> None:
    decode_or_reason(CODECS[name], data)


@FUZZ
@given(name=st.sampled_from(sorted(CODECS)), body=st.binary(max_size=400))
def test_random_bodies_behind_a_valid_header(name: str, body: bytes) -> None:
    codec = CODECS[name]
    decode_or_reason(codec, struct.pack(">bI", 0, codec.schema_id) + body)


@FUZZ
@given(record=REQUESTS, magic=st.integers(1, 127), schema_id=st.integers(0, 2**32 - 1))
def test_valid_records_round_trip_and_framing_is_checked(record: dict, magic: int, schema_id: int) -> None:
    codec = CODECS["RecoRequest"]
    data = codec.encode(record)
    assert codec.decode(data) == record
    assert "magic byte" in decode_or_reason(codec, bytes([magic]) + data[1:])
    if schema_id != codec.schema_id:
        assert "unknown schema id" in decode_or_reason(codec, data[:1] + struct.pack(">I", schema_id) + data[5:])


@FUZZ
@given(record=REQUESTS, cut=st.integers(1, 10_000), tail=st.binary(min_size=1, max_size=50))
def test_truncated_and_trailing_bytes_are_refused(record: dict, cut: int, tail: bytes) -> None:
    codec = CODECS["RecoRequest"]
    data = codec.encode(record)
    assert isinstance(decode_or_reason(codec, data[:max(0, len(data) - cut)]), str)
    assert isinstance(decode_or_reason(codec, data + tail), str)


@FUZZ
@given(count=st.integers(2**20, 2**62), negative=st.booleans())
@example(count=2**62, negative=False)
def test_huge_declared_lengths_fail_fast_without_allocating(count: int, negative: bool) -> None:
    codec = CODECS["RecoRequest"]
    head = struct.pack(">bI", 0, codec.schema_id)
    as_long = zigzag(-count if negative else count)
    string_body = head + as_long + b"x" * 10  # request_id claims `count` bytes
    array_body = (head + zigzag(1) + b"r" + zigzag(1) + zigzag(1) + zigzag(1) + zigzag(1) + b"c"
                  + as_long + b"\x02" * 10)  # exclude claims `count` items
    for data in (string_body, array_body):
        assert isinstance(decode_or_reason(codec, data), str)


@FUZZ
@given(record=RATES)
def test_rate_rules_accept_or_explain(record: dict) -> None:
    try:
        event = to_rate(record, LIMITS, 1_800_000_000_000)
    except InvalidEvent as exc:
        assert str(exc)
        return
    assert 1 <= event.rating <= 5 and 0 < event.user_id <= MAX_USER_ID


LINES = st.one_of(
    st.text(max_size=300),
    st.builds(lambda t, u, m, n: f"{t},{u},GET /data/m/{m}/{n}.mpg", st.text(max_size=40),
              st.text(alphabet="0123456789٣²", max_size=30), st.text(max_size=30), st.text(max_size=30)),
    st.builds(lambda u, m, r: f"2026-01-01T10:00:00,{u},GET /rate/{m}={r}",
              st.integers(0, 10**4000), st.integers(0, 10**50), st.integers(-5, 10**4000)))


@FUZZ
@given(line=LINES)
@example(line="2026-01-01T10:00:00," + "9" * 5000 + ",GET /rate/1=5")
@example(line="2026-01-01T10:00:00,١٢,GET /rate/٣=٥")
@example(line="9999-12-31T23:59:59-23:59,1,GET /rate/1=5")
def test_any_movielog_line_parses_skips_or_says_why(line: str) -> None:
    try:
        parsed = parse_line(line)
    except InvalidEvent as exc:
        assert str(exc).startswith("movielog")
        return
    if parsed is not None:
        kind, record = parsed
        assert kind in {"watch", "rate"} and all(isinstance(v, int) for v in record.values())


@FUZZ
@given(record=REQUESTS)
def test_check_request_accepts_only_answerable_requests(record: dict) -> None:
    try:
        request = check_request(record)
    except BadRequest as exc:
        assert str(exc)
        return
    assert request.request_id and 0 < request.user_id <= MAX_USER_ID
    assert 1 <= request.k <= MAX_K and len(request.exclude) <= MAX_EXCLUDE


SEGMENTS = st.one_of(st.text(max_size=200), st.text(alphabet="0123456789²³١٢٣", max_size=20),
                     st.integers(-(2**70), 2**70).map(str), st.just("9" * 5000))


@FUZZ
@given(raw=SEGMENTS)
@example(raw="²")
@example(raw="9" * 5000)
def test_http_parsers_answer_a_value_or_none(raw: str) -> None:
    user = parse_user_id(raw)
    assert user is None or (0 < user <= MAX_USER_ID and str(user) == raw.lstrip("0"))
    k = parse_k(raw)
    assert k is None or 1 <= k <= MAX_K
    exclude = parse_exclude(raw)
    assert exclude is None or all(isinstance(m, int) and m >= 0 for m in exclude)
    exclude = parse_exclude(",".join([raw] * 3))
    assert exclude is None or len(exclude) in (0, 3)

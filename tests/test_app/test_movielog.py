"""Legacy movielog lines into events."""
import pytest

from app.exceptions import InvalidEvent
from app.movielog import parse_line


def test_watch_line() -> None:
    assert parse_line("2024-01-01T10:00:00,42,GET /data/m/123/7.mpg") == (
        "watch", {"ts": 1_704_103_200_000, "user_id": 42, "movie_id": 123, "minute": 7})


def test_rate_line_with_offset_time() -> None:
    kind, record = parse_line("2024-01-01T11:00:00+01:00,42,GET /rate/9=4\n")
    assert kind == "rate" and record["ts"] == 1_704_103_200_000 and record["rating"] == 4


def test_logged_recommendation_is_skipped() -> None:
    line = "2024-01-01T10:00:00,42,recommendation request host:8082, status 200, result: 1, 2, 3, 41 ms"
    assert parse_line(line) is None


@pytest.mark.parametrize("line, reason", [
    ("", "not '<time>,<user_id>,<request>'"),
    ("yesterday,42,GET /rate/9=4", "bad ISO time"),
    ("2024-01-01T10:00:00,abc,GET /rate/9=4", "not '<time>"),
    ("2024-01-01T10:00:00,42,GET /rate/9=four", "unknown request"),
    ("2024-01-01T10:00:00,42,POST /data/m/1/2.mpg", "unknown request"),
])
def test_bad_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        parse_line(line)

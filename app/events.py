"""Typed events the app works with, and the rules of meaning an Avro record must pass."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from app.exceptions import InvalidEvent

MAX_MINUTE = 24 * 60
MAX_USER_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Limits:
    """What counts as plausible; built from settings so operators can move the bounds."""

    min_ts_ms: int
    max_future_skew_ms: int
    max_movie_id: int

    @classmethod
    def from_settings(cls, settings: Any) -> "Limits":
        return cls(settings.min_event_ts_ms, settings.max_future_skew_ms, settings.max_movie_id)


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One minute of a movie streamed by a user."""

    ts: int
    user_id: int
    movie_id: int
    minute: int


@dataclass(frozen=True, slots=True)
class RateEvent:
    """A user's rating of a movie, 1 to 5 stars."""

    ts: int
    user_id: int
    movie_id: int
    rating: int


def _check_common(record: Mapping[str, Any], limits: Limits, now_ms: int) -> None:
    user_id, movie_id, ts = record["user_id"], record["movie_id"], record["ts"]
    if not 0 < user_id <= MAX_USER_ID:
        raise InvalidEvent(f"user_id {user_id} is not a positive id")
    if not 0 < movie_id <= limits.max_movie_id:
        raise InvalidEvent(f"movie_id {movie_id} is outside 1..{limits.max_movie_id}")
    if ts < limits.min_ts_ms:
        raise InvalidEvent(f"ts {ts} is before the oldest plausible time {limits.min_ts_ms}")
    if ts > now_ms + limits.max_future_skew_ms:
        raise InvalidEvent(f"ts {ts} is {ts - now_ms} ms in the future")


def to_watch(record: Mapping[str, Any], limits: Limits, now_ms: int) -> WatchEvent:
    """A valid ``WatchEvent`` from a decoded record, or ``InvalidEvent`` saying why not."""
    _check_common(record, limits, now_ms)
    if not 0 <= record["minute"] < MAX_MINUTE:
        raise InvalidEvent(f"minute {record['minute']} is outside 0..{MAX_MINUTE - 1}")
    return WatchEvent(record["ts"], record["user_id"], record["movie_id"], record["minute"])


def to_rate(record: Mapping[str, Any], limits: Limits, now_ms: int) -> RateEvent:
    """A valid ``RateEvent`` from a decoded record, or ``InvalidEvent`` saying why not."""
    _check_common(record, limits, now_ms)
    if not 1 <= record["rating"] <= 5:
        raise InvalidEvent(f"rating {record['rating']} is outside 1..5")
    return RateEvent(record["ts"], record["user_id"], record["movie_id"], record["rating"])

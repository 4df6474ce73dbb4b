"""Rules of meaning for watch and rate events."""
import pytest

from app.events import Limits, RateEvent, WatchEvent, to_rate, to_watch
from app.exceptions import InvalidEvent

NOW = 1_700_000_000_000
LIMITS = Limits(min_ts_ms=788_918_400_000, max_future_skew_ms=86_400_000, max_movie_id=100_000)
WATCH = {"ts": NOW - 1000, "user_id": 1, "movie_id": 2, "minute": 0}
RATE = {"ts": NOW - 1000, "user_id": 1, "movie_id": 2, "rating": 5}


def test_valid_events_become_typed_records() -> None:
    assert to_watch(WATCH, LIMITS, NOW) == WatchEvent(NOW - 1000, 1, 2, 0)
    assert to_rate(RATE, LIMITS, NOW) == RateEvent(NOW - 1000, 1, 2, 5)


@pytest.mark.parametrize("change, reason", [
    ({"user_id": 0}, "user_id 0"),
    ({"user_id": -5}, "user_id -5"),
    ({"movie_id": 0}, "movie_id 0"),
    ({"movie_id": 100_001}, "outside 1..100000"),
    ({"ts": 0}, "before the oldest"),
    ({"ts": NOW + 86_400_001}, "in the future"),
    ({"minute": -1}, "minute -1"),
    ({"minute": 1440}, "minute 1440"),
])
def test_bad_watch_events_say_why(change: dict, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        to_watch({**WATCH, **change}, LIMITS, NOW)


@pytest.mark.parametrize("rating", [0, 6, -1])
def test_ratings_outside_one_to_five_are_invalid(rating: int) -> None:
    with pytest.raises(InvalidEvent, match=f"rating {rating}"):
        to_rate({**RATE, "rating": rating}, LIMITS, NOW)


def test_clock_skew_within_the_limit_is_accepted() -> None:
    assert to_watch({**WATCH, "ts": NOW + 86_400_000}, LIMITS, NOW).ts == NOW + 86_400_000

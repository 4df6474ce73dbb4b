"""The user-state codec: rows round-trip, old JSON rows still read, sizes bounded by settings."""
import orjson

from app.events import RateEvent, WatchEvent
from app.state_codec import NAME, UserStateCodec
from tables.history import apply_rate, apply_watch, new_user_state, seen_movies

CODEC = UserStateCodec()
T0 = 1_700_000_000_000
MOVIE0 = 100_000


def busy_user(events: int, history_length: int, max_movies: int) -> dict:
    """A row after ``events`` watches and ratings, each of a new movie, with the bounds given
    (movie ids from ``MOVIE0``, so every id takes the same bytes)."""
    state = new_user_state()
    for i in range(events):
        apply_watch(state, WatchEvent(T0 + i, 42, MOVIE0 + i, 0), history_length, max_movies)
        apply_rate(state, RateEvent(T0 + i, 42, MOVIE0 + i, 1 + i % 5), history_length, max_movies)
    state["offsets"] = {"watch:3": 10 * events, "rate-rerouted:3": events}
    return state


def test_a_row_round_trips_with_integer_movie_ids() -> None:
    state = busy_user(50, history_length=20, max_movies=30)
    decoded = CODEC.loads(CODEC.dumps(state))
    assert decoded == state
    assert list(decoded["watched"]) == list(state["watched"]), "in order: the earliest is forgotten first"
    assert all(isinstance(movie, int) for movie in decoded["watched"]) and seen_movies(decoded) == set(range(MOVIE0 + 20, MOVIE0 + 50))


def test_a_json_row_written_before_is_still_read() -> None:
    old = {"watch_events": 3, "rate_events": 1, "watched": {"5": T0, "7": T0 + 1}, "rated": {"7": 4},
           "recent": [[T0, 5, 0], [T0 + 1, 7, 0], [T0 + 2, 7, 4]], "offsets": {"watch:1": 9}}
    decoded = CODEC.loads(orjson.dumps(old))
    assert decoded["watched"] == {5: T0, 7: T0 + 1} and decoded["rated"] == {7: 4}
    assert decoded["recent"] == old["recent"] and decoded["offsets"] == {"watch:1": 9}
    assert CODEC.loads(CODEC.dumps(decoded)) == decoded, "and is written back in the new encoding"


def test_the_encoded_row_is_bounded_by_the_settings_and_smaller_than_json() -> None:
    history_length, max_movies = 200, 500
    # per movie: a key (at most 5 bytes) and a first-watch time (9), a key and a rating (1);
    # per recent interaction: a 3-array (1), a time (9), a movie (5), a rating (1)
    bound = max_movies * (5 + 9 + 5 + 1) + history_length * (1 + 9 + 5 + 1) + 256
    sizes = [len(CODEC.dumps(busy_user(n, history_length, max_movies))) for n in (max_movies, 4 * max_movies)]
    assert max(sizes) <= bound
    assert sizes[1] == sizes[0], "past the bounds a row stops growing"
    full = busy_user(max_movies, history_length, max_movies)
    assert sizes[0] < 0.7 * len(orjson.dumps(full, option=orjson.OPT_NON_STR_KEYS))  # as Faust wrote it


def test_the_user_table_changelog_uses_the_codec() -> None:
    from app import app
    from tables import item_stats, user_history

    assert user_history.changelog_topic.value_serializer == NAME
    assert item_stats.changelog_topic.value_serializer == "json"
    state = busy_user(3, 10, 10)
    assert app.serializers.loads_value(None, app.serializers.dumps_value(None, state, serializer=NAME),
                                       serializer=NAME) == state

"""Per-user state rules: watches count once per movie, replays are skipped, history is bounded."""
from app.events import RateEvent, WatchEvent
from tables.history import (already_applied, apply_item_delta, apply_rate, apply_watch,
                            new_user_state, seen_movies, user_summary)


def test_a_watch_counts_once_per_movie_but_every_minute_is_counted() -> None:
    state = new_user_state()
    deltas = [apply_watch(state, WatchEvent(1000 + m, 1, 5, m), 10) for m in range(3)]
    assert state["watch_events"] == 3
    assert [d is not None for d in deltas] == [True, False, False]
    assert deltas[0].new_watcher == 1
    assert state["recent"] == [[1000, 5, 0]]


def test_rerating_moves_the_sum_not_the_count() -> None:
    state = new_user_state()
    first = apply_rate(state, RateEvent(1, 1, 5, 2), 10)
    second = apply_rate(state, RateEvent(2, 1, 5, 5), 10)
    assert (first.ratings, first.rating_sum) == (1, 2)
    assert (second.ratings, second.rating_sum) == (0, 3)
    assert state["rated"] == {5: 5} and state["rate_events"] == 2


def test_history_keeps_only_the_most_recent() -> None:
    state = new_user_state()
    for movie in range(1, 8):
        apply_watch(state, WatchEvent(movie, 1, movie, 0), 3)
    assert [m for _, m, _ in state["recent"]] == [5, 6, 7]
    assert seen_movies(state) == set(range(1, 8))


def test_seen_movies_are_bounded_forgetting_the_earliest() -> None:
    state = new_user_state()
    for movie in range(1, 6):
        apply_watch(state, WatchEvent(movie, 1, movie, 0), 10, max_movies=3)
        apply_rate(state, RateEvent(movie, 1, movie, 4), 10, max_movies=3)
    assert list(state["watched"]) == [3, 4, 5] and list(state["rated"]) == [3, 4, 5]
    assert state["watch_events"] == state["rate_events"] == 5
    assert apply_watch(state, WatchEvent(9, 1, 1, 0), 10, max_movies=3).new_watcher == 1, "forgotten, so new"


def test_item_deltas_go_one_message_per_movie_partition() -> None:
    from app.partitioning import partition_of
    from tables.history import ItemDelta, deltas_by_partition, item_deltas

    deltas = [ItemDelta(m, m, new_watcher=1) for m in range(1, 40)] + [ItemDelta(1, 99, ratings=1, rating_sum=3)]
    grouped = deltas_by_partition(deltas, 8)
    assert len(grouped) <= 8 and sum(map(len, grouped.values())) == 39
    for partition, values in grouped.items():
        assert {partition_of(str(v["movie_id"]).encode(), 8) for v in values} == {partition}
    (first,) = [v for values in grouped.values() for v in values if v["movie_id"] == 1]
    assert (first["new_watcher"], first["ratings"], first["ts"]) == (1, 1, 99)
    assert item_deltas(first) == [first] and item_deltas([first]) == [first] and item_deltas(None) == []


def test_replayed_offsets_are_recognised_per_topic() -> None:
    state = new_user_state()
    state["offsets"]["watch:3"] = 10
    assert already_applied(state, "watch:3", 10)
    assert not already_applied(state, "watch:3", 11)
    assert not already_applied(state, "watch:4", 0)


def test_item_counts_add_up() -> None:
    stats = None
    for delta in ({"movie_id": 5, "ts": 3, "new_watcher": 1, "ratings": 0, "rating_sum": 0},
                  {"movie_id": 5, "ts": 9, "new_watcher": 0, "ratings": 1, "rating_sum": 4},
                  {"movie_id": 5, "ts": 4, "new_watcher": 1, "ratings": 0, "rating_sum": -1}):
        stats = apply_item_delta(stats, delta)
    assert stats == {"watchers": 2, "ratings": 1, "rating_sum": 3, "last_ts": 9}


def test_summary_of_an_unknown_user_is_empty() -> None:
    summary = user_summary(9, None)
    assert summary["known"] is False and summary["history_length"] == 0
    state = new_user_state()
    apply_rate(state, RateEvent(5, 9, 3, 4), 10)
    assert user_summary(9, state)["last_events"] == [
        {"ts": 5, "movie_id": 3, "kind": "rate", "rating": 4}]


def test_deltas_of_one_movie_combine_to_the_same_counts() -> None:
    from tables.history import ItemDelta, combine_by_movie

    deltas = [ItemDelta(5, 10, new_watcher=1), ItemDelta(6, 11, ratings=1, rating_sum=4),
              ItemDelta(5, 12, ratings=1, rating_sum=3), ItemDelta(5, 9, rating_sum=-1)]
    combined = combine_by_movie(deltas)
    assert [d.movie_id for d in combined] == [5, 6]
    separate = combined_stats = None
    for delta in deltas:
        if delta.movie_id == 5:
            separate = apply_item_delta(separate, delta.as_dict())
    combined_stats = apply_item_delta(None, combined[0].as_dict())
    assert combined_stats == separate == {"watchers": 1, "ratings": 1, "rating_sum": 2, "last_ts": 12}

"""Per-user state kept by the ingest agent: pure functions, so they are tested without Faust.

A user's state is a plain dict (it travels through the table's changelog in
``app.state_codec``'s encoding):

- ``watch_events`` / ``rate_events``: valid events counted once each;
- ``watched``: movie id -> first watch time (a watch counts once per user and movie);
- ``rated``: movie id -> latest rating;
  both keep at most ``user_max_movies`` movies, forgetting the earliest first, so a row
  and its changelog value stay bounded however long a user stays;
- ``recent``: the last ``history_length`` interactions as ``[ts, movie_id, rating]``
  (rating 0 for a watch);
- ``offsets``: ``"topic:partition"`` where events were first produced -> last offset
  applied, so a replay after a crash or a rebalance is skipped.

Movie ids are integer keys (rows written as JSON, with string keys, are converted when read).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from app.events import RateEvent, WatchEvent
from app.partitioning import partition_of

UserState = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ItemDelta:
    """What one user event changes in a movie's interaction counts."""

    movie_id: int
    ts: int
    new_watcher: int = 0
    ratings: int = 0
    rating_sum: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"movie_id": self.movie_id, "ts": self.ts, "new_watcher": self.new_watcher,
                "ratings": self.ratings, "rating_sum": self.rating_sum}


def combine_by_movie(deltas: Iterable[ItemDelta]) -> list[ItemDelta]:
    """One delta per movie with the effect of all of its ``deltas``, in first-seen order.

    ``apply_item_delta`` only adds counts and keeps the latest time, so the combined delta
    leaves a movie's row exactly as the separate ones would, at a fraction of the messages
    the item agent has to consume.
    """
    combined: dict[int, ItemDelta] = {}
    for delta in deltas:
        seen = combined.get(delta.movie_id)
        combined[delta.movie_id] = delta if seen is None else ItemDelta(
            delta.movie_id, max(seen.ts, delta.ts), seen.new_watcher + delta.new_watcher,
            seen.ratings + delta.ratings, seen.rating_sum + delta.rating_sum)
    return list(combined.values())


def deltas_by_partition(deltas: Iterable[ItemDelta], partitions: int) -> dict[int, list[dict[str, int]]]:
    """The combined deltas grouped by the partition owning each movie: one item message each.

    A message per movie cost the item agent Faust's whole per-message path (and every
    worker's trending follower a decode) for a few integers; a batch now sends at most one
    message per partition. Each movie still lands on its own partition, as its table row.
    """
    grouped: dict[int, list[dict[str, int]]] = {}
    for delta in combine_by_movie(deltas):
        grouped.setdefault(partition_of(str(delta.movie_id).encode(), partitions), []).append(delta.as_dict())
    return grouped


def item_deltas(value: Any) -> list[dict[str, int]]:
    """The deltas in one ``item-interactions`` value: a list, or one delta (messages written before)."""
    if not value:
        return []
    return value if isinstance(value, list) else [value]


def _bound(movies: dict[int, Any], max_movies: int | None) -> None:
    """Forget the earliest-added movies beyond ``max_movies`` (dicts keep insertion order)."""
    while max_movies is not None and len(movies) > max_movies:
        del movies[next(iter(movies))]


def new_user_state() -> UserState:
    return {"watch_events": 0, "rate_events": 0, "watched": {}, "rated": {}, "recent": [],
            "offsets": {}}


def already_applied(state: UserState, stream: str, offset: int) -> bool:
    """True when the message at ``offset`` of ``stream`` was applied before (a replay)."""
    return offset <= state["offsets"].get(stream, -1)


def _remember(state: UserState, ts: int, movie_id: int, rating: int, history_length: int) -> None:
    recent = state["recent"]
    recent.append([ts, movie_id, rating])
    if len(recent) > history_length:
        del recent[: len(recent) - history_length]


def apply_watch(state: UserState, event: WatchEvent, history_length: int,
                max_movies: int | None = None) -> ItemDelta | None:
    """Count a watch minute; the first minute of a movie is a new interaction."""
    state["watch_events"] += 1
    if event.movie_id in state["watched"]:
        return None
    state["watched"][event.movie_id] = event.ts
    _bound(state["watched"], max_movies)
    _remember(state, event.ts, event.movie_id, 0, history_length)
    return ItemDelta(event.movie_id, event.ts, new_watcher=1)


def apply_rate(state: UserState, event: RateEvent, history_length: int,
               max_movies: int | None = None) -> ItemDelta:
    """Record a rating; a re-rating moves the movie's rating sum but not its count."""
    state["rate_events"] += 1
    previous = state["rated"].get(event.movie_id)
    state["rated"][event.movie_id] = event.rating
    _bound(state["rated"], max_movies)
    _remember(state, event.ts, event.movie_id, event.rating, history_length)
    if previous is None:
        return ItemDelta(event.movie_id, event.ts, ratings=1, rating_sum=event.rating)
    return ItemDelta(event.movie_id, event.ts, rating_sum=event.rating - previous)


def seen_movies(state: UserState) -> set[int]:
    """Every movie the user watched or rated: never to be recommended again."""
    return state["watched"].keys() | state["rated"].keys()


def apply_item_delta(stats: dict[str, int] | None, delta: dict[str, int]) -> dict[str, int]:
    """A movie's counts after one user's change."""
    stats = dict(stats) if stats else {"watchers": 0, "ratings": 0, "rating_sum": 0, "last_ts": 0}
    stats["watchers"] += delta["new_watcher"]
    stats["ratings"] += delta["ratings"]
    stats["rating_sum"] += delta["rating_sum"]
    stats["last_ts"] = max(stats["last_ts"], delta["ts"])
    return stats


def user_summary(user_id: int, state: UserState | None, last: int = 10) -> dict[str, Any]:
    """What operators see at ``/users/{user_id}``."""
    state = state or new_user_state()
    return {
        "user_id": user_id,
        "known": bool(state["watch_events"] or state["rate_events"]),
        "history_length": len(state["recent"]),
        "watch_events": state["watch_events"],
        "rate_events": state["rate_events"],
        "movies_watched": len(state["watched"]),
        "movies_rated": len(state["rated"]),
        "last_events": [
            {"ts": ts, "movie_id": movie_id, "kind": "rate" if rating else "watch",
             "rating": rating or None}
            for ts, movie_id, rating in state["recent"][-last:]
        ],
    }

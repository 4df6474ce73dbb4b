"""Turn an interaction frame into the time-ordered watch / rate / reco-request stream of DESIGN §3.

Each interaction becomes a viewing: one ``WatchEvent`` per streamed minute (60 s apart, as a
streaming service logs it), then usually a ``RateEvent`` a little after the credits. The
interaction's ``ts`` is when the viewing may start; a user's viewings are pushed later when
needed so that they never overlap. ``RecoRequest``s come shortly before viewings (a user asks,
then watches), so online conversion can be measured on the stream. Optional spam users rate
hundreds of movies inside one clock hour and never watch anything.

Events are ``(topic, key, value)`` tuples: topic is ``watch``, ``rate`` or ``reco-requests``,
key the user id as a decimal string, value a dict with exactly the Avro record's fields.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd

WATCH_TOPIC, RATE_TOPIC, REQUEST_TOPIC = "watch", "rate", "reco-requests"
PLATFORMS = ("web", "android", "ios", "tv")
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
Event = tuple[str, str, dict[str, object]]
T = TypeVar("T")

_WATCH, _RATE, _REQUEST = range(3)
_ITER_CHUNK = 65_536


@dataclass(frozen=True, eq=False)
class EventStream:
    """A time-ordered event stream kept as columns; dicts are made only while iterating.

    ``value`` is the watch minute, the rating or the request's k. The ``request_*`` columns
    hold one row per request, in stream order. ``spammers`` is the ground truth for tests.
    """

    kind: np.ndarray
    ts: np.ndarray
    user_id: np.ndarray
    movie_id: np.ndarray
    value: np.ndarray
    request_exclude: np.ndarray
    request_platform: np.ndarray
    request_uuid: np.ndarray
    spammers: frozenset[int]

    def __len__(self) -> int:
        return int(self.kind.size)

    def __iter__(self) -> Iterator[Event]:
        request = 0
        for lo in range(0, len(self), _ITER_CHUNK):
            hi = lo + _ITER_CHUNK
            columns = (self.kind[lo:hi], self.ts[lo:hi], self.user_id[lo:hi], self.movie_id[lo:hi], self.value[lo:hi])
            for kind, ts, user, movie, value in zip(*(c.tolist() for c in columns)):
                if kind == _WATCH:
                    yield WATCH_TOPIC, str(user), {"ts": ts, "user_id": user, "movie_id": movie, "minute": value}
                elif kind == _RATE:
                    yield RATE_TOPIC, str(user), {"ts": ts, "user_id": user, "movie_id": movie, "rating": value}
                else:
                    yield REQUEST_TOPIC, str(user), self._request(request, ts, user, value)
                    request += 1

    def _request(self, i: int, ts: int, user: int, k: int) -> dict[str, object]:
        exclude = int(self.request_exclude[i])
        return {
            "request_id": str(uuid.UUID(bytes=self.request_uuid[i].tobytes(), version=4)),
            "ts": ts,
            "user_id": user,
            "k": k,
            "client_id": f"{PLATFORMS[self.request_platform[i]]}-{user}",
            "exclude": [exclude] if exclude >= 0 else [],
        }


def _minutes(rng: np.random.Generator, rating: np.ndarray, max_minutes: int | None) -> np.ndarray:
    """Minutes streamed: liked movies are mostly watched to the end, others often dropped early."""
    finished = rng.random(rating.size) < 0.3 + 0.12 * rating
    full = np.clip(rng.normal(110, 20, rating.size), 70, 200).astype(np.int64)
    dropped = rng.geometric(1 / 15, rating.size)
    minutes = np.where(finished, full, dropped)
    return minutes if max_minutes is None else np.minimum(minutes, max_minutes)


def _schedule(user: np.ndarray, earliest: np.ndarray, busy: np.ndarray) -> np.ndarray:
    """Start times ``s[i] = max(earliest[i], s[i-1] + busy[i-1])`` per user, without a Python loop.

    With ``D`` the user's running sum of ``busy`` before row i, ``s - D`` is the running max
    of ``earliest - D``. Rows must be grouped by user and ordered by ``earliest``.
    """
    total = np.cumsum(busy) - busy
    group_start = pd.Series(total).groupby(user).transform("first").to_numpy()
    before = total - group_start
    return before + pd.Series(earliest - before).groupby(user).cummax().to_numpy()


def _spam(
    rng: np.random.Generator, users: np.ndarray, burst: int, ts_range: tuple[int, int], movies: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Rate events of spam ``users``: each rates ``burst`` movies all 5 (or all 1) in one clock hour."""
    hours = rng.integers(ts_range[0] // HOUR_MS, ts_range[1] // HOUR_MS + 1, users.size)
    ts = np.repeat(hours * HOUR_MS, burst) + rng.integers(0, HOUR_MS, users.size * burst)
    picks = [rng.choice(movies, size=burst, replace=burst > movies.size) for _ in users]
    rating = np.repeat(np.where(rng.random(users.size) < 0.7, 5, 1), burst)
    return np.full(ts.size, _RATE), ts, np.repeat(users, burst), np.concatenate(picks), rating


def _requests(
    rng: np.random.Generator, n: int, start: np.ndarray, user: np.ndarray, movie: np.ndarray
) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    """``n`` requests, each a moment before a random viewing (so active users ask more).

    Returns the event columns, then the excluded movie (-1 for none; sometimes the user's
    previous movie, as a client that hides what was just watched) and the platform index.
    """
    asked = rng.integers(0, start.size, n)
    ts = start[asked] - rng.integers(2_000, 180_000, n)
    k = rng.choice([5, 10, 20, 50], size=n, p=[0.15, 0.65, 0.15, 0.05])
    previous = np.maximum(asked - 1, 0)
    has_previous = (asked > 0) & (user[previous] == user[asked])
    exclude = np.where(has_previous & (rng.random(n) < 0.2), movie[previous], -1)
    platform = rng.choice(len(PLATFORMS), size=n, p=[0.4, 0.25, 0.2, 0.15]).astype(np.int8)
    return (np.full(n, _REQUEST), ts, user[asked], np.full(n, -1), k), exclude, platform


def build_stream(
    interactions: pd.DataFrame,
    *,
    seed: int = 0,
    max_minutes: int | None = None,
    rate_share: float = 1.0,
    request_share: float = 0.05,
    spam_users: int = 0,
    spam_burst: int = 300,
) -> EventStream:
    """The event stream of ``interactions`` (the MovieLens frame layout), the same for a seed.

    ``max_minutes`` caps the watch events per viewing (real viewings run 1 to 200 minutes);
    ``rate_share`` is the share of viewings that get rated; ``request_share`` the share of
    the stream's events that are reco requests. Spam users get ids above every real one.
    """
    if interactions.empty:
        raise ValueError("no interactions to stream")
    if not 0 <= request_share < 1:
        raise ValueError("request_share must be in [0, 1)")
    if max_minutes is not None and max_minutes < 1:
        raise ValueError("max_minutes must be at least 1")
    rng = np.random.default_rng(seed)
    frame = interactions.sort_values(["user_id", "ts", "movie_id"], kind="stable")
    user = frame["user_id"].to_numpy(np.int64)
    movie = frame["movie_id"].to_numpy(np.int64)
    rating = np.clip(np.floor(frame["rating"].to_numpy(np.float64) + 0.5), 1, 5).astype(np.int64)
    n = user.size

    minutes = _minutes(rng, rating, max_minutes)
    rate_delay = rng.integers(5_000, 120_000, n)
    # A viewing occupies its minutes, the rating and a short pause before the next one.
    start = _schedule(user, frame["ts"].to_numpy(np.int64), minutes * MINUTE_MS + rate_delay + MINUTE_MS)

    row = np.repeat(np.arange(n), minutes)
    minute = np.arange(row.size) - np.repeat(np.cumsum(minutes) - minutes, minutes)
    rated = np.flatnonzero(rng.random(n) < rate_share)
    parts = [
        (np.full(row.size, _WATCH), start[row] + minute * MINUTE_MS, user[row], movie[row], minute),
        (np.full(rated.size, _RATE), start[rated] + minutes[rated] * MINUTE_MS + rate_delay[rated],
         user[rated], movie[rated], rating[rated]),
    ]
    spammers = np.arange(user.max() + 1, user.max() + 1 + spam_users)
    if spam_users:
        parts.append(_spam(rng, spammers, spam_burst, (int(start.min()), int(start.max())), np.unique(movie)))
    n_events = sum(part[0].size for part in parts)
    n_requests = round(request_share / (1 - request_share) * n_events)
    request_columns, exclude, platform = _requests(rng, n_requests, start, user, movie)
    parts.append(request_columns)  # last, so request j sits at n_events + j below

    kind, ts, users, movies, value = (np.concatenate(column) for column in zip(*parts))
    order = np.argsort(ts, kind="stable")
    kind = kind[order]
    request_rank = order[kind == _REQUEST] - n_events  # request j of the stream is request_rank[j]
    return EventStream(
        kind=kind.astype(np.int8),
        ts=ts[order].astype(np.int64),
        user_id=users[order].astype(np.int64),
        movie_id=movies[order].astype(np.int64),
        value=value[order].astype(np.int32),
        request_exclude=exclude[request_rank],
        request_platform=platform[request_rank],
        request_uuid=np.frombuffer(rng.bytes(16 * n_requests), dtype=np.uint8).reshape(n_requests, 16),
        spammers=frozenset(spammers.tolist()),
    )


async def paced(
    events: Iterable[T],
    rate: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    min_sleep_s: float = 0.005,
    max_lag_s: float = 1.0,
) -> AsyncIterator[T]:
    """Yield ``events`` at ``rate`` per second: event i is due ``i / rate`` s after the first.

    Sleeping only once ``min_sleep_s`` ahead sends high rates in small bursts instead of
    paying a timer per event. A consumer more than ``max_lag_s`` behind restarts the schedule
    rather than getting an unbounded catch-up burst. ``clock`` and ``sleep`` are for tests.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    origin, sent = clock(), 0
    for event in events:
        due = origin + sent / rate
        ahead = due - clock()
        if ahead >= min_sleep_s:
            await sleep(ahead)
        elif ahead < -max_lag_s:
            origin, sent = clock(), 0
        yield event
        sent += 1

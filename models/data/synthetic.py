"""A seeded synthetic MovieLens look-alike whose interactions carry real collaborative signal.

Movies belong to taste clusters (the first genre of a movie is its cluster) and have a
Zipf-like popularity; users prefer a few clusters (a sparse Dirichlet mix) and have a
log-normal activity. A user's movies are drawn without replacement with probability
proportional to popularity x cluster preference, so users of one taste share movies;
ratings rise with the user's affinity to the movie's cluster. Each user is active over a
stretch of the period, in sessions of a few movies watched back to back.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.data.movielens import CATALOG_COLUMNS, INTERACTION_COLUMNS

GENRES = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)
_ADJECTIVES = (
    "Silent", "Crimson", "Last", "Hidden", "Broken", "Golden", "Midnight", "Lost", "Frozen", "Wild",
    "Distant", "Electric", "Secret", "Burning", "Quiet", "Iron", "Paper", "Velvet", "Hollow", "Bright",
    "Savage", "Gentle", "Restless", "Final", "Forgotten", "Crooked", "Sudden", "Endless", "Bitter", "Lucky",
)
_NOUNS = (
    "Harbor", "Empire", "Garden", "Witness", "Frontier", "Orchard", "Signal", "Kingdom", "Voyage", "Mirror",
    "Canyon", "Letter", "Station", "Island", "Promise", "Shadow", "River", "Summer", "Machine", "Dancer",
    "Stranger", "Horizon", "Fortune", "Circus", "Lantern", "Winter", "Detective", "Orbit", "Season", "Crossing",
)
DAY_MS = 86_400_000
MINUTE_MS = 60_000
DEFAULT_START_TS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def _activity(rng: np.random.Generator, n_users: int, n_movies: int, n_interactions: int) -> np.ndarray:
    """Interactions per user: a floor like MovieLens' 20 plus a log-normal share of the rest."""
    cap = max(1, int(0.45 * n_movies))
    if n_interactions > n_users * cap:
        raise ValueError(f"{n_interactions} interactions do not fit {n_users} users x {cap} movies each")
    floor = min(20, n_interactions // n_users, cap)
    weights = rng.lognormal(0.0, 1.0, n_users)
    counts = np.minimum(cap, floor + np.floor(weights / weights.sum() * (n_interactions - floor * n_users)))
    counts = counts.astype(np.int64)
    while (missing := n_interactions - counts.sum()) > 0:  # rounding and the cap left a few over
        room = np.flatnonzero(counts < cap)
        counts[rng.choice(room, size=min(missing, room.size), replace=False)] += 1
    return counts


def _draw_movies(
    rng: np.random.Generator, counts: np.ndarray, log_weight: np.ndarray, chunk_cells: int = 4_000_000
) -> tuple[np.ndarray, np.ndarray]:
    """Per user, ``counts[u]`` distinct movies drawn by weight (Gumbel top-k), in draw order.

    Adding Gumbel noise to log-weights and keeping the top k is sampling without replacement
    proportionally to the weights. Draw order puts likely (popular, on-taste) movies early in
    a user's history, as on MovieLens where new users first rate movies they know. Users are
    done in chunks to bound memory.
    """
    n_users, n_movies = log_weight.shape
    users, movies = [], []
    step = max(1, chunk_cells // n_movies)
    for lo in range(0, n_users, step):
        keys = log_weight[lo:lo + step] + rng.gumbel(size=(min(step, n_users - lo), n_movies)).astype(np.float32)
        order = np.argsort(-keys, axis=1)
        keep = np.arange(n_movies) < counts[lo:lo + step, None]
        rows, cols = np.nonzero(keep)
        users.append(rows + lo)
        movies.append(order[rows, cols])
    return np.concatenate(users), np.concatenate(movies)


def _timestamps(
    rng: np.random.Generator, user: np.ndarray, counts: np.ndarray, start_ts: int, days: float
) -> np.ndarray:
    """Session-structured times: each user has an active stretch, visited in a few sessions."""
    period = days * DAY_MS
    sessions = np.maximum(1, np.round(counts / rng.uniform(1.5, 4.0, counts.size))).astype(np.int64)
    # At least a day per session where the period allows, so sessions rarely overlap.
    span = np.clip(rng.uniform(0.05, 1.0, counts.size) * period, np.minimum(sessions * DAY_MS, period), period)
    first = rng.uniform(0, 1, counts.size) * (period - span)
    # A user's interactions (contiguous, in draw order) fill that user's sessions in order.
    rank = np.arange(user.size) - np.repeat(np.cumsum(counts) - counts, counts)
    session = rank * sessions[user] // counts[user]
    starts = np.flatnonzero(np.r_[True, (np.diff(session) != 0) | (np.diff(user) != 0)])
    lengths = np.diff(np.r_[starts, user.size])
    owner = user[starts]
    # One slot per session in the user's stretch; the session begins in the slot's first half.
    session_ts = first[owner] + span[owner] * (session[starts] + rng.uniform(0, 0.5, starts.size)) / sessions[owner]
    position = np.arange(user.size) - np.repeat(starts, lengths)
    gap = rng.uniform(95, 150, user.size) * MINUTE_MS  # about one movie apart
    ts = start_ts + np.repeat(session_ts, lengths) + position * gap + rng.uniform(0, MINUTE_MS, user.size)
    return ts.astype(np.int64)


def _catalog(rng: np.random.Generator, cluster: np.ndarray) -> pd.DataFrame:
    n_movies = cluster.size
    n_genres = len(GENRES)
    second = (cluster + rng.integers(1, n_genres, n_movies)) % n_genres
    has_second = rng.random(n_movies) < 0.6
    genres = [GENRES[c] + (f"|{GENRES[s]}" if two else "") for c, s, two in zip(cluster, second, has_second)]
    names = len(_ADJECTIVES) * len(_NOUNS)
    pick = rng.permutation(max(names, n_movies))[:n_movies]
    titles = [
        f"The {_ADJECTIVES[p % len(_ADJECTIVES)]} {_NOUNS[(p // len(_ADJECTIVES)) % len(_NOUNS)]}"
        + (f" {p // names + 1}" if p >= names else "")  # sequels once the names run out
        for p in pick
    ]
    year = np.clip(np.round(2024 - rng.exponential(14, n_movies)), 1920, 2024).astype(np.int64)
    return pd.DataFrame(
        {
            "movie_id": np.arange(1, n_movies + 1, dtype=np.int64),
            "title": pd.Series(titles, dtype=str),
            "genres": pd.Series(genres, dtype=str),
            "year": pd.array(year, dtype="Int64"),
        },
        columns=CATALOG_COLUMNS,
    )


def generate(
    n_users: int = 1000,
    n_movies: int = 1700,
    n_interactions: int = 100_000,
    seed: int = 0,
    start_ts: int = DEFAULT_START_TS,
    days: float = 210.0,
    n_clusters: int = 8,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Interactions (the MovieLens frame layout, ids from 1) and the catalog they refer to.

    The defaults match ML-100K's shape (about 1,000 users, 1,700 movies, 100,000 ratings over
    seven months); the same arguments always give the same frames.
    """
    if not 1 <= n_clusters <= len(GENRES):
        raise ValueError(f"n_clusters must be in 1..{len(GENRES)}")
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, n_clusters, n_movies)
    popularity = 1.0 / rng.permutation(np.arange(1, n_movies + 1) + 30.0) ** 1.5
    taste = rng.dirichlet(np.full(n_clusters, 0.25), n_users) + 0.01  # a little of everything
    taste /= taste.sum(axis=1, keepdims=True)
    log_weight = (np.log(popularity)[None, :] + np.log(taste[:, cluster])).astype(np.float32)

    counts = _activity(rng, n_users, n_movies, n_interactions)
    user, movie = _draw_movies(rng, counts, log_weight)
    affinity = np.log(taste[user, cluster[movie]] * n_clusters)  # > 0 for a preferred cluster
    user_bias = rng.normal(0, 0.35, n_users)
    movie_bias = rng.normal(0, 0.35, n_movies) + 0.15 * np.log(popularity / popularity.mean())
    raw = 3.4 + user_bias[user] + movie_bias[movie] + 0.35 * affinity + rng.normal(0, 0.95, user.size)
    interactions = pd.DataFrame({
        "user_id": user.astype(np.int64) + 1,
        "movie_id": movie.astype(np.int64) + 1,
        "rating": np.clip(np.round(raw), 1, 5).astype(np.float32),
        "ts": _timestamps(rng, user, counts, start_ts, days),
    })[INTERACTION_COLUMNS]
    interactions = interactions.sort_values(["ts", "user_id", "movie_id"], kind="stable").reset_index(drop=True)
    return interactions, _catalog(rng, cluster)

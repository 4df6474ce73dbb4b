"""Streaming cold-start protocol: users first seen after the cut, their first n events live, the rest the test.

A new user's first ``n`` distinct movies (time order, ties by movie id) are the live history
of a request made just after the n-th (its timestamp + 1 ms, so trending has counted them as a
worker would have); every later movie of theirs is relevant. Users with at most ``n`` movies
after the cut have nothing left to predict and are not asked for that ``n``.
"""
from __future__ import annotations

from models.evaluation.cases import Case, TimeCut, runs

HISTORY_LENGTHS = (1, 3, 5, 10)
"""The n of the protocol: how many live events a new user has shown."""


def cold_start_cases(split: TimeCut, n: int) -> list[Case]:
    """One case per user first seen after the cut with more than ``n`` movies there (n >= 0)."""
    known = set(split.known_users.tolist())
    cases = []
    for user, (movies, ts) in runs(split.after).items():
        if user in known or movies.size <= n:
            continue
        moment = int(ts[n - 1]) + 1 if n else int(ts[0])
        cases.append(Case(user_id=user, ts=moment, history=tuple(int(m) for m in movies[:n]), exclude=(),
                          relevant=frozenset(int(m) for m in movies[n:]),
                          last_active=int(ts[n - 1]) if n else None))
    return cases

"""Global temporal protocol: fit before a time cut, then every user's interactions after it are the test.

Each user active after the cut is asked once, at the cut, with no live history: a known user
is answered from what the model learned (their pre-cut movies are never shown), a user first
seen after the cut has nothing to go on. Relevant: every movie the user interacts with after
the cut; everything the user has not interacted with before the cut competes.
"""
from __future__ import annotations

import numpy as np

from models.evaluation.cases import Case, TimeCut, runs


def temporal_cases(split: TimeCut, known: bool | None = True) -> list[Case]:
    """One case per user with interactions after the cut; ``known`` keeps known / new users / all (None)."""
    before = runs(split.before)
    cases = []
    for user, (movies, _) in runs(split.after).items():
        if known is not None and (user in before) != known:
            continue
        seen = tuple(int(m) for m in before[user][0]) if user in before else ()
        last = int(before[user][1].max()) if user in before else None
        cases.append(Case(user_id=user, ts=split.cut, history=(), exclude=seen,
                          relevant=frozenset(int(m) for m in movies), last_active=last))
    return cases


def session_cases(split: TimeCut, per_user: int = 5) -> list[Case]:
    """Known users' next movie after the cut, asked at its moment with their earlier post-cut movies live.

    What a worker meets while a known user is active: each case is one of the user's latest
    ``per_user`` movies after the cut (the only relevant one), ``last_active`` the event before it.
    """
    before = runs(split.before)
    cases = []
    for user, (movies, ts) in runs(split.after).items():
        if user not in before:
            continue
        seen = tuple(int(m) for m in before[user][0])
        previous = np.r_[before[user][1].max(), ts[:-1]]
        for i in range(max(0, movies.size - per_user), movies.size):
            cases.append(Case(user_id=user, ts=int(ts[i]), history=tuple(int(m) for m in movies[:i]), exclude=seen,
                              relevant=frozenset([int(movies[i])]), last_active=int(previous[i])))
    return cases

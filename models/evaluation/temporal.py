"""Global temporal protocol: fit before a time cut, then every user's interactions after it are the test.

Each user active after the cut is asked once, at the cut, with no live history: a known user
is answered from what the model learned (their pre-cut movies are never shown), a user first
seen after the cut has nothing to go on. Relevant: every movie the user interacts with after
the cut; everything the user has not interacted with before the cut competes.
"""
from __future__ import annotations

from models.evaluation.cases import Case, TimeCut, runs


def temporal_cases(split: TimeCut, known: bool | None = True) -> list[Case]:
    """One case per user with interactions after the cut; ``known`` keeps known / new users / all (None)."""
    before = runs(split.before)
    cases = []
    for user, (movies, _) in runs(split.after).items():
        if known is not None and (user in before) != known:
            continue
        seen = tuple(int(m) for m in before[user][0]) if user in before else ()
        cases.append(Case(user_id=user, ts=split.cut, history=(), exclude=seen,
                          relevant=frozenset(int(m) for m in movies)))
    return cases

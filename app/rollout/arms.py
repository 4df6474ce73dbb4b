"""Which arm a user gets: a stable hash of (user id, experiment id), the same on every worker.

SHA-256 of ``<salt>:<user id>`` (never Python's ``hash``, which is salted per process) gives a
bucket in 0..9999. A user's bucket does not change between requests, workers or restarts, and
two experiments hash with different salts, so their assignments are independent. A canary
takes the buckets below ``percent * 100`` of its own salt: raising the percent keeps every user
who already had the canary.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from app.rollout.state import Traffic

BUCKETS = 10_000


def bucket(user_id: int, salt: str) -> int:
    """The user's bucket in ``0..BUCKETS-1`` for ``salt`` (an experiment or canary id)."""
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


@dataclass(frozen=True)
class Assignment:
    """The arm a user is served by: its name on the response and the trial its figures go to."""

    arm: str
    """``stable``, ``canary``, or an A/B arm's own name."""
    trial: str
    model_name: str
    model_version: str
    reranker: str | None = None


def stable_trial(model_name: str, version: str) -> str:
    """The trial id of the stable version's figures while no canary or experiment runs."""
    return f"stable:{model_name}:{version}"


def assign(traffic: Traffic, model_name: str, stable_version: str, user_id: int) -> Assignment:
    """The arm of ``user_id`` in ``traffic``, whose stable version is ``stable_version``."""
    canary, experiment = traffic.canary, traffic.experiment
    if canary is not None:
        if bucket(user_id, canary.salt) < canary.percent * (BUCKETS // 100):
            return Assignment("canary", canary.trial, canary.model_name, canary.model_version, canary.reranker)
        return Assignment("stable", canary.trial, model_name, stable_version)
    if experiment is not None:
        point, edge = bucket(user_id, experiment.experiment), 0
        for arm in experiment.arms:
            edge += arm.weight * (BUCKETS // 100)
            if point < edge:
                break
        return Assignment(arm.name, experiment.trial, arm.model_name, arm.model_version, arm.reranker)
    return Assignment("stable", stable_trial(model_name, stable_version), model_name, stable_version)

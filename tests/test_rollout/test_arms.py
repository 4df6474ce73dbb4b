"""Arm assignment: sticky, split as configured, independent between experiments, canaries nested."""
from __future__ import annotations

import subprocess
import sys

from app.rollout.arms import assign, bucket
from app.rollout.state import ArmSpec, Canary, Experiment, Traffic

USERS = range(1, 20_001)


def experiment(name: str, split: int) -> Traffic:
    return Traffic(stable="v1", experiment=Experiment(name, "als", (ArmSpec("a", "als", "v1", split),
                                                                    ArmSpec("b", "als", "v2", 100 - split, "mmr:x")), 7))


def test_buckets_are_the_same_in_another_process() -> None:
    here = [bucket(user, "exp") for user in (1, 42, 9_999_999)]
    code = "from app.rollout.arms import bucket; print([bucket(u, 'exp') for u in (1, 42, 9_999_999)])"
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""}, cwd=".").stdout
    assert str(here) == there.strip()


def test_split_within_tolerance_and_experiments_independent() -> None:
    first = [assign(experiment("e1", 30), "als", "v1", user).arm for user in USERS]
    assert abs(first.count("a") / len(first) - 0.30) < 0.015
    second = [assign(experiment("e2", 50), "als", "v1", user).arm for user in USERS]
    both = sum(1 for x, y in zip(first, second) if x == "a" and y == "a") / len(first)
    assert abs(both - 0.30 * 0.50) < 0.015, "membership in e1 says nothing about e2"
    chosen = assign(experiment("e1", 30), "als", "v1", next(u for u, arm in zip(USERS, first) if arm == "b"))
    assert (chosen.model_version, chosen.reranker, chosen.trial) == ("v2", "mmr:x", "ab:e1:7")


def test_a_canary_takes_its_percent_and_keeps_its_users_when_it_grows() -> None:
    def canary_users(percent: int) -> set[int]:
        traffic = Traffic(stable="v1", canary=Canary("als", "v2", percent, 5))
        return {user for user in USERS if assign(traffic, "als", "v1", user).arm == "canary"}
    five, twenty = canary_users(5), canary_users(20)
    assert abs(len(five) / len(USERS) - 0.05) < 0.01 and five <= twenty
    assert not canary_users(0) and len(canary_users(100)) == len(USERS)
    stable = assign(Traffic(stable="v1", canary=Canary("als", "v2", 0, 5)), "als", "v1", 3)
    assert (stable.arm, stable.trial) == ("stable", "canary:als:v2:5"), "stable counts inside the canary's trial"
    alone = assign(Traffic(stable="v1"), "als", "v1", 3)
    assert (alone.arm, alone.trial) == ("stable", "stable:als:v1")

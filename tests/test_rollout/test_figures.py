"""Per-arm figures, conversion matching, trial reports and the canary guard, on plain data."""
from __future__ import annotations

from app.rollout import conversions, stats
from app.rollout.guard import GuardRules, check
from app.rollout.report import status, trial_report
from app.rollout.state import ArmSpec, Canary, Experiment, RolloutState, Traffic

RULES = GuardRules(max_error_rate=0.05, max_p95_ms=50.0, min_requests=100, alpha=0.05)


def row(arm: str, requests: int, errors: int = 0, conversions_: int = 0, latency_ms: float = 1.0,
        trial: str = "t") -> dict:
    out = stats.new_row(trial, arm, "als", "v")
    for index in range(requests):
        stats.record_answer(out, latency_ms, ok=index >= errors)
    for _ in range(conversions_):
        stats.record_conversion(out, 1)
    return out


def test_rows_merge_across_partitions_and_give_rates_intervals_and_p95() -> None:
    one, two = row("canary", 90, latency_ms=2.0), row("canary", 10, errors=5, latency_ms=400.0)
    stats.record_conversion(one, 3)
    merged = stats.merge([one, two])[("t", "canary")]
    shown = stats.figures(merged)
    assert (shown["requests"], shown["errors"], shown["served"], shown["conversions"]) == (100, 5, 95, 1)
    assert shown["error_rate"] == 0.05 and shown["conversions_by_position"] == {"3": 1}
    assert shown["p95_latency_ms"] == 500.0 and stats.percentile(merged["latency"], 0.5) == 2.0
    low, high = shown["conversion_interval"]
    assert low < 1 / 95 < high


def test_a_watch_after_the_response_converts_once_and_one_before_or_too_late_does_not() -> None:
    window = 1_800_000
    served = {"request_id": "r1", "arm": "b", "ts": 10_000, "movie_ids": [5, 6, 7]}
    entries = conversions.add([], conversions.pending_entry(served, "ab:e:1"), 10_000, window)
    assert conversions.match(entries, 6, 9_999, window)[0] is None, "a watch before the response"
    assert conversions.match(entries, 6, 10_000 + window + 1, window)[0] is None, "after the window"
    assert conversions.match(entries, 8, 20_000, window)[0] is None, "a movie not in the list"
    found, left = conversions.match(entries, 6, 20_000, window)
    assert (found.position, found.arm, found.trial) == (2, "b", "ab:e:1") and left == []
    assert found.as_record() == {"request_id": "r1", "arm": "b", "movie_id": 6, "position": 2,
                                 "served_ts": 10_000, "ts": 20_000}
    later = {**served, "request_id": "r2", "ts": 15_000}
    both = conversions.add(entries, conversions.pending_entry(later, "ab:e:1"), 15_000, window)
    assert conversions.match(both, 7, 16_000, window)[0].request_id == "r2", "the newest list gets the credit"
    assert conversions.add(both, conversions.pending_entry(later, "x"), 15_000 + window + 1, window)[0]["ts"] == 15_000


def test_guard_rolls_back_on_errors_latency_and_worse_conversion_only_after_enough_requests() -> None:
    stable = row("stable", 2000, conversions_=400)
    assert check(row("canary", 99, errors=99), stable, RULES) is None, "too few requests yet"
    assert check(row("canary", 200, errors=20), stable, RULES).trigger == "error_rate"
    slow = check(row("canary", 200, latency_ms=120.0), stable, RULES)
    assert slow.trigger == "latency" and "150 ms" in slow.reason and "50 ms" in slow.reason
    worse = check(row("canary", 2000, conversions_=200), stable, RULES)
    assert worse.trigger == "conversion" and "worse than stable" in worse.reason
    assert check(row("canary", 2000, conversions_=410), stable, RULES) is None


def test_trial_reports_ship_the_better_arm_and_show_every_arm() -> None:
    experiment = Experiment("e", "als", (ArmSpec("a", "als", "v1", 50), ArmSpec("b", "als", "v2", 50)), 1)
    rows = {("ab:e:1", "a"): row("a", 1000, conversions_=100, trial="ab:e:1"),
            ("ab:e:1", "b"): row("b", 1000, conversions_=200, trial="ab:e:1")}
    shipped = trial_report(experiment, "v1", rows, alpha=0.05)
    assert (shipped["decision"], shipped["winner"]) == ("ship", "b")
    assert [a["arm"] for a in shipped["arms"]] == ["a", "b"] and shipped["arms"][1]["comparison"]["against"] == "a"
    even = {key: row(key[1], 1000, conversions_=150, trial="ab:e:1") for key in rows}
    assert trial_report(experiment, "v1", even, alpha=0.05)["decision"] == "inconclusive"
    canary = Canary("als", "v2", 10, 3)
    empty = trial_report(canary, "v1", {}, alpha=0.05)
    assert [a["arm"] for a in empty["arms"]] == ["stable", "canary"] and empty["decision"] == "inconclusive"


def test_status_shows_stable_alone_and_a_canary_with_its_figures() -> None:
    state = RolloutState({"als": Traffic(stable="v1")})
    alone = status("als", state, "v1", {("stable:als:v1", "stable"): row("stable", 7, trial="stable:als:v1")}, 0.05)
    assert alone["stable"]["figures"]["requests"] == 7 and alone["canary"] is None and alone["decision"] is None
    state = RolloutState({"als": Traffic(stable="v1", canary=Canary("als", "v2", 10, 3, "mmr:lambda=0.3"))})
    shown = status("als", state, "v1", {}, 0.05)
    assert shown["canary"]["reranker"] == "mmr:lambda=0.3" and shown["canary_percent"] == 10
    assert shown["decision"] == "inconclusive" and [a["arm"] for a in shown["arms"]] == ["stable", "canary"]

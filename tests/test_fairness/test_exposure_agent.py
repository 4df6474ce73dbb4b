"""The exposure agents through ``agent.test_context()``: deltas by arm, the windowed table, gauges, /fairness figures."""
from __future__ import annotations

import asyncio
import time
from unittest.mock import AsyncMock

import pytest
from prometheus_client import REGISTRY

from agents import topics
from agents.exposure import apply_exposure, count_exposure, export_gauges
from app import fairness_views
from app.codec import AvroCodec
from app.deployment import holder
from tables import exposure_windows
from tests.test_app.test_serving import deployed  # noqa: F401 - the module-scoped fixture

RESPONSE = AvroCodec("RecoResponse")
pytestmark = pytest.mark.timeout(60)


def served(arm: str, ts_ms: int, movies: list[int], status: int = 200) -> bytes:
    return RESPONSE.encode({
        "request_id": f"r{ts_ms}", "ts": ts_ms, "user_id": 1, "status": status, "error": None, "k": len(movies),
        "movie_ids": movies, "scores": [1.0] * len(movies), "strategy": "model", "model_name": "itemcf",
        "model_version": "v1", "arm": arm, "git_sha": "", "data_snapshot_id": "", "served_by": "w", "latency_ms": 1.0})


@pytest.fixture
def fairness_app(faust_test_app, deployed, monkeypatch):  # noqa: F811
    monkeypatch.setattr(holder, "current", deployed)
    sends = faust_test_app
    mock = sends.setdefault("exposure-deltas", AsyncMock())
    monkeypatch.setattr(topics.exposure_deltas, "send", mock)
    exposure_windows.table.data.clear()
    return sends


async def until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_responses_become_one_delta_per_arm_and_window_and_junk_is_dead_lettered(fairness_app) -> None:
    now = int(time.time() * 1000)
    async with count_exposure.test_context() as agent:
        for value in (served("stable", now, [1, 2]), served("stable", now + 1, [2]),
                      served("canary", now, [3]), served("stable", now, [], status=503), b"junk"):
            await agent.put(value, key=b"r", partition=0)
        await until(lambda: fairness_app["exposure-deltas"].await_count >= 2)
    sent = {call.kwargs["key"]: call.kwargs["value"] for call in fairness_app["exposure-deltas"].call_args_list}
    assert sent["stable"]["responses"] == 2 and sent["stable"]["movies"] == {"1": 1, "2": 2}
    assert sent["canary"]["movies"] == {"3": 1}
    assert sent["stable"]["window_start"] == now - now % 3_600_000
    assert fairness_app["dead-letters"].await_count == 1


async def test_deltas_fill_the_window_of_their_responses_and_the_figures_follow(fairness_app, deployed,  # noqa: F811
                                                                               monkeypatch) -> None:
    size = 3_600_000
    now = int(time.time() * 1000)
    current, previous = now - now % size, now - now % size - size
    movies = [int(m) for m in deployed.bundle.maps.items.raw[:3]]
    async with apply_exposure.test_context() as agent:
        for start, row in ((current, {"responses": 1, "movies": {str(movies[0]): 1, str(movies[1]): 1}}),
                           (current, {"responses": 1, "movies": {str(movies[0]): 1}}),
                           (previous, {"responses": 4, "movies": {str(movies[2]): 4}})):
            await agent.put({"arm": "stable", "window_start": start, **row}, key="stable", partition=0)
        await until(lambda: fairness_views.rows_of("stable").get(current, {}).get("responses") == 2)
    rows = fairness_views.rows_of("stable")
    assert rows[current] == {"responses": 2, "movies": {str(movies[0]): 2, str(movies[1]): 1}}
    assert rows[previous]["responses"] == 4
    n = len(deployed.bundle.maps.items)
    now_summary = fairness_views.summary_of("stable", "current", deployed, now)
    assert now_summary.n_responses == 2 and now_summary.coverage == pytest.approx(2 / n)
    assert fairness_views.summary_of("stable", "previous", deployed, now).exposures == 4
    assert fairness_views.summary_of("stable", "all", deployed, now).n_responses == 6
    empty = fairness_views.summary_of("stable", "current", deployed, now + 5 * size)
    assert (empty.n_responses, empty.gini, empty.coverage, empty.tail_share) == (0, 0.0, 0.0, 0.0)

    monkeypatch.setattr(fairness_views, "owns", lambda arm: True)
    monkeypatch.setattr("agents.exposure.owned_arms", lambda: {"stable"})
    export_gauges()
    assert REGISTRY.get_sample_value("movierecs_fairness_responses", {"arm": "stable"}) == 2
    assert REGISTRY.get_sample_value("movierecs_fairness_coverage", {"arm": "stable"}) == pytest.approx(2 / n)
    assert REGISTRY.get_sample_value("movierecs_fairness_amplification", {"arm": "stable", "tier": "head"}) >= 0
    monkeypatch.setattr("agents.exposure.owned_arms", set)  # the arm moved to another worker
    export_gauges()
    assert REGISTRY.get_sample_value("movierecs_fairness_responses", {"arm": "stable"}) is None


async def test_exposures_and_conversions_feed_the_exploration_sampler(fairness_app, monkeypatch) -> None:
    from agents.exposure import learn_conversions
    from app import serving
    from models.rerank import ThompsonSampler

    sampler = ThompsonSampler()
    monkeypatch.setattr(serving.EXPLORATION, "trials", sampler.trials)
    monkeypatch.setattr(serving.EXPLORATION, "successes", sampler.successes)
    now = int(time.time() * 1000)
    async with count_exposure.test_context() as agent:
        for movies in ([7, 8], [7]):
            await agent.put(served("explore", now, movies), key=b"r", partition=0)
        await until(lambda: sampler.trials.get(7) == 2)
    async with learn_conversions.test_context() as agent:
        await agent.put(b'{"request_id": "r", "arm": "explore", "movie_id": 7, "position": 1}', key=b"1", partition=0)
        await agent.put(b'{"arm": "explore"}', key=b"1", partition=0)
        await agent.put(b"not json", key=b"1", partition=0)
        await until(lambda: fairness_app["dead-letters"].await_count == 2)
    assert dict(sampler.trials) == {7: 2, 8: 1} and dict(sampler.successes) == {7: 1}
    alpha, beta = sampler.posterior([7, 8])
    assert alpha.tolist() == [2.0, 1.0] and beta.tolist() == [2.0, 2.0]

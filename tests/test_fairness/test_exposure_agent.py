"""Exposure through ``agent.test_context()``: served lists to deltas by arm, the windowed table, gauges, /fairness figures."""
from __future__ import annotations

import asyncio
import time
import json
from unittest.mock import AsyncMock

import pytest
from prometheus_client import REGISTRY

from agents import topics
from agents.answer_records import AnswerRecords
from agents.exposure import apply_exposure, export_gauges
from app import fairness_views
from app.deployment import holder
from tables import exposure_windows
from tests.test_agents.test_answer_records import Producer
from tests.test_app.test_serving import deployed  # noqa: F401 - the module-scoped fixture

pytestmark = pytest.mark.timeout(60)


def served(arm: str, ts_ms: int, movies: list[int], status: int = 200) -> dict:
    return {"request_id": f"r{ts_ms}", "ts": ts_ms, "user_id": 1, "status": status, "error": None, "k": len(movies),
            "movie_ids": movies, "scores": [1.0] * len(movies), "strategy": "model", "model_name": "itemcf",
            "model_version": "v1", "arm": arm, "git_sha": "", "data_snapshot_id": "", "served_by": "w",
            "latency_ms": 1.0}


async def flushed(answers: list[dict]) -> list[tuple[bytes, int, dict]]:
    """What a worker that gave ``answers`` sends to ``exposure-deltas``: (key, partition, delta)."""
    records, producer = AnswerRecords(limit=100, interval_s=0.0, window_s=3600), Producer()
    for answer in answers:
        records.add(answer, {}, 0, via="kafka")
    records.flush_exposure()
    await records.drain(producer)
    return [(key, partition, json.loads(value)) for (topic, key, partition), value in zip(producer.sent, producer.values)
            if topic == topics.exposure_deltas.get_topic_name()]


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


async def test_served_lists_become_one_delta_per_arm_and_window_that_fills_the_arms_row(fairness_app) -> None:
    now = int(time.time() * 1000)
    deltas = await flushed([served("stable", now, [1, 2]), served("stable", now + 1, [2]),
                            served("canary", now, [3]), served("stable", now, [], status=503)])
    sent = {key: delta for key, _, delta in deltas}
    assert sent[b'"stable"']["responses"] == 2 and sent[b'"stable"']["movies"] == {"1": 1, "2": 2}
    assert sent[b'"canary"']["movies"] == {"3": 1}
    assert sent[b'"stable"']["window_start"] == now - now % 3_600_000
    async with apply_exposure.test_context() as agent:  # as Faust reads them: JSON keys and values
        for key, partition, delta in deltas:
            await agent.put(delta, key=json.loads(key), partition=partition)
        await until(lambda: fairness_views.rows_of("canary"))
    assert fairness_views.rows_of("stable") == {now - now % 3_600_000: {"responses": 2, "movies": {"1": 1, "2": 2}}}


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
    await flushed([served("explore", now, [7, 8]), served("explore", now, [7])])
    async with learn_conversions.test_context() as agent:
        await agent.put(b'{"request_id": "r", "arm": "explore", "movie_id": 7, "position": 1}', key=b"1", partition=0)
        await agent.put(b'{"arm": "explore"}', key=b"1", partition=0)
        await agent.put(b"not json", key=b"1", partition=0)
        await until(lambda: fairness_app["dead-letters"].await_count == 2)
    assert dict(sampler.trials) == {7: 2, 8: 1} and dict(sampler.successes) == {7: 1}
    alpha, beta = sampler.posterior([7, 8])
    assert alpha.tolist() == [2.0, 1.0] and beta.tolist() == [2.0, 2.0]

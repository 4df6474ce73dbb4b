"""The cold-start protocol through the served path: new users' first events over Kafka, lists equal to offline.

A model is trained on the data before a time cut and its policy tuned as the trainer tunes it;
a real worker serves it. Users first seen after the cut stream their first n events through
the broker; then each is asked for 10 movies over HTTP. The lists must equal what
:func:`models.serving.offline.serve_cases` (the code behind every offline figure) computes for
the same users, events and trending counts: the offline numbers describe the served system.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from aiokafka import AIOKafkaProducer

from app.registry import Registry
from app.storage import FileStore
from models.data.synthetic import generate
from models.evaluation import cold_start_cases, quantile_ts, time_cut
from models.serving.offline import Ranker, serve_cases
from models.serving.tuning import fit_before, tune_policy
from models.trending import DAY_MS
from tables.history import item_deltas
from tests.kafka_tools import Worker, free_port, read_all
from tests.test_integration.test_serving_kafka import frame_avro

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

LENGTHS = (1, 3, 5)
"""The live events shown: new users take these in turn."""
K = 10
EARLY_WATCHERS = 400
"""Counts of one obscure movie on item-interactions before the worker starts: it must trend once ready."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """(registry dir, bundle, tuned config, cold cases, their live events) of an ALS model fitted before the cut."""
    now = int(time.time() * 1000)
    frame, _ = generate(n_users=300, n_movies=400, n_interactions=15_000, seed=3, start_ts=now - 210 * DAY_MS)
    split = time_cut(frame, quantile_ts(frame, 0.8))
    params = {"factors": 16, "seed": 0}
    bundle = fit_before("als", params, split)
    tuning = tune_policy(split.before, "als", params=params)
    by_user = {}
    for index, n in enumerate(LENGTHS):
        for case in cold_start_cases(split, n)[index::len(LENGTHS)]:
            by_user.setdefault(case.user_id, case)
    after = split.after.set_index("user_id")
    events = [(user, int(movie), int(ts)) for user, case in by_user.items()
              for movie, ts in after.loc[[user], ["movie_id", "ts"]].to_numpy()[: len(case.history)]]
    root = tmp_path_factory.mktemp("registry")
    card = {"model_name": "als", "params": params, "metrics": [], "git_sha": "test-sha",
            "data_snapshot_id": "sha256:synthetic-3-before-cut", "policy": tuning.card()}
    asyncio.run(Registry(FileStore(root)).register(bundle, card, {}))
    return root, bundle, tuning.config, list(by_user.values()), events


@pytest.fixture(scope="module")
def worker(kafka_bootstrap: str, served, tmp_path_factory: pytest.TempPathFactory):
    registry_dir = served[0]
    tmp, run = tmp_path_factory.mktemp("worker"), uuid.uuid4().hex[:8]
    env = {"MOVIE_RECS_KAFKA_BOOTSTRAP": kafka_bootstrap, "MOVIE_RECS_TOPIC_PREFIX": f"cs-{run}-",
           "MOVIE_RECS_APP_ID": f"cs-{run}", "MOVIE_RECS_WEB_PORT": str(free_port()),
           "MOVIE_RECS_DATA_DIR": str(tmp / "faust"), "MOVIE_RECS_REGISTRY": f"file://{registry_dir}",
           "MOVIE_RECS_SNAPSHOTS": f"file://{tmp / 'snapshots'}", "MOVIE_RECS_SERVE_MODEL": "als"}
    proc = Worker(env, tmp / "worker.log").create_topics()
    asyncio.run(count_before_start(kafka_bootstrap, env["MOVIE_RECS_TOPIC_PREFIX"] + "item-interactions",
                                   least_popular(served[1])))
    proc.start().wait_ready()  # ready: trending has replayed what came before and follows what comes next
    yield proc, env["MOVIE_RECS_TOPIC_PREFIX"]
    proc.stop()


def least_popular(bundle) -> int:
    """The movie trending counts before the worker starts: last by training popularity."""
    return int(bundle.maps.items.raw[bundle.model.popularity.argmin()])


async def count_before_start(bootstrap: str, topic: str, movie: int) -> None:
    """One item-interactions delta of EARLY_WATCHERS new watchers of ``movie``, produced before the worker runs."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        delta = {"movie_id": movie, "ts": int(time.time() * 1000), "new_watcher": EARLY_WATCHERS, "ratings": 0}
        await producer.send_and_wait(topic, json.dumps(delta).encode(), key=str(movie).encode())
    finally:
        await producer.stop()


async def stream(bootstrap: str, topic: str, events: list[tuple[int, int, int]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for user, movie, ts in events:
            record = {"ts": ts, "user_id": user, "movie_id": movie, "minute": 0}
            await producer.send_and_wait(topic, frame_avro("WatchEvent", record), key=str(user).encode())
    finally:
        await producer.stop()


async def counts(bootstrap: str, topic: str) -> pd.DataFrame:
    """What the worker's trending counts are fed: one row per count on ``item-interactions``."""
    deltas = [d for r in await read_all(bootstrap, topic) for d in item_deltas(json.loads(r.value) if r.value else None)]
    return pd.DataFrame([(d["movie_id"], d["ts"]) for d in deltas for _ in range(d["new_watcher"] + d["ratings"])],
                        columns=["movie_id", "ts"])


async def test_counts_from_before_the_start_are_in_trending_as_soon_as_the_worker_is_ready(worker, served):
    proc, _ = worker
    assert json.loads(proc.get("/health")[1])["trending"] == {"caught_up": True, "behind": 0}
    assert served[2].fallback_popularity == "trending", "the no-history answer shows the live counts"
    deadline = time.monotonic() + 60
    status, body = proc.get("/recommend/999999?k=1")
    while status == 503 and time.monotonic() < deadline:  # the router may not place a key yet at start-up
        await asyncio.sleep(0.5)
        status, body = proc.get("/recommend/999999?k=1")
    assert status == 200 and [m["movie_id"] for m in json.loads(body)["movies"]] == [least_popular(served[1])]


async def test_new_users_get_the_lists_the_offline_protocol_computed(worker, served, kafka_bootstrap: str) -> None:
    proc, prefix = worker
    _, bundle, config, cases, events = served
    assert len(cases) >= 6 and {len(c.history) for c in cases} == set(LENGTHS)
    assert [m for _, m, _ in events] == [m for c in cases for m in c.history]
    await stream(kafka_bootstrap, prefix + "watch", events)
    served_lists, offline = {}, []
    deadline = time.monotonic() + 120
    while len(served_lists) < len(cases) and time.monotonic() < deadline:
        trending = await counts(kafka_bootstrap, prefix + "item-interactions")
        # asked once every streamed event is counted, by the worker and offline alike
        moment = int(trending["ts"].max()) + 1
        offline = serve_cases(Ranker(bundle, config), [replace(c, ts=moment) for c in cases], trending, k=K)
        for case, expected in zip(cases, offline):
            status, body = proc.get(f"/recommend/{case.user_id}?k={K}")  # a 503 at start-up is retried
            answer = json.loads(body)
            listed = [m["movie_id"] for m in answer.get("movies", [])]
            # until the worker has applied every event, the answer may still change
            if status == 200 and answer["provenance"]["strategy"] == "fold-in" and listed == expected:
                served_lists[case.user_id] = listed
            else:
                served_lists.pop(case.user_id, None)
        await asyncio.sleep(0.5)
    missing = {c.user_id: (expected, proc.get(f"/recommend/{c.user_id}?k={K}")[1][:300])
               for c, expected in zip(cases, offline) if c.user_id not in served_lists}
    assert not missing, f"served lists differ from offline ones: {missing}\n{proc.log_tail()}"
    assert all(len(v) == K for v in served_lists.values())

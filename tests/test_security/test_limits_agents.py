"""The Kafka limits inside the agents: 429 responses per client_id, ratings over the cap dead-lettered."""
from __future__ import annotations

import asyncio

import pytest

import agents.ingest
import agents.recommend
from agents import topics
from agents.recommend import answer_requests
from app.codec import AvroCodec
from app.deployment import holder
from app.partitioning import partition_of, user_key
from app.ratelimit import Limiter
from app.settings import Settings
from tables import user_history
from tests.ingest_context import ingest_context, settle
from tests.test_app.test_serving import deployed  # noqa: F401 - the module-scoped fixture

REQUEST, RESPONSE = AvroCodec("RecoRequest"), AvroCodec("RecoResponse")
RATE, DEAD = AvroCodec("RateEvent"), AvroCodec("DeadLetter")
TS = 900_000_000_000


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def sent(sends, topic: str, codec: AvroCodec) -> list[dict]:
    return [codec.decode(call.kwargs["value"]) for call in sends[topic].call_args_list]


async def test_client_over_its_limit_gets_429_and_others_are_served(
        faust_test_app, deployed, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(holder, "current", deployed)
    monkeypatch.setattr(agents.recommend, "KAFKA", Limiter.build("kafka", 0.001, 3, Settings(), clock=Clock()))
    user = int(deployed.bundle.maps.users.raw[0])
    partition = partition_of(user_key(user), 8)
    async with answer_requests.test_context() as agent:
        for i, client in enumerate(["greedy"] * 5 + ["polite"]):
            value = REQUEST.encode({"request_id": f"r{i}", "ts": 1, "user_id": user, "k": 3,
                                    "client_id": client, "exclude": []})
            await agent.put(value, key=user_key(user), partition=partition)
        await asyncio.sleep(0.1)
    answers = sent(faust_test_app, "reco-responses", RESPONSE)
    assert [a["status"] for a in answers] == [200, 200, 200, 429, 429, 200]
    limited = answers[3]
    assert limited["request_id"] == "r3" and "'greedy' is over its rate limit" in limited["error"]
    assert limited["movie_ids"] == [] and limited["served_by"]


async def test_ratings_over_the_hourly_cap_are_dead_lettered_not_dropped(
        faust_test_app, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agents.ingest, "RATINGS", Limiter.build("ratings", 4 / 3600, 4, Settings(), clock=Clock()))
    spammer, other = 7, 8
    async with ingest_context(topics.rate) as agent:
        for i in range(6):
            for user in (spammer, other) if i < 2 else (spammer,):
                value = RATE.encode({"ts": TS + i, "user_id": user, "movie_id": 100 + i, "rating": 4})
                await agent.put(value, key=user_key(user), partition=partition_of(user_key(user), 8))
        await settle()
    assert user_history.get(user_key(spammer))["rate_events"] == 4
    assert user_history.get(user_key(other))["rate_events"] == 2
    letters = sent(faust_test_app, "dead-letters", DEAD)
    assert len(letters) == 2 and all("ratings per hour" in letter["error"] for letter in letters)
    assert [RATE.decode(letter["payload"])["movie_id"] for letter in letters] == [104, 105]

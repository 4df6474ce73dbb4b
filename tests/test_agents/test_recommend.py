"""The recommend agent through ``agent.test_context()``: answers, repeats, bad requests, strays."""
from __future__ import annotations

import asyncio

import pytest

from agents.recommend import answer_requests
from app.codec import AvroCodec
from app.deployment import holder
from app.partitioning import partition_of, user_key
from tables import trace_key, traces
from tests.test_app.test_serving import deployed  # noqa: F401 - the module-scoped fixture

REQUEST, RESPONSE = AvroCodec("RecoRequest"), AvroCodec("RecoResponse")


@pytest.fixture
def serving(faust_test_app, deployed, monkeypatch):  # noqa: F811
    monkeypatch.setattr(holder, "current", deployed)
    return faust_test_app


def encoded(request_id: str, user_id: int, k: int = 5) -> bytes:
    return REQUEST.encode({"request_id": request_id, "ts": 1, "user_id": user_id, "k": k,
                           "client_id": "t", "exclude": []})


def responses(sends) -> list[dict]:
    return [RESPONSE.decode(call.kwargs["value"]) for call in sends["reco-responses"].call_args_list]


async def test_repeated_request_id_gets_the_same_answer(serving, deployed) -> None:  # noqa: F811
    user = int(deployed.bundle.maps.users.raw[0])
    async with answer_requests.test_context() as agent:
        for _ in range(2):
            await agent.put(encoded("same", user), key=user_key(user), partition=partition_of(user_key(user), 8))
        await agent.put(encoded("bad", user, k=0), key=user_key(user), partition=partition_of(user_key(user), 8))
        await asyncio.sleep(0.1)
    first, second, bad = responses(serving)
    assert first == second and first["status"] == 200 and len(first["movie_ids"]) == 5
    assert bad["status"] == 400 and "k 0" in bad["error"]
    partition = partition_of(user_key(user), 8)
    assert traces.row(trace_key(partition, "same"))["response"]["movie_ids"] == first["movie_ids"]
    assert traces.row(trace_key(partition, "bad"))["request"]["k"] == 0
    assert [call.kwargs["key"] for call in serving["reco-responses"].call_args_list] == [b"same", b"same", b"bad"]


async def test_undecodable_request_is_dead_lettered_and_strays_are_moved(serving) -> None:
    async with answer_requests.test_context() as agent:
        await agent.put(b"junk", key=b"3", partition=0)
        wrong = (partition_of(user_key(3), 8) + 1) % 8
        await agent.put(encoded("stray", 3), key=user_key(3), partition=wrong)
        await asyncio.sleep(0.1)
    assert len(serving["dead-letters"].call_args_list) == 1
    (moved,) = serving["reco-requests-rerouted"].call_args_list
    assert moved.kwargs["partition"] == partition_of(user_key(3), 8)
    assert responses(serving) == []

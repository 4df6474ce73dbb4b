"""Recommend agent: answers every request on ``reco-requests`` with a full ``RecoResponse``.

Requests are user-keyed, so the user's live row is local. A repeated request id gets the
answer it got before; a bad request gets a 400 response with the reason, not silence.
Every answer, HTTP ones too, goes to ``reco-responses`` (keyed by request id) and is kept in
the ``traces`` table on the user's partition, which the answering worker owns
(``agents.answer_records``); the traces also tell a repeated request id.
"""
from __future__ import annotations

import time
from typing import Any

from agents import topics
from agents.answer_records import RESPONSE, answer_records
from agents.dead_letters import send_dead_letter
from agents.reroute import reroute
from agents.shadow import shadows
from app import app
from app.schema_registry import codec_for
from app.deployment import holder
from app.observability import tracing
from app.exceptions import BadEvent, OversizeEvent
from app.faust_app import worker_id
from app.partitioning import partition_of, user_key
from app.ratelimit import KAFKA
from app.serving import Answer, BadRequest, answer_arm, check_request, response
from app.settings import get_settings
from tables import trace_key, traces, user_history

settings = get_settings()
REQUEST = codec_for("RecoRequest", settings.topic("reco-requests"))
WORKER = worker_id(settings)


def serve(record: dict[str, Any], started: float, partition: int | None = None) -> Answer:
    """The answer to a decoded request from the user's arm; reads the user's rows with no await.

    Given the ``partition`` a Kafka request came on, a repeated request id gets the answer
    traced for it before (HTTP requests get fresh ids, so they pass none). A shadow version,
    when there is one, is queued to score the request after the answer.
    """
    try:
        request = check_request(record)
    except BadRequest as exc:
        return Answer(response(record["request_id"], record["user_id"], record["k"], started,
                               WORKER, status=400, error=str(exc)))
    if partition is not None:
        earlier = traces.row(trace_key(partition, request.request_id))
        if earlier is not None and earlier["response"]["status"] == 200:
            return Answer(earlier["response"], repeat=True)
    routing, state = holder.routing, user_history.get(user_key(request.user_id))
    answered = answer_arm(request, state, routing, WORKER, started)
    if routing is not None and routing.shadow is not None and answered.arm is not None:
        shadows.submit(routing.shadow, request, state, answered.response)
    return answered


async def publish(result: dict[str, Any], headers: tracing.Headers | None = None) -> None:
    """The answer on ``reco-responses`` (with the trace context in ``headers`` when tracing)."""
    await topics.reco_responses.send(key=result["request_id"].encode(), value=RESPONSE.encode(result), headers=headers)


@app.agent(topics.reco_request_sources)
async def answer_requests(stream: Any) -> None:
    """One response per request, in the order the user's requests arrived."""
    async for event in stream.events():
        message, started = event.message, time.perf_counter()
        try:
            if message.value is not None and len(message.value) > settings.max_payload_bytes:
                raise OversizeEvent(f"{len(message.value)} bytes exceeds the {settings.max_payload_bytes}-byte limit")
            record = REQUEST.decode(message.value)
        except BadEvent as exc:
            await send_dead_letter(message, exc)  # no request id to answer to
            continue
        if 0 < record["user_id"]:
            key = user_key(record["user_id"])
            owner = partition_of(key, settings.partitions)
            if owner != message.partition:
                await reroute(topics.reco_requests_rerouted, message, key, owner)
                continue
        if wait := KAFKA.check(record["client_id"]):
            answered = Answer(response(record["request_id"], record["user_id"], record["k"], started, WORKER,
                                       status=429, error=f"client_id {record['client_id'][:64]!r} is over its "
                                                         f"rate limit; retry in {wait:.2f} s"))
        else:
            answered = serve(record, started, message.partition)
        headers = tracing.kafka_answered(message, record, started, topics.reco_responses.get_topic_name())
        answer_records.add(answered.response, record, message.partition, via="kafka", answered=answered)
        await publish(answered.response, headers)

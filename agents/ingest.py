"""The ingest agent: decode and validate watch and rate events, then update the user table.

One agent reads both event types (their client topics and reroute twins, co-partitioned),
so a user whose watch and rating arrive together has the row written once per batch, not
once per type: the user table's changelog was the largest cost per event. The agent takes a
batch of messages, dead-letters the unusable ones with their reason, moves events found on a
partition that does not own their user to the owning partition, and writes each user's
state once. New interactions go on to the item agent, re-keyed by movie, one message per
movie partition and batch; the batch's valid ratings are counted for spam
(``agents.spam.count_ratings``) and its watches matched against served lists
(``agents.conversions``).
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from faust.types import EventT, TopicT

from agents import topics
from agents.conversions import convert_watches
from agents.dead_letters import send_dead_letter
from agents.reroute import origin, reroute
from agents.spam import count_ratings
from app import app
from app.codec import AvroCodec
from app.events import Limits, to_rate, to_watch
from app.exceptions import BadEvent, OversizeEvent, RateLimited
from app.metrics import EVENTS_INGESTED, EVENTS_REPLAYED, EVENTS_REROUTED
from app.partitioning import partition_of, user_key
from app.ratelimit import RATINGS
from app.schema_registry import codec_for
from app.settings import get_settings
from tables import user_history
from tables.history import already_applied, apply_rate, apply_watch, deltas_by_partition, new_user_state

settings = get_settings()
LIMITS = Limits.from_settings(settings)


@dataclass(frozen=True)
class Source:
    """How one event type is decoded, checked, applied and rerouted."""

    name: str
    codec: AvroCodec
    parse: Callable[..., Any]
    apply: Callable[..., Any]
    reroute: TopicT


WATCH = Source("watch", codec_for("WatchEvent", settings.topic("watch")), to_watch, apply_watch,
               topics.watch_rerouted)
RATE = Source("rate", codec_for("RateEvent", settings.topic("rate")), to_rate, apply_rate,
              topics.rate_rerouted)
# The type of an event is the topic it was read from: a rating written to the watch topic
# fails the watch schema and is dead-lettered, as it was when each type had its agent.
SOURCES = {topic: source for source in (WATCH, RATE)
           for topic in (settings.topic(source.name), source.reroute.get_topic_name())}


def read_event(source: Source, value: bytes | None, now_ms: int) -> Any:
    """A valid typed event from raw bytes, or the ``BadEvent`` that says why not."""
    if value is not None and len(value) > settings.max_payload_bytes:
        raise OversizeEvent(f"{len(value)} bytes exceeds the {settings.max_payload_bytes}-byte limit")
    return source.parse(source.codec.decode(value), LIMITS, now_ms)


async def ingest(batch: Sequence[EventT]) -> None:
    """Apply one batch of watch and rate messages to the user table."""
    now_ms = int(time.time() * 1000)
    by_user: dict[bytes, list[tuple[Source, Any, Any]]] = {}
    watches: dict[bytes, list[tuple[Any, Any]]] = {}
    ratings: list[tuple[Any, Any]] = []  # in the order read, as the spam counts' offsets need
    for event in batch:
        message = event.message
        source = SOURCES[message.topic]
        try:
            parsed = read_event(source, message.value, now_ms)
        except BadEvent as exc:
            await send_dead_letter(message, exc)
            continue
        key = user_key(parsed.user_id)
        owner = partition_of(key, settings.partitions)
        if owner != message.partition:
            EVENTS_REROUTED.labels(source.name).inc()
            await reroute(source.reroute, message, key, owner)
            continue
        by_user.setdefault(key, []).append((source, message, parsed))
        if source is WATCH:
            watches.setdefault(key, []).append((message, parsed))
        else:
            ratings.append((message, parsed))

    # Read, change and write every user's row with no await in between: this agent alone
    # writes the rows, and the agents that read them never see a batch half applied.
    applied, replayed = Counter(), Counter()
    deltas, limited = [], []
    for key, items in by_user.items():
        state = user_history.get(key) or new_user_state()
        for source, message, parsed in items:
            stream, offset = origin(message)
            if already_applied(state, stream, offset):
                replayed[source.name] += 1
                continue
            if source is RATE and RATINGS.check(key):
                limited.append(message)
                continue
            delta = source.apply(state, parsed, settings.history_length, settings.user_max_movies)
            state["offsets"][stream] = offset
            applied[source.name] += 1
            if delta is not None:
                deltas.append(delta)
        user_history[key] = state  # assign back: in-place changes never reach the changelog
    for message in limited:
        await send_dead_letter(message, RateLimited(
            f"user over {settings.ratings_per_user_hour} ratings per hour (MOVIE_RECS_RATINGS_PER_USER_HOUR)"))
    for name, count in applied.items():
        EVENTS_INGESTED.labels(name).inc(count)
    for name, count in replayed.items():
        EVENTS_REPLAYED.labels(name).inc(count)
    for partition, values in deltas_by_partition(deltas, settings.partitions).items():
        await topics.item_interactions.send(key=str(values[0]["movie_id"]).encode(), value=values,
                                            partition=partition)
    await convert_watches(watches)  # a watch may convert a list served to its user
    await count_ratings(ratings, now_ms)


@app.agent(topics.event_sources)
async def ingest_events(stream: Any) -> None:
    """Watch minutes and ratings into user histories."""
    async for batch in stream.take_events(settings.batch_size, within=settings.batch_within_s):
        await ingest(batch)

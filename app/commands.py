"""The project's own subcommands of ``movie-recs``: topics, data and the event simulator."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import click
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faust.cli import option
from faust.cli.faust import cli

from app import app
from app.schema_registry import codec_for
from app.kafka_security import client_kwargs
from app.settings import Settings, get_settings

RECORDS = {"watch": "WatchEvent", "rate": "RateEvent", "reco-requests": "RecoRequest"}


async def ensure_topics(settings: Settings) -> list[str]:
    """Create every topic of the app that is missing, table changelogs included; returns the names created.

    Workers create missing topics too, but one that appears after a worker subscribed is
    left out of its assignment until the next metadata refresh (minutes): a table whose
    changelog is missing that way is neither recovered nor routable. So deployments create
    them first.
    """
    from agents.topics import ALL_TOPICS
    import tables  # noqa: F401 - registers the tables whose changelogs are created here

    wanted = {name: (topic.partitions or settings.partitions, dict(topic.config or {}))
              for topic in ALL_TOPICS for name in topic.topics}
    for table in app.tables.values():
        wanted[table.changelog_topic.get_topic_name()] = (
            table.partitions, {"cleanup.policy": "compact", **table.extra_topic_configs})
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        missing = sorted(set(wanted) - set(await admin.list_topics()))
        if missing:
            try:
                await admin.create_topics([NewTopic(n, wanted[n][0], settings.replication_factor,
                                                    topic_configs=wanted[n][1]) for n in missing])
            except TopicAlreadyExistsError:
                pass  # another process created it first: the goal is met
        return missing
    finally:
        await admin.close()


@cli.group()
def topics() -> None:
    """Kafka topics of the app."""


@topics.command("create")
def topics_create() -> None:
    """Create the app's topics that do not exist yet."""
    created = asyncio.run(ensure_topics(get_settings()))
    click.echo(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else ""))


@cli.group()
def data() -> None:
    """Data sets for users: MovieLens downloads."""


@data.command("download")
@click.argument("name", type=click.Choice(["ml-100k", "ml-1m"]))
@click.option("--dest", default="./data/movielens", show_default=True, help="Folder to unpack into.")
def data_download(name: str, dest: str) -> None:
    """Fetch a MovieLens archive from GroupLens and verify its SHA-256."""
    from models.data.download import download

    click.echo(download(name, dest, base_url=get_settings().movielens_url))


def load_source(source: str, seed: int) -> Any:
    """Interactions of ``synthetic`` or of a MovieLens folder."""
    from models.data.movielens import load_interactions
    from models.data.synthetic import generate

    if source == "synthetic":
        return generate(seed=seed)[0]
    return load_interactions(Path(source))


async def produce(settings: Settings, events: Any, rate: float, limit: int) -> dict[str, int]:
    """Send ``events`` (topic, key, value dicts) to Kafka, paced at ``rate`` if positive."""
    from models.data.events import paced

    producer = AIOKafkaProducer(**client_kwargs(settings), linger_ms=10, max_batch_size=262_144)
    await producer.start()
    counts: dict[str, int] = {}
    try:
        stream = paced(events, rate) if rate > 0 else _as_async(events)
        async for topic, key, value in stream:
            await producer.send(settings.topic(topic), codec_for(RECORDS[topic], settings.topic(topic)).encode(value), key=key.encode())
            counts[topic] = counts.get(topic, 0) + 1
            if sum(counts.values()) >= limit > 0:
                break
        await producer.flush()
    finally:
        await producer.stop()
    return counts


async def _as_async(events: Any) -> Any:
    for index, event in enumerate(events):
        if index % 5000 == 0:
            await asyncio.sleep(0)  # let the producer's sender run
        yield event


@app.command(
    option("--data", "source", default="synthetic", show_default=True,
           help="'synthetic' or a MovieLens folder."),
    option("--rate", default=0.0, show_default=True, help="Events per second; 0 = as fast as possible."),
    option("--limit", default=0, show_default=True, help="Stop after this many events; 0 = all."),
    option("--max-minutes", default=3, show_default=True, help="Watch events per viewing at most."),
    option("--request-share", default=0.05, show_default=True, help="Share of events that are requests."),
    option("--spam-users", default=0, show_default=True, help="Inject this many spam accounts."),
    option("--seed", default=0, show_default=True),
    option("--now/--keep-time", default=True, show_default=True,
           help="Shift event times so the stream ends now."),
)
async def simulate(self: Any, source: str, rate: float, limit: int, max_minutes: int,
                   request_share: float, spam_users: int, seed: int, now: bool) -> None:
    """Produce a realistic stream of watch, rate and request events to Kafka."""
    from models.data.events import build_stream

    settings = get_settings()
    interactions = load_source(source, seed)
    if now:
        interactions = interactions.assign(
            ts=interactions["ts"] + (int(time.time() * 1000) - int(interactions["ts"].max())))
    stream = build_stream(interactions, seed=seed, max_minutes=max_minutes,
                          request_share=request_share, spam_users=spam_users)
    await ensure_topics(settings)
    started = time.monotonic()
    counts = await produce(settings, stream, rate, limit)
    seconds = time.monotonic() - started
    total = sum(counts.values())
    self.say(f"sent {total} events in {seconds:.1f}s ({total / max(seconds, 1e-9):,.0f}/s): {counts}"
             + (f"; spam users {sorted(stream.spammers)}" if stream.spammers else ""))

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
from app.console import async_command
from app.kafka_errors import kafka_errors
from app.catalog.loader import catalog_records, publish as publish_catalog
from app.schema_registry import codec_for
from app.kafka_security import client_kwargs
from app.settings import Settings, get_settings
from app.topic_listing import wait_listed

RECORDS = {"watch": "WatchEvent", "rate": "RateEvent", "reco-requests": "RecoRequest"}


async def ensure_topics(settings: Settings) -> list[str]:
    """Create every topic of the app that is missing, table changelogs included; returns the names created.

    Workers create missing topics too, but one that appears after a worker subscribed is
    left out of its assignment until the next metadata refresh (minutes): a table whose
    changelog is missing that way is neither recovered nor routable. So deployments create
    them first, and this returns only once the metadata lists them (``app.topic_listing``).
    """
    from agents.topics import ALL_TOPICS
    import tables  # noqa: F401 - registers the tables whose changelogs are created here
    import tables.catalog  # noqa: F401 - the global catalog table

    wanted = {name: (topic.partitions or settings.partitions,
                     {**({"cleanup.policy": "compact"} if topic.compacting else {}), **dict(topic.config or {})})
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
            await wait_listed(admin, missing, settings.startup_probe_timeout_s)
        return missing
    finally:
        await admin.close()


# Faust's `models` and `model` list faust.Record classes, not recommenders (`registry list`
# does); its `agents` fails on agents that read several topics. Ours lists them instead.
for _faust_command in ("models", "model", "agents"):
    cli.commands.pop(_faust_command, None)


@cli.command("agents")
def agents() -> None:
    """The stream processors of a worker, the topics each reads, and what it does."""
    app.discover()
    for agent in sorted(app.agents.values(), key=lambda a: a.name.rsplit(".", 1)[-1]):
        names = sorted(agent.channel.topics) if hasattr(agent.channel, "topics") else [str(agent.channel)]
        click.echo(f"{agent.name.rsplit('.', 1)[-1]:<24} {', '.join(names):<48} {(agent.help or '').strip()}")


@cli.group()
def topics() -> None:
    """Kafka topics of the app."""


@topics.command("create")
def topics_create() -> None:
    """Create the app's topics that do not exist yet."""
    settings = get_settings()
    with kafka_errors(settings):
        created = asyncio.run(ensure_topics(settings))
    click.echo(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else ""))


@cli.group()
def data() -> None:
    """Data sets for users: MovieLens downloads."""


@data.command("download")
@click.argument("name", type=click.Choice(["ml-100k", "ml-1m"]))
@click.option("--dest", default="./data/movielens", show_default=True, help="Folder to unpack into.")
def data_download(name: str, dest: str) -> None:
    """Fetch a MovieLens archive from GroupLens and verify its SHA-256."""
    from models.data.download import ChecksumError, download

    base_url = get_settings().movielens_url
    try:
        folder = download(name, dest, base_url=base_url)
    except (OSError, ChecksumError) as exc:  # no network, a proxy's error page, a bad mirror
        raise click.ClickException(
            f"could not download {name} from {base_url} ({exc}); without network, unpack the archive "
            f"into {dest}/{name} yourself, or set MOVIE_RECS_MOVIELENS_URL to a mirror") from None
    click.echo(folder)
    click.echo(f"next: movie-recs catalog load {folder}   and   movie-recs simulate --data {folder}", err=True)


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


@async_command(
    option("--data", "source", default="synthetic", show_default=True,
           help="'synthetic' or a MovieLens folder."),
    option("--rate", default=0.0, show_default=True, help="Events per second; 0 = as fast as possible."),
    option("--limit", default=0, show_default=True, help="Stop after this many events; 0 = all."),
    option("--max-minutes", default=3, show_default=True, help="Watch events per viewing at most."),
    option("--request-share", default=0.05, show_default=True, help="Share of events that are requests."),
    option("--spam-users", default=0, show_default=True, help="Inject this many spam accounts."),
    option("--spam-burst", default=300, show_default=True, help="Ratings each spam account sends in its hour."),
    option("--seed", default=0, show_default=True),
    option("--now/--keep-time", default=True, show_default=True,
           help="Shift event times so the stream ends now."),
    option("--closed-loop", is_flag=True, default=False,
           help="Instead of producing events: the offline feedback-loop simulation (models.simulation)."),
    option("--days", default=30, show_default=True, help="Closed loop: simulated days."),
    option("--retrain-every", default=3, show_default=True, help="Closed loop: days between retrainings."),
    option("--strategies", default="", help="Closed loop: ';'-separated re-ranker specs (default: each one)."),
    option("--smoke", is_flag=True, default=False, help="Closed loop: a tiny run (CI)."),
    option("--out", default="docs/figures", show_default=True, help="Closed loop: where the table and plots go."),
)
async def simulate(source: str, rate: float, limit: int, max_minutes: int,
                   request_share: float, spam_users: int, spam_burst: int, seed: int, now: bool,
                   closed_loop: bool, days: int, retrain_every: int, strategies: str, smoke: bool, out: str) -> None:
    """Produce a realistic stream of watch, rate and request events to Kafka (or run the closed loop)."""
    if closed_loop:
        from app.simulation_cli import run_closed_loop_command

        click.echo(run_closed_loop_command(source, seed, days, retrain_every, strategies, smoke, Path(out)))
        return
    from models.data.events import build_stream

    settings = get_settings()
    interactions = load_source(source, seed)
    if now:
        interactions = interactions.assign(
            ts=interactions["ts"] + (int(time.time() * 1000) - int(interactions["ts"].max())))
    stream = build_stream(interactions, seed=seed, max_minutes=max_minutes,
                          request_share=request_share, spam_users=spam_users, spam_burst=spam_burst)
    await ensure_topics(settings)
    movies = await publish_catalog(settings, catalog_records(source, seed))
    started = time.monotonic()
    counts = await produce(settings, stream, rate, limit)
    seconds = time.monotonic() - started
    total = sum(counts.values())
    click.echo(f"sent {movies} movies to the catalog and {total} events in {seconds:.1f}s "
             f"({total / max(seconds, 1e-9):,.0f}/s): {counts}"
             + (f"; spam users {sorted(stream.spammers)}" if stream.spammers else ""))

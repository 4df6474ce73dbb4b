"""``movie-recs snapshots``: list the Parquet snapshots, print a manifest, replay a range into Kafka."""
from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import click
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faust.cli.faust import cli

from app.codec import AvroCodec
from app.console import run
from app.kafka_security import client_kwargs
from app.partitioning import user_key
from app.settings import Settings, get_settings
from app.snapshots import Manifest, SnapshotRange, build_manifest, read_snapshot
from app.snapshots.compaction import Policy, Report, compact
from app.storage import open_store

TOPICS = ("watch", "rate")
LIVE_SOURCES = {"watch", "rate", "watch-rerouted", "rate-rerouted"}
"""Topics the ingest agent reads: a replay into one doubles its events."""
CODECS = {"watch": AvroCodec("WatchEvent"), "rate": AvroCodec("RateEvent")}
TIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


async def manifest_of(settings: Settings, span: SnapshotRange) -> Manifest:
    """The manifest of ``span`` in the configured snapshot store (every file read and hashed)."""
    async with open_store(settings.snapshots, settings) as store:
        return await build_manifest(store, span)


def render(manifest: Manifest) -> str:
    """A manifest as a table a person reads: one line per file, then the totals and the id."""
    lines = [f"{'key':<86} {'rows':>9} {'offsets':>25} {'sha256':>12}"]
    for entry in manifest.files:
        offsets = f"{entry.first_offset}-{entry.last_offset}"
        lines.append(f"{entry.key:<86} {entry.rows:>9} {offsets:>25} {entry.sha256[:12]:>12}")
    for skip in manifest.skipped:
        lines.append(f"skipped {skip.key}: {skip.reason}")
    lines.append(f"{len(manifest.files)} files, {manifest.rows} rows, {manifest.size} bytes")
    lines.append(f"data_snapshot_id {manifest.snapshot_id}")
    return "\n".join(lines)


def echo_manifest(manifest: Manifest, as_json: bool) -> None:
    click.echo(manifest.to_json() if as_json else render(manifest))


topic_option = click.option("--topic", "topics", multiple=True, type=click.Choice(TOPICS),
                            help="Only this topic (repeatable); both by default.")
json_option = click.option("--json", "as_json", is_flag=True, help="The manifest as JSON, for machines.")


@cli.group()
def snapshots() -> None:
    """Parquet snapshots of the watch and rate events (DESIGN §5)."""


@snapshots.command("list")
@topic_option
@json_option
def snapshots_list(topics: tuple[str, ...], as_json: bool) -> None:
    """Every snapshot file: rows, offset range, content hash; corrupt or foreign files are skipped."""
    span = SnapshotRange(topics=topics or TOPICS)
    echo_manifest(asyncio.run(manifest_of(get_settings(), span)), as_json)


@snapshots.command("manifest")
@click.option("--since", type=click.DateTime(TIME_FORMATS), help="From this UTC time (hour of the files).")
@click.option("--until", type=click.DateTime(TIME_FORMATS), help="Up to this UTC time, exclusive.")
@topic_option
@json_option
def snapshots_manifest(since: datetime | None, until: datetime | None, topics: tuple[str, ...],
                       as_json: bool) -> None:
    """The manifest of the files whose hour overlaps [since, until); its id is the data_snapshot_id."""
    span = SnapshotRange(topics=topics or TOPICS, since=_utc(since), until=_utc(until))
    echo_manifest(asyncio.run(manifest_of(get_settings(), span)), as_json)


async def compact_all(settings: Settings, topics: tuple[str, ...], min_age_s: float) -> list[Report]:
    """Compact the closed files of ``topics`` in the configured store (every partition)."""
    policy = Policy.at(int(time.time() * 1000), min_age_s, settings.snapshot_compact_target_bytes,
                       settings.snapshot_compact_max_hours)
    async with open_store(settings.snapshots, settings) as store:
        return [await compact(store, topic, policy) for topic in topics]


@snapshots.command("compact")
@topic_option
@click.option("--min-age-hours", type=float, default=None,
              help="Merge files whose span ended this long ago; default MOVIE_RECS_SNAPSHOT_COMPACT_MIN_AGE_S.")
def snapshots_compact(topics: tuple[str, ...], min_age_hours: float | None) -> None:
    """Merge each partition's consecutive closed files into larger ones (safe beside running workers)."""
    settings = get_settings()
    min_age_s = settings.snapshot_compact_min_age_s if min_age_hours is None else min_age_hours * 3600
    for report in asyncio.run(compact_all(settings, topics or TOPICS, min_age_s)):
        click.echo(json.dumps({"topic": report.topic, "files_before": report.files_before,
                               "files_after": report.files_after, "merged": len(report.merged),
                               "deleted": report.deleted, "failed": report.failed}))


async def ensure_topic(settings: Settings, name: str) -> None:
    """Create ``name`` with the user-keyed partition count if it is missing, so users keep their partition."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        if name not in await admin.list_topics():
            await admin.create_topics([NewTopic(name, settings.partitions, settings.replication_factor)])
    except TopicAlreadyExistsError:
        pass  # created meanwhile: the goal is met
    finally:
        await admin.close()


async def replay(settings: Settings, topic: str, to_topic: str, since: datetime | None,
                 until: datetime | None) -> tuple[int, str]:
    """Send the events of ``topic`` with ``since <= ts < until`` to ``to_topic``: (count, snapshot id).

    Events go out in Kafka order within each source partition, keyed by user, so Kafka's
    murmur2 partitioner puts each user's events on one partition, in order.
    """
    span = SnapshotRange(topics=(topic,), since=since, until=until)
    async with open_store(settings.snapshots, settings) as store:
        snapshot = await read_snapshot(store, span)
    table = snapshot.tables[topic].sort_by([("partition", "ascending"), ("offset", "ascending")])
    columns = [name for name in table.column_names if name not in ("partition", "offset")]
    low = None if since is None else int(since.timestamp() * 1000)
    high = None if until is None else int(until.timestamp() * 1000)
    codec = CODECS[topic]
    await ensure_topic(settings, settings.topic(to_topic))
    producer = AIOKafkaProducer(**client_kwargs(settings), linger_ms=10, acks="all")
    await producer.start()
    sent = 0
    try:
        pending = []
        for row in table.select(columns).to_pylist():
            if (low is not None and row["ts"] < low) or (high is not None and row["ts"] >= high):
                continue  # files are hour-grained and hold late events up to the grace
            pending.append(await producer.send(settings.topic(to_topic), codec.encode(row),
                                               key=user_key(row["user_id"])))
            sent += 1
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent, snapshot.manifest.snapshot_id


@snapshots.command("replay")
@click.option("--since", type=click.DateTime(TIME_FORMATS), help="Events from this UTC time.")
@click.option("--until", type=click.DateTime(TIME_FORMATS), help="Events before this UTC time.")
@click.option("--topic", required=True, type=click.Choice(TOPICS), help="Which events to replay.")
@click.option("--to-topic", required=True,
              help="Logical topic to publish to (the topic prefix is added), e.g. watch-backfill.")
@click.option("--force", is_flag=True, help="Allow a topic the workers ingest (its events would count twice).")
def snapshots_replay(since: datetime | None, until: datetime | None, topic: str, to_topic: str, force: bool) -> None:
    """Re-publish the snapshotted events of a time range into a topic, for backfills."""
    if to_topic in LIVE_SOURCES and not force:
        raise click.ClickException(
            f"{to_topic} is a topic the workers ingest: replaying into it counts these events a second time "
            "(histories, trending, snapshots). Replay into a topic of its own (e.g. --to-topic "
            f"{topic}-backfill), or pass --force if doubling is what you want")
    settings = get_settings()
    sent, snapshot_id = run(replay(settings, topic, to_topic, _utc(since), _utc(until)))
    summary: dict[str, Any] = {"topic": topic, "to_topic": settings.topic(to_topic), "events": sent,
                               "data_snapshot_id": snapshot_id}
    click.echo(json.dumps(summary))

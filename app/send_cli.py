"""``movie-recs send watch|rate|request``: one correctly framed event from the shell.

Each builds the Avro record, frames it (Confluent wire format, the bundled or registry
schema id) and sends it keyed by user, so Kafka's murmur2 partitioner puts it on the
user's partition. ``--to-file`` writes the framed bytes instead, with the kcat line that
sends them (kcat: ``apt-get install kcat``).
"""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import click
from aiokafka import AIOKafkaProducer
from faust.cli.faust import cli

from app.console import run
from app.kafka_security import client_kwargs
from app.partitioning import user_key
from app.schema_registry import codec_for
from app.settings import get_settings

cli.commands.pop("send", None)  # Faust's own `send` posts raw values to an agent: not our framing


def kcat_line(topic: str, user_id: int, path: Path) -> str:
    """The kcat command that sends the framed bytes in ``path`` exactly as ``send`` would."""
    return (f"kcat -P -b {get_settings().kafka_bootstrap.split(',')[0]} -t {topic} -k {user_id} "
            f"-X partitioner=murmur2_random {path}")


async def _send(topic: str, key: bytes, value: bytes) -> dict[str, Any]:
    producer = AIOKafkaProducer(**client_kwargs(get_settings()), acks="all", request_timeout_ms=15_000)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()
    return {"topic": topic, "partition": meta.partition, "offset": meta.offset}


def emit(logical: str, record_name: str, record: dict[str, Any], to_file: Path | None) -> None:
    """Send ``record`` (or write it framed to ``to_file``) and say what happened, as JSON."""
    settings = get_settings()
    topic = settings.topic(logical)
    value = codec_for(record_name, topic).encode(record)
    if to_file is not None:
        to_file.write_bytes(value)
        click.echo(json.dumps({"file": str(to_file), "bytes": len(value), "record": record}))
        click.echo(kcat_line(topic, record["user_id"], to_file))
        return
    click.echo(json.dumps({**run(_send(topic, user_key(record["user_id"]), value)), "record": record}))


@cli.group()
def send() -> None:
    """Send one event (watch, rate, request) to Kafka, framed as the workers read it."""


to_file_option = click.option("--to-file", type=click.Path(dir_okay=False, path_type=Path),
                              help="Write the framed bytes here and print the kcat line, instead of sending.")
ts_option = click.option("--ts", type=int, default=None, help="Event time in epoch ms (default: now).")


def _now(ts: int | None) -> int:
    return int(time.time() * 1000) if ts is None else ts


@send.command("watch")
@click.option("--user", "user_id", type=int, required=True)
@click.option("--movie", "movie_id", type=int, required=True)
@click.option("--minute", type=int, default=0, show_default=True, help="Minute of the movie being streamed.")
@ts_option
@to_file_option
def send_watch(user_id: int, movie_id: int, minute: int, ts: int | None, to_file: Path | None) -> None:
    """One minute of a movie watched by a user."""
    emit("watch", "WatchEvent", {"ts": _now(ts), "user_id": user_id, "movie_id": movie_id, "minute": minute}, to_file)


@send.command("rate")
@click.option("--user", "user_id", type=int, required=True)
@click.option("--movie", "movie_id", type=int, required=True)
@click.option("--rating", type=int, required=True, help="1 to 5 stars.")
@ts_option
@to_file_option
def send_rate(user_id: int, movie_id: int, rating: int, ts: int | None, to_file: Path | None) -> None:
    """A user's rating of a movie."""
    emit("rate", "RateEvent", {"ts": _now(ts), "user_id": user_id, "movie_id": movie_id, "rating": rating}, to_file)


@send.command("request")
@click.option("--user", "user_id", type=int, required=True)
@click.option("--k", type=int, default=10, show_default=True)
@click.option("--request-id", default=None, help="Idempotency key (default: a new one); the answer goes to reco-responses.")
@to_file_option
def send_request(user_id: int, k: int, request_id: str | None, to_file: Path | None) -> None:
    """A recommendation request; read the answer from reco-responses or GET /trace/{request_id}."""
    emit("reco-requests", "RecoRequest", {"request_id": request_id or uuid.uuid4().hex, "ts": _now(None),
                                          "user_id": user_id, "k": k, "client_id": "cli", "exclude": []}, to_file)

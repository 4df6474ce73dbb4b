"""``movie-recs users clear ID``: lift a user's spam quarantine from the command line."""
from __future__ import annotations

import asyncio

import click
from aiokafka import AIOKafkaProducer
from faust.cli.faust import cli

from app.kafka_security import client_kwargs
from app.partitioning import user_key
from app.schema_registry import codec_for
from app.settings import Settings, get_settings
from app.spam.quarantine import cleared_record


async def publish_cleared(settings: Settings, user_id: int) -> None:
    """Put a ``cleared`` flag for ``user_id`` on ``user-flags``; workers and training fold it in."""
    topic = settings.topic("user-flags")
    producer = AIOKafkaProducer(**client_kwargs(settings), request_timeout_ms=10_000)
    await asyncio.wait_for(producer.start(), 15)
    try:
        await producer.send_and_wait(topic, codec_for("UserFlag", topic).encode(cleared_record(user_id)),
                                     key=user_key(user_id))
    finally:
        await producer.stop()


@cli.group()
def users() -> None:
    """Users of the app: spam quarantine."""


@users.command("clear")
@click.argument("user_id", type=click.IntRange(1, 2**31 - 1))
def users_clear(user_id: int) -> None:
    """Clear USER_ID's spam flag (publishes a ``cleared`` UserFlag)."""
    asyncio.run(publish_cleared(get_settings(), user_id))
    click.echo(f"cleared user {user_id}")

"""One clear message, instead of a traceback, when a CLI command cannot reach Kafka."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from app.settings import Settings
from app.topic_listing import TopicsNotListed

HINT = ("start the local broker with `bash docker/kafka/local-kafka.sh start`, "
        "or point MOVIE_RECS_KAFKA_BOOTSTRAP at yours")


def unreachable_message(settings: Settings, exc: BaseException) -> str:
    """What a user reads: which address failed, and how to get a broker there."""
    return f"cannot reach Kafka at {settings.kafka_bootstrap} ({type(exc).__name__}: {exc}); {HINT}"


@contextmanager
def kafka_errors(settings: Settings) -> Iterator[None]:
    """Turn "no broker there" (or topics it never listed) into a ``click.ClickException`` that says so."""
    try:
        yield
    except BrokenPipeError:
        raise  # our own stdout closed (`| head`), not the broker
    except (KafkaConnectionError, KafkaTimeoutError, ConnectionError) as exc:
        raise click.ClickException(unreachable_message(settings, exc)) from None
    except TopicsNotListed as exc:
        raise click.ClickException(f"{exc} (MOVIE_RECS_STARTUP_PROBE_TIMEOUT_S); the brokers may be overloaded") from None

"""Shared fixtures: a Faust app in test mode, and the real Kafka broker for integration tests."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator
from unittest.mock import AsyncMock

import pytest

REPO = Path(__file__).resolve().parents[1]
ML100K = REPO.parent / "shared" / "data" / "ml-100k"


@pytest.fixture
def faust_test_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, AsyncMock]]:
    """The module-level app ready for ``agent.test_context()``; outbound sends are captured.

    Returns the send mocks by topic name (``dead-letters``, ``item-interactions``, ...).
    """
    from agents import topics
    from app import app

    app.finalize()
    app.flow_control.resume()
    sends = {}
    for topic in (topics.dead_letters, topics.item_interactions, topics.watch_rerouted,
                  topics.rate_rerouted, topics.watch, topics.rate, topics.reco_responses,
                  topics.reco_requests_rerouted, topics.spam_summaries, topics.conversions):
        mock = AsyncMock()
        monkeypatch.setattr(topic, "send", mock)
        sends[topic.get_topic_name()] = mock
    from tables import item_stats, traces, user_history
    for table in (user_history, item_stats, traces):
        table.data.clear()
    traces.expire(2**62)  # and forget the order rows were written in
    yield sends


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The local broker; integration tests never skip silently under CI."""
    bootstrap = os.environ.get("MOVIE_RECS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    from tests.kafka_tools import broker_answers

    if not broker_answers(bootstrap):
        if os.environ.get("CI"):
            pytest.fail(f"Kafka at {bootstrap} does not answer (docker/kafka/local-kafka.sh start)")
        pytest.skip(f"Kafka at {bootstrap} does not answer; start it with docker/kafka/local-kafka.sh start")
    return bootstrap

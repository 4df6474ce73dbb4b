"""``movie-recs send`` against the real broker: the event lands framed, on its user's partition."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid

import pytest

from app.codec import AvroCodec
from app.partitioning import partition_of, user_key
from tests.kafka_tools import REPO, create_topics, read_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


def test_send_watch_lands_on_the_users_partition(kafka_bootstrap: str) -> None:
    prefix = f"t-send-{uuid.uuid4().hex[:8]}-"
    asyncio.run(create_topics(kafka_bootstrap, [prefix + "watch"], 8))
    done = subprocess.run([sys.executable, "-m", "app.cli", "send", "watch", "--user", "42", "--movie", "7"],
                          cwd=REPO, env={**os.environ, "MOVIE_RECS_KAFKA_BOOTSTRAP": kafka_bootstrap,
                                         "MOVIE_RECS_TOPIC_PREFIX": prefix},
                          capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    (record,) = asyncio.run(read_all(kafka_bootstrap, prefix + "watch"))
    assert record.partition == said["partition"] == partition_of(user_key(42), 8) and record.key == b"42"
    event = AvroCodec("WatchEvent").decode(record.value)
    assert (event["user_id"], event["movie_id"], event["minute"]) == (42, 7, 0)

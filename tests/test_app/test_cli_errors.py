"""What a user sees when something is missing: one clear line and exit 1, never a traceback."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.codec import AvroCodec
from app.registry import Registry
from app.storage import FileStore
from models.data.synthetic import generate
from models.training import train
from tests.conftest import REPO

pytestmark = pytest.mark.timeout(120)
NO_BROKER = {"MOVIE_RECS_KAFKA_BOOTSTRAP": "127.0.0.1:1"}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=100)


def assert_clear_error(done: subprocess.CompletedProcess, *phrases: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert any(all(p in line for p in phrases) for line in done.stderr.splitlines()), done.stderr


@pytest.mark.parametrize("args", [("topics", "create"), ("simulate", "--limit", "10"),
                                  ("catalog", "load", "synthetic")])
def test_unreachable_kafka_names_the_address_and_how_to_start_a_broker(args: tuple[str, ...]) -> None:
    assert_clear_error(cli(*args, env=NO_BROKER), "127.0.0.1:1", "local-kafka.sh start")


def test_download_without_network_says_what_to_do(tmp_path: Path) -> None:
    done = cli("data", "download", "ml-100k", "--dest", str(tmp_path),
               env={"MOVIE_RECS_MOVIELENS_URL": "http://127.0.0.1:1/"})
    assert_clear_error(done, "could not download ml-100k from http://127.0.0.1:1/", "MOVIE_RECS_MOVIELENS_URL")


def test_train_on_an_empty_snapshot_range_says_where_snapshots_come_from(tmp_path: Path) -> None:
    done = cli("train", "--model", "popularity", env={"MOVIE_RECS_SNAPSHOTS": f"file://{tmp_path}/none",
                                                       "MOVIE_RECS_REGISTRY": f"file://{tmp_path}/reg"})
    assert_clear_error(done, "no snapshot files", "movie-recs worker", "--data synthetic")


def test_evaluate_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    frame, _ = generate(n_users=60, n_movies=80, n_interactions=1500, seed=1)
    result = train("popularity", frame, tune=False, progress=False)
    asyncio.run(Registry(FileStore(tmp_path)).register(result.bundle, {**result.model_card(), "git_sha": "x",
                                                                       "data_snapshot_id": "y"}))
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "evaluate", "--json"], cwd=REPO,
                            env={**os.environ, "MOVIE_RECS_REGISTRY": f"file://{tmp_path}"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # as `| head` does once it has what it wants
    _, err = proc.communicate(timeout=100)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
    assert proc.returncode == 0


def test_faust_record_commands_are_gone_and_agents_lists_multi_topic_agents() -> None:
    assert cli("models").returncode == 2 and cli("model", "x").returncode == 2
    listed = cli("agents")
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[0] == "ingest_events"
               and "rate, rate-rerouted, watch, watch-rerouted" in line for line in listed.stdout.splitlines())


def test_send_writes_the_framed_event_and_the_kcat_line(tmp_path: Path) -> None:
    path = tmp_path / "watch.bin"
    done = cli("send", "watch", "--user", "42", "--movie", "7", "--ts", "1704067200000", "--to-file", str(path))
    assert done.returncode == 0, done.stderr
    assert AvroCodec("WatchEvent").decode(path.read_bytes()) == {"ts": 1704067200000, "user_id": 42,
                                                                 "movie_id": 7, "minute": 0}
    assert done.stdout.splitlines()[-1].startswith("kcat -P -b ")
    assert "-t watch -k 42 -X partitioner=murmur2_random" in done.stdout.splitlines()[-1]


def test_replay_into_a_live_source_topic_needs_force() -> None:
    done = cli("snapshots", "replay", "--topic", "watch", "--to-topic", "watch")
    assert_clear_error(done, "counts these events a second time", "--force")

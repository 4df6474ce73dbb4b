"""Retraining: the train pipeline on recent snapshots, quarantined users left out, the gate, a canary."""
from __future__ import annotations

import time

import pytest

from app.registry import Registry
from app.retrain import RetrainResult, excluded_users, parse_result, result_line, retrain
from app.rollout.state import Canary, RolloutState, Traffic
from app.settings import Settings
from app.snapshots import SnapshotSink
from app.storage import FileStore
from models.data.synthetic import generate
from models.training import train

pytestmark = pytest.mark.timeout(300)
QUARANTINED = frozenset({3, 4, 5})


def quarantined(settings: Settings) -> frozenset[int]:
    """The quarantine hook as ``MOVIE_RECS_QUARANTINE_SOURCE`` names it."""
    return QUARANTINED


async def quarantined_later(settings: Settings) -> list[int]:
    return [7]


@pytest.fixture(scope="module")
def frame():
    return generate(n_users=120, n_movies=150, n_interactions=3_000, seed=5)[0]


@pytest.fixture
async def deployment(tmp_path, frame) -> Settings:
    """Snapshots of the last two days and a production ALS version with the given card figures."""
    snapshots, registry = FileStore(tmp_path / "snapshots"), Registry(FileStore(tmp_path / "registry"))
    now = int(time.time() * 1000)
    span = frame["ts"].max() - frame["ts"].min()
    sink = SnapshotSink(snapshots)
    for offset, row in enumerate(frame.sort_values("ts").itertuples()):
        ts = now - 2 * 86_400_000 + int((row.ts - frame["ts"].min()) / span * 86_400_000)
        await sink.add("watch", 0, offset, {"ts": ts, "user_id": int(row.user_id), "movie_id": int(row.movie_id),
                                             "minute": 0})
    await sink.flush("watch", 0)
    result = train("als", frame, tune=False, progress=False, refit_all=True)
    card = {**result.model_card(), "git_sha": "s", "data_snapshot_id": "d"}
    version = await registry.register(result.bundle, card)
    await registry.promote("als", version, max_regression=1.0)
    return Settings(registry=f"file://{tmp_path / 'registry'}", snapshots=f"file://{tmp_path / 'snapshots'}",
                    serve_model="als", retrain_canary_percent=15, promote_max_regression=1.0,
                    quarantine_source="tests.test_rollout.test_retrain:quarantined")


async def test_a_retrained_version_that_passes_the_gate_starts_as_a_canary(deployment: Settings) -> None:
    published = []

    async def publish(record: dict) -> None:
        published.append(record)
    result = await retrain(deployment, RolloutState(), publish)
    assert result.outcome == "canary", result
    (event,) = published
    assert (event["action"], event["percent"], event["model_version"]) == ("canary", 15, result.model_version)
    assert "3 users excluded" in event["reason"] and event["actor"] == "retrain"
    bundle, card = await Registry(FileStore(deployment.registry[len("file://"):])).load("als", result.model_version)
    assert not any(bundle.knows_user(user) for user in QUARANTINED) and bundle.knows_user(10)
    assert card["data_snapshot_id"] != "d", "trained on the snapshots"


async def test_a_gated_or_skipped_run_publishes_nothing(deployment: Settings) -> None:
    published = []

    async def publish(record: dict) -> None:
        published.append(record)
    strict = deployment.model_copy(update={"promote_max_regression": -1.0})  # nothing can pass
    gated = await retrain(strict, RolloutState(), publish)
    assert gated.outcome == "gated" and "regresses" in gated.reason
    busy = RolloutState({"als": Traffic(stable="x", canary=Canary("als", "y", 5, 1))})
    assert (await retrain(deployment, busy, publish)).outcome == "skipped"
    nothing = deployment.model_copy(update={"serve_model": "itemcf"})
    skipped = await retrain(nothing, RolloutState(), publish)
    assert skipped.outcome == "skipped" and "no production" in skipped.reason
    assert published == []


async def test_quarantine_sources_and_the_result_line() -> None:
    assert await excluded_users(Settings()) == frozenset()
    later = Settings(quarantine_source="tests.test_rollout.test_retrain:quarantined_later")
    assert await excluded_users(later) == {7}
    result = RetrainResult("gated", "als", "v2", "why", 1.5)
    assert parse_result(["noise", result_line(result)], "als", 0) == result
    assert parse_result(["Traceback"], "als", 1).outcome == "failed"


def test_the_schedule_defaults_to_monday_and_thursday_0530_utc_and_a_bad_one_is_refused() -> None:
    from datetime import datetime, timezone

    from croniter import croniter

    runs = croniter(Settings().retrain_crontab, datetime(2024, 1, 1, tzinfo=timezone.utc))
    times = [runs.get_next(datetime) for _ in range(3)]
    assert [(t.strftime("%a"), t.hour, t.minute) for t in times] == [("Mon", 5, 30), ("Thu", 5, 30), ("Mon", 5, 30)]
    with pytest.raises(ValueError, match="cron"):
        Settings(retrain_crontab="every monday")
    assert Settings(retrain_crontab="").retrain_crontab == ""

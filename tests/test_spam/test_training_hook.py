"""Training on snapshots leaves out the users in quarantine and says so in its data manifest."""
import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

import app.snapshots
import app.spam.quarantine
from app.model_cli import load_training_data
from app.settings import Settings


def test_quarantined_users_are_left_out_of_training(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    watch = pd.DataFrame({"user_id": [1, 2, 9], "movie_id": [10, 10, 10], "ts": [1, 2, 3]})
    rate = pd.DataFrame({"user_id": [1, 9, 9], "movie_id": [11, 11, 12], "ts": [4, 5, 6], "rating": [4, 5, 5]})
    manifest = SimpleNamespace(files=["f"], to_json=lambda: json.dumps({"snapshot_id": "sha256:files"}))
    snapshot = SimpleNamespace(manifest=manifest, frame=lambda topic: {"watch": watch, "rate": rate}[topic])

    async def read_snapshot(store, span):
        return snapshot

    async def quarantined(settings):
        return frozenset(quarantine)

    monkeypatch.setattr(app.snapshots, "read_snapshot", read_snapshot)
    monkeypatch.setattr(app.spam.quarantine, "quarantined_users", quarantined)
    settings = Settings(snapshots=f"file://{tmp_path}")
    quarantine: set[int] = set()
    plain = asyncio.run(load_training_data(settings, "", None, None))
    quarantine.add(9)
    cleaned = asyncio.run(load_training_data(settings, "", None, None))
    assert set(plain.frame["user_id"]) == {1, 2, 9} and len(plain.frame) == 6
    assert set(cleaned.frame["user_id"]) == {1, 2} and len(cleaned.frame) == 3
    assert "excluded_users" not in plain.manifest and plain.snapshot_id == "sha256:files"
    assert cleaned.manifest["excluded_users"] == [9]
    assert cleaned.snapshot_id.startswith("sha256:") and cleaned.snapshot_id != plain.snapshot_id

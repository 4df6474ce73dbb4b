"""The trainer's command line on MovieLens-100K: train all four, register, evaluate as JSON."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ML100K, REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def run_cli(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=580)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_train_all_then_evaluate_json(tmp_path: Path) -> None:
    env = {"MOVIE_RECS_REGISTRY": f"file://{tmp_path / 'registry'}", "MOVIE_RECS_DATA_DIR": str(tmp_path),
           "MOVIE_RECS_TOPIC_PREFIX": f"t-cli-{tmp_path.name}-"}  # its register events stay out of others' way
    run_cli("train", "--model", "all", "--data", str(ML100K), "--no-tune", "--epochs", "2", env=env)
    rows = [json.loads(line) for line in run_cli("evaluate", "--json", env=env).splitlines()]
    assert {(r["model"], r["protocol"]) for r in rows} == {
        (m, p) for m in ("popularity", "itemcf", "als", "ncf") for p in ("full", "sampled-100", "sampled-1000")}
    full = {r["model"]: r for r in rows if r["protocol"] == "full"}
    assert abs(full["popularity"]["hr@10"] - 0.050) < 0.01  # the published most-popular anchor
    for name in ("itemcf", "als", "ncf"):
        assert full[name]["hr@10"] > full["popularity"]["hr@10"] * 1.4, name
    listing = run_cli("registry", "list", env=env)
    assert listing.count("ndcg@10") == 4
    card = json.loads(run_cli("registry", "show", "als", env=env))
    assert card["data_snapshot_id"].startswith("sha256:") and len(card["git_sha"]) >= 7
    # The gate's numbers, measured on this card's own split in the same run.
    assert card["baselines"]["popularity"]["ndcg@10"] == pytest.approx(full["popularity"]["ndcg@10"])
    assert card["baselines"]["production"] is None

"""The model-memory benchmark runs at its CI smoke size and measures something."""
from __future__ import annotations

import json

import pytest

from bench.model_memory import main

pytestmark = pytest.mark.timeout(300)


def test_smoke_run_measures_each_model(capsys) -> None:
    report = main(["--smoke"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == report
    assert [row["model"] for row in report["models"]] == ["popularity", "als"]
    for row in report["models"]:
        assert row["arrays_bytes"] > 10_000 and row["first_load_rss_bytes"] > 0

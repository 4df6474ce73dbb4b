"""The fairness report: files written, non-empty, and the summary's numbers are the JSON's."""
import json
import re

import pytest

from models.fairness import Catalog
from models.fairness.report import FIGURES, build_report, served, write_report

HOUR = 3_600_000
CATALOG = Catalog.from_popularity({m: 100 - m for m in range(1, 21)})  # head: movies 1..4


def responses() -> list[dict]:
    out = [{"ts": HOUR * (i // 5), "status": 200, "arm": "stable" if i % 2 else "canary",
            "movie_ids": [1, 2, 3, 5 + i % 10]} for i in range(30)]
    return out + [{"ts": HOUR, "status": 503, "arm": "stable", "movie_ids": []},
                  {"ts": 99 * HOUR, "status": 200, "arm": "stable", "movie_ids": [20]}]


def test_served_filters_errors_period_and_arm():
    assert len(served(responses(), None, None, None)) == 31
    assert len(served(responses(), HOUR, 3 * HOUR, None)) == 10
    assert {r["arm"] for r in served(responses(), None, None, "canary")} == {"canary"}


def test_report_files_exist_and_the_summary_matches_the_json(tmp_path):
    kept = served(responses(), None, 10 * HOUR, None)
    report = build_report(kept, CATALOG, HOUR, {"arm": None, "model": "itemcf v1"})
    paths = write_report(report, tmp_path)
    for name in ("json", "markdown", *FIGURES):
        assert paths[name].exists() and paths[name].stat().st_size > 0, name
    for name in FIGURES:
        assert paths[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(paths["json"].read_text())
    summary = paths["markdown"].read_text()
    figures = dict(re.findall(r"^\| (\w+) \| ([0-9.]+) \|$", summary, re.M))
    expected = {"gini": data["summary"]["gini"], "coverage": data["summary"]["coverage"],
                "starvation": data["summary"]["starvation"], "tail_share": data["summary"]["tail_share"],
                "amplification_head": data["summary"]["amplification"]["head"],
                "amplification_tail": data["summary"]["amplification"]["tail"]}
    assert {k: float(v) for k, v in figures.items()} == {k: pytest.approx(v, abs=5e-5) for k, v in expected.items()}
    # By hand: 30 lists of 4; movies 1, 2, 3 and 5..14 shown: 13 of 20.
    assert data["n_responses"] == 30 and data["summary"]["coverage"] == pytest.approx(13 / 20)
    assert data["summary"]["tail_share"] == pytest.approx(30 / 120)
    assert [p["n_responses"] for p in data["starvation_over_time"]] == [5] * 6
    assert data["starvation_over_time"][-1]["cumulative_starvation"] == pytest.approx(7 / 20)
    assert set(data["arms"]) == {"stable", "canary"}


def test_an_empty_period_is_a_report_of_zeros(tmp_path):
    report = build_report([], CATALOG, HOUR, {"arm": "x", "model": "m"})
    write_report(report, tmp_path)
    assert report["n_responses"] == 0 and report["summary"]["gini"] == 0.0
    assert (tmp_path / FIGURES["starvation"]).stat().st_size > 0

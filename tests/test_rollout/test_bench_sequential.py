"""The sequential-testing benchmark runs (CI smoke size) and shows what README says it shows."""
from __future__ import annotations

import json

from bench.sequential import main


def test_smoke_run_prints_a_table_and_one_json_line(capsys) -> None:
    report = main(["--smoke"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[-1]) == report and "A/A FP z peeking" in lines[1]
    (case,) = report["cases"]
    assert case["aa_false_positive_ours"] <= 0.05 < case["aa_false_positive_z_peeking"]
    assert report["goal_met"] and case["ab_requests_median_ours"] <= report["horizon"]

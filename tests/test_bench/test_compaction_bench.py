"""The compaction benchmark runs at a tiny size and reports fewer files holding the same rows."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.timeout(180)
def test_compaction_bench_smoke() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.compaction", "--smoke"], cwd=REPO, capture_output=True,
                          text=True, timeout=170, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["bench"] == "compaction" and result["before"]["rows"] == result["after"]["rows"] == 3000
    assert result["after"]["files"] < result["before"]["files"] and result["merged"] > 0

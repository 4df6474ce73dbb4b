"""The spam benches run at a tiny size and end with the JSON line their figures are read from."""
import json

import pytest

from bench import poisoning, spam


def last_json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.timeout(240)
def test_spam_bench_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    spam.main(["--smoke"])
    result = last_json(capsys)
    assert result["bench"] == "spam" and [row["burst"] for row in result["rows"]] == [10, 300]
    small, large = result["rows"]
    assert small["robust"]["recall"]["value"] == 0.0  # 10 ratings in an hour: under the floor
    assert large["robust"]["recall"]["value"] == 1.0 and large["robust"]["false_positives"] == 0
    low, high = large["robust"]["recall"]["ci95"]
    assert 0 < low < 1.0 <= high


@pytest.mark.timeout(240)
def test_poisoning_bench_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    poisoning.main(["--smoke"])
    result = last_json(capsys)
    reach = {case: figures["median_rank"]["mean"] for case, figures in result["reach"].items()}
    burst, sybil = result["shapes"]["burst"], result["shapes"]["sybil"]
    assert burst["fakes_quarantined"] == burst["accounts"] * 2 and burst["honest_quarantined"] == 0
    assert reach["burst/none"] < 0.75 * reach["clean"]  # the attack lifts the target (a lower rank)
    assert reach["burst/quarantine"] == pytest.approx(reach["clean"], rel=0.1)  # the clean model again
    assert sybil["fakes_quarantined"] == 0  # few ratings each: rate counting cannot see them
    assert reach["sybil/quarantine"] == pytest.approx(reach["sybil/none"], rel=0.1)
    assert reach["sybil/none"] < 0.75 * reach["clean"]

"""Exposure rows: responses folded per arm and window, merged and summed, by hand."""
from tables.exposure import ExposureFold, merge, movie_counts, total, window_start

HOUR = 3_600_000


def response(arm: str, ts: int, movies, status: int = 200) -> dict:
    return {"arm": arm, "ts": ts, "status": status, "movie_ids": list(movies)}


def test_window_start_is_the_tumbling_window_of_the_response_time():
    assert window_start(HOUR * 5 + 17, 3600) == HOUR * 5
    assert window_start(HOUR * 5, 3600.0) == HOUR * 5


def test_the_fold_counts_served_lists_per_arm_and_window_skips_errors_and_empties_when_taken():
    fold = ExposureFold(3600)
    counted = [fold.add(r) for r in (
        response("stable", HOUR + 1, [1, 2]), response("stable", HOUR + 2, [2, 3]),
        response("canary", HOUR + 3, [9]), response("stable", 2 * HOUR, [1]),
        response("stable", HOUR + 4, [], status=503), response("stable", HOUR + 5, [7], status=400))]
    assert counted == [True, True, True, True, False, False]
    assert fold.take() == {
        ("stable", HOUR): {"responses": 2, "movies": {"1": 1, "2": 2, "3": 1}},
        ("canary", HOUR): {"responses": 1, "movies": {"9": 1}},
        ("stable", 2 * HOUR): {"responses": 1, "movies": {"1": 1}},
    }
    assert fold.take() == {}
    fold.add(response("stable", HOUR, [4]))
    assert fold.take() == {("stable", HOUR): {"responses": 1, "movies": {"4": 1}}}


def test_merge_adds_without_touching_its_inputs_and_total_sums_windows():
    current = {"responses": 2, "movies": {"1": 1, "2": 2}}
    merged = merge(current, {"responses": 1, "movies": {"2": 1, "5": 4}})
    assert merged == {"responses": 3, "movies": {"1": 1, "2": 3, "5": 4}}
    assert current == {"responses": 2, "movies": {"1": 1, "2": 2}}
    assert merge(None, merged) == merged
    assert total([current, None, merged]) == {"responses": 5, "movies": {"1": 2, "2": 5, "5": 4}}
    assert movie_counts(merged) == {1: 1, 2: 3, 5: 4} and movie_counts(None) == {}

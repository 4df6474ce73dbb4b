"""The quarantine is the fold of user-flags: in on flagged or quarantined, out on cleared."""
from app.spam.quarantine import (CLEARED, apply_flag, cleared_record, flag_record, fold, is_quarantined,
                                  received, refusal, sent, standing)
from app.spam.rules import verdict


def test_fold_follows_each_users_flags_in_order() -> None:
    decided = verdict({1: 9, 40: 1}, floor=30, window_start=0, window_end=3_600_000)
    q = flag_record(7, "quarantined", 40, decided)
    again = flag_record(7, "flagged", 41, decided)
    assert (q["population_mean"], q["population_std"], q["zscore"]) == (1.0, 0.0, 39.0)
    assert fold([q]) == {7}
    assert fold([q, cleared_record(7, now_ms=5)]) == frozenset()
    assert fold([q, cleared_record(7), again]) == {7}
    assert fold([flag_record(8, "flagged", 40, decided), q, cleared_record(7)]) == {8}


def test_row_counts_detections_and_keeps_the_last_flag() -> None:
    decided = verdict({1: 9, 40: 1}, floor=30, window_start=0, window_end=1)
    row = apply_flag(None, flag_record(7, "quarantined", 40, decided))
    row = apply_flag(row, flag_record(7, "flagged", 35, decided))
    assert is_quarantined(row) and row["detections"] == 2 and row["last_flag"]["event_count"] == 35
    row = apply_flag(row, cleared_record(7, now_ms=9))
    assert not is_quarantined(row) and row["status"] == CLEARED and row["detections"] == 2
    assert not is_quarantined(None)


def test_own_flags_count_once_and_the_topic_order_decides() -> None:
    decided = verdict({1: 9, 40: 1}, floor=30, window_start=0, window_end=1)
    q, again = flag_record(7, "quarantined", 40, decided), flag_record(7, "flagged", 41, decided)
    row = sent(sent(None, q), again)  # two windows decided in one batch
    assert is_quarantined(row) and standing(row)["detections"] == 2
    row = received(received(row, q, offset=0), again, offset=1)
    assert row["pending"] == [] and standing(row)["detections"] == 2
    assert received(row, again, offset=1) is None  # a replay
    # A clear the topic holds before the detector's flag: the flag, read after it, wins.
    clear = cleared_record(7, now_ms=3)
    row = sent(received(None, clear, offset=0), q)
    row = received(row, q, offset=1)
    assert is_quarantined(row)
    # A clear after the flag on the topic wins even while the flag was pending.
    row = received(received(sent(None, q), q, offset=0), clear, offset=1)
    assert not is_quarantined(row)


def test_flags_workers_and_training_refuse_alike() -> None:
    from app.partitioning import partition_of, user_key

    decided = verdict({1: 9, 40: 1}, floor=30, window_start=0, window_end=1)
    good = flag_record(7, "quarantined", 40, decided)
    home = partition_of(user_key(7), 8)
    assert refusal(good, home, 8) is None
    assert "owner" in refusal(good, (home + 1) % 8, 8)
    assert "action" in refusal({**good, "action": "banned"}, home, 8)
    assert "user id" in refusal({**good, "user_id": -3}, partition_of(user_key(-3), 8), 8)

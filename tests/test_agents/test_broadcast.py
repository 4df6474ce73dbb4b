"""The replay progress behind a worker's readiness: caught up only at the end offsets taken at its start."""
from __future__ import annotations

from agents.broadcast import CatchUp


def test_not_caught_up_before_the_follower_has_started():
    progress = CatchUp()
    assert not progress.caught_up and progress.as_dict() == {"caught_up": False, "behind": None}


def test_caught_up_once_every_partition_reaches_its_start_end_offset():
    progress = CatchUp()
    progress.start({0: 10, 1: 4})
    progress.advance({0: 3, 1: 4})
    assert not progress.caught_up and progress.behind == 7
    progress.advance({0: 10, 1: 4})
    assert progress.caught_up and progress.as_dict() == {"caught_up": True, "behind": 0}


def test_records_produced_after_the_start_do_not_hold_readiness_back_and_it_never_goes_back():
    progress = CatchUp()
    progress.start({0: 5})
    progress.advance({0: 12})  # read past the start's end: newer records
    assert progress.caught_up
    progress.advance({0: 0})  # a later reading is ignored: readiness is not withdrawn
    assert progress.caught_up


def test_an_empty_topic_is_caught_up_at_once():
    progress = CatchUp()
    progress.start({0: 0, 1: 0})
    progress.advance({0: 0, 1: 0})
    assert progress.caught_up

"""Windows per partition, their close, and the coordinator's merge, on hand-made event streams."""
from app.spam.windows import (LATE, REPLAYED, close_windows, count_event, forget_decided, new_coordinator_state,
                              new_decided_state, new_partition_state, receive_summary, suspects)

W, GRACE, FLOOR, MIN_POP = 1000, 100, 3, 5
NOW = 10**9  # the worker's clock, past every event here


def feed(part: dict, users: dict, events: list[tuple[int, int]], stream: str = "rate:0") -> list[str]:
    """Count ``(user, ts)`` events at consecutive offsets; the result of each."""
    first = part["offsets"].get(stream, -1) + 1
    return [count_event(part, users.setdefault(user, {"windows": {}}), user, ts, stream, first + i, W, FLOOR, NOW)
            for i, (user, ts) in enumerate(events)]


def test_counts_histogram_and_suspects_of_one_partition() -> None:
    part, users = new_partition_state(), {}
    feed(part, users, [(7, 10)] * 5 + [(8, 20), (8, 30), (9, 40)])
    window = part["windows"]["0"]
    assert window["hist"] == {"5": 1, "2": 1, "1": 1}
    assert window["over"] == {"7": 5}  # only counts above the floor are suspects
    assert users[7] == {"windows": {"0": 5}}
    assert close_windows(part, W, GRACE) is None  # watermark 40: nothing closes
    feed(part, users, [(9, 1099)])  # watermark 1099 < end 1000 + grace 100
    assert close_windows(part, W, GRACE) is None
    feed(part, users, [(8, 1100)])
    summary = close_windows(part, W, GRACE)
    assert summary == {"closed_until": 1000, "windows": {"0": {"5": 1, "2": 1, "1": 1}}}
    assert close_windows(part, W, GRACE) is None  # closed once


def test_late_and_replayed_events_stay_out_of_a_closed_window() -> None:
    part, users = new_partition_state(), {}
    feed(part, users, [(1, 10), (1, 2200)])
    assert close_windows(part, W, GRACE)["closed_until"] == 2000
    assert feed(part, users, [(1, 999)]) == [LATE]
    assert "0" not in part["windows"], "closed with nobody above the floor: forgotten, and not brought back"
    assert count_event(part, users[1], 1, 2300, "rate:0", 0, W, FLOOR, NOW) == REPLAYED
    assert users[1]["windows"] == {"0": 1, "2000": 1}  # the late one is not counted
    feed(part, users, [(1, 2300)])
    assert users[1]["windows"] == {"2000": 2}  # the closed window's count is forgotten


def test_coordinator_decides_once_every_partition_closed_the_window() -> None:
    parts = [new_partition_state(), new_partition_state()]
    users: dict = {}
    # Partition 0: a heavy user (10) and two light ones; partition 1: three light ones and one of 4.
    feed(parts[0], users, [(1, 5)] * 10 + [(2, 5), (3, 5)])
    feed(parts[1], users, [(4, 5), (5, 5), (6, 5), (6, 6)] + [(10, 7)] * 4, stream="rate:1")
    coord = new_coordinator_state()
    feed(parts[0], users, [(2, 1200)])
    summary0 = close_windows(parts[0], W, GRACE)
    assert receive_summary(coord, 0, summary0, 2, W, FLOOR, MIN_POP) == []  # partition 1 not heard yet
    feed(parts[1], users, [(4, 1300)], stream="rate:1")
    summary1 = close_windows(parts[1], W, GRACE)
    (decided,) = receive_summary(coord, 1, summary1, 2, W, FLOOR, MIN_POP)
    # Counts 10, 1, 1 | 1, 1, 2, 4: median 1, MAD 0 -> the floor (3) is the threshold.
    assert (decided.population, decided.median, decided.scale, decided.threshold) == (7, 1, 0, 3)
    assert coord["pending"] == {} and coord["decided_until"] == 1000
    assert receive_summary(coord, 1, summary1, 2, W, FLOOR, MIN_POP) == []  # a replayed summary
    decisions = [new_decided_state(), new_decided_state()]
    assert suspects(parts[0], decisions[0], decided) == [(1, 10)]
    assert suspects(parts[1], decisions[1], decided) == [(10, 4)]
    assert suspects(parts[1], decisions[1], decided) == []  # a replayed threshold flags nobody twice
    assert decisions[0] == {"decided_until": 1000}
    assert "0" in parts[0]["windows"], "the deciding side only reads the counting side's row"
    forget_decided(parts[0], decisions[0]["decided_until"])
    assert "0" not in parts[0]["windows"] and "1000" in parts[0]["windows"]


def test_a_partition_that_closes_later_holds_the_verdict_back() -> None:
    coord = new_coordinator_state()
    assert receive_summary(coord, 0, {"closed_until": 3000, "windows": {"0": {"4": 2}, "2000": {"9": 1}}},
                           2, W, FLOOR, MIN_POP) == []
    decided = receive_summary(coord, 1, {"closed_until": 1000, "windows": {"0": {"1": 1}}}, 2, W, FLOOR, MIN_POP)
    assert [(d.window_start, d.population) for d in decided] == [(0, 3)]
    assert list(coord["pending"]) == ["2000"]  # partition 1 has not closed it yet
    decided = receive_summary(coord, 1, {"closed_until": 3000, "windows": {}}, 2, W, FLOOR, MIN_POP)
    assert [(d.window_start, d.population, d.median) for d in decided] == [(2000, 1, 9)]


def test_an_event_stamped_in_the_future_does_not_close_windows_early() -> None:
    part, user = new_partition_state(), {"windows": {}}
    count_event(part, user, 1, 500, "rate:0", 0, W, FLOOR, now_ms=600)
    count_event(part, user, 1, 50_000, "rate:0", 1, W, FLOOR, now_ms=600)  # 49 windows ahead
    assert part["watermark"] == 600 and close_windows(part, W, GRACE) is None
    assert count_event(part, user, 1, 700, "rate:0", 2, W, FLOOR, now_ms=800) == "counted"
    assert user["windows"] == {"0": 2, "50000": 1}


def test_a_window_nobody_passes_the_floor_in_is_decided_without_a_verdict() -> None:
    part, users = new_partition_state(), {}
    feed(part, users, [(1, 10)] * FLOOR + [(2, 20), (1, 1500)])
    feed(part, users, [(2, 2200)])
    summary = close_windows(part, W, GRACE)
    assert summary["windows"] == {"0": {str(FLOOR): 1, "1": 1}, "1000": {"1": 1}}
    assert part["windows"] == {"2000": part["windows"]["2000"]}, "nobody above the floor: nothing kept"
    coord = new_coordinator_state()
    assert receive_summary(coord, 0, summary, 1, W, FLOOR, MIN_POP) == []
    assert coord["decided_until"] == 2000 and coord["pending"] == {}

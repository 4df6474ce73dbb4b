"""The pure buffer: where it cuts, and that the cuts depend on nothing but the events."""
from __future__ import annotations

import pytest

from app.snapshots import Batch, InvalidEvent, PartitionBuffer, UnknownTopic
from app.snapshots.naming import HOUR_MS
from tests.test_snapshots.streams import (
    START_MS,
    Message,
    rate_event,
    watch_event,
    watch_stream,
)

H0 = START_MS // HOUR_MS


def feed(messages: list[Message], *, max_events: int, start: int = 0) -> list[Batch]:
    """Every batch cut from one partition's messages, the open one drained at the end."""
    buffer = PartitionBuffer("watch", 0, max_events=max_events, late_grace_ms=120_000, next_offset=start)
    batches = [b for _, offset, event in messages for b in buffer.add(offset, event)]
    return batches + buffer.drain()


def test_crossing_an_hour_boundary_cuts_the_previous_hour() -> None:
    buffer = PartitionBuffer("watch", 0, max_events=100)
    assert buffer.add(0, watch_event(START_MS)) == []
    assert buffer.add(1, watch_event(START_MS + HOUR_MS - 1)) == []
    [ready] = buffer.add(2, watch_event(START_MS + HOUR_MS))
    assert (ready.hour, ready.offsets.tolist()) == (H0, [0, 1])
    assert len(buffer) == 1


def test_stragglers_within_the_grace_join_the_batch_and_others_cut_it() -> None:
    buffer = PartitionBuffer("rate", 5, max_events=100, late_grace_ms=60_000)
    times = [
        START_MS + HOUR_MS,  # opens hour 1
        START_MS + HOUR_MS - 60_000,  # a straggler from hour 0, within the grace: joins
        START_MS + HOUR_MS - 60_001,  # older than the grace: cuts, opens hour 0
        START_MS + 5 * HOUR_MS,  # a clock far ahead: cuts, gets a file of its own
        START_MS + HOUR_MS + 1,  # back to normal: cuts
    ]
    ready = [b for n, ts in enumerate(times) for b in buffer.add(n, rate_event(ts))]
    assert [(b.hour - H0, b.offsets.tolist()) for b in ready] == [(1, [0, 1]), (0, [2]), (5, [3])]
    assert [b.name.partition for b in ready] == [5, 5, 5]


def test_no_grace_means_each_file_holds_exactly_one_hour() -> None:
    buffer = PartitionBuffer("watch", 0, max_events=100, late_grace_ms=0)
    hours = [1, 1, 0, 1]
    ready = [b for n, h in enumerate(hours) for b in buffer.add(n, watch_event(START_MS + h * HOUR_MS))]
    assert [(b.hour - H0, b.offsets.tolist()) for b in ready] == [(1, [0, 1]), (0, [2])]


def test_size_limit_cuts_full_batches() -> None:
    buffer = PartitionBuffer("watch", 0, max_events=3)
    ready = [b for n in range(7) for b in buffer.add(10 + n, watch_event(START_MS + n))]
    assert [b.offsets.tolist() for b in ready] == [[10, 11, 12], [13, 14, 15]]
    assert [b.offsets.tolist() for b in buffer.drain()] == [[16]]
    assert buffer.drain() == []


def test_same_events_same_cuts_and_replay_from_any_cut_reproduces_the_rest() -> None:
    messages = watch_stream(2_000, partitions=1, jitter_ms=300_000)  # some beyond the grace
    batches = feed(messages, max_events=64)
    assert feed(messages, max_events=64) == batches
    assert len({b.hour for b in batches}) >= 3 and any(len(b.offsets) < 64 for b in batches[:-1])
    for cut in range(1, len(batches)):
        resume = batches[cut - 1].offsets[-1] + 1
        # A lost commit replays from earlier; offsets already filed are ignored.
        assert feed(messages, max_events=64, start=resume) == batches[cut:]


def test_redelivered_offsets_are_ignored() -> None:
    buffer = PartitionBuffer("watch", 0, max_events=100, next_offset=5)
    assert buffer.add(4, watch_event(START_MS)) == []
    buffer.add(5, watch_event(START_MS))
    buffer.add(5, watch_event(START_MS))
    assert [b.offsets.tolist() for b in buffer.drain()] == [[5]]


@pytest.mark.parametrize(
    "event",
    [
        {"ts": START_MS, "user_id": 1, "movie_id": 2},  # no minute
        watch_event(START_MS, minute=2**31),
        watch_event(-1),
        watch_event(START_MS, user_id="7"),  # type: ignore[arg-type]
        watch_event(START_MS, movie_id=True),  # type: ignore[arg-type]
    ],
)
def test_invalid_event_is_refused_and_leaves_the_buffer_alone(event: dict) -> None:
    buffer = PartitionBuffer("watch", 0, max_events=100)
    buffer.add(0, watch_event(START_MS))
    with pytest.raises(InvalidEvent):
        buffer.add(1, event)
    assert (len(buffer), buffer.next_offset) == (1, 1)
    untouched = PartitionBuffer("watch", 0, max_events=100)
    untouched.add(0, watch_event(START_MS))
    assert buffer.drain() == untouched.drain()  # no column took a value of the refused event


def test_unknown_topic() -> None:
    with pytest.raises(UnknownTopic):
        PartitionBuffer("clicks", 0, max_events=10)

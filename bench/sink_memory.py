"""Memory the snapshot sink keeps per buffered event, and CPU per event of buffering and encoding.

Run from the repository root (no broker needed)::

    python -m bench.sink_memory                # 200,000 events, 3 timing rounds
    python -m bench.sink_memory --smoke        # a tiny run, for CI

One worker's RSS grew with the sink's open hour in the soak, so this measures what that
hour costs. Half the events are watch events on one partition, half rate events on
another, all in one event-time hour, so nothing is cut while measuring (``max_events`` is
set above the count): the figures are what a partition's open batch holds at its largest.

1. ``buffer_bytes_per_event``: Python heap (tracemalloc) held by two ``PartitionBuffer``
   after every event went through ``add``, per event. Each event is a fresh dict of fresh
   ints, as decoding a message makes them, dropped after ``add``.
2. ``service_bytes_per_event``: the same through the snapshot service as it runs
   (``SnapshotPump.step`` with a fake consumer handing out Avro-framed records, the real
   ``SnapshotSink`` on a file store), so what the service keeps per event besides the
   buffer (the offsets not yet in a file) counts too.
3. ``add_us_per_event`` and ``encode_us_per_event``: process CPU time of
   ``PartitionBuffer.add`` with the default ``snapshot_max_events`` and of ``codec.encode``
   of the batches it cut, per event, without tracemalloc; the median of ``--rounds``.

Only public names of ``app.snapshots`` and the pump are used, so the same file measures an
older checkout too (put it on ``PYTHONPATH``). The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from aiokafka import TopicPartition

from agents.ingest import RATE, WATCH
from agents.snapshot_sink import MeteredStore, SinkStatus, SnapshotPump
from app.settings import Settings
from app.snapshots import PartitionBuffer, SnapshotSink, codec
from app.snapshots.naming import HOUR_MS
from app.storage import Backoff, FileStore

HOUR = 1_709_676_000_000 // HOUR_MS
"""2024-03-05 22:00 UTC: every event lies in this hour."""
TOPICS = ("watch", "rate")
POLL = 2_000
"""Records per fake poll, as the service asks for (``MAX_POLL_RECORDS``)."""


def events(count: int, topic: str, seed: int) -> Iterator[tuple[int, dict[str, int]]]:
    """(offset, event) of one partition: consecutive offsets, times rising through the hour."""
    rng = random.Random(f"{seed}-{topic}")
    for offset in range(count):
        event = {"ts": HOUR * HOUR_MS + offset * HOUR_MS // count, "user_id": rng.randrange(1, 100_000),
                 "movie_id": rng.randrange(1, 20_000)}
        if topic == "watch":
            event["minute"] = rng.randrange(150)
        else:
            event["rating"] = rng.randrange(1, 6)
        yield 1_000_000 + offset, event


def split(total: int) -> dict[str, int]:
    return {"watch": total - total // 2, "rate": total // 2}


def traced(work: Any) -> int:
    """Bytes of Python heap still held after ``work()`` (which keeps what it built alive)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = work()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del kept
    return held


def fill_buffers(total: int, seed: int) -> list[PartitionBuffer]:
    buffers = []
    for partition, (topic, count) in enumerate(split(total).items()):
        buffer = PartitionBuffer(topic, partition, max_events=total + 1)
        for offset, event in events(count, topic, seed):
            assert not buffer.add(offset, event)
        buffers.append(buffer)
    return buffers


class Record(NamedTuple):
    offset: int
    value: bytes


class Consumer:
    """What the pump calls on AIOKafkaConsumer; ``getmany`` hands out the queued polls."""

    def __init__(self) -> None:
        self.polls: list[dict[TopicPartition, list[Record]]] = []

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Record]]:
        return self.polls.pop() if self.polls else {}

    def pause(self, *tps: TopicPartition) -> None: ...

    def resume(self, *tps: TopicPartition) -> None: ...

    def seek(self, tp: TopicPartition, offset: int) -> None: ...

    async def seek_to_beginning(self, *tps: TopicPartition) -> None: ...

    async def committed(self, tp: TopicPartition) -> int | None:
        return None

    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...


async def fill_service(total: int, seed: int, root: Path) -> SnapshotPump:
    sources = {"watch": WATCH, "rate": RATE}
    consumer, status = Consumer(), SinkStatus(enabled=True, running=True)
    sink = SnapshotSink(MeteredStore(FileStore(root)), max_events=total + 1, backoff=Backoff(attempts=1))
    pump = SnapshotPump(consumer, sink, sources, max_buffered=10 * total, backoff=Backoff(attempts=1),
                        status=status)
    tps = {topic: TopicPartition(topic, partition) for partition, topic in enumerate(TOPICS)}
    await pump.assigned_now(tps.values())
    for topic, count in split(total).items():
        stream = events(count, topic, seed)
        while chunk := [Record(offset, sources[topic].codec.encode(event)) for offset, event in
                        (next(stream, (None, None)) for _ in range(POLL)) if offset is not None]:
            consumer.polls.append({tps[topic]: chunk})
            del chunk
            await pump.step()
    if pump.status.buffered_events != total:
        raise AssertionError(f"the service holds {pump.status.buffered_events} of {total} events")
    return pump


def timed(total: int, seed: int, max_events: int) -> tuple[float, float]:
    """CPU seconds of ``add`` for every event, and of ``encode`` for every batch cut."""
    batches, adding = [], 0.0
    for partition, (topic, count) in enumerate(split(total).items()):
        stream = list(events(count, topic, seed))
        buffer = PartitionBuffer(topic, partition, max_events=max_events)
        started = time.process_time()
        for offset, event in stream:
            batches += buffer.add(offset, event)
        batches += buffer.drain()
        adding += time.process_time() - started
    started = time.process_time()
    for batch in batches:
        codec.encode(batch)
    return adding, time.process_time() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    total = args.events
    buffer_bytes = traced(lambda: fill_buffers(total, args.seed))
    with tempfile.TemporaryDirectory(prefix="bench-sink-memory-") as root:
        service_bytes = traced(lambda: asyncio.run(fill_service(total, args.seed, Path(root))))
    max_events = Settings().snapshot_max_events
    rounds = [timed(total, args.seed, max_events) for _ in range(args.rounds)]
    return {"bench": "sink_memory", "events": total, "watch_events": split(total)["watch"],
            "rate_events": split(total)["rate"],
            "buffer_bytes_per_event": round(buffer_bytes / total, 1),
            "service_bytes_per_event": round(service_bytes / total, 1),
            "service_extra_bytes_per_event": round((service_bytes - buffer_bytes) / total, 1),
            "max_events": max_events, "rounds": args.rounds,
            "add_us_per_event": round(statistics.median(a for a, _ in rounds) / total * 1e6, 3),
            "encode_us_per_event": round(statistics.median(e for _, e in rounds) / total * 1e6, 3),
            "add_plus_encode_us_per_event": round(statistics.median(a + e for a, e in rounds) / total * 1e6, 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="watch and rate events, half each")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds; the median is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="a tiny run (3,000 events, one round)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.events, args.rounds = 3_000, 1
    result = run(args)
    print(f"{result['events']} events buffered: {result['buffer_bytes_per_event']} B/event in the buffers, "
          f"{result['service_bytes_per_event']} B/event in the service")
    print(f"CPU per event: add {result['add_us_per_event']} us, encode {result['encode_us_per_event']} us")
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()

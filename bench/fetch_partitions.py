"""What a consumer's partition count costs per message: bare aiokafka, as a Faust worker holds them.

Run from the repository root, with the broker in MOVIE_RECS_KAFKA_BOOTSTRAP::

    python -m bench.fetch_partitions [--rate 200] [--seconds 10] [--assigned 184] [--paused 73]

One aiokafka consumer (the settings Faust gives its own: ``fetch_max_wait_ms=1500``) is
assigned ``--topics-of-8`` topics of 8 partitions and reads messages produced, one at a time
at ``--rate``, to the first topic's 8 partitions; the producer runs in the same process, as a
worker's does. Four cases, in this order, all in one run and on one pinned core:

- ``floor``: only the first topic (8 partitions), as the echo of ``bench.serve_kafka`` holds;
- ``assigned``: all of them fetched, as a worker did before it paused its changelogs;
- ``paused``: ``--paused`` of them paused in aiokafka (the worker's recovered changelogs);
- ``fewer``: only as many partitions as ``paused`` leaves fetched, none paused (what the
  worker would cost if it held no changelog partition at all).

For each: CPU of the process per message (user + system), and the p50/p99 from a message's
send to its arrival in ``getmany``. Ratios are against ``floor``. The last line printed is
one JSON object with every figure; the run's topics are deleted at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench import serving_peers as peers
from bench.ingest import bench_main

PARTITIONS = 8


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def case(bootstrap: str, topics: list[str], paused: int, args: argparse.Namespace) -> dict[str, Any]:
    """One consumer over ``topics`` with ``paused`` partitions (not of the first topic) paused."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=1500)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1)
    await consumer.start()
    await producer.start()
    arrived: list[float] = []
    sent: list[float] = []

    async def read() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            at = time.perf_counter()
            arrived.extend(at - float(r.value) for records in batch.values() for r in records)

    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        consumer.pause(*[tp for tp in tps if tp.topic != topics[0]][:paused])
        reader = asyncio.create_task(read())

        async def send(n: int) -> None:
            for i in range(n):
                due = time.perf_counter()
                sent.append(due)
                await producer.send(topics[0], str(due).encode(), partition=i % PARTITIONS)
                await asyncio.sleep(max(0.0, due + 1 / args.rate - time.perf_counter()))

        await send(int(args.rate * args.warmup_s))
        await asyncio.sleep(0.5)
        arrived.clear()
        n = int(args.rate * args.seconds)
        cpu, started = cpu_seconds(), time.perf_counter()
        await send(n)
        await asyncio.sleep(0.5)
        cpu = cpu_seconds() - cpu
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    finally:
        await consumer.stop()
        await producer.stop()
    ms = np.asarray(arrived) * 1000
    return {"assigned": len(tps), "paused": paused, "fetched": len(tps) - paused, "messages": n,
            "arrived": int(ms.size), "cpu_ms_per_message": round(cpu / n * 1000, 3),
            "p50_ms": peers.pct(ms, 50), "p99_ms": peers.pct(ms, 99),
            "seconds": round(time.perf_counter() - started, 1)}


async def measure(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    prefix = f"bench-fetch-{uuid.uuid4().hex[:8]}-"
    topics = [f"{prefix}{i}" for i in range(args.topics_of_8)]
    fetched_left = args.topics_of_8 * PARTITIONS - args.paused
    admin = AIOKafkaAdminClient(bootstrap_servers=args.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics])
        await asyncio.sleep(2.0)  # leaders elected
        plan = {"floor": (topics[:1], 0), "assigned": (topics, 0), "paused": (topics, args.paused),
                "fewer": (topics[:max(1, round(fetched_left / PARTITIONS))], 0)}
        cases = {}
        for name, (some, paused) in plan.items():
            cases[name] = await case(args.bootstrap, some, paused, args)
            log(f"{name:13} assigned {cases[name]['assigned']:3} fetched {cases[name]['fetched']:3}  "
                f"cpu {cases[name]['cpu_ms_per_message']} ms/message  p50 {cases[name]['p50_ms']} ms  "
                f"p99 {cases[name]['p99_ms']} ms")
        return cases
    finally:
        await admin.delete_topics(topics)
        await admin.close()


def run(args: argparse.Namespace, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    peers.pin(args.cpu)
    load = peers.Machine.now().__dict__
    cases = asyncio.run(measure(args, log))
    floor = cases["floor"]
    ratios = {name: {"cpu": peers.ratio(c["cpu_ms_per_message"], floor["cpu_ms_per_message"]),
                     "p50": peers.ratio(c["p50_ms"], floor["p50_ms"])} for name, c in cases.items() if name != "floor"}
    return {"rate": args.rate, "cpu": args.cpu, "machine_load_at_start": load,
            "ratios": ratios, "cases": cases}


def print_table(result: dict[str, Any]) -> None:
    print(f"{'case':13} {'assigned':>8} {'fetched':>7} {'cpu ms/msg':>10} {'x floor':>7} {'p50 ms':>7} {'p99 ms':>7}")
    for name, c in result["cases"].items():
        cpu_ratio = result["ratios"].get(name, {}).get("cpu", 1.0)
        print(f"{name:13} {c['assigned']:>8} {c['fetched']:>7} {c['cpu_ms_per_message']:>10} {cpu_ratio!s:>7} "
              f"{c['p50_ms']!s:>7} {c['p99_ms']!s:>7}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds measured per case")
    parser.add_argument("--warmup-s", type=float, default=1.0)
    parser.add_argument("--topics-of-8", type=int, default=23,
                        help="topics of 8 partitions assigned (23: 184, about the serve bench worker's 181)")
    parser.add_argument("--paused", type=int, default=73, help="partitions paused (the worker's: 73)")
    parser.add_argument("--bootstrap", default=os.environ.get("MOVIE_RECS_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--cpu", type=int, default=0, help="core this process is pinned to")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run's folder here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    bench_main("fetch-partitions", args, partial(run, log=peers.log), print_table, keep=args.keep)


if __name__ == "__main__":
    main()

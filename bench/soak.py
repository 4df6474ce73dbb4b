"""Soak: sustained events and requests against one, two and three workers, sampled over time.

Run from the repository root, with the broker in MOVIE_RECS_KAFKA_BOOTSTRAP::

    python -m bench.soak [--minutes 10] [--workers 1,2,3] [--event-rate 1000] [--request-rate 50]

For each worker count, a fresh group (topics of its own, an ALS model trained on ML-100K
once for the run) gets ``--minutes`` of open-loop traffic: watch and rate events of random
ML-100K users and movies at ``--event-rate`` (times are now, so they are valid), produced
keyed by user, and ``GET /recommend/{user}`` at ``--request-rate`` spread over the workers
(eight client threads share the schedule; latency counts from each request's due time).
Every ``--sample-s`` the run records the events ingested (the workers'
``movierecs_events_ingested_total``), each worker's RSS (``/proc``), and the group's lag on
the watch and rate topics (end offsets minus committed offsets). Per worker count it
reports the ingest rate over the run, request p50/p99 and errors, RSS at the start and the
end of the second half of the run and its slope (it must stay flat), and the lag in the
first and last quarter (it must not grow), and RSS and lag once a minute. The workers keep
traces for ``--trace-retention-s`` (120 s) and at most ``--user-max-movies`` (300) movies per
user, so their state reaches its bounds within the run and the second half shows whether it
stays there (at the defaults, an hour of traces and 2,000 movies, it would still be filling).
``loadavg`` says how busy the machine was; on a
shared machine compare worker counts within one run only. The last line printed is one
JSON object; workers are stopped and topics deleted at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from aiokafka import AIOKafkaProducer

from app.partitioning import user_key
from app.settings import Settings
from bench import serving_peers as peers
from bench.failover import USERS, Cluster, cluster_arguments, get
from bench.ingest import CODECS, INGESTED, bench_main, offsets

MOVIES = range(1, 1683)
CLIENT_LANES = 8
"""Client threads sharing the request schedule (an open loop needs requests in flight at once)."""


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (Linux /proc), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Traffic:
    """Events and requests at fixed rates from threads of their own, until stopped."""

    def __init__(self, cluster: Cluster, settings: Settings, event_rate: float, request_rate: float) -> None:
        self.cluster, self.settings = cluster, settings
        self.event_rate, self.request_rate = event_rate, request_rate
        self.stop = threading.Event()
        self.sent = 0
        self.latencies_ms: list[float] = []
        self.errors = 0
        self.threads = [threading.Thread(target=self._events, daemon=True)] + [
            threading.Thread(target=self._requests, args=(lane,), daemon=True) for lane in range(CLIENT_LANES)]

    def __enter__(self) -> "Traffic":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _events(self) -> None:
        asyncio.run(self._produce())

    async def _produce(self) -> None:
        rng = random.Random(0)
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, linger_ms=10)
        await producer.start()
        try:
            started, tick = time.monotonic(), 0.01
            while not self.stop.is_set():
                due = int((time.monotonic() - started) * self.event_rate)
                now = int(time.time() * 1000)
                while self.sent < due:
                    user, movie = rng.choice(USERS), rng.choice(MOVIES)
                    if rng.random() < 0.25:
                        topic, value = "rate", {"ts": now, "user_id": user, "movie_id": movie,
                                                "rating": rng.randint(1, 5)}
                    else:
                        topic, value = "watch", {"ts": now, "user_id": user, "movie_id": movie,
                                                 "minute": rng.randint(0, 90)}
                    await producer.send(self.settings.topic(topic), CODECS[topic].encode(value), key=user_key(user))
                    self.sent += 1
                await asyncio.sleep(tick)
        finally:
            await producer.stop()

    def _requests(self, lane: int) -> None:
        """Requests ``lane``, ``lane + CLIENT_LANES``, ... of the schedule, so one slow answer delays few."""
        rng, started, asked = random.Random(lane), time.monotonic(), lane
        while not self.stop.is_set():
            due = started + asked / self.request_rate
            wait_s = due - time.monotonic()
            if wait_s > 0:
                time.sleep(min(wait_s, 0.05))
                continue
            workers = list(self.cluster.workers.values())
            status, _ = get(rng.choice(workers), f"/recommend/{rng.choice(USERS)}?k=10", timeout_s=5.0)
            self.latencies_ms.append((time.monotonic() - due) * 1000)  # from the due time: open loop
            self.errors += status != 200
            asked += CLIENT_LANES


def ingested(cluster: Cluster) -> int:
    return sum(int(sum(float(v) for v in INGESTED.findall(get(w, "/metrics")[1]))) for w in cluster.workers.values())


def phase(args: argparse.Namespace, workdir: Path, registry: str, count: int) -> dict[str, Any]:
    """``count`` workers under traffic for ``--minutes``: the samples and what they add up to."""
    prefix = f"bench-soak-{uuid.uuid4().hex[:8]}-"
    env = peers.worker_env(bootstrap=args.bootstrap, prefix=prefix, app_id=prefix.rstrip("-"),
                           port=peers.free_port(), workdir=workdir / f"workers-{count}", registry_url=registry,
                           partitions=args.partitions)  # a snapshot root of its own: one per deployment
    # Retention and row bounds short enough that the steady state falls inside the run: only
    # then does RSS over the second half say whether memory is bounded, not how fast state fills.
    env |= {"MOVIE_RECS_TRACE_RETENTION_S": str(args.trace_retention_s),
            "MOVIE_RECS_USER_MAX_MOVIES": str(args.user_max_movies)}
    settings = Settings(kafka_bootstrap=args.bootstrap, topic_prefix=prefix, partitions=args.partitions)
    sources = [settings.topic("watch"), settings.topic("rate")]
    (workdir / f"workers-{count}").mkdir(parents=True, exist_ok=True)
    cluster = Cluster(env, workdir / f"workers-{count}", args.partitions)
    samples: list[dict[str, float]] = []
    try:
        peers.create_topics(env)
        for _ in range(count):
            cluster.start()
        cluster.settle(args.timeout_s)
        with Traffic(cluster, settings, args.event_rate, args.request_rate) as traffic:
            started = time.monotonic()
            while time.monotonic() - started < args.minutes * 60:
                time.sleep(args.sample_s)
                ends = asyncio.run(offsets(settings, sources, args.partitions))
                done = asyncio.run(offsets(settings, sources, args.partitions, env["MOVIE_RECS_APP_ID"]))
                samples.append({"t": time.monotonic() - started, "ingested": ingested(cluster),
                                "lag": sum(ends.values()) - sum(done.values()), "sent": traffic.sent,
                                "rss_mb": sum(rss_mb(w.proc.pid) for w in cluster.workers.values())})
        latencies = np.array(traffic.latencies_ms or [float("nan")])
    finally:
        cluster.stop_all()
        asyncio.run(peers.delete_topics(args.bootstrap, prefix))
    return summarise(samples, latencies, traffic.errors, count, args.sample_s)


def summarise(samples: list[dict[str, float]], latencies: np.ndarray, errors: int, count: int,
              sample_s: float) -> dict[str, Any]:
    """One worker count's figures from its samples."""
    quarter = max(1, len(samples) // 4)
    second_half = samples[len(samples) // 2:] or samples
    span_min = (second_half[-1]["t"] - second_half[0]["t"]) / 60
    slope = (second_half[-1]["rss_mb"] - second_half[0]["rss_mb"]) / span_min if span_min > 0 else 0.0
    first, last = samples[0], samples[-1]
    return {
        "workers": count, "samples": len(samples),
        "offered_events_per_s": round(last["sent"] / last["t"]),
        "ingest_events_per_s": round((last["ingested"] - first["ingested"]) / (last["t"] - first["t"]))
        if last["t"] > first["t"] else None,
        "request_p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "request_p99_ms": round(float(np.percentile(latencies, 99)), 2),
        "requests": int(latencies.size), "request_errors": errors,
        "rss_mb_start_end": [round(second_half[0]["rss_mb"]), round(second_half[-1]["rss_mb"])],
        "rss_mb_per_min_second_half": round(slope, 2),
        "lag_first_last_quarter": [round(statistics.mean(s["lag"] for s in samples[:quarter])),
                                   round(statistics.mean(s["lag"] for s in samples[-quarter:]))],
        "lag_max": max(s["lag"] for s in samples),
        "per_minute": [{"t_min": round(x["t"] / 60, 1), "rss_mb": round(x["rss_mb"]), "lag": x["lag"]}
                       for x in samples[::max(1, round(60 / sample_s))]],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of traffic per worker count")
    parser.add_argument("--workers", default="1,2,3", help="worker counts, one phase each")
    parser.add_argument("--event-rate", type=float, default=1000.0, help="watch and rate events per second")
    parser.add_argument("--request-rate", type=float, default=50.0, help="HTTP requests per second")
    parser.add_argument("--sample-s", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--trace-retention-s", type=float, default=120.0,
                        help="the workers' MOVIE_RECS_TRACE_RETENTION_S (default there: an hour)")
    parser.add_argument("--user-max-movies", type=int, default=300,
                        help="the workers' MOVIE_RECS_USER_MAX_MOVIES (random movies fill a row fast)")
    cluster_arguments(parser, timeout_s=180.0)
    return parser.parse_args(argv)


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    registry = args.registry
    if not registry:
        registry = f"file://{workdir / 'registry'}"
        peers.train_als(registry, args.data, workdir / "train.log")
    load_before = os.getloadavg()[0]
    phases = []
    for count in (int(c) for c in args.workers.split(",")):
        phases.append(phase(args, workdir, registry, count))
        peers.log(f"{count} worker(s): {phases[-1]}")
    rates = {p["workers"]: p["ingest_events_per_s"] for p in phases}
    return {"phases": phases, "minutes": args.minutes, "event_rate": args.event_rate,
            "request_rate": args.request_rate, "ingest_scaling": {n: round(r / rates[min(rates)], 2)
                                                                 for n, r in rates.items() if r and rates[min(rates)]},
            "cpus": os.cpu_count(), "loadavg_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def print_table(result: dict[str, Any]) -> None:
    print(f"{result['minutes']} min per phase, offered {result['event_rate']} events/s and "
          f"{result['request_rate']} requests/s, load {result['loadavg_before_after']}")
    print(f"{'workers':>7} {'ingest/s':>9} {'p99 ms':>8} {'errors':>6} {'RSS MB':>12} {'MB/min':>7} {'lag':>14}")
    for p in result["phases"]:
        print(f"{p['workers']:>7} {p['ingest_events_per_s'] or 0:>9} {p['request_p99_ms']:>8} {p['request_errors']:>6} "
              f"{str(p['rss_mb_start_end']):>12} {p['rss_mb_per_min_second_half']:>7} "
              f"{str(p['lag_first_last_quarter']):>14}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    bench_main("soak", args, run, print_table, keep=args.keep)


if __name__ == "__main__":
    main()

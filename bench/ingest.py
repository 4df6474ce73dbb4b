"""Ingest throughput: a real worker's ingest agent against a bare aiokafka + fastavro reader.

Run from the repository root, with the broker in MOVIE_RECS_KAFKA_BOOTSTRAP::

    python -m bench.ingest --events 200000 [--faust-noop]

What happens, all in one run so every figure sees the same warm broker:

1. N valid watch and rate events (the synthetic data set's stream, no requests) are encoded
   in the Confluent Avro wire format and pre-loaded, keyed by user with Kafka's murmur2
   partitioner, into topics with a prefix unique to this run.
2. Baseline: a bare aiokafka consumer in this process reads all N with ``getmany`` and
   decodes each value with ``AvroCodec`` (fastavro). Nothing is validated or stored.
3. Ours: a real ``python -m app.cli worker`` process with its own app id reads the same
   topics and does the full job: decode, validate, user table update (with its changelog)
   and the item deltas it sends on. The snapshot sink, a separate consumer, is off unless
   ``--snapshots``. Any other MOVIE_RECS_* variable set here reaches the worker.
4. With ``--faust-noop``: ``bench.faust_noop``, a Faust worker whose agents take the same
   batches and only count them, shows what Faust's own per-event machinery costs.

Every rate is measured the same way, so start-up (process start, group join, table
recovery, the first fetch) counts for none: the clock starts at the first observation of a
non-zero count and stops at the first observation of all N, and the events counted before
the start are left out: ``rate = (N - count_at_start) / (t_all - t_start)``. The baseline
observes its count after every ``getmany``; a worker's count is
``movierecs_events_ingested_total`` scraped from ``/metrics`` every ``--poll-s`` (an
observation is timed at the middle of its request). A poll sees the end late, so a worker's
rate is, if anything, understated by up to one poll interval.

The ingest agent sends item deltas on to the item agent, which may still be catching up
when the user table is done: ``item_backlog_at_end`` and ``items_drained_s`` say how much
and for how long (from committed offsets, so an upper bound). ``worker_cpu_us_per_event``
is the worker's CPU time over the measured span per event, the figure that other load on
the machine disturbs least; ``loadavg`` is the machine's 1-minute load during the run.

``user_row_bytes`` / ``user_row_encode_us`` are the users' final rows (the pre-loaded events
folded by ``tables.history``) in the table's codec, ``user_row_json_*`` the same rows as JSON,
what the table wrote before: a same-run comparison of the two encodings.

The last line printed is one JSON object with the figures. Topics of the run are deleted
at the end unless ``--keep-topics``; workers are stopped even when the run fails.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.kafka_tools import free_port
from app.codec import AvroCodec
from app.events import RateEvent, WatchEvent
from app.kafka_security import client_kwargs
from app.partitioning import user_key
from app.settings import Settings
from app.state_codec import UserStateCodec

REPO = Path(__file__).resolve().parents[1]
CODECS = {"watch": AvroCodec("WatchEvent"), "rate": AvroCodec("RateEvent")}
INGESTED = re.compile(rb"^movierecs_events_ingested_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)
Record = tuple[str, bytes, bytes]


@dataclass(frozen=True)
class Rate:
    """Events counted between the first and the last observation, and the seconds between."""

    events: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("nan")


def rate_between(samples: list[tuple[float, int]], total: int) -> Rate:
    """The rate from ``(time, count)`` observations: first non-zero count to first ``total``."""
    started = next((t, c) for t, c in samples if c > 0)
    finished = next(t for t, c in samples if c >= total)
    return Rate(total - started[1], finished - started[0])


# --- data and topics ------------------------------------------------------------------------

def synthetic_events(n: int, seed: int) -> Iterator[Record]:
    """The first ``n`` watch and rate events of a synthetic stream, Avro-encoded and keyed.

    The synthetic set has about 4 events per interaction (three watch minutes at most per
    viewing, as ``simulate`` sends them, and a rating), so its size grows with ``n``.
    """
    from models.data.events import build_stream
    from models.data.synthetic import generate

    interactions = max(100_000, n // 3)
    frame = generate(n_users=max(1000, interactions // 100), n_interactions=interactions, seed=seed)[0]
    stream = build_stream(frame, seed=seed, max_minutes=3, request_share=0.0)
    if len(stream) < n:
        raise ValueError(f"the synthetic stream has only {len(stream)} events, {n} asked")
    for index, (topic, user, value) in enumerate(stream):
        if index == n:
            return
        yield topic, user_key(int(user)), CODECS[topic].encode(value)


async def preload(settings: Settings, records: list[Record]) -> None:
    """Produce ``records``; the producer's default partitioner is Kafka's murmur2 of the key."""
    producer = AIOKafkaProducer(**client_kwargs(settings), linger_ms=20, max_batch_size=524_288,
                                acks="all")
    await producer.start()
    try:
        pending = [await producer.send(settings.topic(topic), value, key=key)
                   for topic, key, value in records]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def create_topics(env: dict[str, str]) -> None:
    """Every topic of the app, created the way operators do it, so the worker never waits on one."""
    subprocess.run([sys.executable, "-m", "app.cli", "topics", "create"], cwd=REPO, env=env,
                   check=True, stdout=subprocess.DEVNULL)


async def delete_topics(settings: Settings, prefix: str) -> None:
    """Drop the run's topics (its own and the workers' changelogs, all under ``prefix``)."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def offsets(settings: Settings, topics: list[str], partitions: int,
                  group: str | None = None) -> dict[str, int]:
    """Per topic, the sum of its end offsets, or of ``group``'s committed offsets when given."""
    tps = [TopicPartition(topic, p) for topic in topics for p in range(partitions)]
    if group is None:
        consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
        await consumer.start()
        try:
            found = await consumer.end_offsets(tps)
        finally:
            await consumer.stop()
    else:
        admin = AIOKafkaAdminClient(**client_kwargs(settings))
        await admin.start()
        try:
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        finally:
            await admin.close()
        found = {tp: max(meta.offset, 0) for tp, meta in committed.items()}  # -1: none yet
    totals = dict.fromkeys(topics, 0)
    for tp, offset in found.items():
        totals[tp.topic] += offset
    return totals


def wait_items_drained(settings: Settings, group: str, partitions: int,
                       timeout_s: float) -> tuple[int, float]:
    """Item deltas not yet consumed when ingest is done, and the seconds until they all are."""
    topic = settings.topic("item-interactions")
    started = time.monotonic()
    first = backlog = None
    while backlog != 0 and time.monotonic() - started < timeout_s:
        if backlog is not None:
            time.sleep(0.5)
        ends, done = (asyncio.run(offsets(settings, [topic], partitions, g)) for g in (None, group))
        backlog = ends[topic] - done[topic]
        first = backlog if first is None else first
    return first, time.monotonic() - started


def row_encodings(records: list[Record], settings: Settings, repeats: int = 3) -> dict[str, float]:
    """The users' final rows (``tables.history`` over ``records``) as the table's codec writes
    them and as JSON (Faust's codec, what the table wrote before): mean bytes and CPU
    microseconds to encode one row, the best of ``repeats`` passes over every row."""
    from faust.serializers import codecs

    from tables.history import apply_rate, apply_watch, new_user_state

    rows: dict[bytes, dict[str, Any]] = {}
    for topic, key, value in records:
        fields = CODECS[topic].decode(value)
        state = rows.setdefault(key, new_user_state())
        if topic == "watch":
            apply_watch(state, WatchEvent(**fields), settings.history_length, settings.user_max_movies)
        else:
            apply_rate(state, RateEvent(**fields), settings.history_length, settings.user_max_movies)
    figures: dict[str, float] = {}
    for name, codec in (("user_row", UserStateCodec()), ("user_row_json", codecs.get_codec("json"))):
        encoded = [codec.dumps(state) for state in rows.values()]
        best = float("inf")
        for _ in range(repeats):
            started = time.process_time()
            for state in rows.values():
                codec.dumps(state)
            best = min(best, time.process_time() - started)
        figures[f"{name}_bytes"] = round(sum(map(len, encoded)) / len(encoded))
        figures[f"{name}_encode_us"] = round(best / len(rows) * 1e6, 1)
    return figures


# --- readers ----------------------------------------------------------------------------------

async def bare_read(settings: Settings, total: int, partitions: int, timeout_s: float) -> Rate:
    """Read ``total`` records of the watch and rate topics and fastavro-decode each one."""
    consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(settings.topic(t), p) for t in CODECS for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        codecs = {settings.topic(t): codec for t, codec in CODECS.items()}
        samples: list[tuple[float, int]] = []
        count, deadline = 0, time.monotonic() + timeout_s
        while count < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"baseline read {count} of {total} in {timeout_s}s")
            for tp, records in (await consumer.getmany(timeout_ms=1000, max_records=1000)).items():
                decode = codecs[tp.topic].decode
                for record in records:
                    decode(record.value)
                count += len(records)
            samples.append((time.monotonic(), count))
        return rate_between(samples, total)
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class WorkerResult:
    """What one worker run measured."""

    rate: Rate
    startup_s: float
    cpu_s: float
    warnings: Counter[str]

    def figures(self, prefix: str) -> dict[str, object]:
        return {f"{prefix}measured_events": self.rate.events, f"{prefix}seconds": round(self.rate.seconds, 3),
                f"{prefix}startup_s": round(self.startup_s, 2),
                f"{prefix}cpu_us_per_event": round(self.cpu_s / self.rate.events * 1e6, 1),
                f"{prefix}cpu_share": round(self.cpu_s / self.rate.seconds, 2)}


class WorkerRun:
    """A worker process (``python -m <module> worker``) and its ingested-events counter.

    Used as a context manager, so the process is stopped however the run ends.
    """

    def __init__(self, module: str, env: dict[str, str], log_path: Path) -> None:
        self.module, self.env, self.log_path = module, env, log_path
        self.url = f"http://127.0.0.1:{env['MOVIE_RECS_WEB_PORT']}/metrics"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "WorkerRun":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", self.module, "worker", "-l", "info"],
                                         cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def ingested(self) -> int | None:
        """The sum of the worker's ingested counters, None while its web server is not up."""
        try:
            with urllib.request.urlopen(self.url, timeout=2.0) as rsp:
                body = rsp.read()
        except OSError:
            return None
        return int(sum(float(v) for v in INGESTED.findall(body)))

    def cpu_seconds(self) -> float:
        """User + system CPU the worker process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def measure(self, total: int, poll_s: float, timeout_s: float) -> WorkerResult:
        """Poll until ``total`` events are counted; CPU is taken over the same span as the rate."""
        samples: list[tuple[float, int]] = []
        spawned = time.monotonic()
        cpu_at_start = None
        while not samples or samples[-1][1] < total:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} exited {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() - spawned > timeout_s:
                raise TimeoutError(f"{self.module} counted {samples[-1][1] if samples else 0} of "
                                   f"{total} in {timeout_s}s:\n{self.log_tail()}")
            asked = time.monotonic()
            count = self.ingested()
            if count is not None:
                samples.append(((asked + time.monotonic()) / 2, count))
                if count and cpu_at_start is None:
                    cpu_at_start = self.cpu_seconds()
            time.sleep(poll_s)
        first_seen = next(t for t, c in samples if c > 0)
        return WorkerResult(rate_between(samples, total), first_seen - spawned,
                            self.cpu_seconds() - cpu_at_start, self.warnings())

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def warnings(self) -> Counter[str]:
        """WARNING and ERROR lines of the log by their message, numbers masked."""
        found: Counter[str] = Counter()
        for line in self.log_path.read_text(errors="replace").splitlines():
            match = re.search(r"\[(WARNING|ERROR)\] (.{0,70})", line)
            if match:
                found[re.sub(r"[0-9.]+", "N", f"{match[1]} {match[2]}".strip())] += 1
        return found


# --- the run --------------------------------------------------------------------------------

def base_parser(description: str) -> argparse.ArgumentParser:
    """The options every worker benchmark shares: size, broker, partitions, seed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--events", type=int, default=200_000, help="events to pre-load and ingest")
    parser.add_argument("--bootstrap", default=os.environ.get("MOVIE_RECS_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = base_parser(__doc__.split("\n")[0])
    parser.add_argument("--poll-s", type=float, default=0.1, help="seconds between /metrics scrapes")
    parser.add_argument("--timeout-s", type=float, default=600.0, help="give up on a phase after this")
    parser.add_argument("--faust-noop", action="store_true",
                        help="also time a Faust worker that only counts the batches (bench.faust_noop)")
    parser.add_argument("--snapshots", action="store_true",
                        help="also run the worker's snapshot sink (a separate consumer; off by default)")
    parser.add_argument("--keep-topics", action="store_true", help="leave the run's topics on the broker")
    return parser.parse_args(argv)


def worker_env(args: argparse.Namespace, app_id: str, prefix: str, workdir: Path) -> dict[str, str]:
    """The environment of a worker with its own group, port and directories (none in the repo)."""
    return {**os.environ, "MOVIE_RECS_KAFKA_BOOTSTRAP": args.bootstrap, "MOVIE_RECS_TOPIC_PREFIX": prefix,
            "MOVIE_RECS_APP_ID": app_id, "MOVIE_RECS_PARTITIONS": str(args.partitions),
            "MOVIE_RECS_WEB_PORT": str(free_port()), "MOVIE_RECS_DATA_DIR": str(workdir / app_id),
            "MOVIE_RECS_SNAPSHOTS": f"file://{workdir / 'snapshots'}",
            "MOVIE_RECS_REGISTRY": f"file://{workdir / 'registry'}",
            "MOVIE_RECS_SNAPSHOT_ENABLED": "true" if args.snapshots else "false",
            "MOVIE_RECS_RATINGS_PER_USER_HOUR": "0"}  # replayed history is not abuse: no per-user cap


def run(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    app_id = f"bench-{uuid.uuid4().hex[:8]}"
    prefix = f"{app_id}-"  # the worker's changelogs are named <app_id>-..., so they share it
    env = worker_env(args, app_id, prefix, workdir)
    settings = Settings(kafka_bootstrap=args.bootstrap, topic_prefix=prefix, partitions=args.partitions)
    written_to = {"item_deltas": settings.topic("item-interactions"),
                  "user_changelog_records": f"{app_id}-user_history-changelog",
                  "item_changelog_records": f"{app_id}-item_stats-changelog"}
    records = list(synthetic_events(args.events, args.seed))
    kinds = Counter(topic for topic, _, _ in records)
    figures: dict[str, object] = {"events": len(records), "watch_events": kinds["watch"],
                                  "rate_events": kinds["rate"], **row_encodings(records, Settings())}
    try:
        create_topics(env)
        started = time.monotonic()
        asyncio.run(preload(settings, records))
        figures["preload_s"] = round(time.monotonic() - started, 2)
        baseline = asyncio.run(bare_read(settings, len(records), args.partitions, args.timeout_s))
        with WorkerRun("app.cli", env, workdir / "worker.log") as worker:
            ours = worker.measure(len(records), args.poll_s, args.timeout_s)
            figures["loadavg"] = round(os.getloadavg()[0], 2)
            backlog, drained_s = wait_items_drained(settings, app_id, args.partitions,
                                                    min(args.timeout_s, 120.0))
        written = asyncio.run(offsets(settings, list(written_to.values()), args.partitions))
        if args.faust_noop:
            noop_env = worker_env(args, f"{app_id}-noop", prefix, workdir)
            with WorkerRun("bench.faust_noop", noop_env, workdir / "noop.log") as noop:
                floor = noop.measure(len(records), args.poll_s, args.timeout_s)
            figures.update(faust_noop_events_per_s=round(floor.rate.per_s), **floor.figures("faust_noop_"))
    finally:
        if not args.keep_topics:
            asyncio.run(delete_topics(settings, prefix))
    return {
        **figures,
        "events_per_s": round(ours.rate.per_s), "baseline_events_per_s": round(baseline.per_s),
        "ratio": round(ours.rate.per_s / baseline.per_s, 3),
        **ours.figures("worker_"),
        "baseline_measured_events": baseline.events, "baseline_seconds": round(baseline.seconds, 3),
        "item_backlog_at_end": backlog, "items_drained_s": round(drained_s, 1),
        **{name: written[topic] for name, topic in written_to.items()},
        "cpus": os.cpu_count(), "worker_warnings": sum(ours.warnings.values()),
        "worker_warning_kinds": dict(ours.warnings.most_common(3)),
    }


def print_table(result: dict[str, object]) -> None:
    rows = [("bare aiokafka + fastavro decode", "baseline_events_per_s", "baseline_seconds", None),
            ("worker: decode, validate, tables", "events_per_s", "worker_seconds", "worker_cpu_us_per_event"),
            ("Faust no-op agents (count only)", "faust_noop_events_per_s", "faust_noop_seconds",
             "faust_noop_cpu_us_per_event")]
    print(f"{result['events']} events ({result['watch_events']} watch, {result['rate_events']} rate), "
          f"load average {result['loadavg']} on {result['cpus']} CPUs")
    print(f"{'reader':34} {'events/s':>10} {'seconds':>8} {'CPU us/event':>13}")
    for name, per_s, seconds, cpu in rows:
        if per_s in result:
            print(f"{name:34} {result[per_s]:>10,} {result[seconds]:>8.2f} {result.get(cpu, ''):>13}")
    print(f"ratio {result['ratio']:.3f}; worker start-up {result['worker_startup_s']} s (excluded); "
          f"item backlog at the end {result['item_backlog_at_end']}, "
          f"drained in {result['items_drained_s']} s; {result['worker_warnings']} worker warnings")
    print(f"a user's final row: {result['user_row_bytes']:,} bytes, {result['user_row_encode_us']} us to encode "
          f"(as JSON: {result['user_row_json_bytes']:,} bytes, {result['user_row_json_encode_us']} us)")


def bench_main(name: str, args: Any, run: Callable[..., dict], print_table: Callable[[dict], None],
               keep: Path | None = None) -> None:
    """Run a worker benchmark in a temporary directory (``keep``, when given, is kept); the
    table, then one JSON line."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the workers are stopped on SIGTERM too
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        result = run(args, keep)
    else:
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as workdir:
            result = run(args, Path(workdir))
    print_table(result)
    print(json.dumps(result, separators=(",", ":")))


def main(argv: list[str] | None = None) -> None:
    bench_main("ingest", parse_args(argv), run, print_table)


if __name__ == "__main__":
    main()

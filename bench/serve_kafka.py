"""Kafka serving round trip: a RecoRequest in, its RecoResponse out, worker beside a bare echo.

Run from the repository root, with the broker in MOVIE_RECS_KAFKA_BOOTSTRAP::

    python -m bench.serve_kafka [--rate 200] [--duration 20 | --requests N]

What happens, all in one run so both figures see the same broker and machine:

1. An ALS model is trained on ML-100K and registered in a registry of this run (or
   ``--registry URL`` names one that holds an ALS model).
2. ``floor``: a bare aiokafka echo service (``bench/serving_peers.py``: consume a request,
   produce a precomputed ``RecoResponse`` keyed by its request id), on topics of its own.
   ``ours``: a real ``python -m app.cli worker`` with ``MOVIE_RECS_SERVE_MODEL=als`` (Kafka
   consumer, tables, traces and all) on the run's topics, created first with
   ``python -m app.cli topics create``. The service is pinned to core ``--server-cpu``, this
   process (the client) to ``--client-cpu``; the broker runs where the OS puts it.
3. Against each: pings until the first answer (start-up, group join), ``--warmup-s`` at the
   rate (not counted), then ``rate x duration`` requests on a fixed schedule (open loop).

A request is an Avro ``RecoRequest`` keyed by its user id (drawn uniformly from 1..943,
ML-100K's users), ``k=10``, sent by an aiokafka producer with ``linger_ms=0``. The client
reads every partition of ``reco-responses`` from its end and matches answers by request id.
Round trip = arrival of the answer at the client - the request's due time. An error is an
answer with a status other than 200, or none within ``--timeout-s``. The services' own
``latency_ms`` (what they report in the response) is summarised too, to show how much of
the round trip is Kafka and how much the service; with the response's ``ts`` (whole ms,
taken when it is made) the round trip is split into ``to_service`` (client send to the
service starting on it) and ``from_service`` (response made to its arrival at the client),
good to about a millisecond. For ``ours`` the partitions its consumer fetches and those it
holds paused (``movierecs_consumer_partitions``) are read from its ``/metrics`` at the end.

The last line printed is one JSON object with every figure. Every process started is
stopped on exit, also on an error or SIGTERM, and the run's topics are deleted.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import time
import urllib.request
import uuid
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench import serving_peers as peers
from bench.ingest import bench_main


async def wait_until(due: float) -> None:
    """Sleep until ``due`` (perf_counter), spinning the event loop for the last 1.5 ms."""
    gap = due - time.perf_counter()
    if gap > 0.002:
        await asyncio.sleep(gap - 0.0015)
    while time.perf_counter() < due:
        await asyncio.sleep(0)


class Client:
    """A producer of requests and a reader of every response partition, in this process."""

    def __init__(self, bootstrap: str, prefix: str, run_id: str) -> None:
        from app.codec import AvroCodec

        self.bootstrap, self.prefix, self.run_id = bootstrap, prefix, run_id
        self.requests, self.responses = AvroCodec("RecoRequest"), AvroCodec("RecoResponse")
        self.arrived: dict[str, tuple[float, int, float, float]] = {}
        """request id -> (arrival perf_counter, status, the service's latency_ms, ms from service to client)"""
        self.sent_wall: dict[str, float] = {}
        self.service_ts: dict[str, float] = {}
        self.stale = 0

    async def __aenter__(self) -> "Client":
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

        from app.settings import Settings
        from app.topic_reader import partitions_of

        topic = f"{self.prefix}reco-responses"
        partitions = await asyncio.wait_for(partitions_of(Settings(kafka_bootstrap=self.bootstrap), topic, wait=True), 60.0)
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=0, acks=1)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                         fetch_max_wait_ms=100)
        try:
            await self.producer.start()
            await self.consumer.start()
            tps = [TopicPartition(topic, p) for p in partitions]
            self.consumer.assign(tps)
            await self.consumer.seek_to_end(*tps)
            for tp in tps:
                await self.consumer.position(tp)
        except BaseException:
            await self.consumer.stop()
            await self.producer.stop()
            raise
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)
        await self.consumer.stop()
        await self.producer.stop()

    async def _read(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=100)
            at, wall_ms = time.perf_counter(), time.time() * 1000
            for records in batch.values():
                for record in records:
                    response = self.responses.decode(record.value)
                    if not response["request_id"].startswith(self.run_id):
                        self.stale += 1
                        continue
                    # The response's ts is whole ms taken as it was made: +0.5 ms is its expected value.
                    self.service_ts[response["request_id"]] = response["ts"] + 0.5
                    self.arrived[response["request_id"]] = (at, response["status"], response["latency_ms"],
                                                            wall_ms - response["ts"] - 0.5)

    async def send(self, request_id: str, user_id: int, k: int = 10) -> None:
        self.sent_wall[request_id] = time.time() * 1000
        value = self.requests.encode({"request_id": request_id, "ts": int(time.time() * 1000), "user_id": user_id,
                                      "k": k, "client_id": "bench", "exclude": []})
        await self.producer.send(f"{self.prefix}reco-requests", value, key=str(user_id).encode())

    async def first_answer(self, timeout_s: float) -> float:
        """Ping until the service answers one with a list (a 503 before its model is loaded does not count)."""
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < timeout_s:
            await self.send(f"{self.run_id}-ping-{n}", 1 + n % peers.USERS)
            n += 1
            await asyncio.sleep(0.2)
            if any(rid.startswith(f"{self.run_id}-ping-") and got[1] == 200 for rid, got in self.arrived.items()):
                return time.monotonic() - started
        raise TimeoutError(f"no answer on {self.prefix}reco-responses in {timeout_s}s")

    async def open_loop(self, phase: str, rate: float, requests: int, timeout_s: float, seed: int,
                        check: Callable[[], None]) -> dict[str, Any]:
        """``requests`` requests due every ``1/rate`` s; latency of each from its due time."""
        users = np.random.default_rng(seed).integers(1, peers.USERS + 1, size=requests).tolist()
        ids = [f"{self.run_id}-{phase}-{i}" for i in range(requests)]
        t0 = time.perf_counter() + 0.05
        due = [t0 + i / rate for i in range(requests)]
        lag = np.zeros(requests)
        for i in range(requests):
            await wait_until(due[i])
            lag[i] = time.perf_counter() - due[i]
            await self.send(ids[i], users[i])
            if i % 200 == 0:
                check()
        deadline = due[-1] + timeout_s
        while time.perf_counter() < deadline and not all(rid in self.arrived for rid in ids[-50:]):
            await asyncio.sleep(0.01)
        await asyncio.sleep(min(0.5, max(0.0, deadline - time.perf_counter())))
        latencies, service, inbound, outbound, errors = [], [], [], [], Counter()
        for rid, at in zip(ids, due):
            got = self.arrived.get(rid)
            if got is None or got[0] - at > timeout_s:
                errors["no answer in time"] += 1
            elif got[1] != 200:
                errors[f"status {got[1]}"] += 1
            else:
                latencies.append((got[0] - at) * 1000)
                service.append(got[2])
                inbound.append(self.service_ts[rid] - got[2] - self.sent_wall[rid])
                outbound.append(got[3])
        ms, service_ms = np.asarray(latencies), np.asarray(service)
        # p50 of each quarter of the run: a rising trend means the service falls behind the rate.
        quarters = [peers.pct(q, 50) for q in np.array_split(ms, 4)] if ms.size >= 4 else []
        out = {"rate": rate, "requests": requests, "ok": int(ms.size), "errors": sum(errors.values()),
               "p50_ms": peers.pct(ms, 50), "p90_ms": peers.pct(ms, 90), "p99_ms": peers.pct(ms, 99),
               "max_ms": round(float(ms.max()), 3) if ms.size else None,
               "service_p50_ms": peers.pct(service_ms, 50), "service_p99_ms": peers.pct(service_ms, 99),
               "to_service_p50_ms": peers.pct(np.asarray(inbound), 50), "to_service_p99_ms": peers.pct(np.asarray(inbound), 99),
               "from_service_p50_ms": peers.pct(np.asarray(outbound), 50),
               "from_service_p99_ms": peers.pct(np.asarray(outbound), 99),
               "client_lag_p99_ms": peers.pct(lag * 1000, 99), "p50_by_quarter_ms": quarters}
        if errors:
            out["error_kinds"] = dict(errors)
        return out


def consumer_partitions(port: str) -> dict[str, int]:
    """``{"fetched": n, "paused": m}`` from a worker's ``/metrics``; empty when it has no such gauge."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5.0) as rsp:
        text = rsp.read().decode()
    return {sample.labels["state"]: int(sample.value) for family in text_string_to_metric_families(text)
            if family.name == "movierecs_consumer_partitions" for sample in family.samples}


async def measure(name: str, proc: peers.Proc, args: argparse.Namespace, prefix: str, run_id: str,
                  log: Callable[[str], None]) -> dict[str, Any]:
    async with Client(args.bootstrap, prefix, run_id) as client:
        ready_s = await client.first_answer(args.ready_timeout_s)
        log(f"{name}: first answer after {ready_s:.1f}s")
        await client.open_loop("warm", args.rate, max(1, int(args.rate * args.warmup_s)), args.timeout_s,
                               args.seed + 99, proc.check)
        requests = args.requests or int(args.rate * args.duration)
        cpu = proc.cpu_seconds()
        started = time.perf_counter()
        report = await client.open_loop("run", args.rate, requests, args.timeout_s, args.seed, proc.check)
        report["service_cpu_share"] = round((proc.cpu_seconds() - cpu) / (time.perf_counter() - started), 3)
        report["service_cpu_ms_per_request"] = round(report["service_cpu_share"] / args.rate * 1000, 3)
        report["first_answer_s"] = round(ready_s, 1)
        report["stale_answers"] = client.stale
        if args.profile and name == "ours":
            report["profile"] = str(await profile(proc, client, args, log))
    log(f"{name:6} {args.rate:.0f}/s  p50 {report['p50_ms']} ms  p99 {report['p99_ms']} ms  "
        f"errors {report['errors']}  service p50 {report['service_p50_ms']} ms  "
        f"to service p50 {report['to_service_p50_ms']} ms  from service p50 {report['from_service_p50_ms']} ms  "
        f"client lag p99 {report['client_lag_p99_ms']} ms")
    return report


async def profile(proc: peers.Proc, client: Client, args: argparse.Namespace, log: Callable[[str], None]) -> Path:
    """py-spy the service (non-blocking sampling) through one extra, uncounted run at the rate."""
    args.profile.mkdir(parents=True, exist_ok=True)
    path, seconds = args.profile / f"worker-kafka-{args.rate:.0f}rps.txt", 8
    spy = await asyncio.create_subprocess_exec(
        "py-spy", "record", "--pid", str(proc.pid), "--rate", "1000", "--nonblocking", "--duration", str(seconds),
        "--format", "raw", "-o", str(path), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.sleep(0.5)
        await client.open_loop("profiled", args.rate, int(args.rate * (seconds - 1)), args.timeout_s,
                               args.seed + 7, proc.check)
        await asyncio.wait_for(spy.wait(), 30)
    finally:
        if spy.returncode is None:
            spy.kill()
            await spy.wait()
    log(f"py-spy profile of the worker: {path}")
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of the measured run")
    parser.add_argument("--requests", type=int, default=None,
                        help="requests of the measured run (overrides --duration)")
    parser.add_argument("--warmup-s", type=float, default=3.0, help="seconds at the rate before measuring")
    parser.add_argument("--timeout-s", type=float, default=5.0, help="an answer later than this is an error")
    parser.add_argument("--ready-timeout-s", type=float, default=180.0)
    parser.add_argument("--servers", default="floor,ours", help="any of floor,ours")
    parser.add_argument("--registry", default="", help="a registry URL with an ALS model; default: train one")
    parser.add_argument("--data", type=Path, default=peers.DEFAULT_DATA, help="ML-100K folder")
    parser.add_argument("--bootstrap", default=os.environ.get("MOVIE_RECS_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--worker-log-level", default="info")
    parser.add_argument("--profile", type=Path, default=None,
                        help="at the end, record a py-spy profile (collapsed stacks) of the worker here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="keep logs and the registry in this folder")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    peers.pin(args.client_cpu)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    registry = args.registry
    if not registry:
        registry = f"file://{workdir / 'registry'}"
        peers.train_als(registry, args.data, workdir / "train.log")
    run_id = uuid.uuid4().hex[:8]
    root = f"bench-kafka-{run_id}-"
    result: dict[str, Any] = {"rate": args.rate, "cpus": os.cpu_count(), "server_cpu": args.server_cpu,
                              "client_cpu": args.client_cpu, "machine_load_at_start": peers.Machine.now().__dict__,
                              "stack": peers.stack_versions(),
                              "servers": {}}
    try:
        for name in servers:
            prefix = f"{root}{name}-"
            env = peers.worker_env(bootstrap=args.bootstrap, prefix=prefix, app_id=f"{root}{name}",
                                   port=peers.free_port(), workdir=workdir / name, registry_url=registry,
                                   partitions=args.partitions)
            if name == "ours" and not peers.worker_serves():
                result["servers"]["ours"] = {"measurable": False, "why": "the worker does not serve yet"}
                log("ours: not measurable, the worker does not serve yet")
                continue
            (workdir / name).mkdir(parents=True, exist_ok=True)
            peers.create_topics(env)
            if name == "floor":
                proc = peers.peer("echo", registry, workdir / "echo.log", cpu=args.server_cpu, data=None,
                                  extra=["--bootstrap", args.bootstrap, "--prefix", prefix, "--group", f"{root}echo"])
            else:
                proc = peers.worker(env, workdir / "worker.log", cpu=args.server_cpu, log_level=args.worker_log_level)
            with proc:
                result["servers"][name] = {"measurable": True,
                                           **asyncio.run(measure(name, proc, args, prefix, run_id, log))}
                if name == "ours":
                    result["servers"][name]["consumer_partitions"] = consumer_partitions(env["MOVIE_RECS_WEB_PORT"])
    finally:
        asyncio.run(peers.delete_topics(args.bootstrap, root))
    return headline(result)


def headline(result: dict[str, Any]) -> dict[str, Any]:
    servers = result["servers"]
    ours, floor = servers.get("ours", {}), servers.get("floor", {})
    top: dict[str, Any] = {"p50_ms": ours.get("p50_ms"), "p99_ms": ours.get("p99_ms"),
                           "floor_p50_ms": floor.get("p50_ms"), "floor_p99_ms": floor.get("p99_ms"),
                           "errors": ours.get("errors"), "floor_errors": floor.get("errors"),
                           "service_p50_ms": ours.get("service_p50_ms"), "service_p99_ms": ours.get("service_p99_ms")}
    top["p50_ratio"] = peers.ratio(top["p50_ms"], top["floor_p50_ms"])
    top["p99_ratio"] = peers.ratio(top["p99_ms"], top["floor_p99_ms"])
    top["fetched_partitions"] = ours.get("consumer_partitions", {}).get("fetched")
    top["ours_measurable"] = bool(ours.get("measurable"))
    if top["ours_measurable"]:
        top["goals"] = {"p50_under_10ms": top["p50_ms"] is not None and top["p50_ms"] < 10.0,
                        "p50_within_1_5x_floor": top["p50_ratio"] is not None and top["p50_ratio"] <= 1.5,
                        "zero_errors": top["errors"] == 0}
    return {**top, **result}


def print_table(result: dict[str, Any]) -> None:
    print(f"{'service':7} {'rate/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'service p50 ms':>15}")
    for name, row in result["servers"].items():
        if row.get("measurable"):
            print(f"{name:7} {row['rate']:>7.0f} {row['p50_ms']!s:>8} {row['p99_ms']!s:>8} {row['errors']:>6} "
                  f"{row['service_p50_ms']!s:>15}")
        else:
            print(f"{name:7} not measurable: {row['why']}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    bench_main("serve-kafka", args, partial(run, log=peers.log), print_table, keep=args.keep)


if __name__ == "__main__":
    main()

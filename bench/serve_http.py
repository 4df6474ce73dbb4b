"""HTTP serving latency and throughput: the worker's ``/recommend`` beside a bare floor and FastAPI.

Run from the repository root, with the broker in MOVIE_RECS_KAFKA_BOOTSTRAP::

    python -m bench.serve_http [--rates 200,1000,2000] [--duration 5 | --requests N] [--rounds 2]

What happens, all in one run so every figure sees the same machine:

1. An ALS model is trained on ML-100K and registered in a registry of this run (or
   ``--registry URL`` names one that holds an ALS model).
2. Three servers start together, each pinned to core ``--server-cpu`` while this process
   (the load client) is pinned to ``--client-cpu``: ``floor`` (bare aiohttp, a precomputed
   body per user), ``fastapi`` (FastAPI + uvicorn with the worker's scoring, see
   ``bench/serving_peers.py``) and ``ours`` (a real ``python -m app.cli worker`` with
   ``MOVIE_RECS_SERVE_MODEL=als``: Kafka consumer, tables, traces and all, on topics of its
   own). Only one is under load at a time; the others idle (their idle CPU is reported).
3. Each gets a warm-up (its answers are checked for the DESIGN §4 shape). Then, ``--rounds``
   times, every fixed rate is run against each server in turn (``--duration`` seconds, or
   ``--requests``, per turn); taking turns spreads whatever else the machine does over all
   servers alike. A server's figures at a rate pool its turns. Last, each server's maximum
   sustainable rate is searched.

Open loop: request i is due at ``t0 + i / rate`` whatever the answers do, and its latency
is measured from that due time, so time spent waiting (for a free connection in the client
or in the server's queue) counts. The client keeps ``--connections`` keep-alive HTTP/1.1
connections and sends a due request on an idle one; it busy-polls epoll so it sends on time
(its own lateness is reported as ``client_lag_p99_ms``). User ids are drawn uniformly from
1..943 (ML-100K's users), ``k=10``. An error is a non-200 answer, a closed connection, or no
answer ``--timeout-s`` after the due time.

Maximum sustainable throughput: the highest offered rate, held for ``--step-s`` seconds,
with no error and a p99 at or under ``--max-p99-ms`` (default 50 ms: far above the machine's
jitter of 5-9 ms, far below what a server that falls behind shows, since its queue grows
for the whole step). The search multiplies the rate by ``--step-factor`` from
``--max-start`` until a step fails, then bisects ``--bisect`` times; a failing step is tried
``--retries`` more times before it counts as failed (a shared machine has hiccups), and a
step in which the client itself ran late (``client_lag_p99_ms`` over half the bound: the
machine stalled, not the server) is run again, up to 3 times.

The last line printed is one JSON object with every figure. Every process started is
stopped on exit, also on an error or SIGTERM, and the run's topics are deleted.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter, deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench import serving_peers as peers
from bench.ingest import bench_main
MAX_STALLS = 3
"""Maximum-search steps spoilt by a stalled client that are run again, on top of ``--retries``."""
SERVERS = ("floor", "fastapi", "ours")
LABELS = {"floor": "bare aiohttp, precomputed", "fastapi": "FastAPI+uvicorn, ALS scoring",
          "ours": "worker /recommend, ALS"}


# --- the open-loop client -------------------------------------------------------------------

@dataclass
class Step:
    """One open-loop run at a fixed rate."""

    rate: float
    requests: int
    latencies_ms: np.ndarray
    """Latency of every answered request (200), from its due time."""
    errors: Counter = field(default_factory=Counter)
    client_lag_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    seconds: float = 0.0
    """From the first due time to the last answer."""
    server_cpu_s: float | None = None
    reconnects: int = 0
    """Connections the server closed (or that timed out) and the client opened again."""
    waited_s: float = 0.0
    """How long the servers took to go idle before this step."""
    machine_busy_s: float | None = None
    """CPU seconds of all cores busy during the step: server, client and anything else."""
    bodies: list[bytes] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def pct(self, q: float) -> float | None:
        return peers.pct(self.latencies_ms, q)

    def summary(self) -> dict[str, Any]:
        ok = int(self.latencies_ms.size)
        out: dict[str, Any] = {
            "rate": self.rate, "requests": self.requests, "ok": ok, "errors": self.error_count,
            "p50_ms": self.pct(50), "p90_ms": self.pct(90), "p99_ms": self.pct(99), "p999_ms": self.pct(99.9),
            "max_ms": round(float(self.latencies_ms.max()), 3) if ok else None,
            "achieved_rps": round(ok / self.seconds, 1) if self.seconds > 0 else None,
            "reconnects": self.reconnects,
            "client_lag_p99_ms": (round(float(np.percentile(self.client_lag_ms, 99)), 3)
                                  if self.client_lag_ms.size else None),
        }
        if self.errors:
            out["error_kinds"] = dict(self.errors)
        if self.machine_busy_s is not None and self.seconds > 0:
            out["machine_busy_cores"] = round(self.machine_busy_s / self.seconds, 2)
        if self.server_cpu_s is not None and ok:
            out["server_cpu_us_per_request"] = round(self.server_cpu_s / ok * 1e6, 1)
            out["server_cpu_share"] = round(self.server_cpu_s / self.seconds, 3) if self.seconds else None
        return out


class _Conn:
    __slots__ = ("sock", "buf", "index")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.index = -1  # the request in flight, -1 when idle


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=5.0)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return sock


def _response_end(buf: bytearray) -> tuple[int, int] | None:
    """``(status, bytes of the whole response)`` once ``buf`` holds a complete response."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buf[:head_end]).lower()
    status = int(head[9:12])
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        line_end = head.find(b"\r\n", at + 2)
        length = int(head[at + 17: line_end if line_end >= 0 else len(head)])
        total = head_end + 4 + length
        return (status, total) if len(buf) >= total else None
    if b"transfer-encoding: chunked" in head:
        last = buf.find(b"\r\n0\r\n\r\n", head_end)
        if last < 0 and buf[head_end + 4: head_end + 9] == b"0\r\n\r\n":
            return status, head_end + 9
        return (status, last + 7) if last >= 0 else None
    return status, head_end + 4  # no body (e.g. 204)


def open_loop(address: tuple[str, int], rate: float, requests: int, *, connections: int, timeout_s: float,
              seed: int, k: int = 10, keep_bodies: int = 0) -> Step:
    """Send ``requests`` GET /recommend at ``rate`` per second on a fixed schedule; see the module doc."""
    rng = np.random.default_rng(seed)
    users = rng.integers(1, peers.USERS + 1, size=requests)
    host = f"{address[0]}:{address[1]}".encode()
    wire = [b"GET /recommend/%d?k=%d HTTP/1.1\r\nHost: %s\r\n\r\n" % (u, k, host) for u in users.tolist()]
    latency = np.full(requests, np.nan)
    lag = np.zeros(requests)
    errors: Counter = Counter()
    bodies: list[bytes] = []
    poller = select.epoll()
    conns: dict[int, _Conn] = {}
    idle: deque[_Conn] = deque()
    opened = 0

    def add_conn() -> None:
        nonlocal opened
        opened += 1
        conn = _Conn(_connect(address))
        conns[conn.sock.fileno()] = conn
        poller.register(conn.sock.fileno(), select.EPOLLIN)
        idle.append(conn)

    def drop_conn(conn: _Conn) -> None:
        fd = conn.sock.fileno()
        poller.unregister(fd)
        del conns[fd]
        conn.sock.close()
        if conn in idle:
            idle.remove(conn)

    for _ in range(connections):
        add_conn()
    interval = 1.0 / rate
    t0 = time.perf_counter() + 0.02
    due = t0 + np.arange(requests) * interval
    hard_stop = t0 + requests * interval + timeout_s + 2.0
    pending: deque[int] = deque()
    next_i = finished = 0
    last_done = t0
    next_sweep = t0
    perf = time.perf_counter
    try:
        while finished < requests:
            now = perf()
            while next_i < requests and due[next_i] <= now:
                lag[next_i] = now - due[next_i]
                pending.append(next_i)
                next_i += 1
            while pending and idle:
                conn = idle.popleft()
                i = pending.popleft()
                try:
                    conn.sock.send(wire[i])
                    conn.index = i
                except OSError as exc:
                    errors[f"send: {type(exc).__name__}"] += 1
                    finished += 1
                    drop_conn(conn)
                    add_conn()
            # Spin (poll without blocking) unless the next send is over 1.5 ms away: epoll
            # sleeps in whole milliseconds, and an answer wakes it at once anyway.
            wait_s = 0.0
            if not pending and next_i < requests:
                gap = due[next_i] - now
                if gap > 0.0015:
                    wait_s = int((gap - 0.0005) * 1000) / 1000
            for fd, _ in poller.poll(wait_s):
                conn = conns.get(fd)
                if conn is None:
                    continue
                try:
                    data = conn.sock.recv(262144)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                at = perf()
                if not data:
                    if conn.index >= 0:
                        errors["connection closed"] += 1
                        finished += 1
                    drop_conn(conn)
                    add_conn()
                    continue
                conn.buf += data
                while conn.index >= 0:
                    found = _response_end(conn.buf)
                    if found is None:
                        break
                    status, total = found
                    i = conn.index
                    if status == 200:
                        latency[i] = at - due[i]
                        if len(bodies) < keep_bodies:
                            head_end = conn.buf.find(b"\r\n\r\n")
                            bodies.append(bytes(conn.buf[head_end + 4: total]))
                    else:
                        errors[f"status {status}"] += 1
                    del conn.buf[:total]
                    conn.index = -1
                    finished += 1
                    last_done = at
                    idle.append(conn)
            if now >= next_sweep:  # time-outs, every 10 ms
                next_sweep = now + 0.01
                for conn in [c for c in conns.values() if c.index >= 0 and now - due[c.index] > timeout_s]:
                    errors["timeout"] += 1
                    finished += 1
                    drop_conn(conn)
                    add_conn()
                while pending and now - due[pending[0]] > timeout_s:
                    pending.popleft()
                    errors["timeout (no free connection)"] += 1
                    finished += 1
                if now > hard_stop:
                    errors["unfinished"] += requests - finished
                    break
    finally:
        for conn in list(conns.values()):
            conn.sock.close()
        poller.close()
    answered = latency[~np.isnan(latency)] * 1000.0
    return Step(rate=rate, requests=requests, latencies_ms=answered, errors=errors,
                client_lag_ms=lag[:next_i] * 1000.0, seconds=last_done - t0, bodies=bodies,
                reconnects=opened - connections)


# --- one server -----------------------------------------------------------------------------

def check_body(body: bytes, k: int = 10) -> str | None:
    """Why an answer does not have the DESIGN §4 shape, or None."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        return f"not JSON: {exc}"
    movies = data.get("movies")
    if not isinstance(movies, list) or len(movies) != k:
        return f"movies is not a list of {k}: {str(movies)[:200]}"
    if not all({"movie_id", "title", "score"} <= set(m) for m in movies):
        return f"a movie lacks movie_id, title or score: {movies[0]}"
    if not isinstance(data.get("provenance"), dict) or "user_id" not in data:
        return "no user_id or provenance"
    return None


@dataclass
class Plan:
    rates: list[float]
    requests_at: Callable[[float], int]
    rounds: int
    connections: int
    timeout_s: float
    max_start: float
    step_factor: float
    bisect: int
    retries: int
    step_s: float
    max_p99_ms: float
    max_rate: float
    seed: int
    find_max: bool
    settle_s: float


def merge(steps: list[Step]) -> Step:
    """The rounds of one server at one rate as one sample."""
    cpu = [s.server_cpu_s for s in steps]
    return Step(rate=steps[0].rate, requests=sum(s.requests for s in steps),
                latencies_ms=np.concatenate([s.latencies_ms for s in steps]),
                errors=sum((s.errors for s in steps), Counter()),
                client_lag_ms=np.concatenate([s.client_lag_ms for s in steps]),
                seconds=sum(s.seconds for s in steps),
                server_cpu_s=None if None in cpu else sum(cpu), reconnects=sum(s.reconnects for s in steps),
                machine_busy_s=sum(s.machine_busy_s or 0.0 for s in steps))


@dataclass
class Server:
    """One started server under test and how to load it."""

    name: str
    proc: peers.Proc
    port: int
    plan: Plan
    report: dict[str, Any] = field(default_factory=dict)
    steps: dict[float, list[Step]] = field(default_factory=dict)

    def step(self, rate: float, requests: int, seed: int, keep: int = 0) -> Step:
        self.proc.check()
        cpu, busy = self.proc.cpu_seconds(), peers.busy_cpu_seconds()
        result = open_loop(("127.0.0.1", self.port), rate, requests, connections=self.plan.connections,
                           timeout_s=self.plan.timeout_s, seed=seed, keep_bodies=keep)
        result.server_cpu_s = self.proc.cpu_seconds() - cpu
        result.machine_busy_s = peers.busy_cpu_seconds() - busy
        return result

    def prepare(self) -> None:
        """Idle CPU, then a warm-up whose answers must have the DESIGN §4 shape."""
        cpu, started = self.proc.cpu_seconds(), time.monotonic()
        time.sleep(2.0)
        idle_share = (self.proc.cpu_seconds() - cpu) / (time.monotonic() - started)
        warm = self.step(500, 1000, self.plan.seed + 99, keep=20)
        problems = [p for p in map(check_body, warm.bodies) if p]
        if warm.error_count or problems or not warm.bodies:
            raise RuntimeError(f"{self.name}: warm-up failed: {warm.summary()} {problems[:2]}\n"
                               f"{self.proc.log_tail()}")
        self.report.update(label=LABELS[self.name], body_bytes=len(warm.bodies[0]),
                           idle_cpu_share=round(idle_share, 3))


def quiesce(servers: list[Server], log: Callable[[str], None], timeout_s: float = 60.0) -> float:
    """Wait until the servers together use under 5% of a core (a worker may still be working off a
    backlog of Kafka sends after a step it could not keep up with); the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        before = sum(server.proc.cpu_seconds() for server in servers)
        time.sleep(0.5)
        if sum(server.proc.cpu_seconds() for server in servers) - before < 0.025:
            break
    waited = time.monotonic() - started
    if waited > 1.0:
        log(f"waited {waited:.1f}s for the servers to go idle")
    return waited


def measure(servers: list[Server], plan: Plan, log: Callable[[str], None]) -> None:
    """Every fixed rate, the servers taking turns, ``plan.rounds`` times; then each one's maximum.

    Taking turns spreads whatever else the machine does over all servers alike, so the
    ratios of one run compare like with like.
    """
    for server in servers:
        server.prepare()
    for round_ in range(plan.rounds):
        for rate in plan.rates:
            for server in servers:
                waited = quiesce(servers, log)
                result = server.step(rate, plan.requests_at(rate), plan.seed + round_)
                result.waited_s = waited
                server.steps.setdefault(rate, []).append(result)
                summary = result.summary()
                log(f"{server.name:8} {rate:7.0f}/s round {round_ + 1}  p50 {summary['p50_ms']} ms  "
                    f"p99 {summary['p99_ms']} ms  errors {summary['errors']}  "
                    f"client lag p99 {summary['client_lag_p99_ms']} ms  "
                    f"server CPU {summary.get('server_cpu_us_per_request')} us/req")
    for server in servers:
        server.report["rates"] = {}
        for rate, steps in server.steps.items():
            summary = merge(steps).summary()
            summary["round_p50_ms"] = [s.pct(50) for s in steps]
            summary["round_p99_ms"] = [s.pct(99) for s in steps]
            summary["waited_for_idle_s"] = [round(s.waited_s, 1) for s in steps]
            server.report["rates"][str(int(rate))] = summary
    if plan.find_max:
        for server in servers:
            quiesce(servers, log)
            server.report["max"] = find_max(server.name, server.step, plan, log, lambda: quiesce(servers, log))


def find_max(name: str, step: Callable[..., Step], plan: Plan, log: Callable[[str], None],
             drain: Callable[[], float]) -> dict[str, Any]:
    """The highest rate that passes (no error, p99 <= bound, in one of ``1 + retries`` tries)."""
    tried: list[dict[str, Any]] = []

    def passes(rate: float) -> bool:
        rate = float(round(rate, -2))
        failures = stalls = 0
        while failures <= plan.retries:
            result = step(rate, max(100, int(rate * plan.step_s)), plan.seed + len(tried) + 1)
            summary = result.summary()
            ok = (result.error_count == 0 and summary["p99_ms"] is not None
                  and summary["p99_ms"] <= plan.max_p99_ms)
            # A client that itself ran late by half the bound saw a machine stall, not the server.
            stalled = not ok and (summary["client_lag_p99_ms"] or 0) > plan.max_p99_ms / 2
            tried.append({"rate": rate, "pass": ok, "client_stalled": stalled, "p50_ms": summary["p50_ms"],
                          "p99_ms": summary["p99_ms"], "errors": summary["errors"],
                          "achieved_rps": summary["achieved_rps"], "client_lag_p99_ms": summary["client_lag_p99_ms"],
                          "server_cpu_share": summary.get("server_cpu_share"),
                          "machine_busy_cores": summary.get("machine_busy_cores"),
                          "load1": round(os.getloadavg()[0], 2)})
            verdict = "pass" if ok else "FAIL (client stalled)" if stalled else "FAIL"
            log(f"{name:8} max search {rate:7.0f}/s  {verdict}"
                f"  p99 {summary['p99_ms']} ms  errors {summary['errors']}  achieved {summary['achieved_rps']}/s  "
                f"server CPU share {summary.get('server_cpu_share')}")
            if ok:
                return True
            drain()  # the server works off what it still holds
            if stalled and stalls < MAX_STALLS:
                stalls += 1
            else:
                failures += 1
        return False

    low, high = 0.0, None
    rate = plan.max_start
    while rate <= plan.max_rate:
        if passes(rate):
            low = float(round(rate, -2))
            rate *= plan.step_factor
        else:
            high = float(round(rate, -2))
            break
    if high is not None:
        for _ in range(plan.bisect):
            mid = float(round((low + high) / 2, -2))
            if mid in (low, high):
                break
            if passes(mid):
                low = mid
            else:
                high = mid
    return {"max_rps": low, "first_failing_rps": high, "p99_bound_ms": plan.max_p99_ms,
            "step_s": plan.step_s, "retries": plan.retries, "steps": tried}


# --- the run --------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="200,1000,2000", help="fixed offered rates, req/s")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds at each fixed rate, each round")
    parser.add_argument("--requests", type=int, default=None,
                        help="requests at each fixed rate, each round (overrides --duration)")
    parser.add_argument("--rounds", type=int, default=2, help="turns of every server at every fixed rate")
    parser.add_argument("--servers", default=",".join(SERVERS), help="any of floor,fastapi,ours")
    parser.add_argument("--registry", default="", help="a registry URL with an ALS model; default: train one")
    parser.add_argument("--data", type=Path, default=peers.DEFAULT_DATA, help="ML-100K folder")
    parser.add_argument("--bootstrap", default=os.environ.get("MOVIE_RECS_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections of the client")
    parser.add_argument("--timeout-s", type=float, default=2.0, help="an answer later than this is an error")
    parser.add_argument("--no-max", action="store_true", help="skip the maximum-throughput search")
    parser.add_argument("--max-start", type=float, default=1000.0)
    parser.add_argument("--step-factor", type=float, default=1.25)
    parser.add_argument("--bisect", type=int, default=3)
    parser.add_argument("--retries", type=int, default=1, help="tries again of a failing maximum-search step")
    parser.add_argument("--step-s", type=float, default=3.0, help="seconds of each maximum-search step")
    parser.add_argument("--max-p99-ms", type=float, default=50.0, help="p99 bound of a sustainable rate")
    parser.add_argument("--max-rate", type=float, default=40000.0, help="stop the search here")
    parser.add_argument("--settle-s", type=float, default=8.0, help="wait this long after the servers are ready")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--worker-log-level", default="info")
    parser.add_argument("--profile", type=Path, default=None,
                        help="at the end, record a py-spy profile (collapsed stacks) of the worker here")
    parser.add_argument("--profile-rate", type=float, default=1000.0, help="the rate of the profiled step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="keep logs and the registry in this folder")
    return parser.parse_args(argv)


def profile_worker(server: Server, out: Path, rate: float, log: Callable[[str], None]) -> Path:
    """py-spy the worker (non-blocking sampling) through one extra, uncounted step at ``rate``."""
    out.mkdir(parents=True, exist_ok=True)
    seconds = 8
    path = out / f"worker-{rate:.0f}rps.txt"
    spy = subprocess.Popen(["py-spy", "record", "--pid", str(server.proc.pid), "--rate", "1000", "--nonblocking",
                            "--duration", str(seconds), "--format", "raw", "-o", str(path)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        time.sleep(0.5)
        server.step(rate, int(rate * (seconds - 1)), server.plan.seed + 7)
        spy.wait(30)
    finally:
        if spy.poll() is None:
            os.killpg(spy.pid, signal.SIGKILL)
            spy.wait()
    log(f"py-spy profile of the worker: {path}")
    return path


def worker_warnings(log_path: Path) -> dict[str, int]:
    lines = log_path.read_text(errors="replace").splitlines()
    found = Counter(line.split("]", 3)[-1].strip()[:80] for line in lines if "[WARNING]" in line or "[ERROR]" in line)
    return dict(found.most_common(5))


def run(args: argparse.Namespace, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    peers.pin(args.client_cpu)
    names = [s.strip() for s in args.servers.split(",") if s.strip()]
    registry = args.registry
    if not registry:
        registry = f"file://{workdir / 'registry'}"
        started = time.monotonic()
        peers.train_als(registry, args.data, workdir / "train.log")
        log(f"trained ALS into {registry} in {time.monotonic() - started:.1f}s")
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    plan = Plan(rates=rates,
                requests_at=(lambda r: args.requests) if args.requests else (lambda r: int(r * args.duration)),
                rounds=args.rounds, connections=args.connections, timeout_s=args.timeout_s,
                max_start=args.max_start, step_factor=args.step_factor, bisect=args.bisect, retries=args.retries,
                step_s=args.step_s, max_p99_ms=args.max_p99_ms, max_rate=args.max_rate, seed=args.seed,
                find_max=not args.no_max, settle_s=args.settle_s)
    result: dict[str, Any] = {"cpus": os.cpu_count(), "server_cpu": args.server_cpu, "client_cpu": args.client_cpu,
                              "connections": args.connections, "rounds": args.rounds,
                              "stack": peers.stack_versions(),
                              "machine_load_at_start": peers.Machine.now().__dict__, "servers": {}}
    if "ours" in names and not peers.worker_serves():
        names.remove("ours")
        result["servers"]["ours"] = {"measurable": False, "why": "the worker has no /recommend route yet"}
        log("ours: not measurable, the worker has no /recommend route yet")
    prefix = f"bench-http-{uuid.uuid4().hex[:8]}-"
    servers: list[Server] = []
    with ExitStack() as stack:
        if "ours" in names:
            stack.callback(lambda: asyncio.run(peers.delete_topics(args.bootstrap, prefix)))
        for name in names:  # all start at once; the ones not under load idle on the same core
            port = peers.free_port()
            if name == "ours":
                env = peers.worker_env(bootstrap=args.bootstrap, prefix=prefix, app_id=prefix.rstrip("-"),
                                       port=port, workdir=workdir, registry_url=registry)
                peers.create_topics(env)
                proc = peers.worker(env, workdir / "worker.log", cpu=args.server_cpu, log_level=args.worker_log_level)
            else:
                proc = peers.peer(name, registry, workdir / f"{name}.log", cpu=args.server_cpu, port=port,
                                  data=args.data)
            stack.enter_context(proc)
            servers.append(Server(name, proc, port, plan))
        for server in servers:
            ready_s = server.proc.wait_http(f"http://127.0.0.1:{server.port}/health", timeout_s=180)
            server.report["ready_s"] = round(ready_s, 1)
            log(f"{server.name} ready")
        time.sleep(plan.settle_s)  # the tail of start-up (a worker's first seconds after /health)
        measure(servers, plan, log)
        for server in servers:
            if server.name == "ours":
                server.report["measurable"] = True
                if args.profile:
                    server.report["profile"] = str(profile_worker(server, args.profile, args.profile_rate, log))
                server.report["worker_warnings"] = worker_warnings(workdir / "worker.log")
            result["servers"][server.name] = server.report
    result["machine_load_at_end"] = peers.Machine.now().__dict__
    return headline(result, rates)


def headline(result: dict[str, Any], rates: list[float]) -> dict[str, Any]:
    """The figures the issue asks for, on top of the full report."""
    servers = result["servers"]

    def at(name: str, rate: float, key: str) -> Any:
        return servers.get(name, {}).get("rates", {}).get(str(int(rate)), {}).get(key)

    def max_of(name: str) -> Any:
        return servers.get(name, {}).get("max", {}).get("max_rps")

    top: dict[str, Any] = {
        "p50_ms": at("ours", 1000, "p50_ms"), "p99_ms": at("ours", 1000, "p99_ms"),
        "floor_p50_ms": at("floor", 1000, "p50_ms"), "floor_p99_ms": at("floor", 1000, "p99_ms"),
        "fastapi_p50_ms": at("fastapi", 1000, "p50_ms"), "fastapi_p99_ms": at("fastapi", 1000, "p99_ms"),
    }
    top["p50_ratio"] = peers.ratio(top["p50_ms"], top["floor_p50_ms"])
    top["fastapi_p50_ratio"] = peers.ratio(top["fastapi_p50_ms"], top["floor_p50_ms"])
    top["errors_2000"] = at("ours", 2000, "errors")
    top.update(max_rps=max_of("ours"), floor_max_rps=max_of("floor"), fastapi_max_rps=max_of("fastapi"))
    top["max_ratio_vs_fastapi"] = peers.ratio(top["max_rps"], top["fastapi_max_rps"])
    for rate in rates:
        for name in SERVERS:
            for key in ("p50_ms", "p99_ms", "errors"):
                top[f"{name}_{int(rate)}_{key}"] = at(name, rate, key)
    ours = servers.get("ours", {})
    top["ours_measurable"] = bool(ours.get("measurable"))
    if top["ours_measurable"]:
        top["goals"] = {
            "p50_within_2x_floor": top["p50_ratio"] is not None and top["p50_ratio"] <= 2.0,
            "p99_under_10ms_at_1000": top["p99_ms"] is not None and top["p99_ms"] < 10.0,
            "zero_errors_at_2000": top["errors_2000"] == 0,
            "max_above_fastapi": (top["max_rps"] or 0) > (top["fastapi_max_rps"] or float("inf")),
        }
    return {**top, **result}


def print_table(result: dict[str, Any]) -> None:
    print(f"{'server':9} {'rate/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'cpu us/req':>10}")
    for name, server in result["servers"].items():
        for rate, row in server.get("rates", {}).items():
            print(f"{name:9} {rate:>7} {row['p50_ms']!s:>8} {row['p99_ms']!s:>8} {row['errors']:>6} "
                  f"{row.get('server_cpu_us_per_request')!s:>10}")
        if "max" in server:
            print(f"{name:9} max sustainable {server['max']['max_rps']:.0f} req/s "
                  f"(p99 <= {server['max']['p99_bound_ms']} ms, no errors, {server['max']['step_s']}s steps)")
        if server.get("measurable") is False:
            print(f"{name:9} not measurable: {server['why']}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    bench_main("serve-http", args, partial(run, log=peers.log), print_table, keep=args.keep)


if __name__ == "__main__":
    main()

"""What the serving benchmarks compare the worker with, and the processes they start.

Three peers, each a process of its own so it can be pinned to one core:

- ``floor``: a bare aiohttp app answering ``GET /recommend/{user_id}`` with a precomputed
  body (the worker's JSON shape, computed once per user at start). Nothing runs per request
  but a dict lookup, so it is the floor of any aiohttp-based server on this machine.
- ``fastapi``: the same scoring as the worker (the registered ALS bundle loaded through
  ``app.registry.Registry``, answered by ``models.serving.policy.recommend``) behind
  FastAPI + uvicorn, the stack of the system the worker replaces.
- ``echo``: a bare aiokafka service: consume a ``RecoRequest``, produce a ``RecoResponse``
  (precomputed list) keyed by request id. The floor of a Kafka round trip.

Run one by hand with ``python -m bench.serving_peers floor|fastapi|echo --registry URL``;
``bench/serve_http.py`` and ``bench/serve_kafka.py`` start them through :class:`Proc`,
which always stops what it started.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "ml-100k"
MODEL = "als"
K = 10
USERS = 943
"""ML-100K's users: request user ids are drawn from 1..USERS."""


def pct(values: np.ndarray, q: float) -> float | None:
    """The ``q``-th percentile of latencies in ms, rounded to the microsecond; None when empty."""
    return round(float(np.percentile(values, q)), 3) if values.size else None


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b`` rounded, or None when either figure is missing."""
    return round(a / b, 3) if a is not None and b else None


def log(line: str) -> None:
    """A progress line, on stderr so stdout holds only the table and the JSON line."""
    print(line, file=sys.stderr, flush=True)


# --- the model and the answer ---------------------------------------------------------------

def train_als(registry_url: str, data: Path, log_path: Path) -> None:
    """Train and register an ALS model with the project's own CLI (as an operator would)."""
    env = {**os.environ, "MOVIE_RECS_REGISTRY": registry_url}
    with open(log_path, "ab") as log:
        subprocess.run([sys.executable, "-m", "app.cli", "train", "--model", MODEL, "--data", str(data),
                        "--no-tune"], cwd=ROOT, env=env, check=True, stdout=log, stderr=subprocess.STDOUT)


@dataclass(frozen=True)
class Serving:
    """What a peer serves: the worker's deployment of the registered ALS version.

    ``recommend`` is ``models.serving.policy.recommend`` called as the worker calls it (the
    deployment's tuned policy and its trending counts), for a user with no live history.
    """

    bundle: Any
    card: dict[str, Any]
    titles: dict[int, str]
    trending: Any = None
    policy: Any = None

    def recommend(self, user_id: int, k: int = K) -> Any:
        from models.serving.policy import UNTUNED, recommend

        return recommend(self.bundle, user_id, k, trending=self.trending, config=self.policy or UNTUNED)


async def load_serving(registry_url: str, data: Path | None = None, name: str = MODEL) -> Serving:
    """The version a worker serves (production, else the newest), loaded the worker's way."""
    from app.registry import Registry
    from app.settings import Settings
    from app.storage import open_store

    registry = Registry(open_store(registry_url, Settings(registry=registry_url)))
    try:
        from app.deployment import load_deployment
    except ImportError:  # a checkout before serving: the bundle alone, untuned, training popularity
        production = (await registry.stages(name))["production"]
        bundle, card = await registry.load(name, production)
        return Serving(bundle, card, load_titles(data))
    deployed = await load_deployment(registry, name)
    return Serving(deployed.bundle, deployed.card, deployed.titles or load_titles(data), deployed.trending,
                   deployed.policy)


def load_titles(data: Path | None) -> dict[int, str]:
    """Movie titles of a MovieLens catalog; empty when there is none."""
    if data is None:
        return {}
    from models.data.movielens import find_catalog_file, load_catalog

    try:
        path = find_catalog_file(data) if data.is_dir() else data
        catalog = load_catalog(path)
    except (FileNotFoundError, ValueError):
        return {}
    return dict(zip(catalog["movie_id"].astype(int).tolist(), catalog["title"].tolist()))


def answer(user_id: int, reco: Any, card: dict[str, Any], titles: dict[int, str], served_by: str,
           started: float) -> dict[str, Any]:
    """The body of ``GET /recommend/{user_id}`` (DESIGN §4) for one recommendation."""
    return {
        "user_id": user_id,
        "movies": [{"movie_id": m, "title": titles.get(m, ""), "score": s}
                   for m, s in zip(reco.movie_ids, reco.scores)],
        "provenance": {
            "request_id": uuid.uuid4().hex, "model_name": card["model_name"],
            "model_version": card["version"], "arm": "stable", "git_sha": card["git_sha"],
            "data_snapshot_id": card["data_snapshot_id"], "strategy": reco.strategy,
            "served_by": served_by, "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "ts": int(time.time() * 1000)},
    }


def precompute(serving: Serving, k: int = K) -> dict[int, Any]:
    """Every known user's recommendation, plus the popular list under key 0 (unknown users)."""
    lists = {int(u): serving.recommend(int(u), k) for u in serving.bundle.maps.users.raw}
    lists[0] = serving.recommend(0, k)
    return lists


# --- the bare aiohttp floor ------------------------------------------------------------------

def floor_app(bodies: dict[int, bytes]) -> Any:
    """An aiohttp app that answers every user with a body computed before it started."""
    from aiohttp import web

    fallback = bodies[0]

    async def recommend(request: web.Request) -> web.Response:
        raw = request.match_info["user_id"]
        body = bodies.get(int(raw), fallback) if raw.isdigit() else fallback
        return web.Response(body=body, content_type="application/json")

    async def health(request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ok"}', content_type="application/json")

    app = web.Application()
    app.router.add_get("/recommend/{user_id}", recommend)
    app.router.add_get("/health", health)
    return app


def floor_bodies(serving: Serving) -> dict[int, bytes]:
    started = time.perf_counter()
    return {user: json.dumps(answer(user, reco, serving.card, serving.titles, "floor", started)).encode()
            for user, reco in precompute(serving).items()}


# --- the FastAPI + uvicorn peer --------------------------------------------------------------

def fastapi_app(serving: Serving) -> Any:
    """FastAPI answering ``/recommend`` with the worker's scoring, inline in the event loop."""
    from fastapi import FastAPI, HTTPException

    app = FastAPI()
    card, titles = serving.card, serving.titles

    @app.get("/recommend/{user_id}")
    async def recommend(user_id: int, k: int = K) -> dict[str, Any]:
        started = time.perf_counter()
        if not 1 <= k <= 100:
            raise HTTPException(400, "k must be 1 to 100")
        return answer(user_id, serving.recommend(user_id, k), card, titles, "fastapi-peer", started)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


# --- the bare aiokafka echo floor ------------------------------------------------------------

async def echo(bootstrap: str, prefix: str, group: str, lists: dict[int, Any], card: dict[str, Any]) -> None:
    """Answer every ``RecoRequest`` on ``<prefix>reco-requests`` with a precomputed ``RecoResponse``."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from app.codec import AvroCodec

    requests, responses = AvroCodec("RecoRequest"), AvroCodec("RecoResponse")
    fallback = lists[0]
    consumer = AIOKafkaConsumer(f"{prefix}reco-requests", bootstrap_servers=bootstrap, group_id=group,
                                auto_offset_reset="latest", enable_auto_commit=True)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1)
    await producer.start()
    await consumer.start()
    try:
        topic = f"{prefix}reco-responses"
        while True:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    started = time.perf_counter()
                    request = requests.decode(record.value)
                    reco = lists.get(request["user_id"], fallback)
                    value = responses.encode({
                        "request_id": request["request_id"], "ts": int(time.time() * 1000),
                        "user_id": request["user_id"], "status": 200, "error": None, "k": request["k"],
                        "movie_ids": reco.movie_ids, "scores": reco.scores, "strategy": reco.strategy,
                        "model_name": card["model_name"], "model_version": card["version"], "arm": "stable",
                        "git_sha": card["git_sha"], "data_snapshot_id": card["data_snapshot_id"],
                        "served_by": "echo-floor", "latency_ms": (time.perf_counter() - started) * 1000})
                    await producer.send(topic, value, key=request["request_id"].encode())
    finally:
        await consumer.stop()
        await producer.stop()


# --- processes --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pin(cpu: int | None) -> None:
    """Pin this process (and the threads it starts later) to one core."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


class Proc:
    """A child process pinned to a core, logging to a file, in its own process group.

    Used as a context manager; on exit (also on an error) its group gets SIGTERM, then
    SIGKILL after ``stop_timeout_s``.
    """

    def __init__(self, argv: Sequence[str], log_path: Path, *, env: dict[str, str] | None = None,
                 cpu: int | None = None, stop_timeout_s: float = 20.0) -> None:
        self.argv, self.log_path, self.env, self.cpu = list(argv), log_path, env, cpu
        self.stop_timeout_s = stop_timeout_s
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Proc":
        cpu = self.cpu
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env or os.environ.copy(), stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=(lambda: pin(cpu)) if cpu is not None else None)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.argv[2:4]} exited {self.proc.returncode}:\n{self.log_tail()}")

    def wait_http(self, url: str, timeout_s: float = 120.0) -> float:
        """Poll ``url`` until it answers 200; the seconds it took."""
        started = time.monotonic()
        last = ""
        while time.monotonic() - started < timeout_s:
            self.check()
            try:
                with urllib.request.urlopen(url, timeout=2.0) as rsp:
                    if rsp.status == 200:
                        return time.monotonic() - started
            except urllib.error.HTTPError as exc:
                last = f"{exc.code} {exc.read()[:300]!r}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise TimeoutError(f"{url} not ready in {timeout_s}s (last: {last}):\n{self.log_tail()}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, self.stop_timeout_s), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait_s)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> "Proc":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def peer(kind: str, registry_url: str, log_path: Path, *, cpu: int | None, port: int | None = None,
         data: Path | None = DEFAULT_DATA, extra: Sequence[str] = ()) -> Proc:
    """A peer process (not started): ``floor``, ``fastapi`` or ``echo``."""
    argv = [sys.executable, "-m", "bench.serving_peers", kind, "--registry", registry_url]
    if port is not None:
        argv += ["--port", str(port)]
    if data is not None:
        argv += ["--data", str(data)]
    return Proc(argv + list(extra), log_path, cpu=cpu)


def worker(env: dict[str, str], log_path: Path, *, cpu: int | None, log_level: str = "info") -> Proc:
    """A real ``python -m app.cli worker`` process (not started)."""
    return Proc([sys.executable, "-m", "app.cli", "worker", "-l", log_level], log_path,
                env={**os.environ, **env}, cpu=cpu, stop_timeout_s=30.0)


def worker_env(*, bootstrap: str, prefix: str, app_id: str, port: int, workdir: Path, registry_url: str,
               partitions: int = 8) -> dict[str, str]:
    """The settings of a serving worker isolated from every other user of the broker."""
    return {"MOVIE_RECS_KAFKA_BOOTSTRAP": bootstrap, "MOVIE_RECS_TOPIC_PREFIX": prefix,
            "MOVIE_RECS_APP_ID": app_id, "MOVIE_RECS_PARTITIONS": str(partitions),
            "MOVIE_RECS_WEB_PORT": str(port), "MOVIE_RECS_DATA_DIR": str(workdir / "faust"),
            "MOVIE_RECS_SNAPSHOTS": f"file://{workdir / 'snapshots'}",
            "MOVIE_RECS_REGISTRY": registry_url, "MOVIE_RECS_SERVE_MODEL": MODEL,
            # capacity is measured, so the per-client limits (one client_id, one address) are off
            "MOVIE_RECS_KAFKA_CLIENT_RATE_PER_S": "0", "MOVIE_RECS_HTTP_RATE_PER_S": "0"}


def create_topics(env: dict[str, str]) -> None:
    """The app's topics under the env's prefix, created as operators do before workers start."""
    subprocess.run([sys.executable, "-m", "app.cli", "topics", "create"], cwd=ROOT,
                   env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)


async def delete_topics(bootstrap: str, prefix: str) -> list[str]:
    """Drop every topic whose name starts with ``prefix`` (a run's own and its changelogs)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()


def worker_serves() -> bool:
    """Whether the worker in this checkout has a ``/recommend`` route yet."""
    for path in (ROOT / "app").glob("*.py"):
        if '"/recommend' in path.read_text(errors="replace"):
            return True
    return False


def stack_versions() -> dict[str, str | None]:
    """Versions of the servers' stacks; uvicorn uses httptools and uvloop only when installed."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in ("aiohttp", "faust-streaming", "aiokafka", "fastapi", "starlette", "uvicorn", "h11", "httptools",
                 "uvloop"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    found["python"] = sys.version.split()[0]
    return found


def busy_cpu_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (Linux /proc/stat): to tell, over a
    step, how much else ran (the broker, other users of the machine) beside server and client."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Machine:
    """What else ran on the machine: load average when a phase started."""

    load1: float
    load5: float

    @classmethod
    def now(cls) -> "Machine":
        one, five, _ = os.getloadavg()
        return cls(round(one, 2), round(five, 2))


# --- command line -----------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["floor", "fastapi", "echo"])
    parser.add_argument("--registry", required=True, help="registry URL holding an ALS model")
    parser.add_argument("--data", type=Path, default=None, help="MovieLens folder, for the titles")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="echo: Kafka bootstrap")
    parser.add_argument("--prefix", default="", help="echo: topic prefix")
    parser.add_argument("--group", default="bench-echo", help="echo: consumer group")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    serving = asyncio.run(load_serving(args.registry, args.data))
    if args.kind == "floor":
        from aiohttp import web

        web.run_app(floor_app(floor_bodies(serving)), host="127.0.0.1", port=args.port, access_log=None,
                    print=None)
    elif args.kind == "fastapi":
        import uvicorn

        uvicorn.run(fastapi_app(serving), host="127.0.0.1", port=args.port, access_log=False,
                    log_level="warning")
    else:
        asyncio.run(echo(args.bootstrap, args.prefix, args.group, precompute(serving), serving.card))


if __name__ == "__main__":
    main()

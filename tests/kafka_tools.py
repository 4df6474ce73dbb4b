"""Helpers for tests against the real broker: readiness, topics, and a worker process."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from app.settings import Settings
from app.topic_listing import wait_listed
from app.topic_reader import read_to_end

REPO = Path(__file__).resolve().parents[1]


def broker_answers(bootstrap: str, timeout_s: float = 5.0) -> bool:
    """True when a metadata request to ``bootstrap`` succeeds."""
    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
        try:
            await asyncio.wait_for(admin.start(), timeout_s)
            await asyncio.wait_for(admin.list_topics(), timeout_s)
            return True
        except Exception:
            return False
        finally:
            await admin.close()
    return asyncio.run(probe())


async def create_topics(bootstrap: str, names: list[str], partitions: int, timeout_s: float = 10.0) -> None:
    """Create topics as an operator would before producers start, and wait until metadata lists them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(n, partitions, 1) for n in names if n not in existing]
        if new:
            await admin.create_topics(new)
            await wait_listed(admin, [topic.name for topic in new], timeout_s)
    finally:
        await admin.close()


async def read_all(bootstrap: str, topic: str, timeout_s: float = 10.0) -> list[Any]:
    """Every record of ``topic`` from the beginning up to its end offsets now (none if it does not exist)."""
    return (await read_to_end(Settings(kafka_bootstrap=bootstrap), topic, timeout_s)).records


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Worker:
    """A real ``movie-recs worker`` process with its own settings, logging to a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {**os.environ, **env}
        self.port = int(env["MOVIE_RECS_WEB_PORT"])
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def create_topics(self) -> "Worker":
        """``movie-recs topics create`` with this worker's settings, as a deployment does first."""
        subprocess.run([sys.executable, "-m", "app.cli", "topics", "create"], cwd=REPO, env=self.env,
                       check=True, capture_output=True, timeout=60)
        return self

    def start(self) -> "Worker":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "-l", "info"],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def get(self, path: str, timeout_s: float = 5.0) -> tuple[int, bytes]:
        """GET ``path`` from the worker's web server: ``(status, body)``."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout_s) as rsp:
                return rsp.status, rsp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_web(self, timeout_s: float = 60.0, path: str = "/metrics", status: int | None = None) -> None:
        """Wait until ``path`` answers (with ``status``, when given)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if status is None or self.get(path, timeout_s=2.0)[0] == status:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"worker {path} not {status or 'up'} in {timeout_s}s:\n{self.log_tail()}")

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        """Wait until /health says the worker is ready to serve."""
        self.wait_web(timeout_s, "/health", 200)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

"""Kafka security for real: a broker of our own with a SASL_SSL listener, a worker through it.

``docker/kafka/local-kafka.sh`` starts a second broker (own data dir and ports, never the
shared one) whose SASL_SSL listener takes SCRAM-SHA-512 and PLAIN users, with a CA and
broker certificate it makes with openssl in a temporary folder. A worker runs through that
listener end to end (SCRAM), an outside client talks to it with PLAIN, and a wrong password
or an untrusted CA makes the worker and the CLI exit within seconds with the reason.
"""
from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.codec import AvroCodec
from tests.conftest import REPO
from tests.kafka_tools import Worker, free_port
from tests.test_integration.test_serving_kafka import registry_dir  # noqa: F401 - module-scoped fixture

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

USER, PASSWORD = "movierecs", "s3cret-scram"
SCRIPT = REPO / "docker" / "kafka" / "local-kafka.sh"
FAIL_FAST_S = 25.0  # interpreter start (~3 s on a loaded machine) + one probe; a hang is 40 s+ retries


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory):
    """Our own broker: PLAINTEXT for itself, SASL_SSL for the test; stopped at the end."""
    tmp = tmp_path_factory.mktemp("sasl-broker")
    env = {**os.environ, "MOVIE_RECS_KAFKA_DATA": str(tmp / "kafka"), "MOVIE_RECS_KAFKA_PORT": str(free_port()),
           "MOVIE_RECS_KAFKA_CONTROLLER_PORT": str(free_port()), "MOVIE_RECS_KAFKA_SASL_SSL_PORT": str(free_port()),
           "MOVIE_RECS_KAFKA_TLS_DIR": str(tmp / "tls"), "MOVIE_RECS_KAFKA_SASL_USERS": f"{USER}:{PASSWORD}",
           "MOVIE_RECS_KAFKA_START_TIMEOUT": "150"}
    started = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=200)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield {"sasl": f"127.0.0.1:{env['MOVIE_RECS_KAFKA_SASL_SSL_PORT']}", "ca": tmp / "tls" / "ca.pem", "tmp": tmp}
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, timeout=60)


def client_env(broker: dict, **overrides: str) -> dict[str, str]:
    env = {"MOVIE_RECS_KAFKA_BOOTSTRAP": broker["sasl"], "MOVIE_RECS_SECURITY_PROTOCOL": "SASL_SSL",
           "MOVIE_RECS_SASL_MECHANISM": "SCRAM-SHA-512", "MOVIE_RECS_SASL_USERNAME": USER,
           "MOVIE_RECS_SASL_PASSWORD": PASSWORD, "MOVIE_RECS_SSL_CAFILE": str(broker["ca"]),
           "MOVIE_RECS_STARTUP_PROBE_TIMEOUT_S": "10"}
    return {**env, **overrides}


def test_certificates_stay_out_of_the_repository(broker: dict) -> None:
    assert broker["ca"].is_file() and not broker["ca"].resolve().is_relative_to(REPO)
    tracked = subprocess.run(["git", "ls-files", "*.pem", "*.key", "*.jks", "*.p12"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
    assert tracked == ""


async def test_worker_serves_through_sasl_ssl_end_to_end(broker: dict, registry_dir: Path) -> None:  # noqa: F811
    run, tmp = uuid.uuid4().hex[:8], broker["tmp"]
    prefix = f"sec-{run}-"
    env = client_env(broker, MOVIE_RECS_TOPIC_PREFIX=prefix, MOVIE_RECS_APP_ID=f"sec-{run}",
                     MOVIE_RECS_WEB_PORT=str(free_port()), MOVIE_RECS_DATA_DIR=str(tmp / "faust"),
                     MOVIE_RECS_REGISTRY=f"file://{registry_dir}", MOVIE_RECS_SNAPSHOTS=f"file://{tmp / 'snapshots'}",
                     MOVIE_RECS_SERVE_MODEL="als")
    worker = Worker(env, tmp / "worker.log").create_topics().start()
    try:
        worker.wait_ready(150)
        # The outside client logs in with PLAIN: the listener takes both mechanisms.
        tls = ssl.create_default_context(cafile=str(broker["ca"]))
        auth = dict(bootstrap_servers=broker["sasl"], security_protocol="SASL_SSL", ssl_context=tls,
                    sasl_mechanism="PLAIN", sasl_plain_username=USER, sasl_plain_password=PASSWORD)
        consumer = AIOKafkaConsumer(prefix + "reco-responses", auto_offset_reset="earliest",
                                    group_id=f"client-{run}", **auth)
        producer = AIOKafkaProducer(**auth)
        await consumer.start()
        await producer.start()
        try:
            now = int(time.time() * 1000)
            user = 880_001
            for i, movie in enumerate((10, 11, 12)):
                await producer.send_and_wait(prefix + "watch", AvroCodec("WatchEvent").encode(
                    {"ts": now + i, "user_id": user, "movie_id": movie, "minute": 0}), key=str(user).encode())
            await asyncio.sleep(1.0)
            request_id = uuid.uuid4().hex
            await producer.send_and_wait(prefix + "reco-requests", AvroCodec("RecoRequest").encode(
                {"request_id": request_id, "ts": now, "user_id": user, "k": 5, "client_id": "tls", "exclude": []}),
                key=str(user).encode())
            answer, deadline = None, time.monotonic() + 60
            while answer is None and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        decoded = AvroCodec("RecoResponse").decode(record.value)
                        if decoded["request_id"] == request_id:
                            answer = decoded
        finally:
            await producer.stop()
            await consumer.stop()
        assert answer is not None, worker.log_tail()
        assert answer["status"] == 200 and len(answer["movie_ids"]) == 5
        assert answer["strategy"] == "fold-in" and not {10, 11, 12} & set(answer["movie_ids"])
    finally:
        worker.stop()


def run_cli(args: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=90)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


@pytest.mark.parametrize("command", [["topics", "create"], ["worker", "-l", "info"]])
def test_wrong_password_fails_fast_with_the_reason(broker: dict, command: list[str]) -> None:
    code, output, seconds = run_cli(command, client_env(broker, MOVIE_RECS_SASL_PASSWORD="wrong",
                                                        MOVIE_RECS_WEB_PORT=str(free_port())))
    assert code != 0 and seconds < FAIL_FAST_S, (seconds, output[-2000:])
    assert "SASL SCRAM-SHA-512 login as 'movierecs' was refused" in output
    assert "MOVIE_RECS_SASL_PASSWORD" in output


@pytest.mark.parametrize("command", [["topics", "create"], ["worker", "-l", "info"]])
def test_untrusted_ca_fails_fast_with_the_reason(broker: dict, command: list[str]) -> None:
    other = broker["tmp"] / "other-ca"
    if not (other / "ca.pem").exists():
        other.mkdir(exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other",
                        "-keyout", str(other / "ca.key"), "-out", str(other / "ca.pem")], check=True, capture_output=True)
    code, output, seconds = run_cli(command, client_env(broker, MOVIE_RECS_SSL_CAFILE=str(other / "ca.pem"),
                                                        MOVIE_RECS_WEB_PORT=str(free_port())))
    assert code != 0 and seconds < FAIL_FAST_S, (seconds, output[-2000:])
    assert "TLS certificate is not trusted" in output and "MOVIE_RECS_SSL_CAFILE" in output


def test_plaintext_client_on_the_tls_listener_is_told_so(broker: dict) -> None:
    code, output, seconds = run_cli(["topics", "create"], {"MOVIE_RECS_KAFKA_BOOTSTRAP": broker["sasl"],
                                                           "MOVIE_RECS_STARTUP_PROBE_TIMEOUT_S": "5"})
    assert code != 0 and seconds < FAIL_FAST_S and "does this listener speak PLAINTEXT" in output, output[-2000:]

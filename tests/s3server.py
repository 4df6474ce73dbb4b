"""A moto S3 server on 127.0.0.1, and store fixtures, for tests that speak real HTTP to S3."""
from __future__ import annotations

import os

# Read by moto when it is imported: lets multipart tests use tiny parts instead of 5 MiB.
os.environ.setdefault("S3_UPLOAD_PART_MIN_SIZE", "1024")

import logging
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from app.storage import FileStore, S3Store, Store

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
PART_SIZE = 64 * 1024
"""Part size of test S3 stores, so any object above 64 KiB takes the multipart path."""

logging.getLogger("werkzeug").setLevel(logging.WARNING)


def free_port() -> int:
    """A TCP port nothing listens on (right now) at 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_moto(port: int) -> ThreadedMotoServer:
    """A moto server listening on ``port``; all servers in a process share one S3 state."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def boto_client(endpoint: str) -> Any:
    """A synchronous client, for test set-up and for looking behind a store's back."""
    return boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS)


def new_bucket(endpoint: str) -> str:
    """A fresh, uniquely named bucket, so tests never see each other's objects."""
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    boto_client(endpoint).create_bucket(Bucket=bucket)
    return bucket


def s3_store_at(endpoint: str, bucket: str, prefix: str = "root") -> S3Store:
    """A store as ``open_store`` would build it, with test credentials and small parts."""
    return S3Store(
        bucket,
        prefix,
        endpoint_url=endpoint,
        region=CREDENTIALS["region_name"],
        access_key_id=CREDENTIALS["aws_access_key_id"],
        secret_access_key=CREDENTIALS["aws_secret_access_key"],
        part_size=PART_SIZE,
        connect_timeout_s=1.0,
    )


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = start_moto(free_port())
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
async def s3_store(s3_endpoint: str) -> AsyncIterator[S3Store]:
    store = s3_store_at(s3_endpoint, new_bucket(s3_endpoint))
    yield store
    await store.close()


@pytest.fixture
def file_store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "store")


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest) -> Store:
    """Each store implementation in turn: the same test is the contract both must meet."""
    return request.getfixturevalue(f"{request.param}_store")

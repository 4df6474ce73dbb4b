"""Store fixtures: a directory per test, and a bucket per test on a moto server."""
from tests.s3server import file_store, s3_endpoint, s3_store, store  # noqa: F401

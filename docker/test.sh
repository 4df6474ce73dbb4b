#!/usr/bin/env bash
# The test suite from a fresh clone: install, start the local Kafka broker, run pytest, stop it.
# The S3 tests start moto's server on 127.0.0.1 themselves. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
bash docker/kafka/local-kafka.sh start
trap 'bash docker/kafka/local-kafka.sh stop' EXIT
export MOVIE_RECS_KAFKA_BOOTSTRAP="127.0.0.1:${MOVIE_RECS_KAFKA_PORT:-9092}"
python3 -m pytest -p no:cacheprovider "$@"

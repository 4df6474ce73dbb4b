#!/usr/bin/env bash
# The test suite from a fresh clone: install, start the local Kafka broker, run pytest, stop it.
# The S3 tests start moto's server on 127.0.0.1 themselves. Extra arguments go to pytest.
# A broker already answering on the port is used as it is and left running.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash docker/install-tools.sh
python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
export MOVIE_RECS_KAFKA_BOOTSTRAP="127.0.0.1:${MOVIE_RECS_KAFKA_PORT:-9092}"
if ! bash docker/kafka/local-kafka.sh status >/dev/null 2>&1; then
    bash docker/kafka/local-kafka.sh start
    trap 'bash docker/kafka/local-kafka.sh stop' EXIT
fi
python3 -m pytest -p no:cacheprovider "$@"

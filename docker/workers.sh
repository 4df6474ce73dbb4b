#!/usr/bin/env bash
# N local workers in one consumer group against the broker in MOVIE_RECS_KAFKA_BOOTSTRAP.
#
#   docker/workers.sh start [N]   start workers 1..N (default 3), each with its own worker id
#                                 (worker-<i>, its static group member name), web port
#                                 (MOVIE_RECS_WEB_PORT + i - 1, default 8081..) and data directory
#   docker/workers.sh stop        SIGTERM every worker started here, SIGKILL after 30 s
#   docker/workers.sh status      each worker's pid, port and /health summary
#
# Topics are created first (MOVIE_RECS_PARTITIONS, default 8: at most 8 workers get work).
# Any other MOVIE_RECS_* variable reaches every worker. Logs, pids and data directories live
# in MOVIE_RECS_WORKERS_DIR (default data/workers). Kafka itself is not started or stopped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUN_DIR="${MOVIE_RECS_WORKERS_DIR:-data/workers}"
BASE_PORT="${MOVIE_RECS_WEB_PORT:-8081}"
export MOVIE_RECS_KAFKA_BOOTSTRAP="${MOVIE_RECS_KAFKA_BOOTSTRAP:-127.0.0.1:9092}"
export MOVIE_RECS_PARTITIONS="${MOVIE_RECS_PARTITIONS:-8}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$RUN_DIR"

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  local count="${1:-3}"
  "$PYTHON" -m app.cli topics create >/dev/null
  for i in $(seq 1 "$count"); do
    local port=$((BASE_PORT + i - 1)) pidfile="$RUN_DIR/worker-$i.pid"
    if alive "$pidfile"; then echo "worker-$i already running (pid $(cat "$pidfile"))"; continue; fi
    echo "$port" >"$RUN_DIR/worker-$i.port"
    MOVIE_RECS_WORKER_ID="${MOVIE_RECS_WORKER_ID_PREFIX:-worker-}$i" MOVIE_RECS_WEB_PORT="$port" \
      MOVIE_RECS_DATA_DIR="$RUN_DIR/worker-$i" \
      nohup "$PYTHON" -m app.cli worker -l info >>"$RUN_DIR/worker-$i.log" 2>&1 &
    echo $! >"$pidfile"
    echo "worker-$i started (pid $!, http://127.0.0.1:$port, log $RUN_DIR/worker-$i.log)"
  done
}

stop() {
  local pids=()
  for pidfile in "$RUN_DIR"/worker-*.pid; do
    [[ -e "$pidfile" ]] || continue
    if alive "$pidfile"; then kill "$(cat "$pidfile")" && pids+=("$(cat "$pidfile")"); fi
    rm -f "$pidfile"
  done
  for _ in $(seq 300); do
    local left=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [[ $left == 0 ]] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  echo "stopped ${#pids[@]} worker(s)"
}

status() {
  for pidfile in "$RUN_DIR"/worker-*.pid; do
    [[ -e "$pidfile" ]] || continue
    local name port; name="$(basename "$pidfile" .pid)"; port="$(cat "$RUN_DIR/$name.port")"
    if alive "$pidfile"; then
      echo "$name pid $(cat "$pidfile") port $port: $(curl -s "127.0.0.1:$port/health" || echo 'no answer')"
    else
      echo "$name not running"
    fi
  done
}

case "${1:-}" in
  start) start "${2:-3}" ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start [N] | stop | status" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The main job on a fresh machine: install, bring up Kafka, start a worker, load the default
# (synthetic) data through Kafka, train and register a model, and show what the worker
# serves. Stop with: docker/up.sh stop
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PORT="${MOVIE_RECS_WEB_PORT:-8080}"
MOVIE_RECS_STOP_TIMEOUT_S="${MOVIE_RECS_STOP_TIMEOUT_S:-30}"
RUN_DIR="data/run"
PIDFILE="$RUN_DIR/worker.pid"
mkdir -p "$RUN_DIR"

BROKER_MARK="$RUN_DIR/broker-started-here"

stop() {
  # The worker first, while the broker still takes its last commits; it exits by itself
  # within MOVIE_RECS_STOP_TIMEOUT_S (30 s) even if the broker is gone.
  if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    pid="$(cat "$PIDFILE")"
    kill -TERM "$pid"
    for _ in $(seq $(( ${MOVIE_RECS_STOP_TIMEOUT_S%.*} + 10 ))); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; echo "worker killed (did not stop in time)"; else echo "worker stopped"; fi
  fi
  rm -f "$PIDFILE"
  # Only a broker this script started: one that was already running belongs to someone else.
  if [[ -f "$BROKER_MARK" ]]; then
    bash docker/kafka/local-kafka.sh stop
    rm -f "$BROKER_MARK"
  fi
}
[[ "${1:-}" == "stop" ]] && { stop; exit 0; }

python3 -m pip install --quiet --disable-pip-version-check -e .
if ! bash docker/kafka/local-kafka.sh status >/dev/null 2>&1; then
  bash docker/kafka/local-kafka.sh start
  touch "$BROKER_MARK"
fi
export MOVIE_RECS_KAFKA_BOOTSTRAP="127.0.0.1:${MOVIE_RECS_KAFKA_PORT:-9092}"
movie-recs topics create

if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "worker already running (pid $(cat "$PIDFILE"))"
else
  MOVIE_RECS_WEB_PORT="$PORT" nohup movie-recs worker -l info >"$RUN_DIR/worker.log" 2>&1 &
  echo $! >"$PIDFILE"
  echo "worker started (pid $!, log $RUN_DIR/worker.log)"
fi
for _ in $(seq 60); do curl -fs "localhost:$PORT/metrics" >/dev/null 2>&1 && break; sleep 1; done

DATA="${MOVIE_RECS_DEMO_DATA:-synthetic}"
movie-recs simulate --data "$DATA" --limit "${MOVIE_RECS_DEMO_EVENTS:-300000}"
MODEL="${MOVIE_RECS_SERVE_MODEL:-als}"
TRAINED="$(movie-recs train --model "$MODEL" --data "$DATA" | tee /dev/stderr | awk -v m="$MODEL" '$1 == m {sub(":", "", $2); print $2}')"
# train publishes `register`; a worker with no production version swaps to it, one that has
# a production version keeps serving that until `movie-recs registry promote`.
SERVED=""
for _ in $(seq 120); do
  SERVED="$(curl -fs "localhost:$PORT/rollout/status" 2>/dev/null | python3 -c 'import json,sys; print((json.load(sys.stdin)["stable"] or {}).get("model_version",""))' 2>/dev/null || true)"
  [[ "$SERVED" == "$TRAINED" ]] && break
  sleep 1
done
if [[ "$SERVED" == "$TRAINED" ]]; then
  echo "the worker serves $MODEL $TRAINED, the version just trained"
else
  echo "warning: the worker serves '${SERVED:-nothing}', not the version just trained ($TRAINED);" \
       "a production version is set? promote it: movie-recs registry promote $MODEL $TRAINED" >&2
fi
echo
echo "ingested so far:"; curl -fs "localhost:$PORT/metrics" | grep '^movierecs_events_ingested_total'
echo "user 1:"; curl -fs "localhost:$PORT/users/1"; echo
echo "recommendations for user 1:"; curl -fs "localhost:$PORT/recommend/1?k=5"; echo
echo
echo "Worker on http://localhost:$PORT (/recommend/{id}, /trace/{request_id}, /users/{id}, /health, /metrics)."
echo "Stop everything: docker/up.sh stop"

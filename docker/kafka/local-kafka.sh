#!/usr/bin/env bash
# Run a real single-node Apache Kafka (KRaft) on this machine without Docker.
#
#   docker/kafka/local-kafka.sh start|stop|status|restart
#
# Where Kafka comes from, first match wins:
#   1. KAFKA_HOME: an existing Kafka installation (its libs/ is put on the class path).
#   2. The jar cache, when a previous run filled it (no Maven, no network).
#   3. Maven: docker/kafka/pom.xml resolves the broker and copies its jars into the cache.
#   4. The release tarball (KAFKA_TARBALL_URL), downloaded with curl into the cache.
#
# Environment (all optional):
#   MOVIE_RECS_KAFKA_VERSION          Kafka version (default: kafka.version in pom.xml)
#   MOVIE_RECS_KAFKA_CACHE            jar cache (default ~/.cache/movie-recs/kafka-<version>)
#   MOVIE_RECS_KAFKA_DATA             data dir: metadata and topic logs, server logs, pidfile
#                                     (default <repo>/data/kafka)
#   MOVIE_RECS_KAFKA_HOST             listen and advertised address (default 127.0.0.1)
#   MOVIE_RECS_KAFKA_PORT             client port (default 9092)
#   MOVIE_RECS_KAFKA_CONTROLLER_PORT  KRaft controller port (default 9093)
#   MOVIE_RECS_KAFKA_CLUSTER_ID       cluster id used when formatting a fresh data dir
#   MOVIE_RECS_KAFKA_START_TIMEOUT    seconds to wait for the broker to answer (default 60)
#   MOVIE_RECS_KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM before SIGKILL (default 30)
#   MOVIE_RECS_KAFKA_PROBE            force the health probe: kcat, python or java
#   MOVIE_RECS_KAFKA_SASL_SSL_PORT    also listen with SASL_SSL (SCRAM-SHA-512 and PLAIN) on
#                                     this port; PLAINTEXT stays for the broker itself
#   MOVIE_RECS_KAFKA_SASL_USERS       user:password,... accepted there (default movierecs:movierecs)
#   MOVIE_RECS_KAFKA_TLS_DIR          where the CA (ca.pem) and broker certificate are generated
#                                     with openssl when missing (default: a folder under $TMPDIR;
#                                     never put it in the repository)
#   KAFKA_HOME, KAFKA_TARBALL_URL, KAFKA_HEAP_OPTS (default -Xms256m -Xmx1g: the test suite creates thousands of partitions),
#   KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_OPTS (extra JVM flags), JAVA_HOME
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
POM="$SCRIPT_DIR/pom.xml"

pom_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1)"
KAFKA_VERSION="${MOVIE_RECS_KAFKA_VERSION:-$pom_version}"
SCALA_BINARY="2.13"
CACHE_DIR="${MOVIE_RECS_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/movie-recs/kafka-$KAFKA_VERSION}"
DATA_DIR="${MOVIE_RECS_KAFKA_DATA:-$REPO_ROOT/data/kafka}"
HOST="${MOVIE_RECS_KAFKA_HOST:-127.0.0.1}"
PORT="${MOVIE_RECS_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${MOVIE_RECS_KAFKA_CONTROLLER_PORT:-9093}"
# A fixed id keeps runs reproducible; it is base64url("movie-recs-local"), a valid Kafka Uuid.
CLUSTER_ID="${MOVIE_RECS_KAFKA_CLUSTER_ID:-bW92aWUtcmVjcy1sb2NhbA}"
START_TIMEOUT="${MOVIE_RECS_KAFKA_START_TIMEOUT:-60}"
STOP_TIMEOUT="${MOVIE_RECS_KAFKA_STOP_TIMEOUT:-30}"
TARBALL_URL="${KAFKA_TARBALL_URL:-https://archive.apache.org/dist/kafka/$KAFKA_VERSION/kafka_$SCALA_BINARY-$KAFKA_VERSION.tgz}"

SASL_SSL_PORT="${MOVIE_RECS_KAFKA_SASL_SSL_PORT:-}"
SASL_USERS="${MOVIE_RECS_KAFKA_SASL_USERS:-movierecs:movierecs}"
TLS_DIR="${MOVIE_RECS_KAFKA_TLS_DIR:-${TMPDIR:-/tmp}/movie-recs-kafka-tls-$PORT}"

BOOTSTRAP="$HOST:$PORT"
PIDFILE="$DATA_DIR/kafka.pid"
CONFIG="$DATA_DIR/server.properties"
META_DIR="$DATA_DIR/kraft"
LOG_DIR="$DATA_DIR/logs"
OUT_FILE="$DATA_DIR/kafka.out"

if [[ -n "${JAVA_HOME:-}" ]]; then JAVA="$JAVA_HOME/bin/java"; else JAVA="java"; fi

say() { printf 'local-kafka: %s\n' "$*"; }
warn() { printf 'local-kafka: %s\n' "$*" >&2; }
die() { printf 'local-kafka: error: %s\n' "$*" >&2; exit 1; }

# --- locating Kafka -------------------------------------------------------------------

KAFKA_LIBS=""     # directory whose *.jar make up the class path
KAFKA_ORIGIN=""   # for messages

# Sets KAFKA_LIBS from KAFKA_HOME or a filled cache; never downloads. Returns 1 if neither.
find_installed_kafka() {
    if [[ -n "${KAFKA_HOME:-}" ]]; then
        [[ -d "$KAFKA_HOME/libs" ]] || die "KAFKA_HOME=$KAFKA_HOME has no libs/ directory"
        KAFKA_LIBS="$KAFKA_HOME/libs"
        KAFKA_ORIGIN="KAFKA_HOME=$KAFKA_HOME"
        # Report the installed version, not the pom's.
        local clients
        clients="$(compgen -G "$KAFKA_LIBS/kafka-clients-*.jar" | head -n1 || true)"
        clients="${clients##*/kafka-clients-}"
        [[ -n "$clients" ]] && KAFKA_VERSION="${clients%.jar}"
        return 0
    fi
    if [[ -f "$CACHE_DIR/.complete" && -d "$CACHE_DIR/libs" ]]; then
        KAFKA_LIBS="$CACHE_DIR/libs"
        KAFKA_ORIGIN="cache $CACHE_DIR ($(cat "$CACHE_DIR/.complete"))"
        return 0
    fi
    return 1
}

fetch_with_maven() {
    command -v mvn >/dev/null 2>&1 || { warn "mvn not found, skipping Maven"; return 1; }
    local tmp="$CACHE_DIR/libs.tmp" mvn_log="$CACHE_DIR/maven.log"
    rm -rf "$tmp"
    say "resolving Kafka $KAFKA_VERSION with Maven (first run only; log: $mvn_log)"
    if ! mvn -q -B -f "$POM" dependency:copy-dependencies \
            -Dkafka.version="$KAFKA_VERSION" -DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
        warn "Maven failed; last lines of $mvn_log:"
        tail -n 15 "$mvn_log" >&2 || true
        rm -rf "$tmp"
        return 1
    fi
    ls "$tmp"/kafka_"$SCALA_BINARY"-*.jar >/dev/null 2>&1 \
        || { warn "Maven ran but produced no kafka_$SCALA_BINARY jar in $tmp"; return 1; }
    rm -rf "$CACHE_DIR/libs"
    mv "$tmp" "$CACHE_DIR/libs"
    echo "maven" >"$CACHE_DIR/.complete"
}

fetch_tarball() {
    command -v curl >/dev/null 2>&1 || { warn "curl not found, cannot download $TARBALL_URL"; return 1; }
    local tgz="$CACHE_DIR/kafka_$SCALA_BINARY-$KAFKA_VERSION.tgz" tmp="$CACHE_DIR/unpack.tmp"
    say "downloading $TARBALL_URL"
    if ! curl -fsSL --connect-timeout 15 --max-time 600 -o "$tgz.part" "$TARBALL_URL"; then
        rm -f "$tgz.part"
        warn "download failed: $TARBALL_URL"
        return 1
    fi
    mv "$tgz.part" "$tgz"
    rm -rf "$tmp" && mkdir -p "$tmp"
    tar -xzf "$tgz" -C "$tmp" --strip-components=1 || { warn "cannot unpack $tgz"; return 1; }
    [[ -d "$tmp/libs" ]] || { warn "$tgz has no libs/ directory"; return 1; }
    rm -rf "$CACHE_DIR/libs"
    mv "$tmp/libs" "$CACHE_DIR/libs"
    rm -rf "$tmp" "$tgz"
    echo "tarball" >"$CACHE_DIR/.complete"
}

# Sets KAFKA_LIBS, downloading into the cache if needed. Dies with a clear message on failure.
ensure_kafka() {
    find_installed_kafka && return 0
    mkdir -p "$CACHE_DIR"
    if fetch_with_maven || fetch_tarball; then
        find_installed_kafka && return 0
    fi
    die "could not obtain Kafka $KAFKA_VERSION: Maven (docker/kafka/pom.xml) and the \
tarball ($TARBALL_URL) both failed. Set KAFKA_HOME to an unpacked Kafka, or
KAFKA_TARBALL_URL to a reachable copy of kafka_$SCALA_BINARY-$KAFKA_VERSION.tgz."
}

# --- JVM ------------------------------------------------------------------------------

java_cmd() {
    # Kafka 4.x logs through log4j2 (our yaml); 3.x through reload4j (its own properties).
    local log_opts
    if compgen -G "$KAFKA_LIBS/log4j-core-2*.jar" >/dev/null; then
        log_opts="-Dlog4j2.configurationFile=$SCRIPT_DIR/log4j2.yaml"
    elif [[ -n "${KAFKA_HOME:-}" && -f "$KAFKA_HOME/config/log4j.properties" ]]; then
        log_opts="-Dlog4j.configuration=file:$KAFKA_HOME/config/log4j.properties"
    else
        log_opts=""
    fi
    # Word splitting of the *_OPTS variables is intended: they hold several flags.
    # shellcheck disable=SC2206
    JAVA_ARGS=(${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}
        ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}
        $log_opts "-Dkafka.logs.dir=$LOG_DIR" ${KAFKA_OPTS:-}
        -cp "$KAFKA_LIBS/*")
}

# --- health probe ---------------------------------------------------------------------

# Cheap check first: a closed port fails at once instead of after a client timeout.
port_open() {
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
}

# Succeeds when a broker at $BOOTSTRAP answers a metadata request listing >= 1 broker.
probe() {
    local timeout="${1:-5}" how="${MOVIE_RECS_KAFKA_PROBE:-}"
    port_open || return 1
    if [[ -z "$how" ]]; then
        if command -v kcat >/dev/null 2>&1; then how=kcat
        elif command -v python3 >/dev/null 2>&1 && python3 -c 'import aiokafka' 2>/dev/null; then how=python
        else how=java
        fi
    fi
    # Outputs are captured before grep: with pipefail, grep -q closing the pipe early would
    # turn a healthy answer into a SIGPIPE failure once the topic list gets long.
    local out
    case "$how" in
        kcat)
            out="$(kcat -L -b "$BOOTSTRAP" -m "$timeout" 2>/dev/null)" || return 1
            grep -Eq '^ *[1-9][0-9]* brokers:' <<<"$out"
            ;;
        python)
            python3 - "$BOOTSTRAP" "$timeout" <<'PY' >/dev/null 2>&1
import asyncio, sys
from aiokafka.admin import AIOKafkaAdminClient

async def main(bootstrap, timeout):
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout * 1000)
    await asyncio.wait_for(admin.start(), timeout)
    try:
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout)
    finally:
        await admin.close()
    return bool(cluster["brokers"])

sys.exit(0 if asyncio.run(main(sys.argv[1], int(sys.argv[2]))) else 1)
PY
            ;;
        java)
            if [[ -z "$KAFKA_LIBS" ]] && ! find_installed_kafka; then
                warn "no kcat, no python3 with aiokafka, and no Kafka jars for the java probe"
                return 1
            fi
            # The tool moved from core (3.x) to kafka-tools (4.x).
            local cls
            for cls in org.apache.kafka.tools.BrokerApiVersionsCommand kafka.admin.BrokerApiVersionsCommand; do
                out="$("$JAVA" -Xmx128m -cp "$KAFKA_LIBS/*" "$cls" --bootstrap-server "$BOOTSTRAP" \
                    --command-config <(echo "request.timeout.ms=$((timeout * 1000))") 2>/dev/null)" \
                    && grep -q "^$HOST:$PORT" <<<"$out" && return 0
            done
            return 1
            ;;
        *) die "MOVIE_RECS_KAFKA_PROBE must be kcat, python or java, not '$how'" ;;
    esac
}

# --- pid handling ---------------------------------------------------------------------

# Prints the pid of the broker this script started, if it is still alive.
running_pid() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid: it must be our broker, on our config.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $CONFIG" || return 1
    echo "$pid"
}

LOG_MARK=0   # size of server.log before this start, so old runs' errors are not shown

show_log_tail() {
    local f
    for f in "$OUT_FILE" "$LOG_DIR/server.log"; do
        if [[ -s "$f" ]]; then
            echo "---- last lines of $f" >&2
            tail -n 30 "$f" >&2
        fi
    done
    if [[ -s "$LOG_DIR/server.log" ]]; then
        echo "---- first errors of this start" >&2
        tail -c +"$((LOG_MARK + 1))" "$LOG_DIR/server.log" | grep -m 5 -E '\] (ERROR|FATAL) ' >&2 || true
    fi
}

# --- commands -------------------------------------------------------------------------

# A throwaway CA and a broker certificate for $HOST signed by it (PEM, unencrypted PKCS#8 key).
make_tls() {
    if [[ -s "$TLS_DIR/broker-keystore.pem" && -s "$TLS_DIR/ca.pem" ]]; then return 0; fi
    command -v openssl >/dev/null 2>&1 || die "openssl is needed to make the SASL_SSL listener's certificates"
    case "$(cd "$(dirname "$TLS_DIR")" 2>/dev/null && pwd)/" in
        "$REPO_ROOT"/*) die "MOVIE_RECS_KAFKA_TLS_DIR=$TLS_DIR is inside the repository; keys never go there" ;;
    esac
    mkdir -p "$TLS_DIR" && chmod 700 "$TLS_DIR"
    local san="IP:$HOST"
    [[ "$HOST" =~ ^[0-9.]+$ ]] || san="DNS:$HOST"
    say "making a CA and a broker certificate in $TLS_DIR"
    {
        openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=movie-recs local CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem"
        openssl req -newkey rsa:2048 -nodes -subj "/CN=$HOST" \
            -keyout "$TLS_DIR/broker.key" -out "$TLS_DIR/broker.csr"
        openssl x509 -req -in "$TLS_DIR/broker.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
            -CAcreateserial -days 7 -out "$TLS_DIR/broker.pem" -extfile <(printf '%s\n' \
            "subjectAltName=$san,DNS:localhost" "basicConstraints=CA:FALSE" \
            "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth")
    } >"$TLS_DIR/openssl.log" 2>&1 || { cat "$TLS_DIR/openssl.log" >&2; die "openssl failed"; }
    cat "$TLS_DIR/broker.key" "$TLS_DIR/broker.pem" >"$TLS_DIR/broker-keystore.pem"
    chmod 600 "$TLS_DIR"/*.key "$TLS_DIR/broker-keystore.pem"
}

# The SASL_SSL listener's settings: TLS from $TLS_DIR, SCRAM-SHA-512 users in the metadata
# log (added at format time, or by add_scram_users), PLAIN users in the JAAS line.
sasl_ssl_config() {
    local plain_users="" pair
    IFS=',' read -ra pairs <<<"$SASL_USERS"
    for pair in "${pairs[@]}"; do
        plain_users+=" user_${pair%%:*}=\"${pair#*:}\""
    done
    echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL"
    echo "sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN"
    echo "listener.name.sasl_ssl.ssl.keystore.type=PEM"
    echo "listener.name.sasl_ssl.ssl.keystore.location=$TLS_DIR/broker-keystore.pem"
    echo "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
    echo "listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain_users;"
}

# --add-scram arguments of the storage format for every user.
scram_format_args() {
    local pair
    IFS=',' read -ra pairs <<<"$SASL_USERS"
    for pair in "${pairs[@]}"; do
        printf -- '--add-scram\nSCRAM-SHA-512=[name=%s,password=%s]\n' "${pair%%:*}" "${pair#*:}"
    done
}

# SCRAM users on a data dir formatted before: set through the running broker (idempotent).
add_scram_users() {
    local pair
    IFS=',' read -ra pairs <<<"$SASL_USERS"
    for pair in "${pairs[@]}"; do
        "$JAVA" -Xmx128m -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.ConfigCommand --bootstrap-server "$BOOTSTRAP" \
            --alter --entity-type users --entity-name "${pair%%:*}" \
            --add-config "SCRAM-SHA-512=[password=${pair#*:}]" >>"$LOG_DIR/scram.log" 2>&1 \
            || die "could not add SCRAM user ${pair%%:*} (see $LOG_DIR/scram.log)"
    done
}

render_config() {
    # The committed file plus the per-run values; keys set here are dropped from the copy.
    local listeners="PLAINTEXT://$HOST:$PORT" dropped='log\.dirs|listeners|advertised\.listeners|controller\.quorum\.voters'
    if [[ -n "$SASL_SSL_PORT" ]]; then
        listeners+=",SASL_SSL://$HOST:$SASL_SSL_PORT"
        dropped+='|listener\.security\.protocol\.map'
    fi
    {
        grep -Ev "^[[:space:]]*($dropped)[[:space:]]*=" "$SCRIPT_DIR/server.properties"
        echo
        echo "# ---- set by local-kafka.sh"
        echo "log.dirs=$META_DIR"
        echo "listeners=$listeners,CONTROLLER://$HOST:$CONTROLLER_PORT"
        echo "advertised.listeners=$listeners"
        echo "controller.quorum.voters=1@$HOST:$CONTROLLER_PORT"
        if [[ -n "$SASL_SSL_PORT" ]]; then sasl_ssl_config; fi
    } >"$CONFIG"
}

cmd_start() {
    local pid
    if pid="$(running_pid)"; then
        local on
        on="$(sed -n 's#^advertised\.listeners=PLAINTEXT://##p' "$CONFIG" 2>/dev/null || true)"
        say "already running (pid $pid) on ${on:-$BOOTSTRAP}"
        [[ -z "$on" || "$on" == "$BOOTSTRAP" ]] \
            || say "warning: it listens on $on, not $BOOTSTRAP; stop it first to change ports"
        return 0
    fi
    if probe 2; then
        say "a broker not started by this script already answers on $BOOTSTRAP; using it"
        return 0
    fi
    command -v "$JAVA" >/dev/null 2>&1 || die "java not found (need Java 17+; set JAVA_HOME)"

    local t0=$SECONDS
    ensure_kafka
    mkdir -p "$DATA_DIR" "$LOG_DIR"
    rm -f "$PIDFILE"
    if [[ -n "$SASL_SSL_PORT" ]]; then make_tls; fi
    render_config
    java_cmd

    local scram_later=""
    if [[ ! -f "$META_DIR/meta.properties" ]]; then
        say "formatting $META_DIR (cluster id $CLUSTER_ID)"
        local scram=()
        if [[ -n "$SASL_SSL_PORT" ]]; then mapfile -t scram < <(scram_format_args); fi
        if ! "$JAVA" "${JAVA_ARGS[@]}" kafka.tools.StorageTool format \
                -t "$CLUSTER_ID" -c "$CONFIG" "${scram[@]}" >"$LOG_DIR/format.log" 2>&1; then
            cat "$LOG_DIR/format.log" >&2
            die "formatting the storage failed"
        fi
    elif [[ -n "$SASL_SSL_PORT" ]]; then
        scram_later=1
    fi

    LOG_MARK="$(stat -c %s "$LOG_DIR/server.log" 2>/dev/null || echo 0)"
    say "starting Kafka $KAFKA_VERSION from $KAFKA_ORIGIN"
    nohup "$JAVA" "${JAVA_ARGS[@]}" kafka.Kafka "$CONFIG" >"$OUT_FILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PIDFILE"

    local deadline=$((SECONDS + START_TIMEOUT))
    until probe 2; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PIDFILE"
            show_log_tail
            die "the broker exited during startup"
        fi
        if ((SECONDS >= deadline)); then
            show_log_tail
            # A half-started broker would make the next start report "already running".
            cmd_stop >&2
            die "no answer on $BOOTSTRAP after ${START_TIMEOUT}s (MOVIE_RECS_KAFKA_START_TIMEOUT); broker stopped"
        fi
        sleep 0.5
    done
    if [[ -n "$scram_later" ]]; then add_scram_users; fi
    say "ready on $BOOTSTRAP after $((SECONDS - t0))s (pid $pid, logs in $LOG_DIR, data in $DATA_DIR)"
    if [[ -n "$SASL_SSL_PORT" ]]; then
        say "SASL_SSL (SCRAM-SHA-512, PLAIN) on $HOST:$SASL_SSL_PORT, CA $TLS_DIR/ca.pem"
    fi
}

cmd_stop() {
    local pid
    if ! pid="$(running_pid)"; then
        if [[ -f "$PIDFILE" ]]; then
            rm -f "$PIDFILE"
            say "not running (removed stale pidfile)"
        else
            say "not running"
        fi
        return 0
    fi
    say "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            say "still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.5
    done
    rm -f "$PIDFILE"
    say "stopped"
}

cmd_status() {
    local pid
    if probe 5; then
        if pid="$(running_pid)"; then
            say "up on $BOOTSTRAP (pid $pid)"
        else
            say "up on $BOOTSTRAP (not started by this script)"
        fi
        return 0
    fi
    if pid="$(running_pid)"; then
        say "pid $pid is alive but $BOOTSTRAP does not answer a metadata request"
    else
        say "down ($BOOTSTRAP does not answer)"
    fi
    return 1
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    restart) cmd_stop && cmd_start ;;
    *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac

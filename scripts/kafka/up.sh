#!/usr/bin/env bash
# Starts ONE Apache Kafka node (KRaft, combined broker + controller) in the
# background with settings fit for tests, and returns once it answers
# metadata. Prints the bootstrap address on stdout (and nothing else there).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

"$KAFKA_SCRIPTS/fetch.sh" >&2

if pid="$(kafka_pid)"; then
  say "a broker is already running from $KAFKA_DIR (pid $pid)"
  printf '%s:%s\n' "$KAFKA_HOST" "$KAFKA_PORT"
  exit 0
fi

for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
  if (exec 3<>"/dev/tcp/$KAFKA_HOST/$port") 2>/dev/null; then
    die "port $KAFKA_HOST:$port is taken by another process; choose another with KAFKA_PORT (and KAFKA_CONTROLLER_PORT)"
  fi
done

rm -rf "$KAFKA_DIR"
mkdir -p "$KAFKA_DIR/data"
cfg="$KAFKA_DIR/server.properties"
# Why each setting: docs/operations.md, "The test broker".
cat >"$cfg" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DIR/data

PROPS
# KAFKA_BROKER_PROPERTIES picks another settings file: `make bench` uses
# broker-bench.properties (production's cleaner and segment defaults) so
# the test settings' constant compaction does not eat the CPU it measures.
cat "${KAFKA_BROKER_PROPERTIES:-$KAFKA_SCRIPTS/broker.properties}" >>"$cfg"

java="$(java_bin)"
# A KRaft cluster id is 16 random bytes in URL-safe base64; one starting
# with '-' would read as an option to the storage tool, so draw again.
cluster_id=-
while [ "${cluster_id#-}" != "$cluster_id" ]; do
  cluster_id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
done
cp="$KAFKA_CACHE/libs/*"
log4j=(-Dlog4j2.configurationFile="$KAFKA_SCRIPTS/log4j2.properties" -Dkafka.log.file="$KAFKA_DIR/kafka.log")

"$java" "${log4j[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$cluster_id" -c "$cfg" >"$KAFKA_DIR/format.log" 2>&1 \
  || { cat "$KAFKA_DIR/format.log" >&2; die "formatting KRaft storage in $KAFKA_DIR/data failed"; }

# setsid: the broker outlives this script and the make that ran it, and
# signals sent to make's process group (Ctrl-C) do not reach it.
# shellcheck disable=SC2086
setsid "$java" $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
  "${log4j[@]}" -cp "$cp" kafka.Kafka "$cfg" >"$KAFKA_DIR/stdout.log" 2>&1 </dev/null &
echo $! >"$KAFKA_DIR/kafka.pid"

# KAFKA_WATCH_PID: the broker belongs to that process (a test binary) and is
# stopped when it dies, even by SIGKILL or a test timeout, so no JVM outlives
# the run that started it.
if [ -n "${KAFKA_WATCH_PID:-}" ]; then
  broker_pid="$(cat "$KAFKA_DIR/kafka.pid")"
  setsid bash -c '
    while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done
    if kill -0 "$2" 2>/dev/null; then KAFKA_DIR="$3" KAFKA_PORT="$4" "$5/down.sh"; fi
  ' watchdog "$KAFKA_WATCH_PID" "$broker_pid" "$KAFKA_DIR" "$KAFKA_PORT" "$KAFKA_SCRIPTS" >/dev/null 2>&1 </dev/null &
fi

addr="$KAFKA_HOST:$KAFKA_PORT"
deadline=$((SECONDS + KAFKA_START_TIMEOUT))
until grep -q 'Kafka Server started' "$KAFKA_DIR/kafka.log" 2>/dev/null; do
  if ! kafka_pid >/dev/null; then
    tail -n 30 "$KAFKA_DIR/stdout.log" "$KAFKA_DIR/kafka.log" >&2 2>/dev/null || true
    die "the broker exited during start-up (logs in $KAFKA_DIR)"
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    tail -n 30 "$KAFKA_DIR/kafka.log" >&2 2>/dev/null || true
    die "the broker did not start within ${KAFKA_START_TIMEOUT}s (logs in $KAFKA_DIR)"
  fi
  sleep 0.2
done
# "started" is the broker's word; a metadata answer is the client's.
(cd "$KAFKA_SCRIPTS/../.." && go run ./scripts/kafka/ping -brokers "$addr" -timeout "${KAFKA_START_TIMEOUT}s") >&2 \
  || die "the broker started but does not answer metadata at $addr (logs in $KAFKA_DIR)"
say "Apache Kafka $KAFKA_VERSION is up at $addr (pid $(cat "$KAFKA_DIR/kafka.pid"), logs in $KAFKA_DIR/kafka.log)"
printf '%s\n' "$addr"

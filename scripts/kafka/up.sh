#!/usr/bin/env bash
# Starts an Apache Kafka KRaft cluster of KAFKA_NODES nodes (default 1), each a
# combined broker + controller, in the background with settings fit for tests,
# and returns once every node answers metadata. Prints the bootstrap
# addresses, comma-separated, on stdout (and nothing else there).
#
# KAFKA_NODES=1 is the single test broker; KAFKA_NODES=3 a three-voter quorum
# with replication factor 3 and min.insync.replicas=2 (docs/operations.md,
# "Three-node cluster"). node.sh stops, kills and restarts one node.
#
# KAFKA_SECURE=1 starts the secured broker instead (scripts/kafka/secure.sh):
# SASL_SSL with SCRAM-SHA-512, the StandardAuthorizer denying what no ACL
# allows, one principal per service, and a client properties file per
# principal in KAFKA_DIR, whose paths it prints on stderr. It creates no
# ACLs: `make kafka-up-secure` applies the default deployment's with
# `cartctl acls apply`, and the Go harness applies each test's own.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
. "$KAFKA_SCRIPTS/secure.sh"

"$KAFKA_SCRIPTS/fetch.sh" >&2

addrs=""
voters=""
for n in $(seq 1 "$KAFKA_NODES"); do
  addrs="${addrs:+$addrs,}$KAFKA_HOST:$(node_port "$n")"
  voters="${voters:+$voters,}$n@$KAFKA_HOST:$(node_controller_port "$n")"
done

if pid="$(load_cluster && kafka_pid)"; then
  say "a broker is already running from $KAFKA_DIR (pid $pid)"
  # The running cluster's addresses, whatever KAFKA_NODES asks for now.
  cat "$KAFKA_DIR/addr" "$KAFKA_DIR"/node-*/addr 2>/dev/null | paste -sd, -
  exit 0
fi

for n in $(seq 1 "$KAFKA_NODES"); do
  for port in "$(node_port "$n")" "$(node_controller_port "$n")"; do
    case "$port" in ''|*[!0-9]*) die "node $n has no port (KAFKA_PORTS/KAFKA_CONTROLLER_PORTS list fewer than $KAFKA_NODES)";; esac
    if (exec 3<>"/dev/tcp/$KAFKA_HOST/$port") 2>/dev/null; then
      die "port $KAFKA_HOST:$port is taken by another process; choose another with KAFKA_PORT (and KAFKA_CONTROLLER_PORT)"
    fi
  done
done

rm -rf "$KAFKA_DIR"
mkdir -p "$KAFKA_DIR"
printf 'KAFKA_NODES=%q\nKAFKA_HEAP_OPTS=%q\nKAFKA_SECURE=%q\n' "$KAFKA_NODES" "$KAFKA_HEAP_OPTS" "$KAFKA_SECURE" >"$KAFKA_DIR/cluster.env"
scram=()
if [ "$KAFKA_SECURE" = 1 ]; then
  secure_init
  mapfile -t scram < <(secure_scram_args)
fi

java="$(java_bin)"
# A KRaft cluster id is 16 random bytes in URL-safe base64; one starting
# with '-' would read as an option to the storage tool, so draw again.
cluster_id=-
while [ "${cluster_id#-}" != "$cluster_id" ]; do
  cluster_id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
done

for n in $(seq 1 "$KAFKA_NODES"); do
  dir="$(node_dir "$n")"
  port="$(node_port "$n")"
  mkdir -p "$dir/data"
  cfg="$dir/server.properties"
  # Why each setting: docs/operations.md, "The test broker".
  cat >"$cfg" <<PROPS
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
log.dirs=$dir/data
PROPS
  if [ "$KAFKA_SECURE" = 1 ]; then
    chmod 600 "$cfg" # it is about to hold admin's password
    secure_server_props "$n" >>"$cfg"
  else
    cat >>"$cfg" <<PROPS
listeners=PLAINTEXT://$KAFKA_HOST:$port,CONTROLLER://$KAFKA_HOST:$(node_controller_port "$n")
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
PROPS
  fi
  echo >>"$cfg"
  # KAFKA_BROKER_PROPERTIES picks another settings file: `make bench` uses
  # broker-bench.properties (production's cleaner and segment defaults) so
  # the test settings' constant compaction does not eat the CPU it measures.
  cat "${KAFKA_BROKER_PROPERTIES:-$KAFKA_SCRIPTS/broker.properties}" >>"$cfg"
  if [ "$KAFKA_NODES" -gt 1 ]; then
    # Several nodes: replicate like production, so losing one node loses
    # nothing and writes go on (acks=all needs 2 of 3 in sync). A later key
    # in a properties file overrides an earlier one.
    rf=$((KAFKA_NODES < 3 ? KAFKA_NODES : 3))
    isr=$((rf > 1 ? rf - 1 : 1))
    cat >>"$cfg" <<PROPS

# $KAFKA_NODES nodes (up.sh): replication like production.
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
PROPS
  fi
  printf '%s:%s\n' "$KAFKA_HOST" "$port" >"$dir/addr"
  "$java" -Dlog4j2.configurationFile="$KAFKA_SCRIPTS/log4j2.properties" -Dkafka.log.file="$dir/kafka.log" \
    -cp "$KAFKA_CACHE/libs/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$cfg" ${scram[@]+"${scram[@]}"} >"$dir/format.log" 2>&1 \
    || { cat "$dir/format.log" >&2; die "formatting KRaft storage in $dir/data failed"; }
done

# All nodes start together: a node's broker waits for a controller quorum,
# which needs a majority of the voters up.
for n in $(seq 1 "$KAFKA_NODES"); do
  launch_node "$n"
done

# KAFKA_WATCH_PID: the cluster belongs to that process (a test binary) and is
# stopped when it dies, even by SIGKILL or a test timeout, so no JVM outlives
# the run that started it. The watchdog follows the cluster's directory, not a
# pid, so it keeps guarding nodes that a test kills and restarts; it ends when
# down.sh removes the directory.
if [ -n "${KAFKA_WATCH_PID:-}" ]; then
  setsid bash -c '
    while kill -0 "$1" 2>/dev/null && [ -f "$2/cluster.env" ]; do sleep 1; done
    if [ -f "$2/cluster.env" ]; then KAFKA_DIR="$2" KAFKA_PORT="$3" "$4/down.sh"; fi
  ' watchdog "$KAFKA_WATCH_PID" "$KAFKA_DIR" "$KAFKA_PORT" "$KAFKA_SCRIPTS" >/dev/null 2>&1 </dev/null &
fi

for n in $(seq 1 "$KAFKA_NODES"); do
  wait_node "$n"
done
if [ "$KAFKA_SECURE" = 1 ]; then
  secure_client_files "$addrs"
fi
ping_nodes "$addrs" "$KAFKA_NODES" \
  || die "the cluster started but does not answer metadata at $addrs (logs in $KAFKA_DIR)"
pids=""
for n in $(seq 1 "$KAFKA_NODES"); do pids="${pids:+$pids }$(node_pid "$n")"; done
if [ "$KAFKA_SECURE" = 1 ]; then
  say "secured: SASL_SSL (SCRAM-SHA-512), ACLs enforced; CA certificate $(secure_dir)/tls/ca.crt"
fi
if [ "$KAFKA_NODES" -eq 1 ]; then
  say "Apache Kafka $KAFKA_VERSION is up at $addrs (pid $pids, logs in $KAFKA_DIR/kafka.log)"
else
  say "Apache Kafka $KAFKA_VERSION: $KAFKA_NODES nodes up at $addrs (pids $pids, logs in $KAFKA_DIR/node-*/kafka.log)"
fi
printf '%s\n' "$addrs"

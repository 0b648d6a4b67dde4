# shellcheck shell=bash
# Shared settings and helpers for the test broker scripts. Sourced, never run.
#
# Everything here can be overridden from the environment, so `make kafka-up`,
# the Go test harness and CI all drive the same scripts with their own ports
# and directories.

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
# The KRaft controller listens beside the broker; by default on the next port.
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
# The jars live outside the source tree and survive `git clean` and new clones.
KAFKA_CACHE="${KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cartstream/kafka-${KAFKA_VERSION}}"
# One directory per running cluster: config, data, logs and pid files (with
# several nodes, one node-<n> subdirectory each).
KAFKA_DIR="${KAFKA_DIR:-${TMPDIR:-/tmp}/cartstream-kafka-${KAFKA_PORT}}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"

KAFKA_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() { printf 'cartstream kafka: %s\n' "$*" >&2; exit 1; }
say() { printf 'cartstream kafka: %s\n' "$*" >&2; }

KAFKA_NODES="${KAFKA_NODES:-1}"
# KAFKA_SECURE=1: SASL_SSL, SCRAM principals and ACLs (scripts/kafka/secure.sh).
KAFKA_SECURE="${KAFKA_SECURE:-0}"
case "$KAFKA_SECURE" in 0|1) ;; *) die "KAFKA_SECURE=$KAFKA_SECURE: want 0 or 1";; esac
case "$KAFKA_NODES" in [1-9]) ;; *) die "KAFKA_NODES=$KAFKA_NODES: want a node count from 1 to 9";; esac
# Three JVMs share the machine with the tests: each gets a small heap, enough
# for the test topics (the dedupe buffer is 16 MiB, segments are small).
if [ "$KAFKA_NODES" -eq 1 ]; then
  KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
else
  KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx384m}"
fi

# load_cluster reads the node count and heap that up.sh recorded in
# KAFKA_DIR/cluster.env, so node.sh and down.sh act on the cluster that is
# there whatever the caller's environment says. It fails if there is none.
load_cluster() {
  [ -f "$KAFKA_DIR/cluster.env" ] || return 1
  # shellcheck disable=SC1091
  . "$KAFKA_DIR/cluster.env"
}

# java_bin prints the java launcher to use: $JAVA_HOME's if set, else PATH's.
java_bin() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    printf '%s\n' "$JAVA_HOME/bin/java"
  else
    command -v java || true
  fi
}

# require_jdk fails with one line when no Java >= 17 is reachable. Apache
# Kafka 4.x brokers need Java 17; older ones die later with a long stack trace.
require_jdk() {
  local java version major
  java="$(java_bin)"
  [ -n "$java" ] || die "the test broker needs Java 17 or newer and none was found: install a JDK (Debian/Ubuntu: apt-get install openjdk-17-jdk-headless) or set JAVA_HOME"
  version="$("$java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | head -n1)"
  major="${version%%.*}"
  [ "$major" = "1" ] && major="$(printf '%s' "$version" | cut -d. -f2)"
  case "$major" in ''|*[!0-9]*) die "could not read the Java version of $java; the test broker needs Java 17 or newer (set JAVA_HOME to one)";; esac
  [ "$major" -ge 17 ] || die "the test broker needs Java 17 or newer, but $java is Java $major: install a JDK 17+ (Debian/Ubuntu: apt-get install openjdk-17-jdk-headless) or set JAVA_HOME"
}

# check_node fails unless $1 is a node number of this cluster (1..KAFKA_NODES).
check_node() {
  case "$1" in ''|*[!0-9]*) die "node $1: want a number from 1 to $KAFKA_NODES";; esac
  [ "$1" -ge 1 ] && [ "$1" -le "$KAFKA_NODES" ] || die "node $1: the cluster in $KAFKA_DIR has nodes 1 to $KAFKA_NODES"
}

# node_dir prints node $1's directory. A single node lives in KAFKA_DIR
# itself, as it always has; several live in KAFKA_DIR/node-<n>.
node_dir() {
  if [ "$KAFKA_NODES" -eq 1 ]; then
    printf '%s\n' "$KAFKA_DIR"
  else
    printf '%s/node-%s\n' "$KAFKA_DIR" "$1"
  fi
}

# node_port and node_controller_port print node $1's listener ports: from the
# comma-separated KAFKA_PORTS / KAFKA_CONTROLLER_PORTS when given (the Go
# harness passes free ports), else node 1 on KAFKA_PORT/KAFKA_CONTROLLER_PORT
# and node n on KAFKA_PORT+2(n-1) and the port after it.
node_port() {
  if [ -n "${KAFKA_PORTS:-}" ]; then
    printf '%s\n' "$KAFKA_PORTS" | cut -d, -f"$1"
  elif [ "$1" -eq 1 ]; then
    printf '%s\n' "$KAFKA_PORT"
  else
    printf '%s\n' $((KAFKA_PORT + 2 * ($1 - 1)))
  fi
}
node_controller_port() {
  if [ -n "${KAFKA_CONTROLLER_PORTS:-}" ]; then
    printf '%s\n' "$KAFKA_CONTROLLER_PORTS" | cut -d, -f"$1"
  elif [ "$1" -eq 1 ]; then
    printf '%s\n' "$KAFKA_CONTROLLER_PORT"
  else
    printf '%s\n' $(($(node_port "$1") + 1))
  fi
}

# node_pid prints the pid of node $1 if it is alive and really is that node
# (a recycled pid must never be signalled).
node_pid() {
  local dir pid
  dir="$(node_dir "$1")"
  [ -f "$dir/kafka.pid" ] || return 1
  pid="$(cat "$dir/kafka.pid")"
  case "$pid" in ''|*[!0-9]*) return 1;; esac
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$dir/server.properties" || return 1
  printf '%s\n' "$pid"
}

# kafka_pid is node_pid of the first node (the single broker's pid).
kafka_pid() { node_pid 1; }

# launch_node starts node $1's JVM detached from its existing server.properties
# and data, and records its pid. It does not wait.
launch_node() {
  local dir java cp
  dir="$(node_dir "$1")"
  java="$(java_bin)"
  cp="$KAFKA_CACHE/libs/*"
  # The log is appended to across restarts; remember where this start begins
  # so wait_node looks only at its own lines.
  if [ -f "$dir/kafka.log" ]; then wc -l <"$dir/kafka.log" >"$dir/kafka.log.mark"; else echo 0 >"$dir/kafka.log.mark"; fi
  # setsid: the broker outlives this script and the make that ran it, and
  # signals sent to make's process group (Ctrl-C) do not reach it.
  # shellcheck disable=SC2086
  setsid "$java" $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_SCRIPTS/log4j2.properties" -Dkafka.log.file="$dir/kafka.log" \
    -cp "$cp" kafka.Kafka "$dir/server.properties" >>"$dir/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
}

# wait_node waits until node $1 logs "Kafka Server started" for its latest
# start, failing with the log's tail if it exits or times out first.
wait_node() {
  local dir mark deadline
  dir="$(node_dir "$1")"
  mark="$(cat "$dir/kafka.log.mark" 2>/dev/null || echo 0)"
  deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  until tail -n +"$((mark + 1))" "$dir/kafka.log" 2>/dev/null | grep -q 'Kafka Server started'; do
    if ! node_pid "$1" >/dev/null; then
      tail -n 30 "$dir/stdout.log" "$dir/kafka.log" >&2 2>/dev/null || true
      die "node $1 exited during start-up (logs in $dir)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 30 "$dir/kafka.log" >&2 2>/dev/null || true
      die "node $1 did not start within ${KAFKA_START_TIMEOUT}s (logs in $dir)"
    fi
    sleep 0.2
  done
}

# stop_node sends signal $2 (TERM or KILL) to node $1 and waits for it to
# exit; a TERM that is not obeyed within KAFKA_STOP_TIMEOUT becomes a KILL.
stop_node() {
  local pid deadline
  if ! pid="$(node_pid "$1")"; then
    say "node $1 is not running"
    return 0
  fi
  say "stopping node $1 (pid $pid, SIG$2)"
  kill -"$2" "$pid" 2>/dev/null || true
  deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "node $1 did not stop within ${KAFKA_STOP_TIMEOUT}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.1
  done
}

# ping_nodes waits until the addresses in $1 answer metadata listing at least
# $2 brokers: "started" is the broker's word, a metadata answer the client's.
# A secured cluster is asked as its admin principal.
ping_nodes() {
  local cfg=()
  if [ "$KAFKA_SECURE" = 1 ]; then cfg=(-config "$KAFKA_DIR/client-admin.properties"); fi
  (cd "$KAFKA_SCRIPTS/../.." && go run ./scripts/kafka/ping -brokers "$1" -want "$2" -timeout "${KAFKA_START_TIMEOUT}s" ${cfg[@]+"${cfg[@]}"}) >&2
}

# shellcheck shell=bash
# Shared settings for the test broker scripts. Sourced, never run.
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
# One directory per running broker: config, data, log and pid file.
KAFKA_DIR="${KAFKA_DIR:-${TMPDIR:-/tmp}/cartstream-kafka-${KAFKA_PORT}}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"

KAFKA_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() { printf 'cartstream kafka: %s\n' "$*" >&2; exit 1; }
say() { printf 'cartstream kafka: %s\n' "$*" >&2; }

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

# kafka_pid prints the pid of the broker that owns KAFKA_DIR if it is alive and
# really is that broker (a recycled pid must never be signalled).
kafka_pid() {
  local pid
  [ -f "$KAFKA_DIR/kafka.pid" ] || return 1
  pid="$(cat "$KAFKA_DIR/kafka.pid")"
  case "$pid" in ''|*[!0-9]*) return 1;; esac
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$KAFKA_DIR/server.properties" || return 1
  printf '%s\n' "$pid"
}

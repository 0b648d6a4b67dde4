#!/usr/bin/env bash
# Acts on ONE node of the cluster up.sh started in KAFKA_DIR, for fault tests
# and for a human watching a leader move:
#
#   node.sh kill  N   SIGKILL node N's JVM (a crash: no controlled shutdown)
#   node.sh stop  N   SIGTERM node N and wait for it to exit (controlled shutdown)
#   node.sh start N   restart node N on its ports and data; returns once it
#                     logs "Kafka Server started" and answers metadata
#   node.sh pid   N   print node N's pid if it runs
#
# Nodes are numbered 1..KAFKA_NODES, and node N has node.id N: the broker id
# that metadata names as a partition's leader.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

[ $# -eq 2 ] || die "usage: node.sh kill|stop|start|pid N"
load_cluster || die "no cluster in $KAFKA_DIR (start one with up.sh, or set KAFKA_DIR/KAFKA_PORT)"
check_node "$2"
n="$2"
case "$1" in
  kill) stop_node "$n" KILL ;;
  stop) stop_node "$n" TERM ;;
  pid) node_pid "$n" ;;
  start)
    if pid="$(node_pid "$n")"; then
      say "node $n is already running (pid $pid)"
      exit 0
    fi
    launch_node "$n"
    wait_node "$n"
    # KAFKA_PING=0: the caller checks metadata itself (the Go harness does,
    # without paying for a `go run` per restart).
    if [ "${KAFKA_PING:-1}" != 0 ]; then
      ping_nodes "$(cat "$(node_dir "$n")/addr")" 1 \
        || die "node $n started but does not answer metadata (logs in $(node_dir "$n"))"
    fi
    say "node $n is up at $(cat "$(node_dir "$n")/addr") (pid $(node_pid "$n"))"
    ;;
  *) die "usage: node.sh kill|stop|start|pid N" ;;
esac

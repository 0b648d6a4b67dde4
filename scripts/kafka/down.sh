#!/usr/bin/env bash
# Stops every node of the cluster that owns KAFKA_DIR by its recorded pid
# (never by name), waits for them to exit, and removes the directory.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

if ! load_cluster; then
  say "no broker is running from $KAFKA_DIR"
  rm -rf "$KAFKA_DIR"
  exit 0
fi

running=0
for n in $(seq 1 "$KAFKA_NODES"); do
  if pid="$(node_pid "$n")"; then
    running=$((running + 1))
    # All at once: stopping nodes one by one would move every leader and the
    # controller twice on the way down, for data about to be removed.
    kill -TERM "$pid" 2>/dev/null || true
  fi
done
if [ "$running" -eq 0 ]; then
  say "no broker is running from $KAFKA_DIR"
else
  say "stopping $running node(s) of $KAFKA_DIR"
  for n in $(seq 1 "$KAFKA_NODES"); do
    stop_node "$n" TERM
  done
fi
rm -rf "$KAFKA_DIR"

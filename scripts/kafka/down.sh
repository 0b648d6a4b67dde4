#!/usr/bin/env bash
# Stops the broker that owns KAFKA_DIR by its recorded pid (never by name),
# waits for it to exit, and removes its directory.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

if pid="$(kafka_pid)"; then
  say "stopping the broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "the broker did not stop within 30s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.2
  done
else
  say "no broker is running from $KAFKA_DIR"
fi
rm -rf "$KAFKA_DIR"

#!/usr/bin/env bash
# `make kafka-up-secure`: the secured test broker (up.sh with KAFKA_SECURE=1),
# then, for the default deployment (topic prefix CARTSTREAM_TOPIC_PREFIX,
# manager group CARTSTREAM_MANAGER_GROUP, inventory group
# CARTSTREAM_INVENTORY_GROUP), its least-privilege ACLs applied
# as the admin principal and its topics created as the operator: on a
# secured cluster the services may not create topics (docs/security-kafka.md).
# Prints the bootstrap address on stdout, as up.sh does; the client
# properties files' paths go to stderr.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

addrs="$(KAFKA_SECURE=1 "$KAFKA_SCRIPTS/up.sh")"
load_cluster
[ "$KAFKA_SECURE" = 1 ] || die "a plaintext broker already runs from $KAFKA_DIR; stop it first (make kafka-down)"

cartctl=(go run ./cmd/cartctl)
args=(--brokers "$addrs")
if [ -n "${CARTSTREAM_MANAGER_GROUP:-}" ]; then args+=(--manager-group "$CARTSTREAM_MANAGER_GROUP"); fi
if [ -n "${CARTSTREAM_INVENTORY_GROUP:-}" ]; then args+=(--inventory-group "$CARTSTREAM_INVENTORY_GROUP"); fi
cd "$KAFKA_SCRIPTS/../.."
"${cartctl[@]}" acls apply -kafka-config "$KAFKA_DIR/client-admin.properties" "${args[@]}" >&2 \
  || die "applying the ACLs failed (broker logs in $KAFKA_DIR)"
# The ACLs reach the broker's authorizer through the metadata log a moment
# after the controller commits them: a refused first try is tried again.
for try in 1 2 3 4 5; do
  if "${cartctl[@]}" topics create -kafka-config "$KAFKA_DIR/client-operator.properties" --brokers "$addrs" \
    --partitions "${KAFKA_TOPIC_PARTITIONS:-12}" >&2; then
    break
  fi
  [ "$try" -lt 5 ] || die "creating the topics as the operator failed (broker logs in $KAFKA_DIR)"
  sleep 1
done
for p in gateway manager projection inventory; do
  say "run the $p with -kafka-config $KAFKA_DIR/client-$p.properties"
done
say "run cartctl with -kafka-config $KAFKA_DIR/client-operator.properties"
printf '%s\n' "$addrs"

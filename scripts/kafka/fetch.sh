#!/usr/bin/env bash
# Fetches the Apache Kafka broker (kafka_2.13, pinned in env.sh) and its runtime
# class path from Maven Central with Maven, once, into KAFKA_CACHE.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

require_jdk
if [ -f "$KAFKA_CACHE/.complete" ]; then
  say "Apache Kafka $KAFKA_VERSION is cached in $KAFKA_CACHE"
  exit 0
fi
command -v mvn >/dev/null 2>&1 || die "fetching the test broker needs Maven (mvn) and none was found: install it (Debian/Ubuntu: apt-get install maven)"

say "fetching Apache Kafka $KAFKA_VERSION with Maven into $KAFKA_CACHE"
mkdir -p "$(dirname "$KAFKA_CACHE")"
tmp="$(mktemp -d "$KAFKA_CACHE.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# -B: no progress bars in logs; dependency:copy-dependencies resolves the full
# runtime class path the way the binary distribution's libs/ holds it.
mvn -B -q -Dstyle.color=never -f "$KAFKA_SCRIPTS/pom.xml" \
  -Dkafka.version="$KAFKA_VERSION" \
  dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs" \
  || die "Maven could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION (see the output above)"
[ -f "$tmp/libs/kafka_2.13-$KAFKA_VERSION.jar" ] || die "Maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing"
touch "$tmp/.complete"
rm -rf "$KAFKA_CACHE"
mv "$tmp" "$KAFKA_CACHE"
trap - EXIT
say "cached $(ls "$KAFKA_CACHE/libs" | wc -l) jars in $KAFKA_CACHE"

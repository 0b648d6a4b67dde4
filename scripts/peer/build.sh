#!/usr/bin/env bash
# Builds the Kafka Streams peer of `make bench` (bench/peer) with Maven and
# caches the result, a jar plus its dependencies in lib/, outside the source
# tree under a hash of the sources: the second run with the same sources is
# instant. Prints the jar's path on stdout (run it with `java -jar`);
# everything else goes to stderr.
set -euo pipefail

die() { printf 'cartstream peer: %s\n' "$*" >&2; exit 1; }
say() { printf 'cartstream peer: %s\n' "$*" >&2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
src="$root/bench/peer"
[ -f "$src/pom.xml" ] || die "no Maven project at $src"

command -v java >/dev/null 2>&1 || die "the peer needs Java 17 or newer and none was found: install a JDK (Debian/Ubuntu: apt-get install openjdk-17-jdk-headless)"
command -v javac >/dev/null 2>&1 || die "the peer needs a JDK (javac), only a JRE was found: install openjdk-17-jdk-headless"
command -v mvn >/dev/null 2>&1 || die "building the peer needs Maven (mvn) and none was found: install it (Debian/Ubuntu: apt-get install maven)"

# The cache key: every source file's path and content, in a stable order.
hash="$(cd "$src" && find pom.xml src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/cartstream/peer-$hash"
if [ -f "$cache/.complete" ]; then
  printf '%s\n' "$cache/cartstream-peer.jar"
  exit 0
fi

say "building bench/peer with Maven into $cache (the first build downloads its dependencies)"
mkdir -p "$(dirname "$cache")"
tmp="$(mktemp -d "$cache.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# -q -B: quiet, no progress bars; the build directory is outside the tree.
mvn -q -B -Dstyle.color=never -f "$src/pom.xml" -Dpeer.buildDir="$tmp/build" package >&2 \
  || die "Maven could not build bench/peer (see the output above)"
[ -f "$tmp/build/cartstream-peer.jar" ] || die "Maven finished but cartstream-peer.jar is missing"
mkdir -p "$tmp/out"
mv "$tmp/build/cartstream-peer.jar" "$tmp/build/lib" "$tmp/out/"
touch "$tmp/out/.complete"
rm -rf "$cache"
mv "$tmp/out" "$cache"
# Builds of older sources are of no further use.
find "$(dirname "$cache")" -maxdepth 1 -name 'peer-*' ! -name "peer-$hash" ! -name '*.tmp.*' -exec rm -rf {} +
say "cached the peer ($(ls "$cache/lib" | wc -l) dependency jars) in $cache"
printf '%s\n' "$cache/cartstream-peer.jar"

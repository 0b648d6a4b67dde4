#!/usr/bin/env bash
# Makes sure Debian's headless-capable Chromium is at /usr/bin/chromium, for
# the browser test (integration/browser_test.go). Installs the `chromium`
# package with apt-get when it is missing; does nothing when it is there.
#
# Usage: scripts/browser/ensure-chromium.sh      (as root, on Debian/Ubuntu)
#   CARTSTREAM_CHROMIUM=/path/to/chromium  use another binary (checked only)
#
# Exit status: 0 when a usable chromium is present afterwards; 1 with a
# message saying what to do when it cannot be installed (not root, no apt).
set -euo pipefail

bin=${CARTSTREAM_CHROMIUM:-/usr/bin/chromium}

say() { echo "ensure-chromium: $*" >&2; }

if [[ -x "$bin" ]]; then
  say "found $bin ($("$bin" --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi
if [[ -n "${CARTSTREAM_CHROMIUM:-}" ]]; then
  say "CARTSTREAM_CHROMIUM=$bin is not an executable file"
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  say "$bin is missing and there is no apt-get here: install Chromium by hand"
  say "and point CARTSTREAM_CHROMIUM at it (the browser test needs it)"
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  say "$bin is missing; installing it needs root:"
  say "  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium"
  exit 1
fi

say "$bin is missing: installing Debian's chromium with apt-get (about 100 MB)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# Fonts so pages render text (and screenshots are readable).
apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
if [[ ! -x "$bin" ]]; then
  say "apt-get finished but $bin is still missing"
  exit 1
fi
say "installed: $("$bin" --version 2>/dev/null || echo "$bin")"

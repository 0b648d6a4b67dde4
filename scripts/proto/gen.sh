#!/usr/bin/env bash
# Regenerates the Go code of the gRPC API (proto/cartstream/**/*.pb.go)
# with the pinned buf and plugins, installing them into bin/ if needed.
# The output is committed; running this twice gives no diff.
#
# Usage: scripts/proto/gen.sh        (from anywhere in the repo)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"

install_buf
install_plugins

cd "$ROOT"
# Drop the previous output first so a renamed or deleted .proto file leaves
# no stale Go code behind. Hand-written files (doc.go, *_test.go) stay.
find proto/cartstream -type f \( -name '*.pb.go' -o -name '*.pb.gw.go' \) -delete
"$BIN/buf" generate
echo "proto: generated $(find proto/cartstream \( -name '*.pb.go' -o -name '*.pb.gw.go' \) | wc -l) files under proto/cartstream" >&2

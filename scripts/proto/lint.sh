#!/usr/bin/env bash
# Checks the gRPC API: buf format, buf lint (STANDARD, i.e. v1's DEFAULT,
# plus COMMENTS), that the committed Go code is what gen.sh would generate,
# and buf breaking (FILE rules) against a git commit.
#
# Usage: scripts/proto/lint.sh
#   PROTO_BREAKING_AGAINST=<git rev>  commit to compare with (default HEAD:
#                                     the working tree against the last
#                                     commit; CI may set origin/main or HEAD~1)
# The breaking check is skipped, with a message, when there is no git
# repository, the revision is unknown (e.g. a shallow clone) or the
# revision has no buf.yaml or no .proto files under proto/ yet.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"

install_buf
cd "$ROOT"

echo "proto: buf format" >&2
if ! "$BIN/buf" format --diff --exit-code --path proto/cartstream; then
  echo "proto: .proto files are not formatted; run: bin/buf format -w" >&2
  exit 1
fi

echo "proto: buf lint" >&2
"$BIN/buf" lint

echo "proto: generated code is up to date" >&2
install_plugins
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BIN/buf" generate -o "$tmp"
stale=$(diff -r <(cd "$tmp" && find proto/cartstream \( -name '*.pb.go' -o -name '*.pb.gw.go' \) | sort) \
  <(find proto/cartstream \( -name '*.pb.go' -o -name '*.pb.gw.go' \) | sort) || true)
for f in $(cd "$tmp" && find proto/cartstream \( -name '*.pb.go' -o -name '*.pb.gw.go' \)); do
  cmp -s "$tmp/$f" "$f" || stale+=$'\n'"differs: $f"
done
if [[ -n "$stale" ]]; then
  echo "$stale" >&2
  echo "proto: generated code is stale; run scripts/proto/gen.sh and commit" >&2
  exit 1
fi

against=${PROTO_BREAKING_AGAINST:-HEAD}
skip() {
  echo "proto: buf breaking SKIPPED: $*" >&2
  exit 0
}
git rev-parse --git-dir >/dev/null 2>&1 || skip "not a git repository"
[[ -d .git ]] || skip "$ROOT/.git is not a directory (git worktree?); buf needs .git"
sha=$(git rev-parse --verify --quiet "$against^{commit}") ||
  skip "revision '$against' not found (shallow clone or no commit yet)"
git cat-file -e "$sha:buf.yaml" 2>/dev/null ||
  skip "no buf.yaml in $against ($sha): nothing to compare with yet"
git ls-tree -r --name-only "$sha" -- proto | grep -q '\.proto$' ||
  skip "no .proto files under proto/ in $against ($sha): nothing to compare with yet"

echo "proto: buf breaking against $against ($sha)" >&2
"$BIN/buf" breaking --against ".git#ref=$sha"
echo "proto: OK" >&2

# shellcheck shell=bash
# Sourced by gen.sh and lint.sh: pins the protobuf tool versions and
# installs them into <repo>/bin (gitignored) with the Go toolchain when
# missing or at another version. Only the Go module proxy is needed: no
# Buf Schema Registry, no remote plugins, no downloads of prebuilt binaries.
#
# The tools are built with `go install pkg@version`, so their dependencies
# never enter the project's go.mod.

# Pinned versions. Bump deliberately, then run scripts/proto/gen.sh and
# commit the regenerated code together with the bump.
BUF_VERSION=v1.75.0
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
# protoc-gen-go always matches the google.golang.org/protobuf runtime that
# go.mod requires, so generated code and runtime never drift apart.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN="$ROOT/bin"

protoc_gen_go_version() {
  (cd "$ROOT" && go list -m -f '{{.Version}}' google.golang.org/protobuf)
}

# install_tool NAME PKG VERSION WANT: installs PKG@VERSION as $BIN/NAME
# unless `$BIN/NAME --version` already prints WANT.
install_tool() {
  local name=$1 pkg=$2 version=$3 want=$4 have=
  if [[ -x "$BIN/$name" ]]; then
    have=$("$BIN/$name" --version 2>&1 || true)
  fi
  if [[ "$have" == "$want" ]]; then
    return 0
  fi
  echo "proto: installing $pkg@$version into bin/ (have: ${have:-none})" >&2
  mkdir -p "$BIN"
  (cd "$ROOT" && GOBIN="$BIN" go install "$pkg@$version")
  have=$("$BIN/$name" --version 2>&1 || true)
  if [[ "$have" != "$want" ]]; then
    echo "proto: $BIN/$name --version says '$have', want '$want'" >&2
    return 1
  fi
}

install_buf() {
  install_tool buf github.com/bufbuild/buf/cmd/buf "$BUF_VERSION" "${BUF_VERSION#v}"
}

# grpc_gateway_version is go.mod's grpc-gateway version, so the generated
# HTTP handlers and the runtime they call cannot drift apart.
grpc_gateway_version() {
  (cd "$ROOT" && go list -m -f '{{.Version}}' github.com/grpc-ecosystem/grpc-gateway/v2)
}

install_plugins() {
  local gov gwv
  gov=$(protoc_gen_go_version)
  install_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$gov" "protoc-gen-go $gov"
  install_tool protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc \
    "$PROTOC_GEN_GO_GRPC_VERSION" "protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION#v}"
  gwv=$(grpc_gateway_version)
  install_tool protoc-gen-grpc-gateway github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway \
    "$gwv" "Version $gwv, commit unknown, built at unknown"
}

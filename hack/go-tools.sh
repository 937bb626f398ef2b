#!/usr/bin/env bash
# Builds kcr's own Go test programs into $KCR_TOOLS_BIN, once per machine:
# each binary is keyed by a hash of its sources (go.mod, go.sum, *.go) and
# the Go version, so a CI run rebuilds only what changed. Prints the path
# of each program. Modules come from the Go module proxy, pinned by go.sum.
#   test/e2e/streamclient -> $KCR_TOOLS_BIN/kcr-streamclient (client-go's
#     exec/attach/port-forward clients, the kubectl stand-in)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/hack/versions.sh"
command -v go >/dev/null || { echo "go-tools: Go >= 1.24 must be on PATH" >&2; exit 1; }

# build SRC_DIR NAME: $KCR_TOOLS_BIN/NAME from the Go main package in SRC_DIR.
build() {
  local src=$root/$1 out=$KCR_TOOLS_BIN/$2 key
  key=$( (cd "$src" && go version && sha256sum go.mod go.sum $(find . -name '*.go' | LC_ALL=C sort)) | sha256sum | cut -c1-16)
  if [[ -x $out && "$(cat "$out.key" 2>/dev/null)" == "$key" ]]; then
    echo "$out"
    return
  fi
  mkdir -p "$KCR_TOOLS_BIN"
  # -p=1: one package at a time, so a cold build leaves the shared cores usable.
  (cd "$src" && GOFLAGS="$GOFLAGS -mod=readonly -p=1" nice go build -trimpath -o "$out.tmp" .)
  mv "$out.tmp" "$out"
  echo "$key" >"$out.key"
  echo "$out"
}
build test/e2e/streamclient kcr-streamclient

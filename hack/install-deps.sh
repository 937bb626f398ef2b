#!/usr/bin/env bash
# Installs every Debian package and pinned Go-module tool kcr's build and tests
# need. Idempotent: a second run only checks.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"

pkgs=(
  build-essential cmake ninja-build pkg-config git python3
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev
  libsystemd-dev libseccomp-dev libssl-dev libcurl4-openssl-dev libsqlite3-dev
  nlohmann-json3-dev libtomlplusplus-dev libspdlog-dev libfmt-dev libcli11-dev
  zlib1g-dev libzstd-dev libboost-dev libgtest-dev libgmock-dev libbenchmark-dev
  prometheus-cpp-dev criu
  # libyaml-cpp-dev: CDI spec files may be YAML (runtime/cdi)
  libyaml-cpp-dev
  # ccache: the builds of build/ and build-asan/ share objects across clones;
  # clang and its compiler-rt: hack/fuzz.sh's libFuzzer binaries
  ccache clang libclang-rt-14-dev
  # apparmor_parser: loads kcr's RuntimeDefault profile where AppArmor is on
  apparmor
  # test and benchmark peers
  docker-registry apache2-utils busybox-static containernetworking-plugins
  iproute2 nftables iptables curl jq sqlite3 zstd openssl
  # prometheus: the metrics e2e test scrapes kcrd with it and lints with promtool
  prometheus
  containerd runc crun
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian starts packaged daemons on install; kcr's tests start their own.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
fi

# Go builds cri-tools; Debian 12's golang-go (1.19) is too old for it.
if ! command -v go >/dev/null; then
  echo "install-deps: Go >= 1.24 must be on PATH (/usr/local/go/bin on kcr's machines)" >&2
  exit 1
fi
# crictl and critest from the pinned cri-tools module (Go module proxy).
if ! "$KCR_TOOLS_BIN/crictl" --version 2>/dev/null | grep -q "$CRI_TOOLS_VERSION"; then
  mkdir -p "$KCR_TOOLS_BIN"
  GOBIN="$KCR_TOOLS_BIN" GOFLAGS=-mod=mod go install \
    -ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRI_TOOLS_VERSION" \
    "sigs.k8s.io/cri-tools/cmd/crictl@$CRI_TOOLS_VERSION"
fi
# critest_build VERSION OUT: critest of cri-tools VERSION as OUT, rebuilt
# only when OUT.key (the version and Go's) differs.
critest_build() {
  local v=$1 out=$2 key work
  key="$v $(go env GOVERSION)"
  # A critest built before keys were written: keep it if it is that version.
  [[ -x $out && ! -e $out.key ]] && "$out" --version 2>/dev/null | grep -q "version: $v\$" &&
    echo "$key" >"$out.key"
  [[ -x $out && "$(cat "$out.key" 2>/dev/null)" == "$key" ]] && return
  echo "install-deps: building critest $v (once per machine)" >&2
  mkdir -p "$(dirname "$out")"
  work=$(mktemp -d)
  if (cd "$work" && go mod init kcr-critest >/dev/null 2>&1 &&
    GOFLAGS=-mod=mod go get -t "sigs.k8s.io/cri-tools/cmd/critest@$v" >/dev/null 2>&1 &&
    GOFLAGS="-mod=mod -p=2" nice go test -c -ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=$v" \
      -o "$out.tmp" sigs.k8s.io/cri-tools/cmd/critest); then
    mv "$out.tmp" "$out"
    echo "$key" >"$out.key"
  else
    echo "warning: critest $v not built" >&2
  fi
  rm -rf "$work"
}
# The current one as $KCR_TOOLS_BIN/critest (what hack/critest.sh runs by
# default), the older one under cri-tools-$CRI_TOOLS_OLD_VERSION/.
critest_build "$CRI_TOOLS_VERSION" "$KCR_TOOLS_BIN/critest"
critest_build "$CRI_TOOLS_OLD_VERSION" "$KCR_TOOLS_BIN/cri-tools-$CRI_TOOLS_OLD_VERSION/critest"
# kcr's own Go test programs (kcr-streamclient), rebuilt when their sources change.
bash "$here/go-tools.sh" >/dev/null
echo "install-deps: ok"

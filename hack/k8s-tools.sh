#!/usr/bin/env bash
# Builds the pinned Kubernetes programs the node tests drive, once per
# machine, into $KCR_TOOLS_BIN/k8s-$K8S_VERSION/:
#   kubelet kube-apiserver kube-controller-manager kube-scheduler kubectl
#   etcd (go.etcd.io/etcd/server/v3 at the version Kubernetes requires)
#   e2e_node.test (the node e2e suite, `go test -c`), only with --e2e-node
#   agnhost (test/images/agnhost), only when named: the node suite's test
#     image program (hack/e2e_node_images.py puts it and the C library
#     files it links into the image)
# From the Go module proxy with the ordinary go client: a throwaway module
# (kept in $KCR_GO_WORK, outside the checkout) requires k8s.io/kubernetes
# and replaces each staging module its go.mod points at ./staging with the
# published module of the same release. A program is rebuilt only when it
# is missing or its key (versions + Go version) changed. Prints the
# directory. Usage: hack/k8s-tools.sh [--e2e-node] [program...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/hack/versions.sh"
command -v go >/dev/null || { echo "k8s-tools: Go >= 1.26 must be on PATH" >&2; exit 1; }

want=(kubelet kube-apiserver kube-controller-manager kube-scheduler kubectl etcd)
e2e_node=0
if (($#)); then
  want=()
  for a in "$@"; do
    if [[ $a == --e2e-node ]]; then e2e_node=1; else want+=("$a"); fi
  done
  ((${#want[@]})) || [[ $e2e_node == 1 ]] || want=(kubelet)
fi

out=$KCR_TOOLS_BIN/k8s-$K8S_VERSION
work=${KCR_GO_WORK:-/var/cache/kcr-go}/k8s-$K8S_VERSION
key="$K8S_VERSION $K8S_STAGING_VERSION $(go env GOVERSION) ldflags-1"
# The version the programs report (kubelet's node status, kubectl version,
# the API server's /version), as Kubernetes' own release build stamps it.
ldflags=""
for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  major=${K8S_VERSION#v}; minor=${major#*.}
  ldflags+=" -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=${major%%.*} -X $v.gitMinor=${minor%%.*}"
  ldflags+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
done
mkdir -p "$out" "$work"
# One build at a time on this machine (two CI runs, or a test and a bench).
exec 9>"$work/.lock"
flock 9

module() {
  [[ -f $work/go.mod && "$(cat "$work/.key" 2>/dev/null)" == "$key" ]] && return
  rm -f "$work"/go.mod "$work"/go.sum "$work"/*.go
  local modfile
  modfile=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
    sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
  (
    cd "$work"
    go mod init kcr.local/k8s-tools >/dev/null 2>&1
    go mod edit -go="$(sed -n 's/^go //p' "$modfile")"
    go mod edit -require="k8s.io/kubernetes@$K8S_VERSION"
    # Every "k8s.io/x => ./staging/src/k8s.io/x" becomes "k8s.io/x => k8s.io/x v0.N.M".
    sed -n 's#^\s*\(k8s.io/[^ ]*\) => ./staging/src/.*#\1#p' "$modfile" | while read -r m; do
      go mod edit -replace="$m=$m@$K8S_STAGING_VERSION"
    done
    # The programs are main packages: a build-tagged file keeps them (and
    # go mod tidy's view of their dependencies) in this module.
    {
      echo '//go:build tools'
      echo 'package tools'
      echo 'import ('
      for p in cmd/kubelet cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubectl; do
        echo "	_ \"k8s.io/kubernetes/$p\""
      done
      echo '	_ "go.etcd.io/etcd/server/v3"'
      echo '	_ "k8s.io/kubernetes/test/e2e_node"'
      echo '	_ "k8s.io/kubernetes/test/images/agnhost"'
      echo ')'
    } >tools.go
    # e2e_node's specs are its _test.go files: a test in this module that
    # imports the package makes tidy record their dependencies too.
    GOFLAGS=-mod=mod go mod tidy -e >/dev/null
    GOFLAGS=-mod=mod go list -test -deps k8s.io/kubernetes/test/e2e_node >/dev/null
  )
  echo "$key" >"$work/.key"
}

pkg() {
  case $1 in
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    agnhost) echo k8s.io/kubernetes/test/images/agnhost ;;
    *) echo "k8s.io/kubernetes/cmd/$1" ;;
  esac
}

module
for p in "${want[@]}"; do
  [[ -x $out/$p && "$(cat "$out/$p.key" 2>/dev/null)" == "$key" ]] && continue
  echo "k8s-tools: building $p $K8S_VERSION (once per machine)" >&2
  (cd "$work" && GOFLAGS="-mod=mod -p=2" nice go build -trimpath -ldflags "$ldflags" -o "$out/$p.tmp" "$(pkg "$p")")
  mv "$out/$p.tmp" "$out/$p"
  echo "$key" >"$out/$p.key"
done
if ((e2e_node)) && ! [[ -x $out/e2e_node.test && "$(cat "$out/e2e_node.test.key" 2>/dev/null)" == "$key" ]]; then
  echo "k8s-tools: building e2e_node.test $K8S_VERSION (once per machine)" >&2
  (cd "$work" && GOFLAGS="-mod=mod -p=2" nice go test -c -trimpath -ldflags "$ldflags" -o "$out/e2e_node.test.tmp" k8s.io/kubernetes/test/e2e_node)
  mv "$out/e2e_node.test.tmp" "$out/e2e_node.test"
  echo "$key" >"$out/e2e_node.test.key"
fi
echo "$out"

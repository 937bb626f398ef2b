#!/usr/bin/env bash
# Runs critest (cri-tools, pinned) against a fresh kcrd with the local
# registry standing in for registry.k8s.io, k8s.gcr.io, gcr.io and docker.io.
# Extra arguments go to critest (e.g. -ginkgo.focus=Image).
# KCR_CRITEST_VERSION picks the cri-tools release (default $CRI_TOOLS_VERSION;
# $CRI_TOOLS_OLD_VERSION too, both built by hack/install-deps.sh).
# One spec cannot pass offline: "public image with digest should be pulled
# and removed" pulls gcr.io/k8s-staging-cri-tools/test-image-digest by a
# pinned manifest digest. That digest is the sha256 of a manifest list
# (docker manifest create) over five per-architecture manifests, each built
# by buildx FROM Docker Hub's busybox:1.37.0 with an empty file ADDed: their
# configs carry build timestamps and their layers are Docker Hub's gzip
# blobs. None of those bytes are here and rebuilding them cannot reproduce
# them, so no manifest with that digest can be served (it would need a
# sha256 preimage); the run says so at its end.
# Its streaming specs (-ginkgo.focus=Streaming: exec with and without tty,
# attach, port-forward in a pod and in a host-network pod) dial the URLs
# kcrd's Exec/Attach/PortForward return from this host, over SPDY; with
# KCR_CRITEST_WEBSOCKET=1 over WebSocket instead, as kubectl does since 1.31
# (v5.channel.k8s.io for exec and attach, SPDY tunnelled in WebSocket,
# "SPDY/3.1+portforward.k8s.io", for port-forward). They need the URLs
# absolute (host and port, http) and reachable from this host, the pod IP
# reachable from the host (the bridge is a gateway), and host ports
# 12001-12003 on 127.0.0.1 free (run under /tmp/kcr-e2e.lock).
# KCR_CGROUP_DRIVER=systemd runs kcrd with the systemd cgroup driver inside
# a systemd of its own (test/e2e/systemd_host.sh) on hosts that do not boot
# systemd.
set -euo pipefail
driver=${KCR_CGROUP_DRIVER:-auto}
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/hack/versions.sh"
version=${KCR_CRITEST_VERSION:-$CRI_TOOLS_VERSION}
critest=$KCR_TOOLS_BIN/cri-tools-$version/critest
[[ $version == "$CRI_TOOLS_VERSION" ]] && critest=$KCR_TOOLS_BIN/critest
[[ -x $critest ]] || { echo "critest.sh: no critest $version at $critest (hack/install-deps.sh builds it)" >&2; exit 1; }
ws=()
if [[ ${KCR_CRITEST_WEBSOCKET:-0} == 1 ]]; then
  [[ "$("$critest" --help 2>&1 || true)" == *-websocket-exec* ]] ||
    { echo "critest.sh: critest $version has no WebSocket transport flags" >&2; exit 1; }
  ws=(-websocket-exec -websocket-attach -websocket-portforward)
fi
tmp=$(mktemp -d /tmp/kcr-critest.XXXXXX)
cat >"$tmp/kcr.toml" <<EOT
root = "$tmp/root"
state = "$tmp/state"
[cgroup]
driver = "$driver"
parent = "kcr-critest-$$.slice"
[cni]
conf_dir = "$tmp/net.d"
$(bash "$root/hack/registry.sh" mirrors)
EOT
# A network of this run's own (bridge, IPAM store), removed at exit.
net="kcr-critest-$$"
bridge="kcrct$(( $$ % 100000 ))"
mkdir -p "$tmp/net.d"
cat >"$tmp/net.d/10-critest.conflist" <<EOT
{"cniVersion": "1.0.0", "name": "$net", "plugins": [
  {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.66.0.0/16"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "loopback"}]}
EOT
bash "$root/hack/registry.sh" start >/dev/null
python3 "$root/hack/test_images.py" >/dev/null
python3 "$root/hack/critest_images.py" >/dev/null
launch=()
if [[ $driver == systemd && ! -d /run/systemd/system ]]; then
  mkdir -p "$tmp/systemd-host"
  sdpid=$(bash "$root/test/e2e/systemd_host.sh" start "$tmp/systemd-host")
  launch=(nsenter -t "$sdpid" -m -p -C -u --)
fi
"${launch[@]}" "$root/build/bin/kcrd" --config "$tmp/kcr.toml" >"$tmp/kcrd.log" 2>&1 &
kcrd=$!
cleanup() {
  if (( ${#launch[@]} )); then pkill -TERM -P "$kcrd" 2>/dev/null || true; else kill "$kcrd" 2>/dev/null || true; fi
  wait "$kcrd" 2>/dev/null || true
  if (( ${#launch[@]} )); then bash "$root/test/e2e/systemd_host.sh" stop "$tmp/systemd-host"; fi
  rm -rf "$tmp/root" "$tmp/state"
  ip link del "$bridge" 2>/dev/null || true
  rm -rf "/var/lib/cni/networks/$net"
  # The pods' cgroup parent is this run's own: remove what is left of it.
  for c in /sys/fs/cgroup/*/kcr-critest-$$.slice /sys/fs/cgroup/kcr-critest-$$.slice; do
    [[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  true
  echo "kcrd log: $tmp/kcrd.log"
}
trap cleanup EXIT
for _ in $(seq 1 100); do [[ -S $tmp/state/kcr.sock ]] && break; sleep 0.1; done
echo "critest.sh: critest $version${ws:+ (WebSocket)} against kcrd (log $tmp/kcrd.log)"
# A JSON report of our own (unless the caller asked for one) lists, after
# ginkgo's summary, every spec that did not pass and why.
report=$tmp/critest-report.json
[[ " $* " == *json-report* ]] && report=
rc=0
"$critest" --runtime-endpoint "unix://$tmp/state/kcr.sock" --image-endpoint "unix://$tmp/state/kcr.sock" \
  "${ws[@]}" ${report:+"-ginkgo.json-report=$report"} "$@" || rc=$?
if [[ -n $report && -s $report ]]; then
  echo "---- critest $version: specs that did not pass ----"
  python3 "$root/hack/ginkgo_report.py" "$report" | tee "$tmp/not-passed.txt"
  if grep -q '^failed.*public image with digest should be pulled and removed' "$tmp/not-passed.txt"; then
    echo "critest.sh: \"public image with digest should be pulled and removed\" cannot pass offline:" \
      "its pinned manifest digest names Docker Hub busybox blobs no rebuild reproduces (see hack/critest.sh)"
  fi
fi
exit $rc

#!/usr/bin/env bash
# Runs critest (cri-tools, pinned) against a fresh kcrd with the local
# registry standing in for registry.k8s.io, k8s.gcr.io, gcr.io and docker.io.
# Extra arguments go to critest (e.g. -ginkgo.focus=Image).
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
tmp=$(mktemp -d /tmp/kcr-critest.XXXXXX)
cat >"$tmp/kcr.toml" <<EOT
root = "$tmp/root"
state = "$tmp/state"
[cgroup]
driver = "$driver"
parent = "kcr-critest-$$.slice"
[cni]
conf_dir = "$tmp/net.d"
[registry.mirrors."registry.k8s.io"]
server = "http://127.0.0.1:5000"
[registry.mirrors."k8s.gcr.io"]
server = "http://127.0.0.1:5000"
[registry.mirrors."gcr.io"]
server = "http://127.0.0.1:5000"
[registry.mirrors."docker.io"]
server = "http://127.0.0.1:5000"
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
ws=()
[[ ${KCR_CRITEST_WEBSOCKET:-0} == 1 ]] && ws=(-websocket-exec -websocket-attach -websocket-portforward)
"$KCR_TOOLS_BIN/critest" --runtime-endpoint "unix://$tmp/state/kcr.sock" --image-endpoint "unix://$tmp/state/kcr.sock" \
  "${ws[@]}" "$@"

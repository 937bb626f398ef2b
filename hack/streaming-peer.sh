#!/usr/bin/env bash
# Runs kcr-streamclient's checks (hack/go-tools.sh) against Debian's
# containerd + runc: the reference behaviour kcr's streaming server is held
# to (test/e2e/streaming_clients_test.cpp runs the same checks on kcrd).
# containerd runs with its own root, state, socket, bridge and cgroup parent
# under a temp dir and is stopped by PID at the end. Extra arguments go to
# `kcr-streamclient check` (e.g. -checks exec-spdy,portforward-spdy).
set -euo pipefail
source "$(dirname "$0")/../bench/lib.sh"
bench_init stream-peer
bash "$here/hack/go-tools.sh" >/dev/null
bash "$here/hack/registry.sh" start >/dev/null
python3 "$here/hack/test_images.py" >/dev/null
d=$tmp/ctd
net=ctd-stream-$$
bridge=ctdstr$(($$ % 100000))
cg=/kcr-stream-peer-$$
mkdir -p "$d/net.d"
cat >"$d/net.d/10-stream.conflist" <<EOT
{"cniVersion":"1.0.0","name":"$net","plugins":[{"type":"bridge","bridge":"$bridge",
"ipam":{"type":"host-local","ranges":[[{"subnet":"10.91.0.0/16"}]]}},{"type":"loopback"}]}
EOT
peer_cleanup() {
  bench_cleanup
  ip link del "$bridge" 2>/dev/null || true
  rm -rf "/var/lib/cni/networks/$net"
  for c in /sys/fs/cgroup/*$cg /sys/fs/cgroup/*/"${cg#/}"; do
    [[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  true
}
trap peer_cleanup EXIT
start_containerd "$d"
cri_socks+=("$ctd_sock")
stream_pod "$ctd_sock" "$d" "$cg"
echo "containerd $(containerd --version | awk '{print $3}'), pod $sp_pod" >&2
if [[ -n ${STREAM_PEER_HOLD:-} ]]; then
  # Keeps containerd and the pod up for manual runs until $STREAM_PEER_HOLD is removed.
  printf 'sock=%s pod=%s ctr=%s actr=%s\n' "$ctd_sock" "$sp_pod" "$sp_ctr" "$sp_actr" >"$STREAM_PEER_HOLD"
  while [[ -e $STREAM_PEER_HOLD ]]; do sleep 1; done
  exit 0
fi
# containerd 1.6's known departures, so the run shows everything else:
# it starts a tty exec at 0x0 and applies the client's size afterwards
# (-lenient-initial-size; kcr must not need it), and its WebSocket
# port-forward drops every byte of a client message past the 4096th
# (-ws-max-message 4095). It refuses the v5.channel.k8s.io and the
# SPDY-over-WebSocket tunnel upgrades (403): exec-ws-*, attach-ws and
# portforward-ws-tunnel fail on it; kubectl falls back to SPDY there
# (the *-fallback checks).
rc=0
"$KCR_TOOLS_BIN/kcr-streamclient" check -r "unix://$ctd_sock" -pod "$sp_pod" -container "$sp_ctr" \
  -attach-container "$sp_actr" -lenient-initial-size -ws-max-message 4095 "$@" || rc=$?
exit $rc

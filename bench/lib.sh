# Helpers shared by the benchmark scripts (sourced, not run).
# bench_init NAME: a temp dir in $tmp, daemons in $pids stopped and their
# mounts under $tmp removed on exit; pods left on the CRI sockets in
# $cri_socks (a run that failed half-way) are removed first.
bench_init() {
  here=$(cd "$(dirname "${BASH_SOURCE[1]}")/.." && pwd)
  source "$here/hack/versions.sh"
  crictl="$KCR_TOOLS_BIN/crictl"
  export CRI_CONFIG_FILE=/dev/null
  tmp=$(mktemp -d "/tmp/kcr-bench-$1.XXXXXX")
  pids=()
  cri_socks=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  local s
  for s in "${cri_socks[@]}"; do
    [[ -S $s ]] || continue
    "$crictl" -r "unix://$s" rmp -a -f >/dev/null 2>&1 || true
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  findmnt -rn -o TARGET | grep "^$tmp" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$tmp"
}
now_ms() { date +%s%3N; }
# pct P: the P-th percentile of the numbers on stdin.
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p/100+0.5); if(i<1)i=1; print a[i]}'; }
median() { printf '%s\n' "$@" | pct 50; }
# wait_sock SOCKET: until a CRI server answers there.
wait_sock() {
  for _ in $(seq 1 200); do "$crictl" -r "unix://$1" version >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "no CRI server on $1" >&2
  return 1
}
# stop_pid PID: SIGTERM, SIGKILL after 10 s.
stop_pid() { kill "$1"; for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -9 "$1" 2>/dev/null || true; }
# start_containerd DIR: Debian's containerd with its own root, state and
# socket under DIR, the CRI plugin pulling docker.io and registry.k8s.io from
# the local registry, CNI configs from DIR/net.d. Sets ctd_pid, ctd_sock.
start_containerd() {
  local d=$1 h
  mkdir -p "$d/net.d"
  for h in docker.io registry.k8s.io; do
    mkdir -p "$d/certs.d/$h"
    printf 'server = "http://127.0.0.1:5000"\n[host."http://127.0.0.1:5000"]\n  capabilities = ["pull", "resolve"]\n' \
      >"$d/certs.d/$h/hosts.toml"
  done
  cat >"$d/config.toml" <<EOT
version = 2
root = "$d/root"
state = "$d/state"
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[debug]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.6"
  # The streaming server (Exec/Attach/PortForward URLs): loopback, any port.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "$d/certs.d"
[plugins."io.containerd.grpc.v1.cri".cni]
  conf_dir = "$d/net.d"
  bin_dir = "/usr/lib/cni"
EOT
  containerd --config "$d/config.toml" >"$d/log" 2>&1 &
  ctd_pid=$!
  pids+=("$ctd_pid")
  ctd_sock=$d/containerd.sock
  wait_sock "$ctd_sock"
}
# stream_pod SOCKET DIR CGROUP_PARENT: a pod for the streaming clients
# (hack/go-tools.sh's kcr-streamclient, its `server-cmd` commands): a
# busybox container serving HTTP, echo and a byte generator, and one created
# with stdin that answers its input lines. Waits until the servers listen.
# Sets sp_pod, sp_ctr, sp_actr.
stream_pod() {
  local sock=$1 d=$2 cg=$3 sc C
  sc="$KCR_TOOLS_BIN/kcr-streamclient"
  C="$crictl --timeout 60s -r unix://$sock -i unix://$sock"
  mkdir -p "$d/logs"
  $C pull docker.io/library/busybox:latest >/dev/null
  $C pull registry.k8s.io/pause:3.6 >/dev/null 2>&1 || true
  jq -n --arg logs "$d/logs" --arg cg "$cg" \
    '{metadata: {name: "stream", namespace: "bench", uid: "stream-uid"}, log_directory: $logs,
      linux: {cgroup_parent: $cg}}' >"$d/pod.json"
  jq -n --arg cmd "$("$sc" server-cmd exec)" \
    '{metadata: {name: "srv"}, image: {image: "docker.io/library/busybox:latest"},
      command: ["sh", "-c", $cmd], log_path: "srv.log", linux: {}}' >"$d/srv.json"
  jq -n --arg cmd "$("$sc" server-cmd attach)" \
    '{metadata: {name: "att"}, image: {image: "docker.io/library/busybox:latest"},
      command: ["sh", "-c", $cmd], stdin: true, log_path: "att.log", linux: {}}' >"$d/att.json"
  sp_pod=$($C runp "$d/pod.json")
  sp_ctr=$($C create "$sp_pod" "$d/srv.json" "$d/pod.json")
  sp_actr=$($C create "$sp_pod" "$d/att.json" "$d/pod.json")
  $C start "$sp_ctr" "$sp_actr" >/dev/null
  for _ in $(seq 1 100); do
    [[ $($C exec -s "$sp_ctr" netstat -ltn 2>/dev/null | grep -cE ':(8080|9000|9001) ') == 3 ]] && return 0
    sleep 0.1
  done
  echo "stream_pod: the servers in $sp_ctr did not start" >&2
  return 1
}

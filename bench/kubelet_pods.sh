#!/usr/bin/env bash
# A real node, kcr vs Debian's containerd 1.6 + runc under the same kubelet
# (issue 10's benchmark): test/e2e/node/cluster.sh makes the single-node
# cluster once per runtime and round (KCR_NODE_RUNTIME=containerd for the
# peer), rounds alternating kcr, containerd, kcr, ...; best of each.
#   - time from `kubectl apply` of a 30-replica Deployment to all 30 pods
#     Ready (the pod image already present on the node)
#   - node memory with those pods: the runtime's processes (kcrd + every
#     kcr-monitor, containerd + every containerd-shim), PSS and RSS summed
#   - CPU seconds those processes spend over an idle window with the pods
#     running (kubelet relisting): utime+stime, plus what they reaped
#     (cutime+cstime: runc invocations of the shims)
# Prints a markdown table and `ratio <metric> <kcr/peer> target <op> <T>`.
# Env: ROUNDS (default 3), REPLICAS (30), IDLE (seconds, default 180).
# Run it on a quiet machine: other work skews every figure.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init kubelet
rounds=${ROUNDS:-3}
replicas=${REPLICAS:-30}
idle=${IDLE:-180}
cluster_sh=$here/test/e2e/node/cluster.sh
image=registry.k8s.io/pause:3.10.2
hz=$(getconf CLK_TCK)

bash "$here/hack/registry.sh" start >/dev/null
python3 "$here/hack/test_images.py" >/dev/null
bash "$here/hack/k8s-tools.sh" >/dev/null
python3 "$here/hack/e2e_node_images.py" >/dev/null
[[ -x $here/build/bin/kcrd && -x $here/build/bin/kcr-monitor ]] || bash "$here/hack/build.sh" kcrd kcr-monitor >/dev/null
command -v containerd >/dev/null || { echo "kubelet_pods: Debian's containerd is not installed" >&2; exit 1; }

cluster_dir=""
down() {
  [[ -n $cluster_dir ]] || return 0
  bash "$cluster_sh" down "$cluster_dir" >>"$tmp/cluster.log" 2>&1 || echo "kubelet_pods: cluster down reported leftovers (see $tmp/cluster.log)" >&2
  cluster_dir=""
}
trap 'down; bench_cleanup' EXIT

# The runtime's processes: its daemon, and each per-pod helper (found by
# the cluster's directory on its command line: monitors' --state, shims'
# -address).
runtime_pids() {  # RUNTIME DAEMON-PID
  local pat
  if [[ $1 == kcr ]]; then pat="kcr-monitor .*$cluster_dir/"; else pat="containerd-shim.*-address $cluster_dir/"; fi
  echo "$2"
  pgrep -f "$pat" || true
}
sum_kb() {  # FIELD(Pss|Rss) PID...: summed from smaps_rollup, KiB
  local f=$1 t=0 v p; shift
  for p in "$@"; do
    v=$(awk -v f="$f:" '$1 == f {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
    t=$((t + ${v:-0}))
  done
  echo $t
}
cpu_ticks() {  # PID...: utime+stime+cutime+cstime summed
  local t=0 p
  for p in "$@"; do
    # Fields after the command name (which may hold spaces): 14-17 of stat.
    t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}' || echo 0)))
  done
  echo $t
}

deployment() {
  cat <<EOT
apiVersion: apps/v1
kind: Deployment
metadata: {name: bench}
spec:
  replicas: $replicas
  selector: {matchLabels: {app: bench}}
  template:
    metadata: {labels: {app: bench}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: $image, imagePullPolicy: IfNotPresent}
EOT
}

# round RUNTIME N: one cluster on RUNTIME; sets `result` to
# "ready_ms pss_kb rss_kb cpu_s nprocs".
round() {
  local rt=$1 n=$2
  cluster_dir=$tmp/$rt$n
  KCR_NODE_RUNTIME=$rt bash "$cluster_sh" up "$cluster_dir" >>"$tmp/cluster.log" 2>&1 ||
    { echo "kubelet_pods: $rt cluster did not come up (see $tmp/cluster.log)" >&2; return 1; }
  eval "$(bash "$cluster_sh" env "$cluster_dir")"
  local kc=$KCR_NODE_KUBECTL daemon=$KCR_NODE_RUNTIME_PID
  "$KCR_NODE_CRICTL" --timeout 60s pull "$image" >/dev/null
  deployment >"$tmp/deploy.yaml"
  local t0 t1 ready
  t0=$(now_ms)
  $kc apply -f "$tmp/deploy.yaml" >/dev/null
  $kc rollout status deployment/bench --timeout=300s >/dev/null
  t1=$(now_ms)
  ready=$($kc get deployment bench -o jsonpath='{.status.readyReplicas}')
  [[ $ready == "$replicas" ]] || { echo "kubelet_pods: $rt: $ready of $replicas ready" >&2; return 1; }
  # Memory once the pods run and kubelet has relisted them.
  sleep 2
  local procs pss rss c0 c1
  mapfile -t procs < <(runtime_pids "$rt" "$daemon")
  pss=$(sum_kb Pss "${procs[@]}")
  rss=$(sum_kb Rss "${procs[@]}")
  c0=$(cpu_ticks "${procs[@]}")
  sleep "$idle"
  mapfile -t procs < <(runtime_pids "$rt" "$daemon")
  c1=$(cpu_ticks "${procs[@]}")
  $kc delete deployment bench --wait=false >/dev/null
  down
  result="$((t1 - t0)) $pss $rss $(awk -v d=$((c1 - c0)) -v hz="$hz" 'BEGIN {printf "%.2f", d / hz}') ${#procs[@]}"
}

# Each cluster holds the machine-wide e2e lock (fd 9; cluster.sh closes it
# in the daemons it starts): a test run beside it would skew both.
exec 9>/tmp/kcr-e2e.lock
declare -A start pss rss cpu nprocs
for ((r = 1; r <= rounds; r++)); do
  for rt in kcr containerd; do
    flock 9
    round "$rt" "$r" || { echo "kubelet_pods: round $r of $rt failed" >&2; exit 1; }
    flock -u 9
    read -r s p m c np <<<"$result"
    echo "round $r $rt: ready ${s} ms, PSS ${p} KiB, RSS ${m} KiB, idle CPU ${c} s (${np} processes)" >&2
    # Best of each: the fastest start, the least memory and CPU.
    if [[ -z ${start[$rt]:-} ]] || ((s < start[$rt])); then start[$rt]=$s; fi
    if [[ -z ${pss[$rt]:-} ]] || ((p < pss[$rt])); then pss[$rt]=$p rss[$rt]=$m nprocs[$rt]=$np; fi
    if [[ -z ${cpu[$rt]:-} ]] || awk -v a="$c" -v b="${cpu[$rt]}" 'BEGIN {exit !(a < b)}'; then cpu[$rt]=$c; fi
  done
done

echo "| metric (best of $rounds rounds) | kcr | containerd 1.6 + runc |"
echo "|---|---|---|"
echo "| $replicas-replica Deployment, apply to all Ready (ms) | ${start[kcr]} | ${start[containerd]} |"
echo "| runtime memory with $replicas pods, PSS (MiB; daemon + per-pod processes) | $((pss[kcr] / 1024)) | $((pss[containerd] / 1024)) |"
echo "| runtime memory with $replicas pods, RSS (MiB) | $((rss[kcr] / 1024)) | $((rss[containerd] / 1024)) |"
echo "| runtime processes | ${nprocs[kcr]} | ${nprocs[containerd]} |"
echo "| runtime CPU over ${idle} s idle, kubelet relisting (s) | ${cpu[kcr]} | ${cpu[containerd]} |"
awk -v k="${start[kcr]}" -v c="${start[containerd]}" 'BEGIN {printf "ratio deployment_ready %.2f target <= 0.5\n", k / c}'
awk -v k="${pss[kcr]}" -v c="${pss[containerd]}" 'BEGIN {printf "ratio node_memory_pss %.2f target <= 0.25\n", k / c}'
awk -v k="${cpu[kcr]}" -v c="${cpu[containerd]}" 'BEGIN {printf "ratio idle_cpu %.2f target <= 0.5\n", (c > 0 ? k / c : 0)}'

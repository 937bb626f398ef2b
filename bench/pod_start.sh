#!/usr/bin/env bash
# Pods and containers, kcr vs Debian's containerd 1.6 + runc, side by side
# in one run, each against its own socket:
#   - sequential pod + container start (crictl run = runp+create+start) x N
#   - N pods started concurrently: N RunPodSandbox calls at once from one
#     client (kcr-cri-bench), and N crictl runp processes for reference
#   - ExecSync `true` x 50 from one client (kcr-cri-bench), and through
#     crictl exec -s for reference (a CLI's own start-up is most of that)
#   - RSS of the daemon plus its per-pod processes with N running pods
# Prints a markdown table and the target lines (issue 4's absolute target,
# an idle monitor under 2 MiB RSS, is the per-pod row).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init pods
n=${N:-20}
bash "$here/hack/registry.sh" start >/dev/null
python3 "$here/hack/test_images.py" >/dev/null

ms() { now_ms; }
rss_kb() { local t=0; for p in "$@"; do t=$((t + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo $t; }

pod_cfg() {  # name dir
  printf '{"metadata":{"name":"%s","namespace":"bench","uid":"%s"},"log_directory":"%s/logs","linux":{"security_context":{"namespace_options":{"pid":1}}}}' "$1" "$1" "$2"
}
ctr_cfg='{"metadata":{"name":"c"},"image":{"image":"docker.io/library/busybox:latest"},"command":["sleep","100000"],"log_path":"c.log","linux":{}}'

cri_bench=$here/build/bin/kcr-cri-bench
[[ -x $cri_bench ]] || bash "$here/hack/build.sh" kcr-cri-bench >/dev/null

bench() {  # label socket -> prints "run_p50 run_p90 concurrent_ms exec_p50_us rss_kb crictl_concurrent_ms crictl_exec_p50"
  local label=$1 sock=$2 C="$crictl --timeout 60s -r unix://$2 -i unix://$2"
  $C pull docker.io/library/busybox:latest >/dev/null
  $C pull registry.k8s.io/pause:3.6 >/dev/null 2>&1 || true
  echo "$ctr_cfg" >"$tmp/$label-ctr.json"
  local runs=() i
  for i in $(seq 1 "$n"); do
    pod_cfg "seq$i" "$tmp" >"$tmp/$label-seq$i.json"
    local t0; t0=$(ms)
    $C run "$tmp/$label-ctr.json" "$tmp/$label-seq$i.json" >/dev/null 2>&1
    runs+=($(( $(ms) - t0 )))
  done
  local first; first=$($C ps -q | head -1)
  local exec_us; exec_us=$("$cri_bench" "$2" exec "$first" 50 | pct 50)
  local execs=()
  for i in $(seq 1 20); do
    local t0; t0=$(ms)
    $C exec -s "$first" true >/dev/null
    execs+=($(( $(ms) - t0 )))
  done
  # RSS with N running pods: the daemon and its per-pod processes.
  local procs
  if [[ $label == kcr ]]; then procs=$(pgrep -f "kcr-monitor --detach --pod .*$tmp/" || true); else procs=$(pgrep -f "containerd-shim.*-address $2" || true); fi
  local rss; rss=$(rss_kb "$3" $procs)
  local per_pod=$(( (rss - $(rss_kb "$3")) / n ))
  $C stopp $($C pods -q) >/dev/null 2>&1 || true
  $C rmp -a -f >/dev/null 2>&1 || true
  local conc; conc=$("$cri_bench" "$2" runp-parallel "$n" "$tmp/$label")
  $C stopp $($C pods -q) >/dev/null 2>&1 || true
  $C rmp -a -f >/dev/null 2>&1 || true
  for i in $(seq 1 "$n"); do pod_cfg "cli$i" "$tmp" >"$tmp/$label-cli$i.json"; done
  local t0; t0=$(ms)
  for i in $(seq 1 "$n"); do $C runp "$tmp/$label-cli$i.json" >/dev/null 2>&1 & done
  wait
  local cconc=$(( $(ms) - t0 ))
  $C stopp $($C pods -q) >/dev/null 2>&1 || true
  $C rmp -a -f >/dev/null 2>&1 || true
  echo "$(printf '%s\n' "${runs[@]}" | pct 50) $(printf '%s\n' "${runs[@]}" | pct 90) $conc $exec_us $rss $cconc $(printf '%s\n' "${execs[@]}" | pct 50) $per_pod"
}

# kcr
mkdir -p "$tmp/kcr"
# kcr gets its own bridge and cgroup parent too; both are removed at the end.
mkdir -p "$tmp/kcr/net.d"
cat >"$tmp/kcr/net.d/10-bench.conflist" <<EOT
{"cniVersion":"1.0.0","name":"kcr-bench","plugins":[{"type":"bridge","bridge":"kcrbench0","isGateway":true,"ipMasq":true,
"ipam":{"type":"host-local","ranges":[[{"subnet":"10.87.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}]}},
{"type":"portmap","capabilities":{"portMappings":true}},{"type":"loopback"}]}
EOT
printf 'root = "%s/kcr/root"\nstate = "%s/kcr/state"\n[cgroup]\nparent = "kcr-bench.slice"\n[cni]\nconf_dir = "%s/kcr/net.d"\n[registry.mirrors."docker.io"]\nserver = "http://127.0.0.1:5000"\n[registry.mirrors."registry.k8s.io"]\nserver = "http://127.0.0.1:5000"\n' "$tmp" "$tmp" "$tmp" >"$tmp/kcr/kcr.toml"
"$here/build/bin/kcrd" --config "$tmp/kcr/kcr.toml" >"$tmp/kcr/log" 2>&1 &
kpid=$!; pids+=("$kpid"); cri_socks+=("$tmp/kcr/state/kcr.sock")
wait_sock "$tmp/kcr/state/kcr.sock"
read -r k50 k90 kconc kexec krss kcconc kcexec kpod < <(bench kcr "$tmp/kcr/state/kcr.sock" "$kpid")
kill "$kpid"; wait "$kpid" 2>/dev/null || true
ip link del kcrbench0 2>/dev/null || true
rm -rf /var/lib/cni/networks/kcr-bench
for c in /sys/fs/cgroup/*/kcr-bench.slice; do rmdir "$c" 2>/dev/null || true; done

# containerd + runc, with its own bridge so the two never share one.
d=$tmp/ctd
mkdir -p "$d/net.d"
cat >"$d/net.d/10-bench.conflist" <<EOT
{"cniVersion":"1.0.0","name":"ctd-bench","plugins":[{"type":"bridge","bridge":"ctdbench0","isGateway":true,"ipMasq":true,
"ipam":{"type":"host-local","ranges":[[{"subnet":"10.89.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}]}},
{"type":"portmap","capabilities":{"portMappings":true}},{"type":"loopback"}]}
EOT
start_containerd "$d"
cpid=$ctd_pid; cri_socks+=("$ctd_sock")
read -r c50 c90 cconc cexec crss ccconc ccexec cpod < <(bench containerd "$d/containerd.sock" "$cpid")
kill "$cpid"; wait "$cpid" 2>/dev/null || true
ip link del ctdbench0 2>/dev/null || true
rm -rf /var/lib/cni/networks/ctd-bench
# containerd's default cgroup parent for pods without one; only if empty.
for c in /sys/fs/cgroup/*/k8s.io; do find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true; done

echo "| metric | kcr | containerd 1.6 + runc |"
echo "|---|---|---|"
echo "| pod+container start p50 / p90 (ms, crictl run) | $k50 / $k90 | $c50 / $c90 |"
echo "| $n pods started concurrently, wall (ms; $n RunPodSandbox calls at once) | $kconc | $cconc |"
echo "| $n pods started concurrently, wall (ms; $n crictl runp processes, reference) | $kcconc | $ccconc |"
echo "| ExecSync true p50 (ms; one client, 50 calls) | $(awk -v u="$kexec" 'BEGIN {printf "%.1f", u / 1000}') | $(awk -v u="$cexec" 'BEGIN {printf "%.1f", u / 1000}') |"
echo "| ExecSync true p50 (ms; crictl exec -s x 20, reference) | $kcexec | $ccexec |"
echo "| RSS with $n running pods, daemon + per-pod processes (MiB) | $((krss / 1024)) | $((crss / 1024)) |"
echo "| RSS per pod of its per-pod process (KiB; kcr-monitor, containerd-shim) | $kpod | $cpod |"
awk -v k="$k50" -v c="$c50" 'BEGIN {printf "ratio pod_start_p50 %.2f target <= 0.5\n", k / c}'
awk -v k="$kconc" -v c="$cconc" 'BEGIN {printf "ratio pods_concurrent %.2f target <= 0.5\n", k / c}'
awk -v k="$kexec" -v c="$cexec" 'BEGIN {printf "ratio execsync_p50 %.2f target <= 0.5\n", k / c}'
awk -v k="$krss" -v c="$crss" 'BEGIN {printf "ratio rss_running_pods %.2f target <= 0.25\n", k / c}'

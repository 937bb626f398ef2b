#!/usr/bin/env bash
# Streaming (issue 9), kcr vs Debian's containerd 1.6 + runc, side by side in
# one run: both daemons up at once, each with a pod from stream_pod
# (bench/lib.sh), rounds alternated kcr / containerd, the best round of
# each kept (ROUNDS, default 3):
#   - exec round trip of `true` through `crictl exec` (p50 of N=50), minus
#     crictl's own start-up (p50 of `crictl --version`) for both
#   - 256 MiB (BYTES) from a container's stdout through `crictl exec`
#   - 256 MiB from a pod port through a SPDY port-forward (kcr-streamclient
#     copy-pf: client-go's port-forward code, as kubectl runs it)
#   - memory growth of the daemon plus its per-pod processes (kcr-monitor
#     and its per-exec helpers; containerd-shim) while 20 `crictl exec -i
#     ... cat` sessions are open: PSS (shared pages counted once), and RSS
#     summed over the processes for reference
# Prints a markdown table and the target lines:
#   ratio <metric> <kcr/peer> target <op> <T>
# A figure a runtime cannot produce (kcr before its streaming server) is
# "n/a"; the run goes on.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init streaming
n=${N:-50}
rounds=${ROUNDS:-3}
bytes=${BYTES:-268435456}
sessions=${SESSIONS:-20}
sc=$(bash "$here/hack/go-tools.sh" | grep kcr-streamclient)
bash "$here/hack/registry.sh" start >/dev/null
python3 "$here/hack/test_images.py" >/dev/null

rss_kb() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo $t; }
# Proportional set size: a page shared by N of the processes counts 1/N to
# each, so the sum is the memory they take. RSS summed counts a shared page
# once per process: kcr-monitor forks a helper per exec (it mirrors the
# process's exit), whose RSS is mostly the monitor's own pages, shared.
pss_kb() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0))); done; echo $t; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# Networks, cgroup parents and daemons of this run, removed at exit.
kbridge=kcrstr$(($$ % 100000)); cbridge=ctdstr$(($$ % 100000))
knet=kcr-stream-bench-$$; cnet=ctd-stream-bench-$$
kslice=kcr-bench-stream-$$.slice; ccg=/kcr-bench-stream-ctd-$$
stream_cleanup() {
  bench_cleanup
  ip link del "$kbridge" 2>/dev/null || true
  ip link del "$cbridge" 2>/dev/null || true
  rm -rf "/var/lib/cni/networks/$knet" "/var/lib/cni/networks/$cnet"
  local c
  for c in /sys/fs/cgroup/*/"$kslice" /sys/fs/cgroup/*/"${ccg#/}" /sys/fs/cgroup/"$kslice" /sys/fs/cgroup/"${ccg#/}"; do
    [[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  true
}
trap stream_cleanup EXIT
netconf() {  # dir name bridge subnet
  mkdir -p "$1/net.d"
  printf '{"cniVersion":"1.0.0","name":"%s","plugins":[{"type":"bridge","bridge":"%s","ipam":{"type":"host-local","ranges":[[{"subnet":"%s"}]]}},{"type":"loopback"}]}\n' \
    "$2" "$3" "$4" >"$1/net.d/10-stream.conflist"
}

# kcr
k=$tmp/kcr
netconf "$k" "$knet" "$kbridge" 10.92.0.0/16
printf 'root = "%s/root"\nstate = "%s/state"\n[cgroup]\nparent = "%s"\n[cni]\nconf_dir = "%s/net.d"\n[registry.mirrors."docker.io"]\nserver = "http://127.0.0.1:5000"\n[registry.mirrors."registry.k8s.io"]\nserver = "http://127.0.0.1:5000"\n' \
  "$k" "$k" "$kslice" "$k" >"$k/kcr.toml"
"$here/build/bin/kcrd" --config "$k/kcr.toml" >"$k/log" 2>&1 &
kpid=$!; pids+=("$kpid"); ksock=$k/state/kcr.sock; cri_socks+=("$ksock")
wait_sock "$ksock"
stream_pod "$ksock" "$k" ""
kpod=$sp_pod kctr=$sp_ctr
# containerd + runc
c=$tmp/ctd
netconf "$c" "$cnet" "$cbridge" 10.93.0.0/16
start_containerd "$c"
cpid=$ctd_pid; csock=$ctd_sock; cri_socks+=("$csock")
stream_pod "$csock" "$c" "$ccg"
cpod=$sp_pod cctr=$sp_ctr

# The daemon and its per-pod processes.
procs() {  # label
  if [[ $1 == kcr ]]; then echo "$kpid" $(pgrep -f "kcr-monitor --detach --pod .*$k/" || true)
  else echo "$cpid" $(pgrep -f "containerd-shim.*-address $csock" || true); fi
}

# Each measure prints one number, or fails.
exec_rtt_ms() {  # sock ctr -> p50 of crictl exec true, minus crictl's start-up
  local C="$crictl -r unix://$1" t i runs=() base=()
  $C exec "$2" true >/dev/null 2>&1 || return 1
  for i in $(seq 1 "$n"); do
    t=$(date +%s%N); $C exec "$2" true >/dev/null 2>&1 || return 1; runs+=($(( ($(date +%s%N) - t) / 1000 )))
    t=$(date +%s%N); "$crictl" --version >/dev/null; base+=($(( ($(date +%s%N) - t) / 1000 )))
  done
  awk -v r="$(median "${runs[@]}")" -v b="$(median "${base[@]}")" 'BEGIN {printf "%.2f", (r - b) / 1000}'
}
exec_mibps() {  # sock ctr
  local t got
  t=$(date +%s%N)
  got=$("$crictl" -r "unix://$1" exec "$2" head -c "$bytes" /dev/zero 2>/dev/null | wc -c) || return 1
  [[ $got == "$bytes" ]] || return 1
  awk -v b="$bytes" -v ns="$(( $(date +%s%N) - t ))" 'BEGIN {printf "%.1f", b / 1048576 / (ns / 1e9)}'
}
pf_mibps() {  # sock pod
  "$sc" copy-pf -r "unix://$1" -pod "$2" -bytes "$bytes" -timeout 300s 2>/dev/null | awk '/^bytes/ {print $6}' | grep . || return 1
}
any_alive() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
rss_growth_kb() {  # label sock ctr -> "PSS-growth RSS-sum-growth" (KiB)
  local C="$crictl -r unix://$2" before after pss_before pss_after i open=() ok=0
  before=$(rss_kb $(procs "$1")) pss_before=$(pss_kb $(procs "$1"))
  # Every session reads a FIFO this shell holds open and never writes: no
  # EOF, so each stays up until its crictl is killed.
  rm -f "$tmp/idle"; mkfifo "$tmp/idle"; exec 9<>"$tmp/idle"
  for i in $(seq 1 "$sessions"); do
    $C exec -i "$3" cat <"$tmp/idle" >/dev/null 2>&1 &
    open+=($!)
  done
  # Until every session's cat runs in the container (each check is an exec).
  for i in $(seq 1 300); do
    [[ $($C exec -s "$3" ps -o args 2>/dev/null | grep -cx cat) -ge $sessions ]] && { ok=1; break; }
    sleep 0.1
  done
  after=$(rss_kb $(procs "$1")) pss_after=$(pss_kb $(procs "$1"))
  # The end of stdin ends each session (crictl handles SIGTERM itself and
  # keeps going); SIGKILL only for one still there 10 s later.
  exec 9>&-
  for i in $(seq 1 100); do any_alive "${open[@]}" || break; sleep 0.1; done
  kill -9 "${open[@]}" 2>/dev/null || true
  wait "${open[@]}" 2>/dev/null || true
  ((ok)) || return 1
  echo "$((pss_after - pss_before)) $((after - before))"
}

best() {  # min|max values... (n/a ignored)
  local op=$1; shift
  printf '%s\n' "$@" | grep -v '^n/a$' | sort -g | { if [[ $op == min ]]; then head -1; else tail -1; fi; } | grep . || echo n/a
}
declare -A v
for r in $(seq 1 "$rounds"); do
  for who in kcr ctd; do
    if [[ $who == kcr ]]; then s=$ksock ct=$kctr po=$kpod; else s=$csock ct=$cctr po=$cpod; fi
    v[$who,rtt]+=" $(exec_rtt_ms "$s" "$ct" || echo n/a)"
    v[$who,exec]+=" $(exec_mibps "$s" "$ct" || echo n/a)"
    v[$who,pf]+=" $(pf_mibps "$s" "$po" || echo n/a)"
    read -r pss rss <<<"$(rss_growth_kb "$who" "$s" "$ct" || echo n/a n/a)"
    v[$who,pss]+=" $pss" v[$who,rss]+=" $rss"
  done
  echo "round $r (rtt ms, exec MiB/s, pf MiB/s, pss KiB, rss-sum KiB): kcr ${v[kcr,rtt]##* } ${v[kcr,exec]##* }" \
    "${v[kcr,pf]##* } ${v[kcr,pss]##* } ${v[kcr,rss]##* }; containerd ${v[ctd,rtt]##* } ${v[ctd,exec]##* }" \
    "${v[ctd,pf]##* } ${v[ctd,pss]##* } ${v[ctd,rss]##* }" >&2
done
best_of() {  # who -> rtt exec pf pss rss
  echo "$(best min ${v[$1,rtt]}) $(best max ${v[$1,exec]}) $(best max ${v[$1,pf]}) $(best min ${v[$1,pss]})" \
    "$(best min ${v[$1,rss]})"
}
read -r -a best_kcr <<<"$(best_of kcr)"
read -r -a best_ctd <<<"$(best_of ctd)"
mib=$((bytes >> 20))
echo "| metric (best of $rounds rounds, alternated) | kcr | containerd $(containerd --version | awk '{print $3}') + runc |"
echo "|---|---|---|"
echo "| crictl exec \`true\` round trip p50 of $n, minus crictl start-up (ms) | ${best_kcr[0]} | ${best_ctd[0]} |"
echo "| $mib MiB of stdout through crictl exec (MiB/s) | ${best_kcr[1]} | ${best_ctd[1]} |"
echo "| $mib MiB through a SPDY port-forward, client-go (MiB/s) | ${best_kcr[2]} | ${best_ctd[2]} |"
echo "| memory growth (PSS), daemon + per-pod processes, $sessions exec sessions open (KiB) | ${best_kcr[3]} | ${best_ctd[3]} |"
echo "| the same as RSS summed over processes, shared pages once per process (KiB) | ${best_kcr[4]} | ${best_ctd[4]} |"
ratio() {  # metric kcr peer op target
  awk -v m="$1" -v k="$2" -v p="$3" -v op="$4" -v t="$5" 'BEGIN {
    if (k == "n/a" || p == "n/a" || p + 0 == 0) r = "n/a"; else r = sprintf("%.2f", k / p)
    printf "ratio %s %s target %s %s\n", m, r, op, t }'
}
ratio exec_roundtrip_p50 "${best_kcr[0]}" "${best_ctd[0]}" "<=" 0.5
ratio exec_throughput "${best_kcr[1]}" "${best_ctd[1]}" ">=" 1.5
ratio portforward_throughput "${best_kcr[2]}" "${best_ctd[2]}" ">=" 1.5
# The issue's RSS target, measured as PSS (see pss_kb).
ratio rss_growth_exec_sessions "${best_kcr[3]}" "${best_ctd[3]}" "<=" 0.25

#!/usr/bin/env bash
# Create+start+wait of /bin/true in a busybox rootfs, N times each, with
# kcr's internal runtime (kcr-oci run), runc and crun (Debian packages) on
# one bundle, in one run. Prints a markdown table (p50/p90 ms) and:
#   ratio start_p50 <kcr/crun> target <= 0.5
# crun refuses this host's hybrid cgroup layout, so it runs in a private
# mount namespace with the cgroup2 mount lazily unmounted (TEST-NOTES.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init start
n=${N:-100}
kcr_oci=$here/build/bin/kcr-oci
[[ -x $kcr_oci ]] || bash "$here/hack/build.sh" kcr-oci >/dev/null
mkdir -p "$tmp/rootfs/bin" "$tmp/rootfs/proc" "$tmp/rootfs/sys" "$tmp/rootfs/dev" "$tmp/rootfs/etc"
cp /bin/busybox "$tmp/rootfs/bin/busybox"
for a in $(/bin/busybox --list | grep -vx busybox); do ln -s busybox "$tmp/rootfs/bin/$a"; done
(cd "$tmp" && runc spec)
python3 - "$tmp/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(p, "w"), indent=1)
PY

time_runs() {  # label cmd... ; prints one duration (ms, 3 decimals) per run
  local label=$1; shift
  for i in $(seq 1 "$n"); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" "$label-$i" >/dev/null 2>&1 || { echo "$label run $i failed" >&2; "$@" "$label-fail" >&2 || true; exit 1; }
    t1=$(date +%s%N)
    echo "$(( (t1 - t0) / 1000 ))"
  done
}
# Microseconds in, milliseconds out.
pct_ms() { pct "$1" | awk '{printf "%.2f", $1/1000}'; }

kcr_run() { "$kcr_oci" run -b "$tmp" "$1"; }
runc_run() { runc run -b "$tmp" "$1"; }
crun_run() { unshare -m sh -c "umount -l /sys/fs/cgroup/unified 2>/dev/null; exec crun run -b '$tmp' '$1'"; }
# The unshare+umount wrapper alone, to report crun's figure with and without it.
wrap_only() { unshare -m sh -c "umount -l /sys/fs/cgroup/unified 2>/dev/null; exec /bin/true"; }

# kcr's architecture: the pod's monitor is already running and clones each
# container's init itself; `kcr-oci loop` measures exactly that path.
m=$("$kcr_oci" loop -b "$tmp" -n "$n")
k=$(time_runs kcr kcr_run); r=$(time_runs runc runc_run); c=$(time_runs crun crun_run); w=$(time_runs wrap wrap_only)
k50=$(pct_ms 50 <<<"$k"); k90=$(pct_ms 90 <<<"$k")
m50=$(pct_ms 50 <<<"$m"); m90=$(pct_ms 90 <<<"$m")
r50=$(pct_ms 50 <<<"$r"); r90=$(pct_ms 90 <<<"$r")
c50=$(pct_ms 50 <<<"$c"); c90=$(pct_ms 90 <<<"$c"); w50=$(pct_ms 50 <<<"$w")
echo "| runtime | p50 (ms) | p90 (ms) | runs |"
echo "|---|---|---|---|"
echo "| kcr, in a running process as kcr-monitor does (kcr-oci loop) | $m50 | $m90 | $n |"
echo "| kcr, one process per container (kcr-oci run) | $k50 | $k90 | $n |"
echo "| runc $(runc --version | awk 'NR==1{print $3}') | $r50 | $r90 | $n |"
echo "| crun $(crun --version | awk 'NR==1{print $3}') (incl. unshare wrapper, p50 $w50 ms alone) | $c50 | $c90 | $n |"
awk -v k="$m50" -v c="$c50" 'BEGIN {printf "ratio start_p50 %.2f target <= 0.5\n", k / c}'
awk -v k="$k50" -v c="$c50" 'BEGIN {printf "ratio start_p50_process_per_container %.2f target <= 1.0\n", k / c}'
# crun's own cost without the wrapper it needs on this host (honest floor).
awk -v k="$m50" -v c="$c50" -v w="$w50" 'BEGIN {printf "ratio start_p50_vs_crun_without_wrapper %.2f target <= 0.5\n", k / (c - w)}'

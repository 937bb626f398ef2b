#!/usr/bin/env bash
# Cold pull of three images (five ~20 MB gzip layers each, two layers shared)
# from the local registry: kcrd vs Debian's containerd 1.6 (CRI plugin,
# overlayfs snapshotter), side by side in one run, 3 rounds each, medians.
# Prints a markdown table and the target line:
#   ratio pull_cold <kcr/containerd> target <= 0.7
# Needs: hack/install-deps.sh and hack/build.sh done.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init pull
rounds=${ROUNDS:-3}

bash "$here/hack/registry.sh" start >/dev/null
python3 - "$here/hack" <<'PY'
import random, sys
sys.path.insert(0, sys.argv[1])
from oci_image import Layer, Registry, image
reg = Registry("127.0.0.1:5000")
def layer(seed):
    return Layer().file(f"data/{seed}", random.Random(seed).randbytes(20 << 20)).build()
shared = [layer("s1"), layer("s2")]
image(reg, "kcr-bench/a", ["latest"], shared + [layer(f"a{i}") for i in range(3)])
image(reg, "kcr-bench/b", ["latest"], shared + [layer(f"b{i}") for i in range(3)])
image(reg, "kcr-bench/c", ["latest"], shared[:1] + [layer(f"c{i}") for i in range(4)])
PY
images=(docker.io/kcr-bench/a:latest docker.io/kcr-bench/b:latest docker.io/kcr-bench/c:latest)

hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

run_kcr() {  # round -> "ms rss_kb"
  local d=$tmp/kcr$1
  mkdir -p "$d"
  printf 'root = "%s/root"\nstate = "%s/state"\n[registry.mirrors."docker.io"]\nserver = "http://127.0.0.1:5000"\n' "$d" "$d" >"$d/kcr.toml"
  "$here/build/bin/kcrd" --config "$d/kcr.toml" >"$d/log" 2>&1 &
  local pid=$!; pids+=("$pid")
  wait_sock "$d/state/kcr.sock"
  local t0; t0=$(now_ms)
  for i in "${images[@]}"; do "$crictl" -r "unix://$d/state/kcr.sock" -i "unix://$d/state/kcr.sock" pull "$i" >/dev/null; done
  local t1; t1=$(now_ms)
  local rss; rss=$(hwm_kb "$pid")
  stop_pid "$pid"
  rm -rf "$d"  # every run writes into space freed by the previous ones
  echo "$((t1 - t0)) $rss"
}

run_containerd() {
  local d=$tmp/ctd$1
  start_containerd "$d"
  local pid=$ctd_pid
  local t0; t0=$(now_ms)
  for i in "${images[@]}"; do "$crictl" -r "unix://$d/containerd.sock" -i "unix://$d/containerd.sock" pull "$i" >/dev/null; done
  local t1; t1=$(now_ms)
  local rss; rss=$(hwm_kb "$pid")
  stop_pid "$pid"
  findmnt -rn -o TARGET | grep "^$d" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$d"
  echo "$((t1 - t0)) $rss"
}


kt=(); kr=(); ct=(); cr=()
# `sync` first: each run starts with no dirty data from the previous one,
# whose writeback would otherwise be charged to whoever runs next.
for r in $(seq 1 "$rounds"); do
  sync; read -r t m < <(run_kcr "$r"); kt+=("$t"); kr+=("$m")
  sync; read -r t m < <(run_containerd "$r"); ct+=("$t"); cr+=("$m")
done
k=$(median "${kt[@]}"); c=$(median "${ct[@]}")
km=$(median "${kr[@]}"); cm=$(median "${cr[@]}")
echo "| runtime | cold pull of 3 images, median of $rounds (ms) | all runs (ms) | peak daemon RSS (MiB) |"
echo "|---|---|---|---|"
echo "| kcr | $k | ${kt[*]} | $((km / 1024)) |"
echo "| containerd 1.6 | $c | ${ct[*]} | $((cm / 1024)) |"
awk -v k="$k" -v c="$c" 'BEGIN {printf "ratio pull_cold %.2f target <= 0.7\n", k / c}'

#!/usr/bin/env bash
# The cost of a /metrics scrape with N (default 100) running containers
# (busybox `sleep`, one pod each), over S (default 1000) scrapes:
#   - scrape time p50 / p90 / max (curl's time_total, one connection each)
#   - what one scrape allocates: kcrd runs with bench/alloc_count.c
#     preloaded, which counts every malloc-family call and the bytes it
#     asked for, and the bytes live (allocated minus freed, by usable size)
#   - growth, two ways: the live heap bytes over the second half of the
#     scrapes (exact: a leak shows here), and kcrd's RSS (which also moves
#     with glibc's arenas and page reuse, so it is the coarser number)
#   - kcrd's allocations while idle for 5 s, to tell background work from
#     the scrapes' own
# Not a test: run it on a quiet machine. Prints the absolute target lines
# (issue 11: <= 5 ms p50, no growth over 1,000 scrapes):
#   target scrape_p50_ms <v> target <= 5
#   target scrape_heap_growth_bytes <v> target <= 0
#   target scrape_rss_growth_kb <v> target <= 0
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init metrics
n=${N:-100}
scrapes=${S:-1000}
bash "$here/hack/registry.sh" start >/dev/null
python3 "$here/hack/test_images.py" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/kcr/net.d"
cat >"$tmp/kcr/net.d/10-bench.conflist" <<EOT
{"cniVersion":"1.0.0","name":"kcr-mbench","plugins":[{"type":"bridge","bridge":"kcrmbench0","isGateway":true,
"ipam":{"type":"host-local","ranges":[[{"subnet":"10.86.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}]}},{"type":"loopback"}]}
EOT
printf 'root = "%s/kcr/root"\nstate = "%s/kcr/state"\n[cgroup]\nparent = "kcr-mbench.slice"\n[cni]\nconf_dir = "%s/kcr/net.d"\n[metrics]\naddress = "127.0.0.1:%s"\n[registry.mirrors."docker.io"]\nserver = "http://127.0.0.1:5000"\n' \
  "$tmp" "$tmp" "$tmp" "$port" >"$tmp/kcr/kcr.toml"
cc -O2 -shared -fPIC -o "$tmp/alloc_count.so" "$here/bench/alloc_count.c"
counts=$tmp/alloc_counts
KCR_ALLOC_COUNT_FILE=$counts LD_PRELOAD=$tmp/alloc_count.so \
  "$here/build/bin/kcrd" --config "$tmp/kcr/kcr.toml" >"$tmp/kcr/log" 2>&1 &
kpid=$!; pids+=("$kpid")
sock=$tmp/kcr/state/kcr.sock
cri_socks+=("$sock")
wait_sock "$sock"
C="$crictl --timeout 60s -r unix://$sock -i unix://$sock"
$C pull docker.io/library/busybox:latest >/dev/null
echo '{"metadata":{"name":"c"},"image":{"image":"docker.io/library/busybox:latest"},"command":["sleep","100000"],"log_path":"c.log","linux":{}}' >"$tmp/ctr.json"
for i in $(seq 1 "$n"); do
  printf '{"metadata":{"name":"m%s","namespace":"bench","uid":"m%s"},"log_directory":"%s/logs","linux":{"security_context":{"namespace_options":{"pid":1}}}}' \
    "$i" "$i" "$tmp" >"$tmp/pod$i.json"
  $C run "$tmp/ctr.json" "$tmp/pod$i.json" >/dev/null
done
running=$(curl -s "http://127.0.0.1:$port/metrics" | awk '$1 == "kcr_containers{state=\"running\"}" {print $2}')

rss() { awk '/VmRSS/ {print $2}' "/proc/$kpid/status"; }
# alloc FIELD: calls, bytes, frees or live from the preloaded counter.
alloc() { od -An -t d8 -v "$counts" | tr -s ' ' '\n' | grep -v '^$' | sed -n "$(
  case $1 in calls) echo 1 ;; bytes) echo 2 ;; frees) echo 3 ;; live) echo 4 ;; esac)p"; }
for _ in $(seq 1 20); do curl -s -o /dev/null "http://127.0.0.1:$port/metrics"; done  # warm-up
idle_bytes0=$(alloc bytes); idle_calls0=$(alloc calls)
sleep 5
idle_bytes=$(( ($(alloc bytes) - idle_bytes0) / 5 )); idle_calls=$(( ($(alloc calls) - idle_calls0) / 5 ))
rss0=$(rss); bytes0=$(alloc bytes); calls0=$(alloc calls); live0=$(alloc live)
times=()
half=$((scrapes / 2))
for i in $(seq 1 "$scrapes"); do
  times+=("$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/metrics")")
  [[ $i == "$half" ]] && { rss_half=$(rss); live_half=$(alloc live); }
done
rss1=$(rss); bytes1=$(alloc bytes); calls1=$(alloc calls); live1=$(alloc live)
per_scrape_bytes=$(( (bytes1 - bytes0) / scrapes )); per_scrape_calls=$(( (calls1 - calls0) / scrapes ))
bytes=$(curl -s "http://127.0.0.1:$port/metrics" | wc -c)
p50=$(printf '%s\n' "${times[@]}" | pct 50 | awk '{printf "%.3f", $1 * 1000}')
p90=$(printf '%s\n' "${times[@]}" | pct 90 | awk '{printf "%.3f", $1 * 1000}')
max=$(printf '%s\n' "${times[@]}" | sort -n | tail -1 | awk '{printf "%.3f", $1 * 1000}')

$C rmp -a -f >/dev/null 2>&1 || true
stop_pid "$kpid"
ip link del kcrmbench0 2>/dev/null || true
rm -rf /var/lib/cni/networks/kcr-mbench
for c in /sys/fs/cgroup/*/kcr-mbench.slice; do rmdir "$c" 2>/dev/null || true; done

echo "| containers running | scrapes | body bytes | p50 ms | p90 ms | max ms | allocated per scrape (bytes / calls) | idle allocations per s (bytes / calls) | live heap before / half / after (bytes) | RSS before / half / after (KiB) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
echo "| $running | $scrapes | $bytes | $p50 | $p90 | $max | $per_scrape_bytes / $per_scrape_calls | $idle_bytes / $idle_calls | $live0 / $live_half / $live1 | $rss0 / $rss_half / $rss1 |"
echo "target scrape_p50_ms $p50 target <= 5"
echo "target scrape_alloc_bytes $per_scrape_bytes"
echo "target scrape_heap_growth_bytes $((live1 - live_half)) target <= 0"
echo "target scrape_rss_growth_kb $((rss1 - rss_half)) target <= 0"

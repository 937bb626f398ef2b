#!/usr/bin/env bash
# Runs every libFuzzer target (CMake targets fuzz_<name>, see
# kcr_fuzz_target) for a bounded time each, starting from its seed corpus
# in the repository (<dir>/fuzz/corpus/<name>/). Built with clang, ASan and
# UBSan into build-fuzz/. New interesting inputs and crash artifacts go to a
# scratch directory, never into the repository: copy the ones worth keeping
# into the corpus by hand (a crash input also becomes a regression test).
# Usage: hack/fuzz.sh [seconds-per-target, default 300]
# Env: KCR_FUZZ_OUT scratch directory (default: a new /tmp/kcr-fuzz.XXXXXX),
#      KCR_FUZZ_TARGETS regex of target names to run (default: all).
# Exit status: non-zero if a target crashed, leaked or timed out.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
secs=${1:-300}
build=${KCR_FUZZ_BUILD_DIR:-$root/build-fuzz}
out=${KCR_FUZZ_OUT:-$(mktemp -d /tmp/kcr-fuzz.XXXXXX)}
mkdir -p "$out"

if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DKCR_BUILD_FUZZERS=ON -DKCR_SANITIZE=address,undefined >/dev/null
fi
mapfile -t targets < <(ninja -C "$build" -t targets all | sed -n 's/^\(fuzz_[A-Za-z0-9_]*\): .*/\1/p' | sort -u |
  grep -E "${KCR_FUZZ_TARGETS:-.}" || true)
if ((${#targets[@]} == 0)); then
  echo "fuzz: no fuzz_* targets in $build" >&2
  exit 1
fi
KCR_BUILD_DIR=$build bash hack/build.sh "${targets[@]}"

# Inputs past these sizes only slow a target down: a monitor frame sequence,
# a config file, a CNI result, a manifest or config blob are small; a tar
# needs room for headers, PAX records and a few files; a SPDY session for
# a few streams' header blocks and data frames.
max_len() {
  case $1 in
    tar) echo 262144 ;;
    monitor_frame) echo 65536 ;;
    spdy_session) echo 65536 ;;
    *) echo 16384 ;;
  esac
}

status=0
summary=()
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  corpus=$(find . -path ./build\* -prune -o -type d -path "*/fuzz/corpus/$name" -print | head -1)
  mkdir -p "$out/$name/new" "$out/$name/artifacts"
  echo "== $t: ${secs}s from ${corpus:-an empty corpus}, new inputs in $out/$name/new"
  # detect_leaks: a leak is a finding like a crash.
  if ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$build/bin/$t" -max_total_time="$secs" -max_len="$(max_len "$name")" -timeout=25 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$out/$name/artifacts/" "$out/$name/new" ${corpus:+"$corpus"} \
    >"$out/$name/log" 2>&1; then
    summary+=("$t: ok ($(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$out/$name/log" | grep -o '[0-9]*$') runs)")
  else
    status=1
    summary+=("$t: FAILED (log $out/$name/log, inputs $out/$name/artifacts/)")
    tail -60 "$out/$name/log"
  fi
done
echo "---- hack/fuzz.sh (${secs}s per target) ----"
printf '%s\n' "${summary[@]}"
exit $status

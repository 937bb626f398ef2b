#!/usr/bin/env bash
# The one command that installs everything, builds kcr and runs every test:
# unit, integration (real CNI plugins, real mounts) and end-to-end (a real
# kcrd, the local registries, crictl); then the same unit and integration
# tests and a representative end-to-end subset built with ASan+UBSan
# (build-asan/), and every libFuzzer target for a bounded time
# (hack/fuzz.sh, build-fuzz/). Ends with ctest's summary line of the main
# run; the exit status is non-zero if any part failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
set -e
bash hack/install-deps.sh
bash hack/build.sh
# Stop the local registries at the end only if this run started them (other
# runs on the machine may be using them).
if ! bash hack/registry.sh status | grep -q running; then
  trap 'bash hack/registry.sh stop' EXIT
fi
bash hack/registry.sh start
python3 hack/test_images.py
set +e

failed=()
stamp() { date +%s; }
report=()  # "stage: result, seconds" lines for the end

# 1. Everything, serially: integration tests share host resources (a test
# bridge, iptables). It includes the chaos test (label chaos, about 75 s:
# 60 s of kills; its seed is printed and KCR_CHAOS_SEED replays it).
t0=$(stamp)
main_log=$(mktemp /tmp/kcr-test-main.XXXXXX)
ctest --test-dir build --output-on-failure --timeout 300 2>&1 | tee "$main_log"
rc=${PIPESTATUS[0]}
((rc == 0)) || failed+=("ctest (build)")
report+=("ctest build/: exit $rc, $(($(stamp) - t0)) s")

# 2. ASan+UBSan. Any report aborts the process that made it (UBSan does not
# recover, ASan halts); reports also go to files, so one from a process no
# test waits on (a detached kcr-monitor) still fails the run.
t0=$(stamp)
asan_build=$root/build-asan
KCR_BUILD_DIR=$asan_build KCR_BUILD_TYPE=Sanitize \
  KCR_CMAKE_ARGS="-DKCR_SANITIZE=address,undefined -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache" \
  bash hack/build.sh
rc=$?
report+=("build build-asan/: exit $rc, $(($(stamp) - t0)) s")
if ((rc != 0)); then
  failed+=("build (build-asan)")
else
  t0=$(stamp)
  san_logs=$asan_build/sanitizer-logs
  rm -rf "$san_logs" && mkdir -p "$san_logs"
  export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:log_path=$san_logs/asan"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$san_logs/ubsan"
  # A representative end-to-end subset: kcrd and its monitors through pod
  # run/stop/remove, exec sync, logs, a tty, events, a kcrd crash, pulls.
  e2e_subset='^(DaemonTest\.(VersionStatusAndRuntimeConfig|SigtermStopsCleanlyAndRemovesTheSocket)'
  e2e_subset+='|ImageServiceTest\.(CrictlPullImagesInspectRemove|MultiLayerZstdAndWhiteouts)'
  e2e_subset+='|RuntimeServiceTest\.(CrictlPodAndContainerLifecycle|ExitReasonsAndExecSyncTimeout'
  e2e_subset+='|FiltersStatsUpdatesLogsAndStopSignals|TtyContainerWritesItsTerminalToTheLog'
  e2e_subset+='|BadRequestsNameTheProblemAndChangeNothing|ContainerEventsStream|KcrdCrashLosesNothing)'
  e2e_subset+='|AvailabilityTest\.ExecSyncWithAnEscapedChildAnswersAndHoldsUpNobody)$'
  asan_log=$(mktemp /tmp/kcr-test-asan.XXXXXX)
  {
    ctest --test-dir "$asan_build" --output-on-failure --timeout 600 -L 'unit|integration'
    u=$?
    ctest --test-dir "$asan_build" --output-on-failure --timeout 600 -L e2e -R "$e2e_subset"
    e=$?
    exit $((u || e))
  } 2>&1 | tee "$asan_log"
  rc=${PIPESTATUS[0]}
  if compgen -G "$san_logs/*" >/dev/null; then
    echo "---- sanitizer reports (build-asan) ----"
    cat "$san_logs"/*
    rc=1
  fi
  unset ASAN_OPTIONS UBSAN_OPTIONS
  ((rc == 0)) || failed+=("ctest (build-asan)")
  report+=("ctest build-asan/ (unit, integration, e2e subset): exit $rc, $(($(stamp) - t0)) s")
fi

# 3. Every libFuzzer target for a bounded time from its corpus (the gtest
# corpus versions ran above with g++, with and without sanitizers).
t0=$(stamp)
bash hack/fuzz.sh "${KCR_CI_FUZZ_SECONDS:-20}"
rc=$?
((rc == 0)) || failed+=("fuzz")
report+=("hack/fuzz.sh ${KCR_CI_FUZZ_SECONDS:-20} s per target: exit $rc, $(($(stamp) - t0)) s")

echo "---- hack/test.sh ----"
printf '%s\n' "${report[@]}"
if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}"
else
  echo "all parts passed"
fi
grep -E '^[0-9]+% tests passed' "$main_log" | tail -1
rm -f "$main_log" "${asan_log:-}"
((${#failed[@]} == 0))

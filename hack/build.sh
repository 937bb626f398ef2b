#!/usr/bin/env bash
# Configures and builds kcr into build/ (programs in build/bin/).
# Usage: hack/build.sh [cmake target ...]
# Builds are serialised machine-wide with a lock: the machine has 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${KCR_BUILD_DIR:-$root/build}
jobs=${KCR_JOBS:-2}
exec 9>/tmp/kcr-build.lock
flock 9
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${KCR_BUILD_TYPE:-RelWithDebInfo}" ${KCR_CMAKE_ARGS:-}
fi
if (($#)); then
  cmake --build "$build" -j "$jobs" --target "$@"
else
  cmake --build "$build" -j "$jobs"
fi

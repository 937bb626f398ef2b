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
launcher=()
if command -v ccache >/dev/null; then
  # Paths below the checkout's parent are hashed relative to the build dir,
  # so clones in other places (CI's) share the machine's cache.
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(dirname "$root")} CCACHE_NOHASHDIR=1
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${KCR_BUILD_TYPE:-RelWithDebInfo}" "${launcher[@]}" ${KCR_CMAKE_ARGS:-}
fi
if (($#)); then
  cmake --build "$build" -j "$jobs" --target "$@"
else
  cmake --build "$build" -j "$jobs"
fi

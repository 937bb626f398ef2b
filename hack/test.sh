#!/usr/bin/env bash
# The one command that installs everything, builds kcr and runs every test:
# unit, integration (real CNI plugins, real mounts) and end-to-end (a real
# kcrd, the local registries, crictl). Exit status is ctest's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash hack/install-deps.sh
bash hack/build.sh
bash hack/registry.sh start
trap 'bash hack/registry.sh stop' EXIT
python3 hack/test_images.py
# Serial: integration tests share host resources (a test bridge, iptables).
ctest --test-dir build --output-on-failure --timeout 300

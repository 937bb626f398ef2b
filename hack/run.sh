#!/usr/bin/env bash
# Installs what kcr needs, builds it, and runs kcrd in the foreground with its
# embedded defaults (root /var/lib/kcr, state /run/kcr, socket /run/kcr/kcr.sock).
# Extra arguments go to kcrd (e.g. --config /etc/kcr/kcr.toml).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/hack/install-deps.sh"
bash "$root/hack/build.sh"
exec "$root/build/bin/kcrd" "$@"

#!/usr/bin/env bash
# Local OCI registries for kcr's tests (Debian's docker-registry):
#   127.0.0.1:5000  anonymous
#   127.0.0.1:5001  htpasswd basic auth, user kcr / password kcr-test
# Usage: hack/registry.sh start|stop|status
set -euo pipefail
base=${KCR_REGISTRY_DIR:-/var/lib/kcr-test-registry}
run=/run/kcr-test-registry
mkdir -p "$run"

config() {  # name port auth
  local name=$1 port=$2 auth=$3
  mkdir -p "$base/$name"
  cat >"$run/$name.yml" <<EOC
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $base/$name
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOC
  if [[ $auth == yes ]]; then
    htpasswd -Bbn kcr kcr-test >"$run/htpasswd"
    cat >>"$run/$name.yml" <<EOC
auth:
  htpasswd:
    realm: kcr-test
    path: $run/htpasswd
EOC
  fi
}

running() { [[ -f "$run/$1.pid" ]] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

start_one() {  # name port auth
  local name=$1 port=$2
  if running "$name"; then return 0; fi
  config "$@"
  setsid /usr/bin/docker-registry serve "$run/$name.yml" >"$run/$name.log" 2>&1 </dev/null &
  echo $! >"$run/$name.pid"
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/v2/"; then return 0; fi
    sleep 0.1
  done
  echo "registry $name did not start on 127.0.0.1:$port; log:" >&2
  cat "$run/$name.log" >&2
  return 1
}

stop_one() {
  local name=$1
  if running "$name"; then
    local pid
    pid=$(cat "$run/$name.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$run/$name.pid"
}

case "${1:-}" in
  start)
    # Debian's packaged service (if something started it) listens on :5000
    # with its own config; kcr's tests need that port.
    if ! running open && ss -ltn 2>/dev/null | grep -q ':5000 '; then
      echo "port 5000 is taken by another process (ss -ltnp | grep 5000); stop it first" >&2
      exit 1
    fi
    start_one open 5000 no
    start_one auth 5001 yes
    ;;
  stop) stop_one open; stop_one auth ;;
  status) for n in open auth; do running $n && echo "$n: running" || echo "$n: stopped"; done ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

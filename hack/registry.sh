#!/usr/bin/env bash
# Local OCI registries for kcr's tests (Debian's docker-registry):
#   127.0.0.1:5000  anonymous
#   127.0.0.1:5001  htpasswd basic auth, user kcr / password kcr-test
#   127.0.0.1:5443  TLS with a test CA, client certificates required; the
#                   anonymous registry's images ($run/tls: ca.pem,
#                   client.pem, client-key.pem)
# Usage: hack/registry.sh start|stop|status|mirrors
# `mirrors` prints the kcrd config lines that send registry.k8s.io,
# k8s.gcr.io, gcr.io and docker.io to the anonymous one (critest, node tests).
set -euo pipefail
base=${KCR_REGISTRY_DIR:-/var/lib/kcr-test-registry}
run=/run/kcr-test-registry
mkdir -p "$run"

tls_certs() {  # a CA, a server certificate for 127.0.0.1, a client certificate
  local d=$run/tls
  [[ -f $d/client.pem ]] && return 0
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=kcr-test CA" \
    -keyout "$d/ca-key.pem" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$d/server-key.pem" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -CAcreateserial -days 3650 \
    -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kcr-test client" -keyout "$d/client-key.pem" \
    -out "$d/client.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext"
  openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -CAcreateserial -days 3650 \
    -extfile "$d/client.ext" -out "$d/client.pem" 2>/dev/null
}

config() {  # name port auth [storage of another instance]
  local name=$1 port=$2 auth=$3 storage=${4:-$1}
  mkdir -p "$base/$storage"
  cat >"$run/$name.yml" <<EOC
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $base/$storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOC
  if [[ $auth == tls ]]; then
    tls_certs
    cat >>"$run/$name.yml" <<EOC
  tls:
    certificate: $run/tls/server.pem
    key: $run/tls/server-key.pem
    clientcas:
      - $run/tls/ca.pem
EOC
  fi
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
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
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
    start_one tls 5443 tls open
    ;;
  stop) stop_one open; stop_one auth; stop_one tls ;;
  status) for n in open auth tls; do running $n && echo "$n: running" || echo "$n: stopped"; done ;;
  mirrors)
    for r in registry.k8s.io k8s.gcr.io gcr.io docker.io; do
      printf '[registry.mirrors."%s"]\nserver = "http://127.0.0.1:5000"\n' "$r"
    done
    ;;
  *) echo "usage: $0 start|stop|status|mirrors" >&2; exit 2 ;;
esac

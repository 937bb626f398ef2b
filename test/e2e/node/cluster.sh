#!/usr/bin/env bash
# A single-node Kubernetes cluster on a fresh kcrd, for the node tests.
#
#   cluster.sh up DIR      make it (a stale cluster in DIR is taken down first)
#   cluster.sh down DIR    take it down and check the host is as before
#   cluster.sh env DIR     print shell assignments: KUBECONFIG, KCR_NODE_*, ...
#   cluster.sh restart-kubelet DIR [CONFIG]   stop kubelet, start it again
#                          (with CONFIG as its config file if given)
#   cluster.sh restart-kcrd DIR               stop kcrd (SIGTERM), start it
#
# Everything runs inside a network namespace of its own (kcrn-<id>, <id>
# from DIR): etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kcrd and kubelet. The node address is on one end of a veth pair whose
# both ends live in that namespace (this kernel has no `dummy` link; kubelet
# refuses a loopback node address), so no packet leaves 127.0.0.0/8 and the
# namespaces the cluster made. The host's registry (127.0.0.1:5000) is
# relayed into the namespace at the same address (relay.py), so kcr's mirror
# configuration is the one every kcr test uses. Processes are entered into
# the namespace with `nsenter --net`, not `ip netns exec` (that remounts
# /sys without /sys/fs/cgroup).
#
# Host state the cluster changes, and `down` restores: kubelet's sysctls
# (recorded at `up`), its mounts under DIR, the cgroup root /kcrn-<id> in
# every hierarchy (kubelet's kubepods live below it, so several clusters
# and other kubelets never share one), /var/log/containers symlinks into
# DIR. kubelet's iptables chains are made inside the namespace; `down` still
# checks the host's tables. `down` ends with a check of the host (mounts
# under DIR, the namespace, cgroups, processes, sysctls, KUBE-* chains) and
# exits non-zero naming anything left.
#
# Programs: $KCR_K8S_BIN (default /usr/local/lib/kcr-tools/bin/k8s-v1.37.2),
# $KCR_TOOLS_BIN/crictl, and $KCR_BUILD_DIR/bin/kcrd (default build/ of this
# checkout). Logs: DIR/log/<program>.log.
#
# KCR_NODE_RUNTIME=containerd at `up` puts Debian's containerd (1.6, runc,
# cgroupfs) under the same kubelet instead of kcrd, for bench/kubelet_pods.sh:
# its root, state, socket and config under DIR, the same CNI configuration
# and registry mirrors (hosts.toml), restrict_oom_score_adj as this host
# needs. The choice is recorded in DIR; env, restart-* and down follow it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.." && pwd)
source "$src/hack/versions.sh"
K8S_BIN=${KCR_K8S_BIN:-$KCR_TOOLS_BIN/k8s-$K8S_VERSION}
BUILD=${KCR_BUILD_DIR:-$src/build}
CRICTL=$KCR_TOOLS_BIN/crictl
PY=/usr/bin/python3
# The node's address (on the veth end in the namespace), the pods' subnet
# (kcr's CNI bridge in the namespace) and the service range (no kube-proxy:
# only the API server's own ClusterIP is allocated from it).
NODE_IP=10.250.0.2
POD_SUBNET=10.251.0.0/24
SERVICE_RANGE=10.252.0.0/24
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
         kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
KUBE_CHAINS=(KUBE-FIREWALL KUBE-IPTABLES-HINT KUBE-KUBELET-CANARY)

log() { echo "cluster: $*" >&2; }
die() { log "$*"; exit 1; }

names() {  # DIR -> the per-cluster names, in globals
  DIR=$(realpath -m "$1")
  # `up` empties DIR: never a top-level directory.
  [[ $DIR == /*/?* ]] || die "DIR must be at least two levels deep: $DIR"
  local id
  id=$(printf %s "$DIR" | md5sum | cut -c1-6)
  NETNS=kcrn-$id
  NODE=kcr-node-$id
  CGROOT=kcrn-$id
  VETH=kn${id}
  BRIDGE=kb${id}
  KUBECONFIG_FILE=$DIR/admin.kubeconfig
  RUNTIME=$(cat "$DIR/runtime" 2>/dev/null || echo "${KCR_NODE_RUNTIME:-kcr}")
  case $RUNTIME in
    kcr) SOCK=$DIR/ks/kcr.sock RUNTIME_PROC=kcrd ;;
    containerd) SOCK=$DIR/cs/containerd.sock RUNTIME_PROC=containerd ;;
    *) die "KCR_NODE_RUNTIME: kcr or containerd, not $RUNTIME" ;;
  esac
}

in_ns() { nsenter --net="/run/netns/$NETNS" -- "$@"; }

# ---------- processes ----------
# Daemons keep no descriptor of ours beyond stdio: run as `flock LOCK
# cluster.sh up`, the lock's descriptor would otherwise stay open in every
# daemon and the lock held until `down`.
close_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null
  done
  true
}

# start NAME ARGV...: runs ARGV in the namespace, in a session of its own
# (a Ctrl-C of the caller leaves it to `down`), PID in DIR/pid/NAME.
start() {
  local name=$1; shift
  (close_fds; exec nsenter --net="/run/netns/$NETNS" -- setsid "$@" </dev/null >>"$DIR/log/$name.log" 2>&1) &
  echo $! >"$DIR/pid/$name"
}

alive() {  # NAME -> 0 if its recorded PID runs the program it started
  local f=$DIR/pid/$1 pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ -d /proc/$pid ]] || return 1
  # A reused PID runs something else; the start time is not recorded,
  # but the command line names DIR (every program gets a path in it).
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$DIR" || return 1
}

stop() {  # NAME [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 15)
  local name=$1 t=${2:-15} pid i
  alive "$name" || { rm -f "$DIR/pid/$name"; return 0; }
  pid=$(<"$DIR/pid/$name")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < t * 10; i++)); do
    [[ -d /proc/$pid ]] || break
    # A zombie of ours (the caller is this script) is gone for our purpose.
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]] && break
    sleep 0.1
  done
  if [[ -d /proc/$pid ]] && [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]; then
    log "$name ($pid) ignored SIGTERM for ${t}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
  fi
  rm -f "$DIR/pid/$name"
}

wait_for() {  # SECONDS WHAT CMD...: polls CMD every 0.2 s
  local t=$1 what=$2 i; shift 2
  for ((i = 0; i < t * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "$what not ready after ${t}s (logs: $DIR/log)"
}

kc() { in_ns "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
crictl_() { CRI_CONFIG_FILE=/dev/null "$CRICTL" --runtime-endpoint "unix://$SOCK" --image-endpoint "unix://$SOCK" --timeout 30s "$@"; }

# ---------- certificates ----------
pki() {
  local p=$DIR/pki
  mkdir -p "$p"
  cd "$p"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt \
    -days 3 -subj /CN=kcr-node-test-ca -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  # cert NAME SUBJECT EXTENSIONS
  cert() {
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -subj "$2" 2>/dev/null |
      openssl x509 -req -CA ca.crt -CAkey ca.key -CAcreateserial -days 3 -out "$1.crt" \
        -extfile <(printf '%s\n' "$3") 2>/dev/null
  }
  cert apiserver /CN=kube-apiserver "subjectAltName=IP:$NODE_IP,IP:127.0.0.1,IP:${SERVICE_RANGE%.0/*}.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:localhost
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment"
  cert admin "/O=system:masters/CN=kcr-admin" "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
  cert kubelet "/O=system:nodes/CN=system:node:$NODE" "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
  openssl ecparam -name prime256v1 -genkey -noout -out sa.key 2>/dev/null
  openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
  cd - >/dev/null
}

kubeconfig() {  # FILE CERT-NAME
  cat >"$1" <<EOT
apiVersion: v1
kind: Config
clusters:
- name: kcr-node
  cluster: {server: "https://$NODE_IP:6443", certificate-authority: "$DIR/pki/ca.crt"}
users:
- name: u
  user: {client-certificate: "$DIR/pki/$2.crt", client-key: "$DIR/pki/$2.key"}
contexts:
- name: kcr-node
  context: {cluster: kcr-node, user: u, namespace: default}
current-context: kcr-node
EOT
}

# ---------- configuration files ----------
kcr_config() {
  mkdir -p "$DIR/net.d" "$DIR/cni-ipam"
  cat >"$DIR/kcr.toml" <<EOT
root = "$DIR/kr"
state = "$DIR/ks"
log_level = "info"
[cgroup]
driver = "auto"
parent = "$CGROOT/kcr"
[cni]
conf_dir = "$DIR/net.d"
$(bash "$src/hack/registry.sh" mirrors)
EOT
  # The bridge lives in the cluster's namespace; IPAM state under DIR
  # (host-local's default, /var/lib/cni/networks, is the host's).
  cat >"$DIR/net.d/10-kcr-node.conflist" <<EOT
{"cniVersion": "1.0.0", "name": "kcr-node-$CGROOT", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$DIR/cni-ipam",
            "ranges": [[{"subnet": "$POD_SUBNET"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "loopback"}]}
EOT
}

# Debian's containerd in place of kcrd: everything under DIR/cs, the CRI
# plugin's CNI and registry settings the ones kcr gets, the static pause
# stand-in (hack/e2e_node_images.py) as its sandbox image.
containerd_config() {
  local d=$DIR/cs h
  mkdir -p "$d"
  for h in docker.io registry.k8s.io gcr.io; do
    mkdir -p "$d/certs.d/$h"
    printf 'server = "http://127.0.0.1:5000"\n[host."http://127.0.0.1:5000"]\n  capabilities = ["pull", "resolve"]\n' \
      >"$d/certs.d/$h/hosts.toml"
  done
  cat >"$DIR/containerd.toml" <<EOT
version = 2
root = "$d/root"
state = "$d/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10.2"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "$d/certs.d"
[plugins."io.containerd.grpc.v1.cri".cni]
  conf_dir = "$DIR/net.d"
  bin_dir = "/usr/lib/cni"
EOT
}

start_runtime() {
  case $RUNTIME in
    kcr) start kcrd "$BUILD/bin/kcrd" --config "$DIR/kcr.toml" ;;
    containerd) start containerd containerd --config "$DIR/containerd.toml" ;;
  esac
}

# kubelet_config FILE DRIVER [EXTRA-YAML]
kubelet_config() {
  cat >"$1" <<EOT
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host is a cgroup v1/v2 hybrid; kubelet 1.35+ refuses v1 otherwise.
failCgroupV1: false
failSwapOn: false
cgroupDriver: $2
cgroupRoot: /$CGROOT
containerRuntimeEndpoint: unix://$SOCK
podLogsDir: $DIR/pod-logs
volumePluginDir: $DIR/kubelet/volume-plugins
# Static pods (the node suite's mirror pod specs write their manifests to
# the path kubelet's /configz names; without one, into their own cwd).
staticPodPath: $DIR/static-pods
# Every address of the cluster's own namespace (lo and the node's veth):
# the node suite reads the read-only port's /stats/summary at the node
# address and /metrics/cadvisor at localhost:10255.
address: 0.0.0.0
healthzBindAddress: 127.0.0.1
readOnlyPort: 10255
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $DIR/pki/ca.crt}
authorization: {mode: AlwaysAllow}
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
serializeImagePulls: false
# A shared development disk must not put the node under pressure.
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%", imagefs.inodesFree: "1%"}
# Pod and container stats, and /metrics/cadvisor, from the CRI (kcr's
# ListPodSandboxStats, ListPodSandboxMetrics, ListMetricDescriptors):
# kubelet's cAdvisor labels only docker's, containerd's and CRI-O's
# containers. hack/node-conformance.sh tells the suite (--feature-gates).
featureGates: {PodAndContainerStatsFromCRI: true}
${3:-}
EOT
}

# ---------- up ----------
record_host() {
  mkdir -p "$DIR/host"
  local k
  for k in "${SYSCTLS[@]}"; do echo "$k=$(sysctl -n "$k")"; done >"$DIR/host/sysctl"
  for t in filter nat mangle; do
    for c in "${KUBE_CHAINS[@]}"; do
      iptables -w -t "$t" -S "$c" >/dev/null 2>&1 && echo "$t $c"
    done
  done >"$DIR/host/kube-chains"
  [[ -d /var/log/containers ]] && touch "$DIR/host/var-log-containers-existed"
  true
}

up() {
  names "$1"
  [[ -x $K8S_BIN/kubelet && -x $K8S_BIN/kube-apiserver && -x $K8S_BIN/etcd ]] ||
    die "Kubernetes programs missing in $K8S_BIN (hack/k8s-tools.sh builds them)"
  if [[ $RUNTIME == kcr ]]; then
    [[ -x $BUILD/bin/kcrd ]] || die "no kcrd at $BUILD/bin/kcrd (KCR_BUILD_DIR)"
  else
    command -v containerd >/dev/null || die "no containerd (Debian's package)"
  fi
  # A cluster left in DIR by a killed run is taken down first.
  if [[ -f $DIR/cluster.env ]]; then
    log "taking down the stale cluster in $DIR"
    down "$DIR" || true
  fi
  local t0=$SECONDS
  rm -rf "$DIR"
  names "$1"  # the runtime asked for now, not the stale cluster's
  mkdir -p "$DIR"/{log,pid,pod-logs,kubelet,static-pods}
  record_host
  cat >"$DIR/cluster.env" <<EOT
DIR=$DIR
NETNS=$NETNS
EOT
  echo "$RUNTIME" >"$DIR/runtime"

  # Namespace, veth (both ends inside), loopback.
  ip netns add "$NETNS"
  ip link add "${VETH}a" netns "$NETNS" type veth peer name "${VETH}b" netns "$NETNS"
  in_ns ip link set lo up
  in_ns ip addr add "$NODE_IP/24" dev "${VETH}a"
  in_ns ip link set "${VETH}a" up
  in_ns ip link set "${VETH}b" up

  # Cgroup root of the node: kubelet's cgroupRoot must exist in every
  # hierarchy; cpuset needs its cpus and mems before anything joins below.
  local h
  for h in /sys/fs/cgroup/*/; do
    [[ -f $h/cgroup.procs ]] && mkdir -p "$h$CGROOT"
  done
  if [[ -d /sys/fs/cgroup/cpuset/$CGROOT ]]; then
    cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$CGROOT/cpuset.cpus"
    cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$CGROOT/cpuset.mems"
  fi

  pki
  kubeconfig "$KUBECONFIG_FILE" admin
  kubeconfig "$DIR/kubelet.kubeconfig" kubelet
  kcr_config
  [[ $RUNTIME == containerd ]] && containerd_config

  # Registry relay, then etcd.
  nsenter --net="/run/netns/$NETNS" -- true  # the namespace is usable
  (close_fds; exec setsid "$PY" "$here/relay.py" "/run/netns/$NETNS" 5000 5000 "$DIR" </dev/null >>"$DIR/log/relay.log" 2>&1) &
  echo $! >"$DIR/pid/relay"
  start etcd "$K8S_BIN/etcd" --name kcr-node --data-dir "$DIR/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster kcr-node=http://127.0.0.1:2380 --unsafe-no-fsync --log-level warn
  start_runtime
  wait_for ${KCR_NODE_ETCD_WAIT:-60} etcd in_ns curl -sf http://127.0.0.1:2379/health
  start kube-apiserver "$K8S_BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port=6443 \
    --cert-dir="$DIR/apiserver" \
    --tls-cert-file="$DIR/pki/apiserver.crt" --tls-private-key-file="$DIR/pki/apiserver.key" \
    --client-ca-file="$DIR/pki/ca.crt" --service-cluster-ip-range="$SERVICE_RANGE" \
    --service-account-key-file="$DIR/pki/sa.pub" --service-account-signing-key-file="$DIR/pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --authorization-mode=Node,RBAC --allow-privileged=true \
    --kubelet-client-certificate="$DIR/pki/admin.crt" --kubelet-client-key="$DIR/pki/admin.key" \
    --kubelet-preferred-address-types=InternalIP --profiling=false
  # kcrd answers long before the API server is up: its cgroup driver
  # decides kubelet's (containerd 1.6 has no RuntimeConfig; runc's is
  # cgroupfs as configured).
  wait_for 60 "$RUNTIME_PROC" crictl_ version
  local driver=cgroupfs
  [[ $RUNTIME == kcr ]] &&
    driver=$(crictl_ info -o json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["config"]["cgroupDriver"])')
  echo "$driver" >"$DIR/cgroup-driver"
  kubelet_config "$DIR/kubelet.yaml" "$driver"
  # kube-controller-manager gives up if the API server is not healthy
  # within 10 s of its start: all three start once it is.
  wait_for 120 kube-apiserver kc get --raw /readyz
  start kube-controller-manager "$K8S_BIN/kube-controller-manager" --kubeconfig="$KUBECONFIG_FILE" \
    --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --bind-address=127.0.0.1 --leader-elect=false \
    --service-account-private-key-file="$DIR/pki/sa.key" --root-ca-file="$DIR/pki/ca.crt" \
    --cert-dir="$DIR/controller-manager"
  start kube-scheduler "$K8S_BIN/kube-scheduler" --kubeconfig="$KUBECONFIG_FILE" \
    --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --bind-address=127.0.0.1 --leader-elect=false --cert-dir="$DIR/scheduler"
  start_kubelet "$DIR/kubelet.yaml"
  wait_for 120 "node $NODE" node_ready
  # Pods need their namespace's default service account and the root CA
  # config map (the controller-manager makes both).
  wait_for 60 "service account default" kc get serviceaccount default
  wait_for 60 "kube-root-ca.crt" kc get configmap kube-root-ca.crt
  tools
  log "up in $((SECONDS - t0)) s: node $NODE ($NODE_IP) in netns $NETNS; eval \"\$($0 env $DIR)\""
}

start_kubelet() {  # CONFIG
  start kubelet "$K8S_BIN/kubelet" --config="$1" --kubeconfig="$DIR/kubelet.kubeconfig" \
    --root-dir="$DIR/kubelet" --cert-dir="$DIR/kubelet/pki" \
    --hostname-override="$NODE" --node-ip="$NODE_IP" --v=2
}

node_ready() {
  [[ $(kc get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == True ]]
}

# DIR/kubectl and DIR/crictl: the cluster's own, usable from the host.
tools() {
  cat >"$DIR/kubectl" <<EOT
#!/bin/sh
exec nsenter --net=/run/netns/$NETNS -- $K8S_BIN/kubectl --kubeconfig $KUBECONFIG_FILE "\$@"
EOT
  cat >"$DIR/crictl" <<EOT
#!/bin/sh
exec $CRICTL --runtime-endpoint unix://$SOCK --image-endpoint unix://$SOCK "\$@"
EOT
  chmod +x "$DIR/kubectl" "$DIR/crictl"
}

env_() {
  names "$1"
  [[ -f $DIR/cluster.env ]] || die "no cluster in $DIR"
  cat <<EOT
KCR_NODE_DIR=$DIR
KCR_NODE_NETNS=$NETNS
KCR_NODE_NAME=$NODE
KCR_NODE_IP=$NODE_IP
KCR_NODE_CGROUP_ROOT=/$CGROOT
KCR_NODE_CGROUP_DRIVER=$(cat "$DIR/cgroup-driver" 2>/dev/null)
KCR_NODE_RUNTIME=$RUNTIME
KCR_NODE_RUNTIME_PID=$(cat "$DIR/pid/$RUNTIME_PROC" 2>/dev/null)
KCR_NODE_KUBECTL=$DIR/kubectl
KCR_NODE_CRICTL=$DIR/crictl
KUBECONFIG=$KUBECONFIG_FILE
CONTAINER_RUNTIME_ENDPOINT=unix://$SOCK
EOT
}

restart_kubelet() {
  names "$1"
  local cfg=${2:-$DIR/kubelet.yaml}
  stop kubelet
  start_kubelet "$cfg"
}

restart_kcrd() {
  names "$1"
  [[ $RUNTIME == kcr ]] || die "restart-kcrd: the runtime of $DIR is $RUNTIME"
  stop kcrd 30
  start_runtime
  wait_for 60 kcrd crictl_ version
}

# ---------- down ----------
remove_pods() {
  crictl_ version >/dev/null 2>&1 || return 0
  local pods
  pods=$(crictl_ pods -q 2>/dev/null || true)
  [[ -z $pods ]] && return 0
  # shellcheck disable=SC2086
  crictl_ stopp $pods >/dev/null 2>&1 || true
  # shellcheck disable=SC2086
  crictl_ rmp -f $pods >/dev/null 2>&1 || log "crictl rmp failed: $(crictl_ pods 2>&1 | tail -3)"
}

cgroup_pids() {  # every process in the node's cgroups
  find /sys/fs/cgroup/*/"$CGROOT" /sys/fs/cgroup/"$CGROOT" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u
}

mounts_under() { findmnt -rn -o TARGET | awk -v d="$DIR/" 'index($0, d) == 1' | sort -r; }

down() {
  names "$1"
  [[ -d $DIR ]] || { log "nothing in $DIR"; return 0; }
  local t0=$SECONDS have_ns=0
  [[ -e /run/netns/$NETNS ]] && have_ns=1
  stop kubelet
  # Pods go through kcrd, so monitors, pod network namespaces, overlay
  # mounts and container cgroups go the way kcr removes them. A kcrd that
  # died is started again for that (it reconnects to the monitors).
  if [[ -d $(dirname "$SOCK") ]] && ! alive "$RUNTIME_PROC" && ((have_ns)) &&
    { [[ $RUNTIME != kcr ]] || [[ -x $BUILD/bin/kcrd ]]; }; then
    start_runtime
    for _ in $(seq 1 100); do crictl_ version >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  remove_pods
  local n
  for n in "$RUNTIME_PROC" kube-scheduler kube-controller-manager kube-apiserver etcd relay; do stop "$n"; done

  # Anything still in the node's cgroups or the namespace is a leftover of
  # a crash: it is this cluster's by where it runs.
  local leftovers=() p
  for p in $(cgroup_pids); do
    leftovers+=("process $p ($(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | cut -c1-80)) in /$CGROOT")
    kill -KILL "$p" 2>/dev/null || true
  done
  if ((have_ns)); then
    for p in $(ip netns pids "$NETNS" 2>/dev/null); do
      leftovers+=("process $p ($(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | cut -c1-80)) in netns $NETNS")
      kill -KILL "$p" 2>/dev/null || true
    done
  fi

  # kubelet's volume mounts and its rshared bind of its root dir, kcr's
  # overlays, shm and pinned namespaces: deepest first, repeated for stacks.
  local m i
  for ((i = 0; i < 10; i++)); do
    m=$(mounts_under)
    [[ -z $m ]] && break
    while read -r t; do umount "$t" 2>/dev/null || umount -l "$t" 2>/dev/null || true; done <<<"$m"
  done
  ((have_ns)) && ip netns del "$NETNS"

  local h
  for h in /sys/fs/cgroup/*/"$CGROOT" /sys/fs/cgroup/"$CGROOT"; do
    [[ -d $h ]] && find "$h" -depth -type d -exec rmdir {} + 2>/dev/null
  done

  # Host settings kubelet changed.
  if [[ -f $DIR/host/sysctl ]]; then
    while IFS== read -r k v; do
      [[ $(sysctl -n "$k") == "$v" ]] || sysctl -qw "$k=$v"
    done <"$DIR/host/sysctl"
  fi
  local t c
  for t in filter nat mangle; do
    for c in "${KUBE_CHAINS[@]}"; do
      iptables -w -t "$t" -S "$c" >/dev/null 2>&1 || continue
      grep -qx "$t $c" "$DIR/host/kube-chains" 2>/dev/null && continue
      leftovers+=("iptables chain $c in table $t (removed)")
      iptables -w -t "$t" -S | awk -v c="$c" '$1 == "-A" && / -j / && $0 ~ ("-j " c "( |$)")' |
        while read -r _ rule; do eval "iptables -w -t $t -D $rule" || true; done
      iptables -w -t "$t" -F "$c" && iptables -w -t "$t" -X "$c" || true
    done
  done
  if [[ -d /var/log/containers ]]; then
    find /var/log/containers -maxdepth 1 -type l -lname "$DIR/*" -delete
    [[ -f $DIR/host/var-log-containers-existed ]] || rmdir /var/log/containers 2>/dev/null || true
  fi

  # The check: what is still there is reported, and fails `down`.
  [[ -n $(mounts_under) ]] && leftovers+=("mounts under $DIR: $(mounts_under | tr '\n' ' ')")
  [[ -e /run/netns/$NETNS ]] && leftovers+=("netns $NETNS")
  ip link show "${VETH}a" >/dev/null 2>&1 && leftovers+=("link ${VETH}a")
  for h in /sys/fs/cgroup/*/"$CGROOT" /sys/fs/cgroup/"$CGROOT"; do
    [[ -d $h ]] && leftovers+=("cgroup $h")
  done
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF "$DIR/" &&
      leftovers+=("process ${p#/proc/} ($(tr '\0' ' ' 2>/dev/null <"$p/cmdline" | cut -c1-80))")
  done
  if [[ -f $DIR/host/sysctl ]]; then
    while IFS== read -r k v; do
      [[ $(sysctl -n "$k") == "$v" ]] || leftovers+=("sysctl $k=$(sysctl -n "$k"), was $v")
    done <"$DIR/host/sysctl"
  fi
  # Data goes; logs, certificates and configuration stay for a post-mortem.
  rm -rf "$DIR/kr" "$DIR/ks" "$DIR/cs" "$DIR/static-pods" "$DIR/etcd" "$DIR/kubelet" "$DIR/pod-logs" "$DIR/cni-ipam"
  rm -f "$DIR/cluster.env" "$DIR/runtime"
  if ((${#leftovers[@]})); then
    log "down in $((SECONDS - t0)) s, with leftovers:"
    printf '  %s\n' "${leftovers[@]}" >&2
    return 1
  fi
  log "down in $((SECONDS - t0)) s; host clean"
}

[[ $# -ge 2 ]] || die "usage: $0 up|down|env|restart-kubelet|restart-kcrd DIR [CONFIG]"
[[ $EUID == 0 ]] || die "must run as root"
case $1 in
  up) up "$2" ;;
  down) down "$2" ;;
  env) env_ "$2" ;;
  restart-kubelet) restart_kubelet "$2" "${3:-}" ;;
  restart-kcrd) restart_kcrd "$2" ;;
  *) die "unknown command $1" ;;
esac

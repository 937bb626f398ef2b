#!/usr/bin/env bash
# Runs the Kubernetes node conformance suite (e2e_node.test of
# k8s.io/kubernetes $K8S_VERSION, --ginkgo.focus='\[NodeConformance\]')
# against kcr, and reports every spec: passed, failed, or skipped and why.
#
# The node: test/e2e/node/cluster.sh makes a single-node cluster (etcd, the
# control plane, kubelet, a fresh kcrd with registry.k8s.io & co. mirrored
# to the local registry) inside a network namespace of its own, and takes
# it down at exit. The suite runs against it like the upstream node
# conformance image runs against a node's kubelet: --start-services=false
# (no in-process API server, no kubelet of its own), --prepull-images=false,
# inside the namespace (the API server listens on the node's address
# there), with the node kubelet's PodAndContainerStatsFromCRI gate (the
# cAdvisor metrics spec skips itself then: kubelet's /metrics/cadvisor
# comes from the CRI). Specs run in parallel processes of the ginkgo CLI (the version
# the suite was built with); [Serial] specs run after the others, alone.
# Images: hack/e2e_node_images.py builds the ones the conformance specs
# pull. Programs: hack/k8s-tools.sh (--e2e-node, agnhost, the cluster's).
#
# Env: KCR_NODE_CONFORMANCE_SET: `ci` (default) the specs CI runs: the
#        focus without [Slow], [Serial], [Flaky] and [Disruptive] (the
#        in-place resize specs, 1-5 minutes each, are the [Slow] ones) and
#        without the groups that mostly wait out kubelet's timers (restart
#        back-offs, probe periods): Containers Lifecycle (129 specs),
#        Probing container and Probing restartable init container (46),
#        Device Plugin Failures (7, 2+ minutes each): 250 of the 614 specs
#        of v1.37.2. `nonslow`: the 432 without the tags only. `full`:
#        every [NodeConformance] spec.
#      KCR_NODE_CONFORMANCE_PROCS (parallel processes, default 4),
#      KCR_NODE_CONFORMANCE_DIR (where the cluster and the reports go),
#      KCR_NODE_CONFORMANCE_FOCUS (a narrower focus, for a developer's run).
# Extra arguments go to the ginkgo CLI (e.g. --focus=..., --dry-run).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/hack/versions.sh"
# Built once per machine (a no-op when they are there).
k8s=$(bash "$root/hack/k8s-tools.sh" --e2e-node kubelet kube-apiserver kube-controller-manager kube-scheduler \
  kubectl etcd agnhost)
suite=$k8s/e2e_node.test

# The ginkgo CLI at the version the suite links (parallel processes talk a
# protocol of that version), once per machine.
work=${KCR_GO_WORK:-/var/cache/kcr-go}/k8s-$K8S_VERSION
gv=$(sed -n 's#^\s*github.com/onsi/ginkgo/v2 \(v[^ ]*\).*#\1#p' "$work/go.mod" | head -1)
[[ -n $gv ]] || { echo "node-conformance: no ginkgo version in $work/go.mod" >&2; exit 1; }
ginkgo=$KCR_TOOLS_BIN/ginkgo-$gv/ginkgo
if [[ ! -x $ginkgo ]]; then
  echo "node-conformance: building the ginkgo CLI $gv (once per machine)" >&2
  GOBIN=$(dirname "$ginkgo") GOFLAGS=-mod=mod nice go install "github.com/onsi/ginkgo/v2/ginkgo@$gv"
fi

bash "$root/hack/registry.sh" start >/dev/null
python3 "$root/hack/test_images.py" >/dev/null
python3 "$root/hack/e2e_node_images.py" "$k8s/agnhost" >/dev/null

out=${KCR_NODE_CONFORMANCE_DIR:-$(mktemp -d /tmp/kcr-node-conformance.XXXXXX)}
mkdir -p "$out"
cluster=$out/cluster
cluster_sh=$root/test/e2e/node/cluster.sh
down() {
  local rc=$?
  bash "$cluster_sh" down "$cluster" || rc=1
  echo "node-conformance: logs and reports in $out"
  exit $rc
}
trap down EXIT
bash "$cluster_sh" up "$cluster"
eval "$(bash "$cluster_sh" env "$cluster")"

# The suite talks to the API server as node e2e does (--host and a bearer
# token, no kubeconfig): a service account's token, bound to cluster-admin.
kc=$KCR_NODE_KUBECTL
$kc -n kube-system create serviceaccount node-conformance >/dev/null
$kc create clusterrolebinding node-conformance --clusterrole=cluster-admin \
  --serviceaccount=kube-system:node-conformance >/dev/null
token=$($kc -n kube-system create token node-conformance --duration=4h)
report=$out/report.json
case ${KCR_NODE_CONFORMANCE_SET:-ci} in
  ci) skip=('--skip=\[Flaky\]|\[Slow\]|\[Serial\]|\[Disruptive\]|Containers Lifecycle|Probing (restartable init )?container|Device Plugin Failures') ;;
  nonslow) skip=('--skip=\[Flaky\]|\[Slow\]|\[Serial\]|\[Disruptive\]') ;;
  full) skip=() ;;
  *) echo "node-conformance: KCR_NODE_CONFORMANCE_SET is ci, nonslow or full" >&2; exit 2 ;;
esac
rc=0
# --ginkgo.* flags are the CLI's own here; the suite's flags follow "--".
nsenter --net="/run/netns/$KCR_NODE_NETNS" -- \
  "$ginkgo" --procs="${KCR_NODE_CONFORMANCE_PROCS:-4}" --no-color --focus="${KCR_NODE_CONFORMANCE_FOCUS:-\[NodeConformance\]}" \
  --output-dir="$out" --json-report=report.json --timeout=2h "${skip[@]}" "$@" "$suite" -- \
  --feature-gates=PodAndContainerStatsFromCRI=true \
  --start-services=false --prepull-images=false --host="https://$KCR_NODE_IP:6443" --bearer-token="$token" \
  --node-name="$KCR_NODE_NAME" --dns-domain=cluster.local \
  --container-runtime-endpoint="$CONTAINER_RUNTIME_ENDPOINT" --image-service-endpoint="$CONTAINER_RUNTIME_ENDPOINT" \
  --container-runtime-process-name=kcrd --container-runtime-pid-file="$cluster/pid/kcrd" \
  --report-dir="$out/junit" || rc=$?

# The verdict is the report's: a spec that cannot pass on this host
# (hack/node-conformance-known.tsv) is skipped with its reason, any other
# failure fails the run. No report: ginkgo's own status.
if [[ -s $report ]]; then
  echo "---- node conformance $K8S_VERSION on kcr: every spec ----"
  rc=0
  python3 "$root/hack/ginkgo_report.py" "$report" --all --known "$root/hack/node-conformance-known.tsv" --status \
    >"$out/specs.txt" || rc=$?
  cat "$out/specs.txt"
fi
exit $rc

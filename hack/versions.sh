# Pinned versions, sourced by hack/ scripts and read by CMake.
CRI_API_VERSION=v0.37.2
CRI_TOOLS_VERSION=v1.37.0
# The older cri-tools whose critest CI also runs (kubelets of older minors drive kcr).
CRI_TOOLS_OLD_VERSION=v1.34.0
KCR_TOOLS_BIN=${KCR_TOOLS_BIN:-/usr/local/lib/kcr-tools/bin}
export GOFLAGS=${GOFLAGS:-} GOTOOLCHAIN=${GOTOOLCHAIN:-local}
# Kubernetes programs (hack/k8s-tools.sh): the release and its staging modules' release.
K8S_VERSION=v1.37.2
K8S_STAGING_VERSION=v0.37.2

# Pinned versions, sourced by hack/ scripts and read by CMake.
CRI_API_VERSION=v0.37.2
CRI_TOOLS_VERSION=v1.37.0
KCR_TOOLS_BIN=${KCR_TOOLS_BIN:-/usr/local/lib/kcr-tools/bin}
export GOFLAGS=${GOFLAGS:-} GOTOOLCHAIN=${GOTOOLCHAIN:-local}

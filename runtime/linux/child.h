#pragma once
// Steps the container's init runs between clone() and execve(). Each
// returns a Status naming the step; the child reports the first failure to
// the parent over its report pipe. Internal to runtime/linux.
#include "common/status.h"
#include "runtime/linux/container.h"

namespace kcr::runtime::child {

// Mount namespace: rootfs, spec mounts, /dev, pivot_root, masked and
// read-only paths, read-only root.
Status SetupRootfs(const oci::Spec& spec, const CreateOptions& opts);

// Hostname, sysctls, rlimits, oom_score_adj (EPERM tolerated).
Status SetupProcessEnv(const oci::Spec& spec);

// Resolves the user inside the (already pivoted) root, drops privileges,
// applies capabilities and no_new_privs, chdir to cwd.
Status SetupIdentity(const oci::Spec& spec);

// process.apparmorProfile for the coming execve (the kernel switches at
// exec). FailedPrecondition naming the profile when it cannot be set.
Status ApplyAppArmor(const oci::Spec& spec);

// Seccomp last: the filter also governs the runtime's own remaining calls.
Status ApplySeccomp(const oci::Spec& spec);

// execve args[0], looked up on the spec's PATH when it has no '/'.
Status Exec(const oci::Spec& spec);

}  // namespace kcr::runtime::child

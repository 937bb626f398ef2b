#pragma once
// The device cgroup allow-list (OCI linux.resources.devices) for both
// cgroup versions: v1's devices.allow/devices.deny lines, and the cgroup v2
// eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) that enforces the same list.
#include <linux/bpf.h>

#include <string>
#include <vector>

#include "common/fd.h"
#include "common/status.h"
#include "runtime/oci/spec.h"

namespace kcr::runtime {

// The rules containers get unless privileged: deny all, then mknod of any
// node, and read/write/mknod of null, zero, full, random, urandom, tty,
// console, ptmx, the pty slaves (136:*) and /dev/net/tun.
std::vector<oci::DeviceRule> DefaultDeviceRules();

// One v1 write per rule, in order: {"devices.allow"|"devices.deny", "c 1:3 rwm"}.
std::vector<std::pair<std::string, std::string>> V1DeviceWrites(const std::vector<oci::DeviceRule>& rules);

// The eBPF program for `rules`: the last rule matching an access decides
// (as when the v1 lines are applied in order); an access no rule matches is
// denied unless a later "allow all" rule reset the default.
std::vector<bpf_insn> DeviceFilterProgram(const std::vector<oci::DeviceRule>& rules);

// Loads the program and attaches it to the cgroup v2 directory `cgroup_dir`
// (BPF_F_ALLOW_MULTI), then detaches any device program attached before,
// so an update replaces the filter without a window where none applies.
Status AttachDeviceFilter(const std::string& cgroup_dir, const std::vector<oci::DeviceRule>& rules);

}  // namespace kcr::runtime

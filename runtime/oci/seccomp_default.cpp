#include "runtime/oci/seccomp_default.h"

#include <nlohmann/json.hpp>

namespace kcr::runtime::oci {

Seccomp RuntimeDefaultSeccomp() {
  Seccomp s;
  s.default_action = "SCMP_ACT_ALLOW";
  s.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
  SeccompSyscall deny;
  deny.action = "SCMP_ACT_ERRNO";
  deny.errno_ret = 1;  // EPERM
  deny.names = {"acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module",
                "finit_module", "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "get_mempolicy",
                "init_module", "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie",
                "mbind", "mount", "mount_setattr", "move_mount", "move_pages", "name_to_handle_at", "nfsservctl",
                "open_by_handle_at", "open_tree", "perf_event_open", "pivot_root",
                "process_vm_readv", "process_vm_writev", "ptrace", "query_module", "quotactl", "quotactl_fd",
                "reboot", "request_key", "set_mempolicy", "setdomainname", "sethostname", "setns", "settimeofday",
                "stime", "swapoff", "swapon", "_sysctl", "sysfs", "umount", "umount2", "unshare", "uselib",
                "userfaultfd", "ustat", "vhangup", "vm86", "vm86old"};
  s.syscalls.push_back(deny);
  return s;
}

StatusOr<Seccomp> ParseSeccompProfile(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("seccomp profile: not a JSON object");
  // Reuse the OCI parser: wrap the profile as linux.seccomp.
  nlohmann::json spec = {{"linux", {{"seccomp", j}}}};
  KCR_ASSIGN_OR_RETURN(Spec s, ParseSpec(spec.dump()));
  if (!s.linux.seccomp || s.linux.seccomp->default_action.empty())
    return absl::InvalidArgumentError("seccomp profile: no defaultAction");
  Spec check;
  check.root_path = "/";
  check.process.args = {"x"};
  check.linux.seccomp = s.linux.seccomp;
  KCR_RETURN_IF_ERROR(ValidateSpec(check));
  return *s.linux.seccomp;
}

}  // namespace kcr::runtime::oci

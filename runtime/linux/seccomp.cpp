// Seccomp from the OCI model with libseccomp. When it is loaded relative to
// the identity change depends on no_new_privs: see ConfineAndExec.
#include <errno.h>
#include <seccomp.h>

#include <map>
#include <set>
#include <vector>

#include "runtime/linux/child.h"

namespace kcr::runtime::child {

namespace {

StatusOr<uint32_t> Action(const std::string& name, std::optional<uint32_t> errno_ret, uint32_t default_errno) {
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(errno_ret.value_or(default_errno));
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(errno_ret.value_or(default_errno));
  return absl::InvalidArgumentError("linux.seccomp: unknown action \"" + name + "\"");
}

StatusOr<scmp_compare> CmpOp(const std::string& op) {
  static const std::map<std::string, scmp_compare> m = {
      {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
      {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
  auto it = m.find(op);
  if (it == m.end()) return absl::InvalidArgumentError("linux.seccomp: unknown comparison \"" + op + "\"");
  return it->second;
}

StatusOr<uint32_t> Arch(const std::string& a) {
  static const std::map<std::string, uint32_t> m = {
      {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64}, {"SCMP_ARCH_X86", SCMP_ARCH_X86}, {"SCMP_ARCH_X32", SCMP_ARCH_X32},
      {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64}, {"SCMP_ARCH_ARM", SCMP_ARCH_ARM}};
  auto it = m.find(a);
  if (it == m.end()) return absl::InvalidArgumentError("linux.seccomp.architectures: unknown \"" + a + "\"");
  return it->second;
}

// Builds and loads the filter, with libseccomp's NNP attribute off: it
// would set no_new_privs on load, whatever process.noNewPrivileges says.
Status Load(const oci::Spec& spec) {
  if (!spec.linux.seccomp) return absl::OkStatus();
  const oci::Seccomp& sc = *spec.linux.seccomp;
  KCR_ASSIGN_OR_RETURN(uint32_t def, Action(sc.default_action, sc.default_errno_ret, EPERM));
  scmp_filter_ctx ctx = seccomp_init(def);
  if (!ctx) return absl::InternalError("seccomp_init failed");
  struct Release {
    scmp_filter_ctx c;
    ~Release() { seccomp_release(c); }
  } release{ctx};
  for (const auto& a : sc.architectures) {
    KCR_ASSIGN_OR_RETURN(uint32_t arch, Arch(a));
    int rc = seccomp_arch_add(ctx, arch);
    if (rc != 0 && rc != -EEXIST) continue;  // an architecture this kernel cannot filter
  }
  for (const auto& s : sc.syscalls) {
    KCR_ASSIGN_OR_RETURN(uint32_t act, Action(s.action, s.errno_ret, EPERM));
    if (act == def) continue;  // libseccomp refuses rules equal to the default
    for (const auto& name : s.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) continue;  // unknown to this architecture: nothing to filter
      std::vector<scmp_arg_cmp> cmps;
      for (const auto& a : s.args) {
        KCR_ASSIGN_OR_RETURN(scmp_compare op, CmpOp(a.op));
        cmps.push_back(op == SCMP_CMP_MASKED_EQ ? SCMP_CMP64(a.index, op, a.value, a.value_two)
                                                : SCMP_CMP64(a.index, op, a.value));
      }
      // Conditions on distinct arguments are ANDed in one rule; several on
      // the same argument (which libseccomp cannot AND) become one rule each.
      std::set<uint32_t> indexes;
      for (const auto& a : s.args) indexes.insert(a.index);
      std::vector<std::vector<scmp_arg_cmp>> rules;
      if (indexes.size() == cmps.size()) rules.push_back(cmps);
      else for (const auto& c : cmps) rules.push_back({c});
      for (const auto& r : rules) {
        int rc = seccomp_rule_add_array(ctx, act, nr, r.size(), r.empty() ? nullptr : r.data());
        if (rc != 0 && rc != -EEXIST)
          return absl::InvalidArgumentError("linux.seccomp: rule for " + name + ": " + std::strerror(-rc));
      }
    }
  }
  // Without no_new_privs the kernel requires CAP_SYS_ADMIN to load.
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); rc != 0)
    return ErrnoError("linux.seccomp: turn off libseccomp's no_new_privs", -rc);
  int rc = seccomp_load(ctx);
  if (rc != 0) return ErrnoError("linux.seccomp: load the filter", -rc);
  return absl::OkStatus();
}

}  // namespace

Status LoadSeccomp(const oci::Spec& spec) { return Load(spec); }

}  // namespace kcr::runtime::child

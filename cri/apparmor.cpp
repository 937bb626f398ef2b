#include "cri/apparmor.h"

#include "common/fs.h"
#include "common/log.h"
#include "runtime/cni/plugin_exec.h"

namespace kcr::cri {

bool AppArmorEnabled() {
  auto v = fs::ReadFile("/sys/module/apparmor/parameters/enabled", 16);
  return v.ok() && !v->empty() && (*v)[0] == 'Y';
}

std::string DefaultAppArmorPolicy(const std::string& name) {
  // Written for kcr; the kernel's mediation does the rest (a container's
  // capabilities, seccomp and read-only mounts still apply).
  return "#include <tunables/global>\n\n"
         "profile " + name + " flags=(attach_disconnected,mediate_deleted) {\n"
         "  #include <abstractions/base>\n\n"
         "  file,\n"
         "  network,\n"
         "  capability,\n"
         "  umount,\n"
         "  deny mount,\n"
         "  deny pivot_root,\n\n"
         "  # The kernel's knobs stay the node's.\n"
         "  deny @{PROC}/* w,\n"
         "  deny @{PROC}/sys/** w,\n"
         "  deny @{PROC}/{kcore,kmem,mem,sysrq-trigger,timer_list} rwklx,\n"
         "  deny /sys/** wklx,\n"
         "  deny /sys/firmware/** rwklx,\n"
         "  deny /sys/kernel/security/** rwklx,\n\n"
         "  # Signals and tracing stay within the container's profile; the\n"
         "  # runtime (unconfined) may signal it.\n"
         "  signal (receive) peer=unconfined,\n"
         "  signal (send,receive) peer=" + name + ",\n"
         "  ptrace (trace,read,tracedby,readby) peer=" + name + ",\n"
         "}\n";
}

Status AppArmorLoader::EnsureDefault() {
  std::lock_guard<std::mutex> l(mu_);
  if (loaded_) return absl::OkStatus();
  // -r replaces a profile an earlier kcrd loaded, so an upgrade takes effect.
  auto slash = policy_file_.rfind('/');
  if (slash != std::string::npos) KCR_RETURN_IF_ERROR(fs::MkdirAll(policy_file_.substr(0, slash), 0700));
  KCR_RETURN_IF_ERROR(fs::WriteFileAtomic(policy_file_, DefaultAppArmorPolicy()));
  auto out = runtime::ExecProgram(parser_, {"-Kr", policy_file_}, {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, "");
  if (!out.ok())
    return absl::FailedPreconditionError("AppArmor profile " + std::string(kDefaultAppArmorProfile) + ": cannot run " +
                                         parser_ + ": " + std::string(out.status().message()));
  if (out->exit_code != 0)
    return absl::FailedPreconditionError("AppArmor profile " + std::string(kDefaultAppArmorProfile) + ": " + parser_ +
                                         " failed: " + out->err + out->out);
  loaded_ = true;
  spdlog::info("AppArmor profile {} loaded from {}", kDefaultAppArmorProfile, policy_file_);
  return absl::OkStatus();
}

}  // namespace kcr::cri

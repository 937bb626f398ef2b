#pragma once
// AppArmor for containers: kcr's own profile for RuntimeDefault (and for an
// unset profile, as containerd and CRI-O confine by default), loaded into
// the kernel by kcrd with Debian's apparmor_parser the first time a
// container needs it.
#include <mutex>
#include <string>

#include "common/status.h"

namespace kcr::cri {

inline constexpr const char* kDefaultAppArmorProfile = "kcr-default";

// Whether the running kernel enforces AppArmor.
bool AppArmorEnabled();

// The policy text of profile `name`: everything a workload normally does
// (files, network, capabilities the container holds), but no mount, no
// writes to /proc's top-level files or /proc/sys, none to /sys, no reads of
// /proc/kcore, sysrq-trigger and the kernel's security and firmware trees;
// signals and ptrace only among processes of the same profile (and signals
// from the unconfined runtime).
std::string DefaultAppArmorPolicy(const std::string& name = kDefaultAppArmorProfile);

// Loads profiles on demand, once per kcrd.
class AppArmorLoader {
 public:
  // `policy_file`: where the policy text is written (Paths::AppArmorPolicy).
  AppArmorLoader(std::string parser, std::string policy_file)
      : enabled_(AppArmorEnabled()), parser_(std::move(parser)), policy_file_(std::move(policy_file)) {}
  // AppArmorEnabled(), read once: the kernel's setting cannot change while
  // it runs.
  bool enabled() const { return enabled_; }
  // OK once kcr's default profile is in the kernel (loaded, or replaced,
  // with `apparmor_parser -Kr` on the first call); FailedPrecondition naming
  // the parser's complaint otherwise. Thread-safe.
  Status EnsureDefault();

 private:
  const bool enabled_;
  std::mutex mu_;
  bool loaded_ = false;
  std::string parser_, policy_file_;
};

}  // namespace kcr::cri

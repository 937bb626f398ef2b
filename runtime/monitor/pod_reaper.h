#pragma once
// PID 1 of a pod's shared PID namespace (kubelet's shareProcessNamespace):
// a process that is no container's, whose only job is to let the kernel
// reap the orphans reparented to it. Every container of the pod sees it,
// so it is the least privileged process there: no capabilities, not root,
// no_new_privs, a seccomp filter that allows only waiting, no descriptors,
// not dumpable, and a command line naming no host path.
#include <sys/types.h>

#include <memory>
#include <string>

#include "common/fd.h"
#include "common/status.h"

namespace kcr::monitor {

// The reaper and the pod's PID namespace. The namespace is held by a
// descriptor opened once at start, never found again through the
// reaper's PID: once the reaper has died and been reaped its PID may be
// reused, and /proc/<pid>/ns/pid would then be a stranger's namespace.
class PodReaper {
 public:
  // Clones the reaper into a new PID namespace (the caller's child; it
  // dies with the caller) and returns once it has dropped every privilege.
  // Internal when it could not.
  static StatusOr<std::unique_ptr<PodReaper>> Start();
  // Kills and reaps the reaper if it was not reaped yet (Reaped()).
  ~PodReaper();
  PodReaper(const PodReaper&) = delete;
  PodReaper& operator=(const PodReaper&) = delete;

  // Its host PID; -1 once it was reaped.
  pid_t pid() const { return pid_; }
  // The pod's PID namespace for joining it from the calling process
  // ("/proc/self/fd/N" of the descriptor held here); empty once the
  // reaper has exited: a PID namespace whose init is gone takes no new
  // process.
  std::string PidNsPath() const;
  // The owner reaped `pid` (waitpid(-1)). True when that was the reaper:
  // it is gone, its namespace is released, and every process that was in
  // it has been killed by the kernel.
  bool Reaped(pid_t pid);
  // The owner is exiting without waiting for the reaper (it was killed and
  // may not be dead yet): it is forgotten, never waited for, and whoever
  // inherits it reaps it.
  void Abandon() {
    pid_ = -1;
    pidns_.reset();
  }

 private:
  PodReaper() = default;
  pid_t pid_ = -1;
  UniqueFd pidns_;
};

}  // namespace kcr::monitor

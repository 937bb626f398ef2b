#pragma once
// CgroupManager: one interface, one driver per host layout
// (cgroupfs on v1, cgroupfs on v2, systemd over sd-bus). The layout is
// detected, never assumed: this project's hosts include v1/v2 hybrids.
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "runtime/oci/spec.h"

namespace kcr::runtime {

enum class CgroupLayout { kV1, kV2, kHybrid };

struct CgroupStats {
  uint64_t cpu_usage_ns = 0, cpu_user_ns = 0, cpu_system_ns = 0;
  uint64_t cfs_periods = 0, cfs_throttled_periods = 0, cfs_throttled_ns = 0;
  uint64_t memory_usage = 0, memory_working_set = 0, memory_rss = 0;
  uint64_t memory_cache = 0, memory_mapped_file = 0, memory_kernel = 0, memory_max_usage = 0, memory_swap = 0;
  uint64_t memory_failcnt = 0, pgfault = 0, pgmajfault = 0;
  uint64_t oom_kills = 0;
  uint64_t pids = 0, threads = 0;
  // Limits in force (0: none).
  uint64_t memory_limit = 0, swap_limit = 0, cpu_shares = 0, cpu_period = 0, pids_max = 0;
  std::vector<pid_t> procs;  // processes in the cgroup (cgroup.procs)
};

class CgroupManager {
 public:
  virtual ~CgroupManager() = default;
  virtual std::string Driver() const = 0;  // "cgroupfs" or "systemd"

  // Creates cgroup `path` (relative, e.g. "kcr/pod1/ctr1") with `res`
  // applied. AlreadyExists is not an error (the cgroup is reused).
  virtual Status Create(const std::string& path, const oci::Resources& res) = 0;
  // Moves `pid` into the cgroup.
  virtual Status Add(const std::string& path, pid_t pid) = 0;
  virtual Status Update(const std::string& path, const oci::Resources& res) = 0;
  virtual StatusOr<CgroupStats> Stats(const std::string& path) = 0;
  // Removes the cgroup and its descendants, killing the processes inside;
  // OK if missing. Waits up to about a second for them to die, then
  // FailedPrecondition while processes remain. For callers that may block.
  virtual Status Destroy(const std::string& path) = 0;
  // One pass of the same, never waiting (a single-threaded monitor calls it
  // from its event loop): SIGKILL to every process in the cgroup and its
  // descendants (v2: cgroup.kill, which also takes what is forked
  // meanwhile; v1: each process listed, so a fork bomb is taken over a few
  // passes), then rmdir, deepest first. True once the cgroup is gone from
  // every hierarchy (or never existed); false while processes remain
  // (deaths are asynchronous, and a process in D state or frozen dies
  // later): the caller repeats the call, from a timer. Idempotent.
  // Test doubles that do not override it get Destroy's blocking answer.
  virtual StatusOr<bool> KillAndRemove(const std::string& path) {
    Status st = Destroy(path);
    if (absl::IsFailedPrecondition(st)) return false;
    if (!st.ok()) return st;
    return true;
  }
  // Where a process should be for "joining" it (v2: the one directory;
  // v1: the memory controller's), for exec's setns into the cgroup.
  virtual std::string Dir(const std::string& path) const = 0;

  // Tracking: moves `pid` (already in `path`) into child cgroup `name` of
  // `path` in one hierarchy only — v2's, or v1's pids (else the first the
  // host has) — so that an exec's processes can all be found and killed
  // even when they leave its process group or session. Limits stay those
  // of `path` (they are hierarchical); other v1 hierarchies keep the
  // process in `path` itself. Destroy(path) removes tracking children too.
  virtual Status AddTracked(const std::string& path, const std::string& name, pid_t pid) {
    return absl::UnimplementedError("cgroup process tracking");
  }
  // Sends SIGKILL to every process in tracking child `name` of `path` and
  // removes the child if it is empty by then. Never waits (a single-
  // threaded monitor calls it from its event loop): deaths are
  // asynchronous, so the caller repeats the call (from a timer) until it
  // returns true: the child is gone (or never existed). v2 writes
  // cgroup.kill, which also takes what is forked meanwhile; v1 signals each
  // process listed, and a process forked between the listing and the
  // signal is taken by the next call (a killed process forks no more).
  virtual StatusOr<bool> KillTracked(const std::string& path, const std::string& name) { return true; }
  // Removes tracking child `name` of `path` if it is empty; true when it is
  // gone. Processes still inside keep it (Destroy(path) takes it later).
  virtual bool ReleaseTracked(const std::string& path, const std::string& name) { return true; }

  // Pod-level placement, called by kcrd in this order: CreatePod before the
  // pod's kcr-monitor starts; AdoptMonitor once it runs (`pids`: the monitor
  // and its helper processes); the pod's container cgroups are children of
  // ContainerParent; DestroyPod once the monitor is gone (OK when nothing is
  // left). cgroupfs: the pod cgroup is a directory kcr makes and removes,
  // containers are its children, the monitor stays in kcrd's cgroup.
  // systemd: see systemd.h.
  virtual Status CreatePod(const std::string& pod_cgroup, const std::string& /*pod_id*/) {
    return Create(pod_cgroup, {});
  }
  virtual Status AdoptMonitor(const std::string& /*pod_cgroup*/, const std::string& /*pod_id*/,
                              const std::vector<pid_t>& /*pids*/) {
    return absl::OkStatus();
  }
  virtual std::string ContainerParent(const std::string& pod_cgroup, const std::string& /*pod_id*/) const {
    return pod_cgroup;
  }
  virtual Status DestroyPod(const std::string& pod_cgroup, const std::string& /*pod_id*/) {
    return Destroy(pod_cgroup);
  }
};

// Where systemd puts slice `name` (systemd.slice(5)): "a-b-c.slice" is
// a.slice/a-b.slice/a-b-c.slice; "-.slice" is the root (""). InvalidArgument
// for what is not a slice unit name.
StatusOr<std::string> SlicePath(const std::string& name);

// Reads the host's layout from /sys/fs/cgroup (`mount_root` for tests).
CgroupLayout DetectCgroupLayout(const std::string& mount_root = "/sys/fs/cgroup");

// The cgroupfs driver for the detected layout (hybrid uses v1 controllers).
// The systemd driver (systemd.h) is kcrd's only: it needs sd-bus, which the
// static kcr-monitor does not link.
StatusOr<std::unique_ptr<CgroupManager>> NewCgroupfsManager(const std::string& mount_root = "/sys/fs/cgroup");

}  // namespace kcr::runtime

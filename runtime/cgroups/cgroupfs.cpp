// cgroupfs drivers: v1 (one hierarchy per controller; also the hybrid
// layout's v1 half) and v2 (the unified hierarchy).
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/fd.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/paths.h"
#include "runtime/cgroups/cgroup.h"
#include "runtime/cgroups/device_filter.h"

namespace kcr::runtime {

CgroupLayout DetectCgroupLayout(const std::string& root) {
  struct stat st;
  if (::stat(JoinPath(root, "cgroup.controllers").c_str(), &st) == 0) return CgroupLayout::kV2;
  if (::stat(JoinPath(root, "unified/cgroup.controllers").c_str(), &st) == 0) return CgroupLayout::kHybrid;
  return CgroupLayout::kV1;
}

namespace {

Status Write(const std::string& file, const std::string& value) {
  // cgroup files take one write(2); WriteFileAtomic's rename does not apply.
  FILE* f = std::fopen(file.c_str(), "we");
  if (!f) return ErrnoError("open " + file);
  bool ok = std::fputs(value.c_str(), f) >= 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) return ErrnoError("write \"" + value + "\" to " + file);
  return absl::OkStatus();
}

uint64_t ReadU64(const std::string& file) {
  auto s = fs::ReadFile(file, 4096);
  if (!s.ok()) return 0;
  return std::strtoull(s->c_str(), nullptr, 10);
}

// "key value" lines (memory.stat, memory.events, cpu.stat).
uint64_t Field(const std::string& file, const std::string& key) {
  auto s = fs::ReadFile(file, 1 << 16);
  if (!s.ok()) return 0;
  size_t pos = 0;
  while (pos < s->size()) {
    size_t end = s->find('\n', pos);
    std::string line = s->substr(pos, end - pos);
    if (line.rfind(key + " ", 0) == 0) return std::strtoull(line.c_str() + key.size() + 1, nullptr, 10);
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return 0;
}

// A limit file: a number, or 0 for "max" / the kernel's "unlimited".
uint64_t Limit(const std::string& file) {
  auto s = fs::ReadFile(file, 4096);
  if (!s.ok() || s->rfind("max", 0) == 0) return 0;
  uint64_t v = std::strtoull(s->c_str(), nullptr, 10);
  return v >= (uint64_t{1} << 62) ? 0 : v;  // v1 reports "unlimited" as a page-rounded LONG_MAX
}

std::vector<pid_t> Procs(const std::string& file) {
  std::vector<pid_t> out;
  auto s = fs::ReadFile(file, 1 << 20);
  if (!s.ok()) return out;
  const char* p = s->c_str();
  while (*p) {
    char* e;
    long v = std::strtol(p, &e, 10);
    if (e == p) break;
    out.push_back(static_cast<pid_t>(v));
    p = e;
    while (*p == '\n') p++;
  }
  return out;
}

uint64_t Lines(const std::string& file) {
  auto s = fs::ReadFile(file, 1 << 20);
  if (!s.ok()) return 0;
  return static_cast<uint64_t>(std::count(s->begin(), s->end(), '\n'));
}

// SIGKILL to every process in cgroup directory `dir`, never waiting:
// v2's cgroup.kill (`use_kill_file`, when the kernel has it: it also takes
// the cgroup's descendants and what is forked meanwhile), else each process
// listed. A listed process may exit and be reaped, and its PID reused,
// before the signal: each is pinned by a pidfd first and signalled only if
// the listing taken after that still has it (then the pidfd is that
// member). A process forked between the listing and the signal is taken by
// the caller's next pass (a killed process forks no more).
void KillMembers(const std::string& dir, bool use_kill_file) {
  if (use_kill_file && Write(JoinPath(dir, "cgroup.kill"), "1").ok()) return;
  std::string procs = JoinPath(dir, "cgroup.procs");
  std::vector<std::pair<pid_t, UniqueFd>> pinned;
  for (pid_t pid : Procs(procs))
    if (UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))); fd) pinned.emplace_back(pid, std::move(fd));
  std::vector<pid_t> still = Procs(procs);
  for (const auto& [pid, fd] : pinned)
    if (std::find(still.begin(), still.end(), pid) != still.end())
      ::syscall(SYS_pidfd_send_signal, fd.get(), SIGKILL, nullptr, 0);
}

// One pass of killing and removing a cgroup directory, never waiting:
// rmdir, else SIGKILL to its processes and rmdir again. True once the
// directory is gone; false while it holds processes (or children).
StatusOr<bool> KillPassDir(const std::string& dir, bool use_kill_file) {
  if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
  if (errno != EBUSY) return ErrnoError("rmdir " + dir);
  KillMembers(dir, use_kill_file);
  if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
  if (errno != EBUSY) return ErrnoError("rmdir " + dir);
  return false;
}

// KillPassDir over a cgroup directory and its descendants, deepest first
// (a directory with children cannot be removed). True once `dir` is gone.
StatusOr<bool> KillPassTree(const std::string& dir, bool use_kill_file) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return true;
  std::vector<std::string> kids;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_type == DT_DIR && e->d_name[0] != '.') kids.push_back(e->d_name);
    ::closedir(d);
  }
  bool kids_gone = true;
  for (const auto& k : kids) {
    KCR_ASSIGN_OR_RETURN(bool gone, KillPassTree(JoinPath(dir, k), use_kill_file));
    kids_gone = kids_gone && gone;
  }
  if (!kids_gone) {
    KillMembers(dir, use_kill_file);  // its own processes die meanwhile too
    return false;
  }
  return KillPassDir(dir, use_kill_file);
}

// Removes a cgroup directory and its descendants, killing what is inside
// (e.g. a container's children re-parented to a pod's PID 1): removing a
// container leaves no process behind. Waits up to about a second for the
// deaths, so it is for callers that may block (kcrd, kcr-oci); the
// monitor's loop uses KillPassTree passes (CgroupManager::KillAndRemove) from a timer instead.
Status RemoveDir(const std::string& dir, bool use_kill_file) {
  for (int attempt = 0; attempt < 100; attempt++) {
    KCR_ASSIGN_OR_RETURN(bool gone, KillPassTree(dir, use_kill_file));
    if (gone) return absl::OkStatus();
    ::usleep(10000);
  }
  return absl::FailedPreconditionError("cgroup " + dir + " still has processes");
}

bool RemoveIfEmpty(const std::string& dir) { return ::rmdir(dir.c_str()) == 0 || errno == ENOENT; }

class V1 final : public CgroupManager {
 public:
  explicit V1(std::string root) : root_(std::move(root)) {
    // The controllers this host mounts (a kernel may lack hugetlb, say): a
    // hierarchy's root has cgroup.procs; an unmounted directory of that name
    // (a mount point left empty) does not.
    for (const char* c : kKnown) {
      struct stat st;
      if (::stat(JoinPath(JoinPath(root_, c), "cgroup.procs").c_str(), &st) == 0) controllers_.push_back(c);
    }
  }
  std::string Driver() const override { return "cgroupfs"; }

  Status Create(const std::string& path, const oci::Resources& res) override {
    for (const char* c : controllers_) {
      std::string dir = JoinPath(JoinPath(root_, c), path);
      KCR_RETURN_IF_ERROR(fs::MkdirAll(dir, 0755));
      if (std::string(c) == "cpuset") KCR_RETURN_IF_ERROR(InitCpuset(path));
    }
    return Update(path, res);
  }

  Status Add(const std::string& path, pid_t pid) override {
    for (const char* c : controllers_)
      KCR_RETURN_IF_ERROR(Write(JoinPath(JoinPath(JoinPath(root_, c), path), "cgroup.procs"), std::to_string(pid)));
    return absl::OkStatus();
  }

  Status Update(const std::string& path, const oci::Resources& r) override {
    auto f = [&](const char* c, const char* file) { return JoinPath(JoinPath(JoinPath(root_, c), path), file); };
    if (r.cpu_shares) KCR_RETURN_IF_ERROR(Write(f("cpu", "cpu.shares"), std::to_string(*r.cpu_shares)));
    if (r.cpu_period) KCR_RETURN_IF_ERROR(Write(f("cpu", "cpu.cfs_period_us"), std::to_string(*r.cpu_period)));
    if (r.cpu_quota) KCR_RETURN_IF_ERROR(Write(f("cpu", "cpu.cfs_quota_us"), std::to_string(*r.cpu_quota)));
    if (!r.cpuset_cpus.empty()) KCR_RETURN_IF_ERROR(Write(f("cpuset", "cpuset.cpus"), r.cpuset_cpus));
    if (!r.cpuset_mems.empty()) KCR_RETURN_IF_ERROR(Write(f("cpuset", "cpuset.mems"), r.cpuset_mems));
    if (r.memory_limit) {
      // v1 refuses (EINVAL) any write that would leave memory.limit_in_bytes
      // above memory.memsw.limit_in_bytes, so a resize that raises both
      // (kubelet sends swap = memory) writes the swap limit first; one that
      // lowers them, the memory limit first (runc orders them the same way).
      const std::string mem = f("memory", "memory.limit_in_bytes");
      const std::string memsw = f("memory", "memory.memsw.limit_in_bytes");
      auto write_swap = [&] {
        Status st = Write(memsw, std::to_string(*r.memory_swap));
        if (!st.ok()) spdlog::debug("swap limit not applied (no swap accounting): {}", st.message());
      };
      const uint64_t want = *r.memory_limit < 0 ? UINT64_MAX : static_cast<uint64_t>(*r.memory_limit);
      const bool swap_first = r.memory_swap && want > ReadU64(memsw);
      if (swap_first) write_swap();
      KCR_RETURN_IF_ERROR(Write(mem, std::to_string(*r.memory_limit)));
      if (r.memory_swap && !swap_first) write_swap();
    }
    if (r.pids_limit)
      KCR_RETURN_IF_ERROR(Write(f("pids", "pids.max"), *r.pids_limit <= 0 ? "max" : std::to_string(*r.pids_limit)));
    if (!r.devices.empty()) {
      if (!Has("devices")) return absl::FailedPreconditionError("device rules: this host has no devices controller");
      for (const auto& [file, line] : V1DeviceWrites(r.devices))
        KCR_RETURN_IF_ERROR(Write(f("devices", file.c_str()), line));
    }
    for (const auto& h : r.hugepage_limits) {
      // kubelet sends a limit for every page size it knows; a kernel
      // without the hugetlb controller has no huge pages to limit.
      if (!Has("hugetlb")) {
        spdlog::debug("hugepage limit {} not applied: no hugetlb controller", h.page_size);
        continue;
      }
      KCR_RETURN_IF_ERROR(
          Write(f("hugetlb", ("hugetlb." + h.page_size + ".limit_in_bytes").c_str()), std::to_string(h.limit)));
    }
    if (!r.unified.empty())
      return absl::InvalidArgumentError("linux.resources.unified: cgroup v2 files on a cgroup v1 host");
    return absl::OkStatus();
  }

  StatusOr<CgroupStats> Stats(const std::string& path) override {
    auto f = [&](const char* c, const char* file) { return JoinPath(JoinPath(JoinPath(root_, c), path), file); };
    struct stat st;
    if (::stat(JoinPath(JoinPath(root_, "memory"), path).c_str(), &st) != 0)
      return absl::NotFoundError("cgroup " + path + " not found");
    CgroupStats s;
    s.cpu_usage_ns = ReadU64(f("cpuacct", "cpuacct.usage"));
    // cpuacct.stat counts USER_HZ ticks.
    long hz = ::sysconf(_SC_CLK_TCK);
    uint64_t tick_ns = hz > 0 ? 1000000000ull / static_cast<uint64_t>(hz) : 10000000ull;
    s.cpu_user_ns = Field(f("cpuacct", "cpuacct.stat"), "user") * tick_ns;
    s.cpu_system_ns = Field(f("cpuacct", "cpuacct.stat"), "system") * tick_ns;
    s.cfs_periods = Field(f("cpu", "cpu.stat"), "nr_periods");
    s.cfs_throttled_periods = Field(f("cpu", "cpu.stat"), "nr_throttled");
    s.cfs_throttled_ns = Field(f("cpu", "cpu.stat"), "throttled_time");
    s.memory_usage = ReadU64(f("memory", "memory.usage_in_bytes"));
    std::string mstat = f("memory", "memory.stat");
    uint64_t inactive = Field(mstat, "total_inactive_file");
    s.memory_working_set = s.memory_usage > inactive ? s.memory_usage - inactive : 0;
    s.memory_rss = Field(mstat, "total_rss");
    s.memory_cache = Field(mstat, "total_cache");
    s.memory_mapped_file = Field(mstat, "total_mapped_file");
    s.memory_swap = Field(mstat, "total_swap");
    s.pgfault = Field(mstat, "total_pgfault");
    s.pgmajfault = Field(mstat, "total_pgmajfault");
    s.memory_kernel = ReadU64(f("memory", "memory.kmem.usage_in_bytes"));
    s.memory_max_usage = ReadU64(f("memory", "memory.max_usage_in_bytes"));
    s.memory_failcnt = ReadU64(f("memory", "memory.failcnt"));
    s.oom_kills = Field(f("memory", "memory.oom_control"), "oom_kill");
    s.pids = ReadU64(f("pids", "pids.current"));
    s.pids_max = Limit(f("pids", "pids.max"));
    s.threads = Lines(f("memory", "tasks"));
    s.memory_limit = Limit(f("memory", "memory.limit_in_bytes"));
    s.swap_limit = Limit(f("memory", "memory.memsw.limit_in_bytes"));
    s.cpu_shares = ReadU64(f("cpu", "cpu.shares"));
    s.cpu_period = ReadU64(f("cpu", "cpu.cfs_period_us"));
    s.procs = Procs(f("memory", "cgroup.procs"));
    return s;
  }

  Status Destroy(const std::string& path) override {
    Status first;
    for (const char* c : controllers_) {
      Status st = RemoveDir(JoinPath(JoinPath(root_, c), path), false);
      if (!st.ok() && first.ok()) first = st;
    }
    return first;
  }

  StatusOr<bool> KillAndRemove(const std::string& path) override {
    bool gone = true;
    for (const char* c : controllers_) {
      KCR_ASSIGN_OR_RETURN(bool g, KillPassTree(JoinPath(JoinPath(root_, c), path), false));
      gone = gone && g;
    }
    return gone;
  }

  std::string Dir(const std::string& path) const override { return JoinPath(JoinPath(root_, "memory"), path); }

  Status AddTracked(const std::string& path, const std::string& name, pid_t pid) override {
    if (controllers_.empty()) return absl::FailedPreconditionError("no cgroup v1 hierarchy to track processes in");
    std::string dir = JoinPath(TrackingDir(path), name);
    KCR_RETURN_IF_ERROR(fs::MkdirAll(dir, 0755));
    return Write(JoinPath(dir, "cgroup.procs"), std::to_string(pid));
  }
  StatusOr<bool> KillTracked(const std::string& path, const std::string& name) override {
    return controllers_.empty() ? true : KillPassDir(JoinPath(TrackingDir(path), name), false);
  }
  bool ReleaseTracked(const std::string& path, const std::string& name) override {
    return controllers_.empty() || RemoveIfEmpty(JoinPath(TrackingDir(path), name));
  }

 private:
  // A new cpuset cgroup starts with empty cpus/mems: copy them down from
  // the nearest ancestor that has them.
  Status InitCpuset(const std::string& path) {
    std::string base = JoinPath(root_, "cpuset");
    std::vector<std::string> parts;
    for (size_t s = 0, e; s < path.size(); s = e + 1) {
      e = path.find('/', s);
      if (e == std::string::npos) e = path.size();
      if (e > s) parts.push_back(path.substr(s, e - s));
    }
    std::string cur = base;
    for (const auto& p : parts) {
      std::string next = JoinPath(cur, p);
      for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
        auto v = fs::ReadFile(JoinPath(next, file), 4096);
        if (v.ok() && (v->empty() || *v == "\n")) {
          auto pv = fs::ReadFile(JoinPath(cur, file), 4096);
          if (pv.ok()) KCR_RETURN_IF_ERROR(Write(JoinPath(next, file), *pv));
        }
      }
      cur = next;
    }
    return absl::OkStatus();
  }

  std::string TrackingDir(const std::string& path) const {
    return JoinPath(JoinPath(root_, Has("pids") ? "pids" : controllers_.front()), path);
  }

  bool Has(const std::string& c) const {
    return std::find(controllers_.begin(), controllers_.end(), c) != controllers_.end();
  }
  static constexpr const char* kKnown[] = {"cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "hugetlb"};
  std::string root_;
  std::vector<const char*> controllers_;
};

class V2 final : public CgroupManager {
 public:
  explicit V2(std::string root) : root_(std::move(root)) {}
  std::string Driver() const override { return "cgroupfs"; }

  Status Create(const std::string& path, const oci::Resources& res) override {
    // Enable controllers down the tree so the leaf has them.
    std::string cur = root_;
    for (size_t s = 0, e; s < path.size(); s = e + 1) {
      e = path.find('/', s);
      if (e == std::string::npos) e = path.size();
      if (e == s) continue;
      for (const char* c : {"+cpu", "+cpuset", "+memory", "+pids", "+hugetlb", "+io"})
        Write(JoinPath(cur, "cgroup.subtree_control"), c).IgnoreError();  // one by one: a missing one fails alone
      cur = JoinPath(cur, path.substr(s, e - s));
      KCR_RETURN_IF_ERROR(fs::MkdirAll(cur, 0755));
    }
    return Update(path, res);
  }
  Status Add(const std::string& path, pid_t pid) override {
    return Write(JoinPath(Dir(path), "cgroup.procs"), std::to_string(pid));
  }
  Status Update(const std::string& path, const oci::Resources& r) override {
    std::string d = Dir(path);
    // cpu.weight from shares, as runc and crun convert: [2..262144] -> [1..10000].
    if (r.cpu_shares && *r.cpu_shares > 0) {
      uint64_t w = 1 + ((*r.cpu_shares - 2) * 9999) / 262142;
      KCR_RETURN_IF_ERROR(Write(JoinPath(d, "cpu.weight"), std::to_string(w)));
    }
    if (r.cpu_quota || r.cpu_period) {
      std::string q = (r.cpu_quota && *r.cpu_quota > 0) ? std::to_string(*r.cpu_quota) : "max";
      KCR_RETURN_IF_ERROR(Write(JoinPath(d, "cpu.max"), q + " " + std::to_string(r.cpu_period.value_or(100000))));
    }
    if (!r.cpuset_cpus.empty()) KCR_RETURN_IF_ERROR(Write(JoinPath(d, "cpuset.cpus"), r.cpuset_cpus));
    if (!r.cpuset_mems.empty()) KCR_RETURN_IF_ERROR(Write(JoinPath(d, "cpuset.mems"), r.cpuset_mems));
    if (r.memory_limit) {
      KCR_RETURN_IF_ERROR(Write(JoinPath(d, "memory.max"), *r.memory_limit > 0 ? std::to_string(*r.memory_limit) : "max"));
      if (r.memory_swap && *r.memory_swap > 0 && *r.memory_swap >= *r.memory_limit)
        Write(JoinPath(d, "memory.swap.max"), std::to_string(*r.memory_swap - *r.memory_limit)).IgnoreError();
    }
    if (r.pids_limit)
      KCR_RETURN_IF_ERROR(Write(JoinPath(d, "pids.max"), *r.pids_limit <= 0 ? "max" : std::to_string(*r.pids_limit)));
    for (const auto& h : r.hugepage_limits) {
      std::string file = JoinPath(d, "hugetlb." + h.page_size + ".max");
      struct stat st;
      if (::stat(file.c_str(), &st) != 0) {
        spdlog::debug("hugepage limit {} not applied: no {}", h.page_size, file);
        continue;
      }
      KCR_RETURN_IF_ERROR(Write(file, std::to_string(h.limit)));
    }
    for (const auto& [k, v] : r.unified) KCR_RETURN_IF_ERROR(Write(JoinPath(d, k), v));
    if (!r.devices.empty()) KCR_RETURN_IF_ERROR(AttachDeviceFilter(d, r.devices));
    return absl::OkStatus();
  }
  StatusOr<CgroupStats> Stats(const std::string& path) override {
    std::string d = Dir(path);
    struct stat st;
    if (::stat(d.c_str(), &st) != 0) return absl::NotFoundError("cgroup " + path + " not found");
    CgroupStats s;
    std::string cstat = JoinPath(d, "cpu.stat"), mstat = JoinPath(d, "memory.stat");
    s.cpu_usage_ns = Field(cstat, "usage_usec") * 1000;
    s.cpu_user_ns = Field(cstat, "user_usec") * 1000;
    s.cpu_system_ns = Field(cstat, "system_usec") * 1000;
    s.cfs_periods = Field(cstat, "nr_periods");
    s.cfs_throttled_periods = Field(cstat, "nr_throttled");
    s.cfs_throttled_ns = Field(cstat, "throttled_usec") * 1000;
    s.memory_usage = ReadU64(JoinPath(d, "memory.current"));
    uint64_t inactive = Field(mstat, "inactive_file");
    s.memory_working_set = s.memory_usage > inactive ? s.memory_usage - inactive : 0;
    s.memory_rss = Field(mstat, "anon");
    s.memory_cache = Field(mstat, "file");
    s.memory_mapped_file = Field(mstat, "file_mapped");
    s.memory_kernel = Field(mstat, "kernel");
    s.pgfault = Field(mstat, "pgfault");
    s.pgmajfault = Field(mstat, "pgmajfault");
    s.memory_swap = ReadU64(JoinPath(d, "memory.swap.current"));
    s.memory_max_usage = ReadU64(JoinPath(d, "memory.peak"));
    s.memory_failcnt = Field(JoinPath(d, "memory.events"), "max");
    s.oom_kills = Field(JoinPath(d, "memory.events"), "oom_kill");
    s.pids = ReadU64(JoinPath(d, "pids.current"));
    s.pids_max = Limit(JoinPath(d, "pids.max"));
    s.threads = Lines(JoinPath(d, "cgroup.threads"));
    s.memory_limit = Limit(JoinPath(d, "memory.max"));
    s.swap_limit = Limit(JoinPath(d, "memory.swap.max"));
    if (uint64_t w = ReadU64(JoinPath(d, "cpu.weight")); w > 0) s.cpu_shares = 2 + ((w - 1) * 262142) / 9999;
    if (auto m = fs::ReadFile(JoinPath(d, "cpu.max"), 128); m.ok())
      if (auto sp = m->find(' '); sp != std::string::npos) s.cpu_period = std::strtoull(m->c_str() + sp + 1, nullptr, 10);
    s.procs = Procs(JoinPath(d, "cgroup.procs"));
    return s;
  }
  Status Destroy(const std::string& path) override { return RemoveDir(Dir(path), true); }
  StatusOr<bool> KillAndRemove(const std::string& path) override { return KillPassTree(Dir(path), true); }
  std::string Dir(const std::string& path) const override { return JoinPath(root_, path); }

  // A child of a cgroup that has processes is allowed while its
  // cgroup.subtree_control is empty, as a container's is.
  Status AddTracked(const std::string& path, const std::string& name, pid_t pid) override {
    std::string dir = JoinPath(Dir(path), name);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoError("mkdir " + dir);
    return Write(JoinPath(dir, "cgroup.procs"), std::to_string(pid));
  }
  StatusOr<bool> KillTracked(const std::string& path, const std::string& name) override {
    return KillPassDir(JoinPath(Dir(path), name), true);
  }
  bool ReleaseTracked(const std::string& path, const std::string& name) override {
    return RemoveIfEmpty(JoinPath(Dir(path), name));
  }

 private:
  std::string root_;
};

}  // namespace

StatusOr<std::string> SlicePath(const std::string& name) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError("\"" + name + "\" is not a systemd slice name: " + why);
  };
  if (name == "-.slice") return std::string();
  if (name.size() <= 6 || !name.ends_with(".slice")) return bad("it must end in .slice");
  std::string base = name.substr(0, name.size() - 6);
  if (base.front() == '-' || base.back() == '-' || base.find("--") != std::string::npos)
    return bad("a dash may not begin or end it, nor follow another");
  for (char ch : base)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && !std::strchr(":-_.\\", ch))
      return bad("it may hold letters, digits and :-_.\\ only");
  std::string path;
  for (size_t dash = base.find('-'); dash != std::string::npos; dash = base.find('-', dash + 1))
    path += base.substr(0, dash) + ".slice/";
  return path + name;
}

StatusOr<std::unique_ptr<CgroupManager>> NewCgroupfsManager(const std::string& root) {
  switch (DetectCgroupLayout(root)) {
    case CgroupLayout::kV2: return std::unique_ptr<CgroupManager>(new V2(root));
    default: return std::unique_ptr<CgroupManager>(new V1(root));  // v1 and the hybrid's v1 half
  }
}

}  // namespace kcr::runtime

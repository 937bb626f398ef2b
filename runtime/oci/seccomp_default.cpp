#include "runtime/oci/seccomp_default.h"

#include <errno.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

namespace kcr::runtime::oci {

namespace {

// System calls any unprivileged workload may make (x86-64 and i386 names;
// names the running kernel's architecture lacks are skipped when loaded).
constexpr const char* kAllowed[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "arch_prctl", "bind", "brk", "cachestat", "capget",
    "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
    "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close",
    "close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
    "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd",
    "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
    "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
    "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
    "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd",
    "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
    "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
    "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
    "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
    "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
    "ioctl", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set",
    "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
    "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr",
    "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
    "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
    "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "modify_ldt", "mprotect", "mq_getsetattr",
    "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
    "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
    "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause",
    "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
    "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease",
    "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
    "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
    "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
    "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
    "sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
    "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32",
    "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid",
    "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
    "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32",
    "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
    "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64",
    "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time",
    "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink",
    "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid",
    "waitpid", "write", "writev"};

struct CapCalls {
  const char* cap;
  std::vector<std::string> calls;
};

// Calls allowed only to a process holding the capability.
const CapCalls kByCapability[] = {
    {"CAP_SYS_ADMIN",
     {"bpf", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie", "mount",
      "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname",
      "sethostname", "setns", "syslog", "umount", "umount2", "unshare", "pivot_root"}},
    {"CAP_SYS_BOOT", {"reboot"}},
    {"CAP_SYS_CHROOT", {"chroot"}},
    {"CAP_SYS_MODULE", {"delete_module", "init_module", "finit_module"}},
    {"CAP_SYS_PACCT", {"acct"}},
    {"CAP_SYS_PTRACE", {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"}},
    {"CAP_SYS_RAWIO", {"iopl", "ioperm"}},
    {"CAP_SYS_TIME", {"settimeofday", "stime", "clock_settime", "clock_settime64"}},
    {"CAP_SYS_TTY_CONFIG", {"vhangup"}},
    {"CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node", "move_pages"}},
    {"CAP_SYSLOG", {"syslog"}},
    {"CAP_BPF", {"bpf"}},
    {"CAP_PERFMON", {"perf_event_open"}},
    {"CAP_DAC_READ_SEARCH", {"open_by_handle_at"}},
};

bool Has(const std::vector<std::string>& caps, const std::string& cap) {
  return std::find(caps.begin(), caps.end(), cap) != caps.end();
}

SeccompSyscall Allow(std::vector<std::string> names, std::vector<SeccompArg> args = {}) {
  SeccompSyscall s;
  s.names = std::move(names);
  s.action = "SCMP_ACT_ALLOW";
  s.args = std::move(args);
  return s;
}

}  // namespace

Seccomp RuntimeDefaultSeccomp(const std::vector<std::string>& caps) {
  Seccomp s;
  s.default_action = "SCMP_ACT_ERRNO";
  s.default_errno_ret = EPERM;
  s.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
  s.syscalls.push_back(Allow(std::vector<std::string>(std::begin(kAllowed), std::end(kAllowed))));
  // Personas that change nothing dangerous: Linux, PER_LINUX32, UNAME26,
  // both, and the query (0xffffffff). Several conditions on one argument
  // become one rule each (OR).
  std::vector<SeccompArg> personas;
  for (uint64_t p : {0x0ULL, 0x8ULL, 0x20000ULL, 0x20008ULL, 0xffffffffULL})
    personas.push_back({0, p, 0, "SCMP_CMP_EQ"});
  for (const auto& p : personas) s.syscalls.push_back(Allow({"personality"}, {p}));
  s.syscalls.push_back(Allow({"socket"}, {{0, AF_VSOCK, 0, "SCMP_CMP_NE"}}));
  if (Has(caps, "CAP_SYS_ADMIN")) {
    s.syscalls.push_back(Allow({"clone", "clone3"}));
  } else {
    constexpr uint64_t kNsFlags =
        CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
    // clone(flags, ...) on x86-64: flags is argument 0.
    s.syscalls.push_back(Allow({"clone"}, {{0, kNsFlags, 0, "SCMP_CMP_MASKED_EQ"}}));
    SeccompSyscall clone3;
    clone3.names = {"clone3"};
    clone3.action = "SCMP_ACT_ERRNO";
    clone3.errno_ret = ENOSYS;  // its flags are in memory the filter cannot read
    s.syscalls.push_back(clone3);
  }
  std::set<std::string> extra;
  for (const auto& c : kByCapability)
    if (Has(caps, c.cap)) extra.insert(c.calls.begin(), c.calls.end());
  if (!extra.empty()) s.syscalls.push_back(Allow({extra.begin(), extra.end()}));
  return s;
}

namespace {

using nlohmann::json;

// Docker's includes/excludes: {"caps": [...], "arches": [...], "minKernel": "x.y"}.
bool Matches(const json& cond, const std::vector<std::string>& caps, bool* any_condition) {
  *any_condition = false;
  if (!cond.is_object()) return true;
  bool ok = true;
  if (cond.contains("caps") && cond["caps"].is_array() && !cond["caps"].empty()) {
    *any_condition = true;
    for (const auto& c : cond["caps"])
      if (!c.is_string() || !Has(caps, c.get<std::string>())) ok = false;
  }
  if (cond.contains("arches") && cond["arches"].is_array() && !cond["arches"].empty()) {
    *any_condition = true;
    bool arch = false;
    for (const auto& a : cond["arches"])
      if (a.is_string() && (a == "amd64" || a == "x86_64" || a == "x86" || a == "x32")) arch = true;
    ok = ok && arch;
  }
  return ok;
}

}  // namespace

StatusOr<Seccomp> ParseSeccompProfile(const std::string& text, const std::vector<std::string>& caps) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("seccomp profile: not a JSON object");
  // Docker format: archMap instead of architectures; "name" beside "names";
  // rules with includes/excludes. Normalise to the OCI form.
  if (j.contains("archMap") && j["archMap"].is_array() && !j.contains("architectures")) {
    json arches = json::array();
    for (const auto& m : j["archMap"]) {
      if (!m.is_object()) return absl::InvalidArgumentError("seccomp profile: archMap entry is not an object");
      if (m.contains("architecture")) arches.push_back(m["architecture"]);
      if (m.contains("subArchitectures") && m["subArchitectures"].is_array())
        for (const auto& sub : m["subArchitectures"]) arches.push_back(sub);
    }
    j["architectures"] = arches;
  }
  if (j.contains("syscalls")) {
    if (!j["syscalls"].is_array()) return absl::InvalidArgumentError("seccomp profile: syscalls is not an array");
    json kept = json::array();
    for (auto c : j["syscalls"]) {
      if (!c.is_object()) return absl::InvalidArgumentError("seccomp profile: a syscalls entry is not an object");
      if (c.contains("name") && c["name"].is_string() && !c.contains("names")) c["names"] = json::array({c["name"]});
      bool inc_cond = false, exc_cond = false;
      if (c.contains("includes") && !Matches(c["includes"], caps, &inc_cond)) continue;
      if (c.contains("excludes") && Matches(c["excludes"], caps, &exc_cond) && exc_cond) continue;
      c.erase("name");
      c.erase("includes");
      c.erase("excludes");
      c.erase("comment");
      kept.push_back(c);
    }
    j["syscalls"] = kept;
  }
  // Reuse the OCI parser: wrap the profile as linux.seccomp.
  json spec = {{"linux", {{"seccomp", j}}}};
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

// The container process's identity and environment: hostname,
// rlimits, oom_score_adj, user and groups, capabilities, no_new_privs, cwd,
// and the confinement sequence that ends in exec.
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <sstream>

#include "common/fs.h"
#include "runtime/linux/child.h"

namespace kcr::runtime::child {

namespace {

const std::map<std::string, int>& CapNumbers() {
  static const std::map<std::string, int> m = {
      {"CAP_CHOWN", 0}, {"CAP_DAC_OVERRIDE", 1}, {"CAP_DAC_READ_SEARCH", 2}, {"CAP_FOWNER", 3},
      {"CAP_FSETID", 4}, {"CAP_KILL", 5}, {"CAP_SETGID", 6}, {"CAP_SETUID", 7}, {"CAP_SETPCAP", 8},
      {"CAP_LINUX_IMMUTABLE", 9}, {"CAP_NET_BIND_SERVICE", 10}, {"CAP_NET_BROADCAST", 11},
      {"CAP_NET_ADMIN", 12}, {"CAP_NET_RAW", 13}, {"CAP_IPC_LOCK", 14}, {"CAP_IPC_OWNER", 15},
      {"CAP_SYS_MODULE", 16}, {"CAP_SYS_RAWIO", 17}, {"CAP_SYS_CHROOT", 18}, {"CAP_SYS_PTRACE", 19},
      {"CAP_SYS_PACCT", 20}, {"CAP_SYS_ADMIN", 21}, {"CAP_SYS_BOOT", 22}, {"CAP_SYS_NICE", 23},
      {"CAP_SYS_RESOURCE", 24}, {"CAP_SYS_TIME", 25}, {"CAP_SYS_TTY_CONFIG", 26}, {"CAP_MKNOD", 27},
      {"CAP_LEASE", 28}, {"CAP_AUDIT_WRITE", 29}, {"CAP_AUDIT_CONTROL", 30}, {"CAP_SETFCAP", 31},
      {"CAP_MAC_OVERRIDE", 32}, {"CAP_MAC_ADMIN", 33}, {"CAP_SYSLOG", 34}, {"CAP_WAKE_ALARM", 35},
      {"CAP_BLOCK_SUSPEND", 36}, {"CAP_AUDIT_READ", 37}, {"CAP_PERFMON", 38}, {"CAP_BPF", 39},
      {"CAP_CHECKPOINT_RESTORE", 40}};
  return m;
}

StatusOr<uint64_t> CapMask(const std::vector<std::string>& caps, const char* set) {
  uint64_t mask = 0;
  for (const auto& c : caps) {
    auto it = CapNumbers().find(c);
    if (it == CapNumbers().end())
      return absl::InvalidArgumentError(std::string("process.capabilities.") + set + ": unknown capability \"" + c + "\"");
    mask |= uint64_t{1} << it->second;
  }
  return mask;
}

int LastCap() {
  auto s = fs::ReadFile("/proc/sys/kernel/cap_last_cap", 64);
  return s.ok() ? std::atoi(s->c_str()) : 40;
}

const std::map<std::string, int>& Rlimits() {
  static const std::map<std::string, int> m = {
      {"RLIMIT_AS", RLIMIT_AS}, {"RLIMIT_CORE", RLIMIT_CORE}, {"RLIMIT_CPU", RLIMIT_CPU},
      {"RLIMIT_DATA", RLIMIT_DATA}, {"RLIMIT_FSIZE", RLIMIT_FSIZE}, {"RLIMIT_LOCKS", RLIMIT_LOCKS},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
      {"RLIMIT_NOFILE", RLIMIT_NOFILE}, {"RLIMIT_NPROC", RLIMIT_NPROC}, {"RLIMIT_RSS", RLIMIT_RSS},
      {"RLIMIT_RTPRIO", RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", RLIMIT_RTTIME},
      {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK}};
  return m;
}

// Opens `path` inside the (already pivoted) root: absolute symlinks and
// ".." stay in it, and no magic link is followed (/proc/self/fd/N would
// reach a descriptor of the runtime's, /proc/1/root another root).
int OpenInRoot(const std::string& path, uint64_t flags) {
  UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return -1;
  struct open_how how = {};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  size_t start = path.find_first_not_of('/');
  std::string rel = start == std::string::npos ? "." : path.substr(start);
  return static_cast<int>(::syscall(SYS_openat2, root.get(), rel.c_str(), &how, sizeof how));
}

// name:x:uid:gid:... lines of the container's own /etc/passwd or /etc/group.
// A missing file is an empty database. The image controls the file: it is
// opened without blocking (a FIFO would hold the init, and the monitor
// waiting on it) and must be a regular file of bounded size.
struct Entry {
  std::string name;
  uint32_t id = 0, gid = 0;
  std::vector<std::string> members;
};
constexpr off_t kMaxDbSize = 4 << 20;

// The name of a filesystem that is a kernel interface rather than storage
// (reading its files can have effects or show host state), or nullptr.
const char* KernelInterfaceFs(uint64_t type) {
  switch (type) {
    case PROC_SUPER_MAGIC: return "procfs";
    case SYSFS_MAGIC: return "sysfs";
    case CGROUP_SUPER_MAGIC: return "cgroupfs";
    case CGROUP2_SUPER_MAGIC: return "cgroup2";
    case DEBUGFS_MAGIC: return "debugfs";
    case TRACEFS_MAGIC: return "tracefs";
    case SECURITYFS_MAGIC: return "securityfs";
    case BPF_FS_MAGIC: return "bpffs";
    case EFIVARFS_MAGIC: return "efivarfs";
    case PSTOREFS_MAGIC: return "pstore";
    case SELINUX_MAGIC: return "selinuxfs";
    case SMACK_MAGIC: return "smackfs";
    case DEVPTS_SUPER_MAGIC: return "devpts";
    case BINFMTFS_MAGIC: return "binfmt_misc";
    case NSFS_MAGIC: return "nsfs";
    case 0x62656570: return "configfs";  // CONFIGFS_MAGIC, not in linux/magic.h
    default: return nullptr;
  }
}
StatusOr<std::vector<Entry>> ReadDb(const std::string& path, bool group) {
  std::vector<Entry> out;
  UniqueFd fd(OpenInRoot(path, O_RDONLY | O_NONBLOCK | O_NOCTTY));
  if (!fd) {
    if (errno == ENOENT) return out;
    return ErrnoError("open the container's " + path);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat the container's " + path);
  // A masked path (the spec's maskedPaths bind /dev/null over it) is empty.
  if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) return out;
  if (!S_ISREG(st.st_mode)) return absl::FailedPreconditionError(path + " is not a regular file in the container's image");
  // The files of procfs, sysfs and their kin are regular files too, and
  // this process still holds the runtime's capabilities: an image whose
  // database is a symlink to /proc/kmsg would drain the host's kernel log
  // (and one to another kernel interface could read what the container
  // may not). A user database lives on an ordinary filesystem.
  struct statfs sfs;
  if (::fstatfs(fd.get(), &sfs) != 0) return ErrnoError("statfs the container's " + path);
  if (const char* kind = KernelInterfaceFs(static_cast<uint64_t>(sfs.f_type)))
    return absl::FailedPreconditionError(path + " is a file of " + kind +
                                         ", not of the container's image; refused as a user database");
  if (st.st_size > kMaxDbSize)
    return absl::FailedPreconditionError(path + " is larger than " + std::to_string(kMaxDbSize >> 20) + " MiB");
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read the container's " + path);
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > static_cast<size_t>(kMaxDbSize))  // grew while read
      return absl::FailedPreconditionError(path + " is larger than " + std::to_string(kMaxDbSize >> 20) + " MiB");
  }
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string x;
    while (std::getline(ls, x, ':')) f.push_back(x);
    if (f.size() < 3 || f[0].empty() || f[0][0] == '#') continue;
    Entry e;
    e.name = f[0];
    e.id = static_cast<uint32_t>(std::strtoul(f[2].c_str(), nullptr, 10));
    if (!group && f.size() > 3) e.gid = static_cast<uint32_t>(std::strtoul(f[3].c_str(), nullptr, 10));
    if (group && f.size() > 3) {
      std::stringstream ms(f[3]);
      while (std::getline(ms, x, ',')) if (!x.empty()) e.members.push_back(x);
    }
    out.push_back(e);
  }
  return out;
}

// The working directory, resolved in the root like the user databases (an
// image's WORKDIR /proc/self/fd/N must not land in a runtime directory);
// missing components are created, as runc and crun do.
Status ChangeToCwd(const std::string& cwd) {
  UniqueFd dir(OpenInRoot(cwd, O_PATH | O_DIRECTORY));
  if (!dir && errno == ENOENT) {
    std::string prefix;
    size_t start = 0;
    while (start < cwd.size()) {
      size_t end = cwd.find('/', start);
      if (end == std::string::npos) end = cwd.size();
      std::string comp = cwd.substr(start, end - start);
      start = end + 1;
      if (comp.empty() || comp == ".") continue;
      UniqueFd parent(OpenInRoot(prefix, O_PATH | O_DIRECTORY));
      if (!parent) return ErrnoError("process.cwd " + cwd + ": open " + (prefix.empty() ? "/" : prefix));
      if (::mkdirat(parent.get(), comp.c_str(), 0755) != 0 && errno != EEXIST)
        return ErrnoError("process.cwd " + cwd + ": create " + prefix + "/" + comp);
      prefix += "/" + comp;
    }
    dir.reset(OpenInRoot(cwd, O_PATH | O_DIRECTORY));
  }
  if (!dir) return ErrnoError("process.cwd " + cwd);
  if (::fchdir(dir.get()) != 0) return ErrnoError("process.cwd " + cwd);
  return absl::OkStatus();
}

// True when the pipe's write end is gone (every holder exited).
bool HungUp(int fd) {
  pollfd p{fd, POLLIN, 0};
  int n;
  do n = ::poll(&p, 1, 0);
  while (n < 0 && errno == EINTR);
  return n == 1 && (p.revents & POLLHUP) && !(p.revents & POLLIN);
}

}  // namespace

Status SetupProcessEnv(const oci::Spec& spec) {
  bool own_uts = false;
  for (const auto& n : spec.linux.namespaces) own_uts |= (n.type == "uts" && n.path.empty());
  if (!spec.hostname.empty()) {
    if (!own_uts) return absl::InvalidArgumentError("hostname is set but the container has no UTS namespace");
    if (::sethostname(spec.hostname.c_str(), spec.hostname.size()) != 0) return ErrnoError("sethostname");
  }
  return absl::OkStatus();
}

Status SetupProcessLimits(const oci::Spec& spec) {
  for (const auto& r : spec.process.rlimits) {
    auto it = Rlimits().find(r.type);
    if (it == Rlimits().end()) return absl::InvalidArgumentError("process.rlimits: unknown " + r.type);
    struct rlimit rl = {r.soft, r.hard};
    if (::setrlimit(it->second, &rl) != 0) return ErrnoError("process.rlimits " + r.type);
  }
  if (spec.process.oom_score_adj) {
    std::string v = std::to_string(*spec.process.oom_score_adj);
    UniqueFd f(::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC));
    // A negative value needs CAP_SYS_RESOURCE, which this host's root may
    // lack: the container then keeps the monitor's value (see TEST-NOTES).
    if (f && ::write(f.get(), v.data(), v.size()) < 0 && errno != EPERM && errno != EACCES)
      return ErrnoError("process.oomScoreAdj");
  }
  return absl::OkStatus();
}

Status SetupIdentity(const oci::Spec& spec) {
  const oci::User& u = spec.process.user;
  uint32_t uid = u.uid, gid = u.gid;
  std::vector<gid_t> groups(u.additional_gids.begin(), u.additional_gids.end());
  std::string name;
  KCR_ASSIGN_OR_RETURN(std::vector<Entry> passwd, ReadDb("/etc/passwd", false));
  if (!u.username.empty()) {  // resolved in the container's own /etc/passwd (we are past pivot_root)
    bool found = false;
    for (const auto& e : passwd)
      if (e.name == u.username) {
        uid = e.id;
        if (u.gid_from_passwd) gid = e.gid;
        name = e.name;
        found = true;
        break;
      }
    if (!found)
      return absl::InvalidArgumentError("process.user.username: user \"" + u.username +
                                        "\" not found in the container's /etc/passwd");
  } else {
    for (const auto& e : passwd)
      if (e.id == uid) {
        name = e.name;
        if (u.gid_from_passwd) gid = e.gid;
        break;
      }
  }
  if (!name.empty() && !u.strict_groups) {  // supplementary groups the image gives the user, as Docker does
    KCR_ASSIGN_OR_RETURN(std::vector<Entry> group, ReadDb("/etc/group", true));
    for (const auto& g : group)
      for (const auto& m : g.members)
        if (m == name) groups.push_back(g.id);
  }
  // The primary group is a supplementary one too (as containerd and Docker
  // set it up); no group twice.
  groups.insert(groups.begin(), gid);
  std::vector<gid_t> unique;
  for (gid_t g : groups)
    if (std::find(unique.begin(), unique.end(), g) == unique.end()) unique.push_back(g);
  groups = std::move(unique);

  uint64_t bounding = 0, effective = 0, permitted = 0, inheritable = 0, ambient = 0;
  if (spec.process.capabilities) {
    const auto& c = *spec.process.capabilities;
    KCR_ASSIGN_OR_RETURN(bounding, CapMask(c.bounding, "bounding"));
    KCR_ASSIGN_OR_RETURN(effective, CapMask(c.effective, "effective"));
    KCR_ASSIGN_OR_RETURN(permitted, CapMask(c.permitted, "permitted"));
    KCR_ASSIGN_OR_RETURN(inheritable, CapMask(c.inheritable, "inheritable"));
    KCR_ASSIGN_OR_RETURN(ambient, CapMask(c.ambient, "ambient"));
    int last = LastCap();
    // A container cannot get a capability its runtime does not hold (this
    // host's root lacks some, e.g. CAP_SYS_RESOURCE): those are left out,
    // as runc leaves out capabilities the kernel does not know.
    uint64_t held = 0;
    for (int cap = 0; cap <= last && cap < 64; cap++)
      if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) held |= uint64_t{1} << cap;
    bounding &= held;
    effective &= held;
    permitted &= held;
    inheritable &= held;
    ambient &= held;
    for (int cap = 0; cap <= last; cap++)
      if (!(bounding & (uint64_t{1} << cap)) && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
        return ErrnoError("drop bounding capability " + std::to_string(cap));
  }
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return ErrnoError("PR_SET_KEEPCAPS");
  if (::setgroups(groups.size(), groups.data()) != 0) return ErrnoError("setgroups");
  if (::setresgid(gid, gid, gid) != 0) return ErrnoError("setresgid " + std::to_string(gid));
  if (::setresuid(uid, uid, uid) != 0) return ErrnoError("setresuid " + std::to_string(uid));
  if (spec.process.capabilities) {
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {};
    for (int i = 0; i < 2; i++) {
      data[i].effective = static_cast<uint32_t>(effective >> (32 * i));
      data[i].permitted = static_cast<uint32_t>(permitted >> (32 * i));
      data[i].inheritable = static_cast<uint32_t>(inheritable >> (32 * i));
    }
    if (::syscall(SYS_capset, &hdr, data) != 0) return ErrnoError("capset");
    // The kernel allows an ambient capability only when it is both permitted
    // and inheritable; others are skipped, as runc does.
    ambient &= permitted & inheritable;
    for (int cap = 0; cap < 64; cap++)
      if ((ambient & (uint64_t{1} << cap)) && ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0)
        return ErrnoError("raise ambient capability " + std::to_string(cap));
  }
  if (spec.process.no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return ErrnoError("no_new_privs");
  return ChangeToCwd(spec.process.cwd);
}

Status ApplyAppArmor(const oci::Spec& spec) {
  const std::string& profile = spec.process.apparmor_profile;
  if (profile.empty()) return absl::OkStatus();
  std::string cmd = "exec " + profile;
  for (const char* attr : {"/proc/thread-self/attr/apparmor/exec", "/proc/self/attr/exec"}) {
    int fd = ::open(attr, O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = ::write(fd, cmd.data(), cmd.size());
    ::close(fd);
    if (n == static_cast<ssize_t>(cmd.size())) return absl::OkStatus();
    return absl::FailedPreconditionError("process.apparmorProfile \"" + profile + "\": " + std::strerror(errno));
  }
  return absl::FailedPreconditionError("process.apparmorProfile \"" + profile + "\": this kernel has no AppArmor");
}

Status Exec(const oci::Spec& spec) {
  const auto& args = spec.process.args;
  std::vector<char*> argv, envp;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& e : spec.process.env) {
    envp.push_back(const_cast<char*>(e.c_str()));
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  }
  envp.push_back(nullptr);
  if (args[0].find('/') != std::string::npos) {
    ::execve(args[0].c_str(), argv.data(), envp.data());
    return ErrnoError("exec " + args[0]);
  }
  int err = ENOENT;
  std::stringstream ps(path);
  std::string dir;
  while (std::getline(ps, dir, ':')) {
    std::string cand = (dir.empty() ? "." : dir) + "/" + args[0];
    ::execve(cand.c_str(), argv.data(), envp.data());
    if (errno != ENOENT) err = errno;
  }
  return ErrnoError("exec " + args[0] + " (looked up on PATH " + path + ")", err);
}

Status CloseDescriptorsExcept(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  unsigned from = 3;
  for (int k : keep) {
    if (k < 3 || static_cast<unsigned>(k) < from) continue;
    if (static_cast<unsigned>(k) > from && ::syscall(SYS_close_range, from, k - 1, 0) != 0)
      return ErrnoError("close inherited descriptors");
    from = static_cast<unsigned>(k) + 1;
  }
  if (::syscall(SYS_close_range, from, ~0U, 0) != 0) return ErrnoError("close inherited descriptors");
  if (::syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) return ErrnoError("mark descriptors close-on-exec");
  return absl::OkStatus();
}

Status ConfineAndExec(const oci::Spec& spec, const ConfineOptions& opts) {
  auto step = [&](const char* name) {
    if (opts.on_step) opts.on_step(name);
  };
  // Until exec this process runs the runtime's image with the container's
  // uid: non-dumpable, a process in the container cannot open its
  // /proc/<pid>/exe or ptrace it. execve makes the program dumpable again.
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return ErrnoError("PR_SET_DUMPABLE");
  std::vector<int> keep = opts.keep_fds;
  if (opts.parent_pipe >= 0) keep.push_back(opts.parent_pipe);
  if (opts.userns_fd >= 0) keep.push_back(opts.userns_fd);
  KCR_RETURN_IF_ERROR(CloseDescriptorsExcept(keep));
  // Before the identity change: raising a hard limit or lowering
  // oom_score_adj needs the runtime's privileges.
  step("process limits");
  KCR_RETURN_IF_ERROR(SetupProcessLimits(spec));
  step("apparmor");
  KCR_RETURN_IF_ERROR(ApplyAppArmor(spec));
  if (opts.userns_fd >= 0) {
    // Full capabilities in the namespace from here, none outside it; the
    // ids are the host's (unmapped, shown as the overflow id) until
    // SetupIdentity sets the container's.
    step("user namespace");
    if (::setns(opts.userns_fd, CLONE_NEWUSER) != 0) return ErrnoError("join the pod's user namespace");
    ::close(opts.userns_fd);
  }
  bool nnp = spec.process.no_new_privileges;
  if (spec.linux.seccomp && !nnp) {
    step("seccomp");
    KCR_RETURN_IF_ERROR(LoadSeccomp(spec));
  }
  step("user identity");
  KCR_RETURN_IF_ERROR(SetupIdentity(spec));
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return ErrnoError("PR_SET_PDEATHSIG");
  if (opts.parent_pipe >= 0 && HungUp(opts.parent_pipe))
    return absl::AbortedError("the container's parent exited during its set-up");
  if (opts.before_exec) KCR_RETURN_IF_ERROR(opts.before_exec());
  if (spec.linux.seccomp && nnp) {
    step("seccomp");
    KCR_RETURN_IF_ERROR(LoadSeccomp(spec));
  }
  step("exec");
  return Exec(spec);
}

}  // namespace kcr::runtime::child

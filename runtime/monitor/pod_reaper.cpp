#include "runtime/monitor/pod_reaper.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <grp.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "common/fd.h"
#include "common/fs.h"

namespace kcr::monitor {
namespace {

// The bounds of this process's argument area (fields 48 and 49 of
// /proc/self/stat), which /proc/<pid>/cmdline shows.
std::pair<uintptr_t, uintptr_t> ArgArea() {
  auto stat = fs::ReadFile("/proc/self/stat", 1 << 16);
  if (!stat.ok()) return {0, 0};
  size_t p = stat->rfind(')');
  if (p == std::string::npos) return {0, 0};
  // Field 3 starts after ") "; fields 48 and 49 are 45 and 46 further on.
  const char* s = stat->c_str() + p + 2;
  unsigned long long v[50] = {};
  for (int field = 3; field <= 49 && *s; field++) {
    char* end;
    v[field] = std::strtoull(s, &end, 10);
    if (field == 3) end = const_cast<char*>(s) + 1;  // the state letter
    s = end;
    while (*s == ' ') s++;
  }
  return {static_cast<uintptr_t>(v[48]), static_cast<uintptr_t>(v[49])};
}

// `confined`: the write end of a pipe; closing it tells the monitor the
// reaper holds nothing any more.
[[noreturn]] void ReaperMain(std::pair<uintptr_t, uintptr_t> args, int confined) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (::dup2(confined, 0) != 0) ::_exit(1);
  ::close_range(1, ~0U, 0);  // holds nothing of the monitor's
  ::prctl(PR_SET_NAME, "kcr-pod-init", 0, 0, 0);
  // A command line that names nothing of the host (it was kcr-monitor's).
  if (args.first && args.second > args.first) {
    char* area = reinterpret_cast<char*>(args.first);
    size_t len = args.second - args.first;
    std::memset(area, 0, len);
    std::strncpy(area, "kcr-pod-init", len - 1);
  }
  // Orphans reparented here are reaped by the kernel: no wait loop, and so
  // no system call but pause is ever needed.
  ::signal(SIGCHLD, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD) ::signal(sig, SIG_IGN);
  // nobody, no groups, no capabilities in any set, none to regain.
  ::setgroups(0, nullptr);
  for (int cap = 0; cap <= CAP_LAST_CAP; cap++) ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) ::_exit(1);
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct none_caps[2] = {};
  if (::syscall(SYS_capset, &hdr, none_caps) != 0) ::_exit(1);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);  // setresuid made it the sysctl's value
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(1);
  // Everything but waiting fails with EPERM (never a kill: PID 1's death
  // would take every process of the pod with it).
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (!ctx) ::_exit(1);
  for (int nr : {SCMP_SYS(pause), SCMP_SYS(rt_sigreturn), SCMP_SYS(restart_syscall), SCMP_SYS(exit),
                 SCMP_SYS(exit_group)})
    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
  seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(close), 1, SCMP_A0(SCMP_CMP_EQ, 0));  // the last descriptor
  if (seccomp_load(ctx) != 0) ::_exit(1);
  ::close(0);
  for (;;) ::pause();
}

}  // namespace

StatusOr<std::unique_ptr<PodReaper>> PodReaper::Start() {
  auto args = ArgArea();
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return ErrnoError("pipe");
  UniqueFd confined_r(p[0]), confined_w(p[1]);
  pid_t pid = static_cast<pid_t>(::syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
  if (pid < 0) return ErrnoError("clone pod PID namespace reaper");
  if (pid == 0) ReaperMain(args, confined_w.get());
  std::unique_ptr<PodReaper> r(new PodReaper());
  r->pid_ = pid;  // from here on the destructor kills and reaps it
  confined_w.reset();
  // Opened while the reaper is certainly this process's unreaped child:
  // the PID cannot have been reused yet.
  r->pidns_.reset(::open(("/proc/" + std::to_string(pid) + "/ns/pid").c_str(), O_RDONLY | O_CLOEXEC));
  if (!r->pidns_) return ErrnoError("open the pod's PID namespace (/proc/" + std::to_string(pid) + "/ns/pid)");
  // The pod is not ready, and no container joins its PID namespace, until
  // the reaper has dropped everything (EOF: confined, or dead).
  pollfd pf{confined_r.get(), POLLIN, 0};
  char b;
  bool eof = ::poll(&pf, 1, 5000) == 1 && ::read(confined_r.get(), &b, 1) == 0;
  int st;
  pid_t gone = eof ? ::waitpid(pid, &st, WNOHANG) : 0;
  if (gone == pid) r->pid_ = -1;  // reaped here: its PID is no longer ours to signal
  if (!eof || gone != 0)
    return absl::InternalError("the pod's PID namespace reaper could not drop its privileges");
  return r;
}

PodReaper::~PodReaper() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);  // still unreaped: the PID is ours
  int st;
  while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
}

std::string PodReaper::PidNsPath() const {
  return pid_ > 0 && pidns_ ? "/proc/self/fd/" + std::to_string(pidns_.get()) : "";
}

bool PodReaper::Reaped(pid_t pid) {
  if (pid_ <= 0 || pid != pid_) return false;
  pid_ = -1;
  pidns_.reset();
  return true;
}

}  // namespace kcr::monitor

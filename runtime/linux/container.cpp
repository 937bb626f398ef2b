// Container creation: clone into new namespaces, a sync pipe for the parent
// (cgroup placement), the child's set-up steps, and a start pipe that turns
// "created" into "running" (OCI create/start).
#include "runtime/linux/container.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>

#include "common/unix_socket.h"
#include "runtime/linux/child.h"

namespace kcr::runtime {

int ExitCodeOf(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255; }

namespace {

const std::map<std::string, int>& NsFlags() {
  static const std::map<std::string, int> m = {{"pid", CLONE_NEWPID},  {"network", CLONE_NEWNET},
                                               {"mount", CLONE_NEWNS}, {"ipc", CLONE_NEWIPC},
                                               {"uts", CLONE_NEWUTS},  {"cgroup", CLONE_NEWCGROUP},
                                               {"user", CLONE_NEWUSER}};
  return m;
}

bool WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// The child: never returns. Messages to `report` are "E<text>" on failure;
// 'R' once set up. The parent's byte on `go` releases it after cgroup
// placement; the byte on `start` lets it exec.
// The container's terminal: a pty from its own devpts instance (after
// pivot_root), the slave as stdio and controlling terminal, the master
// sent to the parent.
Status SetupConsole(const oci::Spec& spec, int console) {
  int master = ::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return ErrnoError("process.terminal: open /dev/ptmx");
  int unlock = 0;
  if (::ioctl(master, TIOCSPTLCK, &unlock) != 0) return ErrnoError("process.terminal: unlock pty");
  int slave = ::ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (slave < 0) return ErrnoError("process.terminal: open pty slave");
  if (::fchown(slave, spec.process.user.uid, static_cast<gid_t>(-1)) != 0 && errno != EPERM)
    return ErrnoError("process.terminal: chown pty");
  winsize ws{};
  ws.ws_row = 24;
  ws.ws_col = 80;
  ::ioctl(slave, TIOCSWINSZ, &ws);
  KCR_RETURN_IF_ERROR(Annotate(SendWithFds(console, "c", {master}), "process.terminal: send the pty"));
  ::close(master);
  if (::dup2(slave, 0) < 0 || ::dup2(slave, 1) < 0 || ::dup2(slave, 2) < 0) return ErrnoError("process.terminal: stdio");
  if (slave > 2) ::close(slave);
  if (::ioctl(0, TIOCSCTTY, 0) != 0) return ErrnoError("process.terminal: controlling terminal");
  return absl::OkStatus();
}

[[noreturn]] void ChildMain(const oci::Spec& spec, const CreateOptions& opts, int go, int report, int start,
                            int console) {
  auto fail = [&](const Status& st) {
    WriteAll(report, "E" + std::string(st.message()));
    ::_exit(127);
  };
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  // The parent (a monitor) blocks signals for its signalfd: the container
  // starts with none blocked and default dispositions.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  char b;
  if (::read(go, &b, 1) != 1) ::_exit(127);  // the parent died before releasing us
  ::close(go);
  // A new cgroup namespace is made here, once the parent has placed us in
  // the container's cgroup: its root is that cgroup, not the monitor's.
  for (const auto& n : spec.linux.namespaces)
    if (n.type == "cgroup" && n.path.empty() && ::unshare(CLONE_NEWCGROUP) != 0)
      fail(ErrnoError("linux.namespaces: new cgroup namespace"));
  // Join the namespaces that name a path (the pod's), except pid which the
  // parent entered for us before clone.
  for (const auto& n : spec.linux.namespaces) {
    if (n.path.empty() || n.type == "pid") continue;
    int fd = ::open(n.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, NsFlags().at(n.type)) != 0)
      fail(ErrnoError("linux.namespaces: join " + n.type + " namespace " + n.path));
    ::close(fd);
  }
  int in = opts.stdin_fd >= 0 ? opts.stdin_fd : ::open("/dev/null", O_RDONLY);
  int out = opts.stdout_fd >= 0 ? opts.stdout_fd : ::open("/dev/null", O_WRONLY);
  int err = opts.stderr_fd >= 0 ? opts.stderr_fd : ::open("/dev/null", O_WRONLY);
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) fail(ErrnoError("stdio"));
  if (::setsid() < 0) fail(ErrnoError("setsid"));
  if (Status st = child::SetupRootfs(spec, opts); !st.ok()) fail(st);
  if (console >= 0) {
    if (Status st = SetupConsole(spec, console); !st.ok()) fail(st);
    ::close(console);
  }
  if (Status st = child::SetupProcessEnv(spec); !st.ok()) fail(st);
  if (Status st = child::SetupIdentity(spec); !st.ok()) fail(st);
  WriteAll(report, "R");
  if (::read(start, &b, 1) != 1) ::_exit(127);  // deleted before start
  ::close(start);
  if (Status st = child::ApplyAppArmor(spec); !st.ok()) fail(st);
  if (Status st = child::ApplySeccomp(spec); !st.ok()) fail(st);
  Status st = child::Exec(spec);
  fail(st);
  ::_exit(127);  // not reached: fail() exits
}

}  // namespace

Container::~Container() {
  if (pid_ > 0 && !waited_) {
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
  }
}

StatusOr<std::unique_ptr<Container>> Container::Create(const oci::Spec& spec, const CreateOptions& opts) {
  KCR_RETURN_IF_ERROR(oci::ValidateSpec(spec));
  int flags = 0;
  std::string pid_ns_path;
  for (const auto& n : spec.linux.namespaces) {
    if (n.type == "pid" && !n.path.empty()) pid_ns_path = n.path;
    else if (n.path.empty()) flags |= NsFlags().at(n.type);
  }
  if (!(flags & CLONE_NEWNS)) return absl::InvalidArgumentError("linux.namespaces: a mount namespace is required");
  int go[2], report[2], start[2];
  if (::pipe2(go, O_CLOEXEC) != 0) return ErrnoError("pipe");
  if (::pipe2(report, O_CLOEXEC) != 0) return ErrnoError("pipe");
  if (::pipe2(start, O_CLOEXEC) != 0) return ErrnoError("pipe");
  UniqueFd go_r(go[0]), go_w(go[1]), rep_r(report[0]), rep_w(report[1]), st_r(start[0]), st_w(start[1]);
  UniqueFd con_parent, con_child;
  if (spec.process.terminal) {
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) return ErrnoError("socketpair");
    con_parent.reset(sp[0]);
    con_child.reset(sp[1]);
  }

  // A pod's shared PID namespace is entered by the parent: setns(CLONE_NEWPID)
  // applies to the children it creates afterwards. Restored right after.
  UniqueFd own_pidns;
  if (!pid_ns_path.empty()) {
    own_pidns.reset(::open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC));
    UniqueFd target(::open(pid_ns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!target || ::setns(target.get(), CLONE_NEWPID) != 0)
      return ErrnoError("linux.namespaces: join pid namespace " + pid_ns_path);
  }
  flags &= ~CLONE_NEWCGROUP;  // the child unshares it after cgroup placement
  pid_t pid = static_cast<pid_t>(::syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
  if (pid == 0) {
    go_w.reset();
    rep_r.reset();
    st_w.reset();
    con_parent.reset();
    ChildMain(spec, opts, go_r.get(), rep_w.get(), st_r.get(), con_child ? con_child.get() : -1);
  }
  int clone_errno = errno;
  if (own_pidns) ::setns(own_pidns.get(), CLONE_NEWPID);
  if (pid < 0) return ErrnoError("clone", clone_errno);

  std::unique_ptr<Container> c(new Container());
  c->pid_ = pid;
  go_r.reset();
  rep_w.reset();
  st_r.reset();
  con_child.reset();
  if (opts.cgroups && !spec.linux.cgroups_path.empty()) {
    KCR_RETURN_IF_ERROR(opts.cgroups->Create(spec.linux.cgroups_path, spec.linux.resources.value_or(oci::Resources{})));
    KCR_RETURN_IF_ERROR(opts.cgroups->Add(spec.linux.cgroups_path, pid));
  }
  if (!WriteAll(go_w.get(), "g")) return absl::InternalError("container init died before set-up");
  go_w.reset();
  char b = 0;
  ssize_t n;
  do n = ::read(rep_r.get(), &b, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1 || b != 'R') {
    std::string msg = n == 1 && b == 'E' ? ReadAll(rep_r.get()) : "container init exited during set-up";
    return absl::FailedPreconditionError("create container: " + msg);
  }
  if (con_parent) {
    char byte;
    std::vector<int> fds;
    auto got = RecvWithFds(con_parent.get(), &byte, 1, &fds);
    for (size_t i = 1; i < fds.size(); i++) ::close(fds[i]);
    if (!got.ok() || *got != 1 || fds.empty())
      return absl::InternalError("create container: no terminal from the container init");
    c->console_.reset(fds[0]);
  }
  c->report_r_ = std::move(rep_r);
  c->start_w_ = std::move(st_w);
  return c;
}

Status Container::Start() {
  if (!start_w_) return absl::FailedPreconditionError("container already started");
  if (!WriteAll(start_w_.get(), "s")) return absl::FailedPreconditionError("container init is gone");
  start_w_.reset();
  std::string msg = ReadAll(report_r_.get());  // EOF at a successful exec (CLOEXEC)
  report_r_.reset();
  if (!msg.empty()) return absl::FailedPreconditionError("start container: " + msg.substr(msg[0] == 'E' ? 1 : 0));
  return absl::OkStatus();
}

StatusOr<int> Container::Wait() {
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0) {
    if (errno != EINTR) return ErrnoError("waitpid");
  }
  waited_ = true;
  return st;
}

}  // namespace kcr::runtime

// Container creation: clone into new namespaces, a sync pipe for the parent
// (cgroup placement), the child's set-up steps, and a start pipe that turns
// "created" into "running" (OCI create/start).
#include "runtime/linux/container.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include "common/unix_socket.h"
#include "runtime/linux/child.h"
#include "runtime/linux/hooks.h"

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
  // Before the user namespace is joined: the owner is the user's host id.
  uid_t owner = oci::HostId(spec.linux.uid_mappings, spec.process.user.uid).value_or(spec.process.user.uid);
  if (::fchown(slave, owner, static_cast<gid_t>(-1)) != 0 && errno != EPERM)
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
  // Non-dumpable from the first instruction: until exec this is the
  // runtime's image (ConfineAndExec says it again for its other callers).
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  auto fail = [&](const Status& st) {
    WriteAll(report, "E" + std::string(st.message()));
    ::_exit(127);
  };
  auto step = [&](const char* name) { WriteAll(report, std::string("P") + name + "\n"); };
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
  // Hooks get the init's PID as the host sees it: /proc is still the
  // host's here (a new PID namespace makes getpid() 1).
  pid_t host_pid = -1;
  if (!spec.hooks.empty()) {
    char self[32] = {};
    if (::readlink("/proc/self", self, sizeof self - 1) > 0) host_pid = static_cast<pid_t>(std::atoi(self));
  }
  std::string bundle = spec.root_path.substr(0, spec.root_path.rfind('/'));
  auto hook_state = [&](const char* status) {
    return HookState(opts.container_id, status, host_pid, bundle, spec.annotations);
  };
  step("namespaces");
  // A new cgroup namespace is made here, once the parent has placed us in
  // the container's cgroup: its root is that cgroup, not the monitor's.
  for (const auto& n : spec.linux.namespaces)
    if (n.type == "cgroup" && n.path.empty() && ::unshare(CLONE_NEWCGROUP) != 0)
      fail(ErrnoError("linux.namespaces: new cgroup namespace"));
  // Join the namespaces that name a path (the pod's), except pid which the
  // parent entered for us before clone, and user, joined last (by
  // ConfineAndExec): until then the set-up keeps the host's privileges.
  int userns = -1;
  for (const auto& n : spec.linux.namespaces) {
    if (n.path.empty() || n.type == "pid") continue;
    if (n.type == "user") {
      userns = ::open(n.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (userns < 0) fail(ErrnoError("linux.namespaces: open user namespace " + n.path));
      continue;
    }
    int fd = ::open(n.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, NsFlags().at(n.type)) != 0)
      fail(ErrnoError("linux.namespaces: join " + n.type + " namespace " + n.path));
    ::close(fd);
  }
  // prestart (deprecated) and createRuntime: after the namespaces exist,
  // before the rootfs; kcr has no runtime process of its own waiting
  // here, so they run from the init, still seeing the host's mounts (and
  // /proc, so /proc/<pid>/ns/* of the state's pid work).
  if (!spec.hooks.prestart.empty() || !spec.hooks.create_runtime.empty()) {
    step("createRuntime hooks");
    if (Status st = RunHooks(spec.hooks.prestart, "prestart", hook_state("creating")); !st.ok()) fail(st);
    if (Status st = RunHooks(spec.hooks.create_runtime, "createRuntime", hook_state("creating")); !st.ok()) fail(st);
  }
  step("stdio");
  int in = opts.stdin_fd >= 0 ? opts.stdin_fd : ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out = opts.stdout_fd >= 0 ? opts.stdout_fd : ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  int err = opts.stderr_fd >= 0 ? opts.stderr_fd : ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (in < 0 || out < 0 || err < 0) fail(ErrnoError("stdio: open /dev/null"));
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) fail(ErrnoError("stdio"));
  // dup2 onto itself keeps close-on-exec: stdio must survive exec.
  for (int fd = 0; fd < 3; fd++) ::fcntl(fd, F_SETFD, 0);
  // Nothing of the parent's is needed any more: from here on /proc/self/fd
  // inside the container's root reaches only these pipes.
  std::vector<int> keep = {report, start};
  if (console >= 0) keep.push_back(console);
  if (userns >= 0) keep.push_back(userns);
  if (Status st = child::CloseDescriptorsExcept(keep); !st.ok()) fail(st);
  if (::setsid() < 0) fail(ErrnoError("setsid"));
  step("rootfs");
  std::function<Status()> create_hooks;
  if (!spec.hooks.create_container.empty())
    create_hooks = [&] {
      step("createContainer hooks");
      return RunHooks(spec.hooks.create_container, "createContainer", hook_state("creating"));
    };
  if (Status st = child::SetupRootfs(spec, opts, userns, create_hooks); !st.ok()) fail(st);
  if (console >= 0) {
    step("terminal");
    if (Status st = SetupConsole(spec, console); !st.ok()) fail(st);
    ::close(console);
  }
  step("process environment");
  if (Status st = child::SetupProcessEnv(spec); !st.ok()) fail(st);
  child::ConfineOptions co;
  co.keep_fds = {report};
  co.userns_fd = userns;
  co.parent_pipe = start;  // the parent holds the write end until Start
  co.on_step = step;
  co.before_exec = [&]() -> Status {
    WriteAll(report, "R");
    if (::read(start, &b, 1) != 1) ::_exit(127);  // deleted before start, or the parent died
    ::close(start);
    // startContainer: inside the container, as its user (runc's place too).
    if (!spec.hooks.start_container.empty())
      return RunHooks(spec.hooks.start_container, "startContainer", hook_state("created"));
    return absl::OkStatus();
  };
  fail(child::ConfineAndExec(spec, co));
  ::_exit(127);  // not reached: fail() exits
}

// The init's report (its pipe's bytes so far in `buf`): "P<step>\n" as it
// enters each step (kept in `step` to name where it hung), 'R' once
// waiting for Start, and on failure "E<message>" then it exits. The
// verdict once there is one: true at 'R'; at EOF (`eof`) false (exec'd,
// or died before saying anything) or the init's error. nullopt while more
// is to come.
std::optional<StatusOr<bool>> Verdict(std::string& buf, std::string& step, bool eof) {
  while (!buf.empty()) {
    if (buf[0] == 'R') {
      buf.erase(0, 1);
      step = "ready, waiting for start";
      return StatusOr<bool>(true);
    }
    if (buf[0] == 'E') {  // the message runs to EOF
      if (!eof) return std::nullopt;
      return StatusOr<bool>(absl::FailedPreconditionError(buf.substr(1)));
    }
    if (buf[0] != 'P') return StatusOr<bool>(absl::InternalError("container init: garbled report"));
    size_t nl = buf.find('\n');
    if (nl == std::string::npos) break;
    step = buf.substr(1, nl - 1);
    buf.erase(0, nl + 1);
  }
  if (eof) return StatusOr<bool>(false);
  return std::nullopt;
}

// Appends what the report pipe (non-blocking) holds now; true at EOF.
StatusOr<bool> DrainReport(int fd, std::string& buf) {
  char chunk[1024];
  for (;;) {
    ssize_t r = ::read(fd, chunk, sizeof chunk);
    if (r > 0) {
      buf.append(chunk, static_cast<size_t>(r));
      continue;
    }
    if (r == 0) return true;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return false;
    return ErrnoError("read the container init's report pipe");
  }
}

// Reads the init's report until its verdict (see Verdict), at most until
// `deadline` (DeadlineExceeded).
StatusOr<bool> ReadReport(int fd, std::string& buf, std::string& step,
                          std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    if (auto v = Verdict(buf, step, false)) return *v;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return absl::DeadlineExceededError("");
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count() + 1, 3600000)));
    if (n < 0 && errno != EINTR) return ErrnoError("poll the container init's report pipe");
    if (n <= 0) continue;
    KCR_ASSIGN_OR_RETURN(bool eof, DrainReport(fd, buf));
    if (eof) return *Verdict(buf, step, true);
  }
}

std::string Millis(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? std::to_string(d.count() / 1000) + "s" : std::to_string(d.count()) + "ms";
}

}  // namespace

Container::~Container() {
  if (pid_ > 0 && !waited_) {
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
  }
}

StatusOr<std::unique_ptr<Container>> Container::Spawn(const oci::Spec& spec, const CreateOptions& opts) {
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

  // The container's cgroup, from the moment it is made until the init is
  // released: any failure before that removes it again. Declared before
  // `c`, so it runs after `c` has killed and reaped the init (the cgroup is
  // empty then, its removal no wait).
  struct CgroupUndo {
    CgroupManager* cgroups = nullptr;
    std::string path;
    ~CgroupUndo() {
      if (cgroups) cgroups->Destroy(path).IgnoreError();
    }
  } undo_cgroup;
  std::unique_ptr<Container> c(new Container());
  c->pid_ = pid;
  go_r.reset();
  rep_w.reset();
  st_r.reset();
  con_child.reset();
  if (opts.cgroups && !spec.linux.cgroups_path.empty()) {
    // Armed first: a Create that fails half-way (a limit the kernel
    // refuses after the directories were made) leaves them too.
    undo_cgroup = {opts.cgroups, spec.linux.cgroups_path};
    KCR_RETURN_IF_ERROR(opts.cgroups->Create(spec.linux.cgroups_path, spec.linux.resources.value_or(oci::Resources{})));
    KCR_RETURN_IF_ERROR(opts.cgroups->Add(spec.linux.cgroups_path, pid));
  }
  if (!WriteAll(go_w.get(), "g")) return absl::InternalError("container init died before set-up");
  go_w.reset();
  undo_cgroup.cgroups = nullptr;  // the container's from here (its owner removes it)
  // From the release on, what the init runs is what the image controls:
  // its report is read without ever blocking, every wait on it bounded.
  ::fcntl(rep_r.get(), F_SETFL, O_NONBLOCK);
  c->init_timeout_ = opts.init_timeout;
  c->report_r_ = std::move(rep_r);
  c->start_w_ = std::move(st_w);
  c->console_sock_ = std::move(con_parent);
  return c;
}
StatusOr<bool> Container::ContinueSetup() {
  if (set_up_) return true;
  KCR_ASSIGN_OR_RETURN(bool eof, DrainReport(report_r_.get(), report_buf_));
  auto ready = Verdict(report_buf_, step_, eof);
  if (!ready) return false;
  if (!ready->ok()) return Annotate(ready->status(), "create container");
  if (!**ready) return absl::FailedPreconditionError("create container: container init exited during set-up (step \"" +
                                                   step_ + "\")");
  if (console_sock_) {
    // Sent before 'R': already queued, never a wait.
    pollfd p{console_sock_.get(), POLLIN, 0};
    char byte;
    std::vector<int> fds;
    StatusOr<size_t> got = absl::UnavailableError("nothing queued");
    if (::poll(&p, 1, 0) == 1) got = RecvWithFds(console_sock_.get(), &byte, 1, &fds);
    for (size_t i = 1; i < fds.size(); i++) ::close(fds[i]);
    if (!got.ok() || *got != 1 || fds.empty()) {
      for (int fd : fds) ::close(fd);
      return absl::InternalError("create container: no terminal from the container init");
    }
    console_.reset(fds[0]);
    console_sock_.reset();
  }
  set_up_ = true;
  return true;
}

Status Container::SetupTimedOut() const {
  return absl::DeadlineExceededError("create container: the init did not finish its set-up within " +
                                     Millis(init_timeout_) + " (stuck in step \"" + step_ + "\"); killed");
}

StatusOr<std::unique_ptr<Container>> Container::Create(const oci::Spec& spec, const CreateOptions& opts) {
  KCR_ASSIGN_OR_RETURN(std::unique_ptr<Container> c, Spawn(spec, opts));
  // On expiry `c` is destroyed on return, which kills and reaps the init.
  auto deadline = std::chrono::steady_clock::now() + opts.init_timeout;
  for (;;) {
    KCR_ASSIGN_OR_RETURN(bool ready, c->ContinueSetup());
    if (ready) return c;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return c->SetupTimedOut();
    pollfd p{c->setup_fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count() + 1, 3600000))) < 0 && errno != EINTR)
      return ErrnoError("poll the container init's report pipe");
  }
}

Status Container::Start() {
  if (!set_up_) return absl::FailedPreconditionError("container is still being set up");
  if (!start_w_) return absl::FailedPreconditionError("container already started");
  if (!WriteAll(start_w_.get(), "s")) return absl::FailedPreconditionError("container init is gone");
  start_w_.reset();
  // EOF at a successful exec (the pipe is close-on-exec).
  auto ready = ReadReport(report_r_.get(), report_buf_, step_, std::chrono::steady_clock::now() + init_timeout_);
  report_r_.reset();
  if (!ready.ok() && absl::IsDeadlineExceeded(ready.status())) {
    if (!waited_) ::kill(pid_, SIGKILL);  // Wait() or the destructor reaps it
    return absl::DeadlineExceededError("start container: the init did not exec within " + Millis(init_timeout_) +
                                       " (stuck in step \"" + step_ + "\"); killed");
  }
  if (!ready.ok()) return Annotate(ready.status(), "start container");
  if (*ready) return absl::InternalError("start container: the init reported ready twice");
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

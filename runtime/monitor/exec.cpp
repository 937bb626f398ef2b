// kcr-monitor: processes in a running container — exec_sync (output
// collected and returned), interactive exec and attach (descriptors handed
// to the client), and the fork that enters the container for both.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "runtime/linux/child.h"
#include "runtime/monitor/monitor_impl.h"

namespace kcr::monitor {

using nlohmann::json;
using runtime::oci::Spec;

std::string ExecCgroupName(uint64_t serial) { return "kcr-exec-" + std::to_string(serial); }

namespace {
// A tracking cgroup whose processes survive this many kill passes (a few
// seconds) is left to the container's removal (CgroupManager::Destroy).
constexpr int kMaxKillPasses = 50;
}  // namespace

StatusOr<Spec> Monitor::ExecSpec(const json& req, const Ctr** target) const {
  std::string id = req.value("container", "");
  auto it = ctrs_.find(id);
  if (it == ctrs_.end()) return absl::NotFoundError("container " + id + " not found");
  if (it->second.status != "running") return absl::FailedPreconditionError("container " + id + " is not running");
  Spec spec = it->second.spec;
  spec.process.args = req.value("args", std::vector<std::string>{});
  if (spec.process.args.empty()) return absl::InvalidArgumentError("exec: no command");
  for (const auto& e : req.value("env", std::vector<std::string>{})) spec.process.env.push_back(e);
  *target = &it->second;
  return spec;
}

// exec_sync: a child joins the container's namespaces, cgroup, user,
// capabilities and seccomp, then runs the command; its output is collected
// up to max_output per stream. The reply goes out when the command has
// exited and its output ended — or `drain_ms` after its exit, since a
// process it started may keep the pipes open forever — or as soon as the
// timeout has killed it.
void Monitor::ExecSyncStart(int conn, const json& req) {
  const Ctr* target = nullptr;
  StatusOr<Spec> exec_spec = ExecSpec(req, &target);
  if (!exec_spec.ok()) {
    Reply(conn, req, exec_spec.status());
    return;
  }
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    Reply(conn, req, ErrnoError("pipe"));
    return;
  }
  UniqueFd out_r(out[0]), out_w(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) {
    Reply(conn, req, ErrnoError("pipe"));
    return;
  }
  UniqueFd err_r(err[0]), err_w(err[1]);
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  auto forked = ForkExec(*target, *exec_spec, devnull.get(), out_w.get(), err_w.get(), false);
  if (!forked.ok()) {
    Reply(conn, req, forked.status());
    return;
  }
  pid_t pid = *forked;
  ExecSync& e = execs_[pid];
  e.conn = conn;
  e.req_id = req.contains("id") ? req["id"] : json();
  e.pid = pid;
  e.container = target->id;
  e.max_output = req.value("max_output", size_t{16} << 20);
  e.drain_ms = std::max<int64_t>(0, req.value("drain_ms", int64_t{1000}));
  ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
  ::fcntl(err_r.get(), F_SETFL, O_NONBLOCK);
  Watch(out_r.get(), {kExecOut, target->id, pid});
  Watch(err_r.get(), {kExecErr, target->id, pid});
  e.out = std::move(out_r);
  e.err = std::move(err_r);
  if (int64_t timeout_ms = req.value("timeout_ms", int64_t{0}); timeout_ms > 0) {
    e.timer = OneShotTimer(timeout_ms);
    Watch(e.timer.get(), {kExecTimer, target->id, pid});
  }
}

void Monitor::OnExecOutput(int fd, const Tag& t) {
  auto it = execs_.find(t.exec);
  if (it == execs_.end()) {
    Unwatch(fd);
    return;
  }
  ExecSync& e = it->second;
  bool is_out = t.kind == kExecOut;
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n > 0) {
    std::string& dst = is_out ? e.out_buf : e.err_buf;
    size_t room = e.max_output > dst.size() ? e.max_output - dst.size() : 0;
    dst.append(buf, std::min(room, static_cast<size_t>(n)));  // capped, the rest is read and dropped
    if (static_cast<size_t>(n) > room) (is_out ? e.out_truncated : e.err_truncated) = true;
    return;
  }
  Unwatch(fd);
  (is_out ? e.out : e.err).reset();
  ExecProgress(t.exec);
}

// The timeout killed the command and everything it started; the reply goes
// out at once (what is still dying holds at most the pipes, which the
// reply no longer waits for).
void Monitor::OnExecTimeout(pid_t pid) {
  auto it = execs_.find(pid);
  if (it == execs_.end()) return;
  it->second.timed_out = true;
  KillExec(pid);
  Unwatch(it->second.timer.get());
  it->second.timer.reset();
  ExecProgress(pid);
}

void Monitor::ExecProgress(pid_t pid) {
  auto it = execs_.find(pid);
  if (it == execs_.end()) return;
  ExecSync& e = it->second;
  if (e.wait_status < 0) return;  // the command still runs
  if ((!e.out && !e.err) || e.timed_out) {
    ExecFinish(pid);
  } else if (!e.drain) {
    e.drain = OneShotTimer(e.drain_ms);
    Watch(e.drain.get(), {kExecDrain, e.container, pid});
  }
}

// A child that joins the container's cgroup and namespaces (PID last: it
// applies to a second fork, which becomes the user's process with the
// container's identity and seccomp). `in`/`out`/`err` become its stdio;
// with `tty` they are a pty slave that becomes its controlling terminal.
// The first child mirrors the process's exit; both are one process group.
StatusOr<pid_t> Monitor::ForkExec(const Ctr& c, const Spec& spec, int in, int out, int err, bool tty) {
  pid_t target = c.pid, monitor = ::getpid();
  std::string cgroup = spec.linux.cgroups_path, tracking = ExecCgroupName(++exec_serial_);
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError("fork exec");
  if (pid > 0) {
    if (!cgroup.empty()) {
      tracked_[pid].cgroup = cgroup;
      tracked_[pid].name = tracking;
    }
    return pid;
  }
  // Dies with the monitor (checked after setting it: the monitor may have
  // died already). Not dumpable, as the monitor: nothing in the container
  // can read this process's memory or reach its executable.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (::getppid() != monitor) ::_exit(126);
  ::setpgid(0, 0);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(err, 2);
  ::close_range(3, ~0U, 0);  // holds nothing of the monitor's
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  auto die = [](const std::string& msg) {
    std::string m = "kcr exec: " + msg + "\n";
    ::write(2, m.data(), m.size());
    ::_exit(126);
  };
  if (!cgroup.empty()) {
    Status st = cgroups_->Add(cgroup, ::getpid());
    if (!st.ok()) die(std::string(st.message()));
    // Everything the command starts stays findable, whatever group or
    // session it moves to (best effort: the process group is the fallback).
    cgroups_->AddTracked(cgroup, tracking, ::getpid()).IgnoreError();
  }
  std::string ns = "/proc/" + std::to_string(target) + "/ns/";
  int fds[6];
  const char* names[6] = {"cgroup", "ipc", "uts", "net", "pid", "mnt"};
  int types[6] = {CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWNS};
  for (int i = 0; i < 6; i++) fds[i] = ::open((ns + names[i]).c_str(), O_RDONLY | O_CLOEXEC);
  // The pod's user namespace is joined last, by ConfineAndExec (as the
  // container's init does): the steps before it need the host's
  // privileges. Opened with the others, while /proc is the host's.
  int userns = -1;
  if (runtime::oci::HasUserNamespace(spec)) {
    userns = ::open((ns + "user").c_str(), O_RDONLY | O_CLOEXEC);
    if (userns < 0) die(std::string("open the user namespace: ") + strerror(errno));
  }
  for (int i = 0; i < 6; i++)
    if (fds[i] < 0 || ::setns(fds[i], types[i]) != 0) die(std::string("join ") + names[i] + " namespace: " + strerror(errno));
  // While the parent lives, getppid() is its PID or, when the container
  // has a PID namespace of its own, 0 (the parent is outside it); after its
  // death it is whichever process adopted this one. After the identity
  // change ConfineAndExec checks a pipe only the parent holds instead.
  pid_t first = ::getpid();
  int alive[2];
  if (::pipe2(alive, O_CLOEXEC) != 0) die(std::string("pipe: ") + strerror(errno));
  pid_t inner = ::fork();
  if (inner == 0) {
    ::close(alive[1]);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    pid_t pp = ::getppid();
    if (pp != 0 && pp != first) ::_exit(126);
    if (tty) {
      ::setsid();
      if (::ioctl(0, TIOCSCTTY, 0) != 0) die(std::string("controlling terminal: ") + strerror(errno));
      uid_t owner = runtime::oci::HostId(spec.linux.uid_mappings, spec.process.user.uid).value_or(spec.process.user.uid);
      if (::fchown(0, owner, static_cast<gid_t>(-1)) != 0 && errno != EPERM)
        die(std::string("chown terminal: ") + strerror(errno));
    }
    runtime::child::ConfineOptions co;
    co.parent_pipe = alive[0];
    co.userns_fd = userns;
    Status st = runtime::child::ConfineAndExec(spec, co);
    std::string m = "kcr exec: " + std::string(st.message()) + "\n";
    ::write(2, m.data(), m.size());
    ::_exit(absl::IsNotFound(st) ? 127 : 126);
  }
  ::close(alive[0]);
  int st = 0;
  while (::waitpid(inner, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(st)) {
    ::signal(WTERMSIG(st), SIG_DFL);
    ::kill(::getpid(), WTERMSIG(st));
  }
  ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 255);
}

namespace {

// A pty from the devpts instance of the container whose init is `pid`:
// its /dev/pts/ptmx, resolved inside its root (no symlink or magic link
// may lead out), checked to be the ptmx device. Returns {master, slave}.
StatusOr<std::pair<UniqueFd, UniqueFd>> ContainerPty(pid_t pid, int rows, int cols) {
  UniqueFd root(::open(("/proc/" + std::to_string(pid) + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return ErrnoError("container root");
  open_how how{};
  how.flags = O_RDWR | O_NOCTTY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  UniqueFd master(static_cast<int>(::syscall(SYS_openat2, root.get(), "dev/pts/ptmx", &how, sizeof how)));
  if (!master) return ErrnoError("open the container's /dev/pts/ptmx");
  struct stat st;
  if (::fstat(master.get(), &st) != 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2)
    return absl::FailedPreconditionError("the container's /dev/pts/ptmx is not a pty multiplexer");
  int unlock = 0;
  if (::ioctl(master.get(), TIOCSPTLCK, &unlock) != 0) return ErrnoError("unlock pty");
  UniqueFd slave(::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave) return ErrnoError("open pty slave");
  // The client's size when it sent one (kcrd waits briefly for it), so a
  // command that asks for its size first gets the right one.
  winsize ws{};
  ws.ws_row = static_cast<unsigned short>(rows > 0 && rows <= 65535 ? rows : 24);
  ws.ws_col = static_cast<unsigned short>(cols > 0 && cols <= 65535 ? cols : 80);
  ::ioctl(slave.get(), TIOCSWINSZ, &ws);
  return std::make_pair(std::move(master), std::move(slave));
}

}  // namespace

// exec: an interactive process in the container. Its stdio is handed to
// the client (no copy through the monitor): with tty, the pty master;
// otherwise stdin (when asked), stdout and stderr pipes. Its exit comes as
// an "exec_exited" event on the same connection; when that connection
// closes first, the process is killed with everything in its tracking cgroup
// (KillExec, as an exec_sync timeout).
void Monitor::ExecInteractive(int conn, const json& req) {
  const Ctr* target = nullptr;
  StatusOr<Spec> exec_spec = ExecSpec(req, &target);
  if (!exec_spec.ok()) {
    Reply(conn, req, exec_spec.status());
    return;
  }
  Spec& spec = *exec_spec;
  bool tty = req.value("tty", false), want_stdin = req.value("stdin", false);
  std::vector<UniqueFd> give;  // to the client
  std::vector<std::string> names;
  StatusOr<pid_t> pid = absl::InternalError("exec not started");
  if (tty) {
    auto pty = ContainerPty(target->pid, req.value("rows", 0), req.value("cols", 0));
    if (!pty.ok()) {
      Reply(conn, req, Annotate(pty.status(), "exec tty"));
      return;
    }
    pid = ForkExec(*target, spec, pty->second.get(), pty->second.get(), pty->second.get(), true);
    give.push_back(std::move(pty->first));
    names.push_back("tty");
  } else {
    int in[2] = {-1, -1}, out[2], err[2];
    if ((want_stdin && ::pipe2(in, O_CLOEXEC) != 0) || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      Reply(conn, req, ErrnoError("pipe"));
      return;
    }
    UniqueFd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
    UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    pid = ForkExec(*target, spec, want_stdin ? in_r.get() : devnull.get(), out_w.get(), err_w.get(), false);
    if (want_stdin) {
      give.push_back(std::move(in_w));
      names.push_back("stdin");
    }
    give.push_back(std::move(out_r));
    names.push_back("stdout");
    give.push_back(std::move(err_r));
    names.push_back("stderr");
  }
  if (!pid.ok()) {
    Reply(conn, req, pid.status());
    return;
  }
  interactive_[*pid] = conn;
  std::vector<int> raw;
  for (auto& f : give) raw.push_back(f.get());
  Send(conn, {{"id", req.contains("id") ? req["id"] : json()}, {"ok", true}, {"exec", *pid}, {"fds", names}}, raw);
}

// attach: the container's streams for one session. Output is copied to new
// pipes from now on (the log keeps everything); input is the container's
// stdin pipe (moved to the client with stdin_once, so the container sees
// EOF when the session ends) or, with a terminal, the pty master, which
// also serves for resizing.
void Monitor::Attach(int conn, const json& req) {
  std::string id = req.value("container", "");
  auto it = ctrs_.find(id);
  if (it == ctrs_.end() || it->second.status != "running") {
    Reply(conn, req, it == ctrs_.end() ? absl::NotFoundError("container " + id + " not found")
                                       : absl::FailedPreconditionError("container " + id + " is not running"));
    return;
  }
  Ctr& c = it->second;
  std::vector<UniqueFd> give;
  std::vector<std::string> names;
  if (c.spec.process.terminal) {
    give.emplace_back(::fcntl(c.out.get(), F_DUPFD_CLOEXEC, 3));
    names.push_back("tty");
  } else if (c.stdin_w) {
    give.push_back(c.stdin_once ? std::move(c.stdin_w) : UniqueFd(::fcntl(c.stdin_w.get(), F_DUPFD_CLOEXEC, 3)));
    names.push_back("stdin");
  }
  Ctr::Attached a;
  for (const char* stream : {"stdout", "stderr"}) {
    bool is_out = std::string(stream) == "stdout";
    if (!is_out && c.spec.process.terminal) break;
    if (!(is_out ? c.out : c.err)) continue;  // that stream already ended
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
      Reply(conn, req, ErrnoError("pipe"));
      return;
    }
    ::fcntl(p[1], F_SETFL, O_NONBLOCK);
    (is_out ? a.out : a.err).reset(p[1]);
    give.emplace_back(p[0]);
    names.push_back(stream);
  }
  if (a.out || a.err) c.attached.push_back(std::move(a));
  std::vector<int> raw;
  for (auto& f : give) raw.push_back(f.get());
  Send(conn, {{"id", req.contains("id") ? req["id"] : json()}, {"ok", true}, {"fds", names}}, raw);
}

// Sends an exec_sync's answer: its output in chunk frames of at most
// kExecChunk bytes each (so no output size meets the frame limit), then
// the reply itself. Output still unread is dropped with its pipes.
void Monitor::ExecFinish(pid_t pid) {
  auto it = execs_.find(pid);
  if (it == execs_.end()) return;
  ExecSync e = std::move(it->second);
  execs_.erase(it);
  // Answered: no timeout can come any more. What the command left running
  // stays (as with containerd), its cgroup removed with the container's.
  if (e.wait_status >= 0)
    if (auto t = tracked_.find(pid); t != tracked_.end()) {
      cgroups_->ReleaseTracked(t->second.cgroup, t->second.name);
      tracked_.erase(t);
    }
  for (UniqueFd* fd : {&e.out, &e.err, &e.timer, &e.drain})
    if (*fd) Unwatch(fd->get());
  if (e.conn < 0 || !conns_.count(e.conn)) return;  // nobody waits for it
  for (const auto& [name, buf] : {std::pair<const char*, const std::string*>{"stdout", &e.out_buf}, {"stderr", &e.err_buf}})
    for (size_t off = 0; off < buf->size() && conns_.count(e.conn); off += kExecChunk)
      Send(e.conn, {{"id", e.req_id}, {"chunk", name}, {"data", Base64Encode(std::string_view(*buf).substr(off, kExecChunk))}});
  Send(e.conn, {{"id", e.req_id},
                {"ok", true},
                {"exit_code", runtime::ExitCodeOf(e.wait_status)},
                {"timed_out", e.timed_out},
                {"stdout_truncated", e.out_truncated},
                {"stderr_truncated", e.err_truncated}});
}

void Monitor::ExecLeaderReaped(pid_t pid) {
  auto t = tracked_.find(pid);
  if (t == tracked_.end()) return;
  bool gone = cgroups_->ReleaseTracked(t->second.cgroup, t->second.name);
  // An exec_sync still draining may time out yet and kill what is left.
  if (gone || !execs_.count(pid)) tracked_.erase(t);
}

void Monitor::KillExec(pid_t pid) {
  auto e = execs_.find(pid);
  bool leader_unreaped = e != execs_.end() ? e->second.wait_status < 0 : interactive_.count(pid) > 0;
  if (leader_unreaped) ::kill(-pid, SIGKILL);
  auto t = tracked_.find(pid);
  if (t == tracked_.end()) return;
  std::string name = t->second.name;
  dying_[name] = std::move(t->second);
  tracked_.erase(t);
  KillPass(name);
}

void Monitor::KillPass(const std::string& name) {
  auto it = dying_.find(name);
  if (it == dying_.end()) return;
  TrackedCgroup& t = it->second;
  if (t.retry) {
    Unwatch(t.retry.get());
    t.retry.reset();
  }
  StatusOr<bool> gone = cgroups_->KillTracked(t.cgroup, t.name);
  if (!gone.ok() || *gone || ++t.attempts >= kMaxKillPasses) {
    if (!gone.ok() || !*gone)
      spdlog::warn("exec cgroup {} of {}: {}", t.name, t.cgroup,
                   gone.ok() ? std::string("processes survive; left to the container's removal")
                             : std::string(gone.status().message()));
    dying_.erase(it);
    return;
  }
  // Deaths are asynchronous: look again soon, never waiting here.
  t.retry = OneShotTimer(std::min(5 * t.attempts, 100));
  Watch(t.retry.get(), {kExecKill, name, -1});
}

}  // namespace kcr::monitor

#include "runtime/monitor/monitor.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <linux/openat2.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>

#include "common/fs.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/unix_socket.h"
#include "runtime/cgroups/cgroup.h"
#include "runtime/linux/child.h"
#include "runtime/linux/container.h"
#include "runtime/monitor/cri_log.h"
#include "runtime/monitor/protocol.h"

namespace kcr::monitor {

using nlohmann::json;
using runtime::Container;
using runtime::oci::Spec;

namespace {

// The identity a process runs as, from /proc/<pid>/status: real uid and
// gid, and its supplementary groups.
json ProcessUser(pid_t pid) {
  auto st = fs::ReadFile("/proc/" + std::to_string(pid) + "/status", 1 << 16);
  json u = json::object();
  if (!st.ok()) return u;
  auto field = [&](const std::string& key) -> std::string {
    size_t p = st->find("\n" + key + ":");
    if (p == std::string::npos) return "";
    p += key.size() + 2;
    return st->substr(p, st->find('\n', p) - p);
  };
  u["uid"] = std::strtoll(field("Uid").c_str(), nullptr, 10);
  u["gid"] = std::strtoll(field("Gid").c_str(), nullptr, 10);
  json groups = json::array();
  std::string g = field("Groups");
  const char* p = g.c_str();
  for (;;) {
    char* e;
    long long v = std::strtoll(p, &e, 10);
    if (e == p) break;
    groups.push_back(v);
    p = e;
  }
  u["groups"] = groups;
  return u;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Ctr {
  std::string id;
  Spec spec;
  std::unique_ptr<Container> c;
  pid_t pid = -1;
  std::string status = "created";  // created running exited
  int exit_code = 0, signal = 0;
  bool oom = false;
  int64_t created_ns = 0, started_ns = 0, finished_ns = 0;
  std::unique_ptr<CriLogWriter> log;
  UniqueFd out, err;  // read ends (with a terminal: out is the pty master, err is unused)
  UniqueFd stop_timer;
  uint64_t oom_before = 0;
  json user;               // {uid, gid, groups} the init runs as (set before it execs)
  UniqueFd stdin_w;        // the container's stdin pipe (CRI stdin without a terminal)
  bool stdin_once = false;
  struct Attached {
    UniqueFd out, err;  // non-blocking pipe write ends, one attach session
  };
  std::vector<Attached> attached;
};

struct Exec {
  int conn = -1;
  json req_id;
  pid_t pid = -1;
  UniqueFd out, err, timer;
  std::string out_buf, err_buf;
  size_t max_output = 16 << 20;
  bool timed_out = false;
  int wait_status = -1;
};

class Monitor {
 public:
  explicit Monitor(MonitorOptions o) : opt_(std::move(o)) {}

  Status Init();
  Status Loop();

 private:
  enum Kind { kListen, kConn, kSignal, kCtrOut, kCtrErr, kStopTimer, kExecOut, kExecErr, kExecTimer };
  struct Tag {
    Kind kind;
    std::string ctr;
    pid_t exec = -1;
  };

  void Watch(int fd, Tag t) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &ev);
    tags_[fd] = std::move(t);
  }
  void Unwatch(int fd) {
    epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, nullptr);
    tags_.erase(fd);
  }

  void Send(int conn, const json& msg) {
    std::string f = EncodeFrame(msg);
    // Control messages are small; a peer that stops reading is dropped.
    if (::send(conn, f.data(), f.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(f.size())) CloseConn(conn);
  }
  void Reply(int conn, const json& req, const Status& st, json body = json::object()) {
    body["id"] = req.value("id", json());
    body["ok"] = st.ok();
    if (!st.ok()) {
      body["code"] = static_cast<int>(st.code());
      body["error"] = std::string(st.message());
    }
    Send(conn, body);
  }
  void CloseConn(int fd) {
    for (auto it = interactive_.begin(); it != interactive_.end();)
      it = it->second == fd ? interactive_.erase(it) : std::next(it);
    Unwatch(fd);
    conns_.erase(fd);
    subscribers_.erase(fd);
    ::close(fd);
  }

  void OnConn(int fd);
  void Handle(int conn, const json& req);
  Status Create(const json& req);
  Status Start(const std::string& id, json* out);
  Status Kill(const std::string& id, int sig, int timeout_s);
  void OnOutput(int fd, const Tag& t);
  void OnSignal();
  void Reaped(pid_t pid, int status);
  void Exited(Ctr& c, int status);
  // The spec of a process to run in container `it` (running): its own,
  // with the request's args and extra env. NotFound, FailedPrecondition or
  // InvalidArgument naming what is wrong.
  StatusOr<Spec> ExecSpec(std::map<std::string, Ctr>::iterator it, const json& req) const;
  void ExecStart(int conn, const json& req);
  void ExecInteractive(int conn, const json& req);
  void Attach(int conn, const json& req);
  StatusOr<pid_t> ForkExec(const Ctr& c, const Spec& spec, int in, int out, int err, bool tty);
  void ExecFinish(pid_t pid);
  json StateOf(const Ctr& c) const;
  std::string PodNs(const std::string& type) const;
  void Shutdown();

  MonitorOptions opt_;
  UniqueFd ep_, listen_, sigfd_;
  std::map<int, Tag> tags_;
  std::map<int, FrameReader> conns_;
  std::map<int, bool> subscribers_;
  std::map<std::string, Ctr> ctrs_;
  std::map<pid_t, Exec> execs_;
  std::map<pid_t, int> interactive_;  // exec pid -> the connection told of its exit
  std::unique_ptr<runtime::CgroupManager> cgroups_;
  pid_t reaper_ = -1;
  bool stopping_ = false;
};

std::string Monitor::PodNs(const std::string& type) const {
  std::string self = "/proc/" + std::to_string(::getpid()) + "/ns/";
  if (type == "network") return opt_.netns;
  if (type == "ipc") return opt_.host_ipc ? "" : self + "ipc";
  if (type == "uts") return opt_.host_uts ? "" : self + "uts";
  if (type == "pid") return reaper_ > 0 ? "/proc/" + std::to_string(reaper_) + "/ns/pid" : "";
  return "";
}

Status Monitor::Init() {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  int flags = (opt_.host_ipc ? 0 : CLONE_NEWIPC) | (opt_.host_uts ? 0 : CLONE_NEWUTS);
  if (flags && ::unshare(flags) != 0) return ErrnoError("unshare pod IPC/UTS namespaces");
  if (!opt_.host_uts && !opt_.hostname.empty() && ::sethostname(opt_.hostname.c_str(), opt_.hostname.size()) != 0)
    return ErrnoError("sethostname " + opt_.hostname);
  if (opt_.share_pid) {
    // PID 1 of the pod's shared PID namespace is a reaper, never a
    // container process (kubelet's shareProcessNamespace).
    pid_t pid = static_cast<pid_t>(::syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
    if (pid < 0) return ErrnoError("clone pod PID namespace reaper");
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
      ::prctl(PR_SET_NAME, "kcr-pod-init", 0, 0, 0);
      ::close_range(0, ~0U, 0);  // holds nothing of the monitor's
      sigset_t all;
      sigfillset(&all);
      sigprocmask(SIG_SETMASK, &all, nullptr);
      for (;;) {
        int st;
        if (::wait(&st) < 0) ::pause();
      }
    }
    reaper_ = pid;
  }
  // Container cgroups are written with cgroupfs under every driver: with
  // systemd they live in the pod's delegated scope, where that is the
  // delegation contract (systemd.h).
  KCR_ASSIGN_OR_RETURN(cgroups_, runtime::NewCgroupfsManager());
  KCR_RETURN_IF_ERROR(fs::MkdirAll(opt_.containers_dir, 0700));
  ep_.reset(::epoll_create1(EPOLL_CLOEXEC));
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  sigfd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  Watch(sigfd_.get(), {kSignal, "", -1});
  listen_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  ::unlink(opt_.socket.c_str());
  KCR_RETURN_IF_ERROR(BindUnix(listen_.get(), opt_.socket));
  ::chmod(opt_.socket.c_str(), 0600);
  if (::listen(listen_.get(), 16) != 0) return ErrnoError("listen " + opt_.socket);
  Watch(listen_.get(), {kListen, "", -1});
  return absl::OkStatus();
}

Status Monitor::Loop() {
  epoll_event evs[32];
  while (!stopping_) {
    int n = ::epoll_wait(ep_.get(), evs, 32, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      auto it = tags_.find(fd);
      if (it == tags_.end()) continue;
      Tag t = it->second;
      switch (t.kind) {
        case kListen: {
          int c = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
          if (c >= 0) {
            conns_[c];
            Watch(c, {kConn, "", -1});
          }
          break;
        }
        case kConn: OnConn(fd); break;
        case kSignal: OnSignal(); break;
        case kStopTimer: {
          auto c = ctrs_.find(t.ctr);
          if (c != ctrs_.end() && c->second.status == "running") ::kill(c->second.pid, SIGKILL);
          if (c != ctrs_.end()) {
            Unwatch(fd);
            c->second.stop_timer.reset();
          }
          break;
        }
        case kExecTimer: {
          auto e = execs_.find(t.exec);
          if (e != execs_.end()) {
            e->second.timed_out = true;
            ::kill(-t.exec, SIGKILL);
            Unwatch(fd);
            e->second.timer.reset();
          }
          break;
        }
        default: OnOutput(fd, t); break;
      }
    }
  }
  return absl::OkStatus();
}

void Monitor::OnConn(int fd) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n <= 0) {
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    CloseConn(fd);
    return;
  }
  auto& r = conns_[fd];
  r.Append(buf, static_cast<size_t>(n));
  for (;;) {
    json req;
    auto got = r.Next(&req);
    if (!got.ok()) {
      CloseConn(fd);
      return;
    }
    if (!*got) return;
    Handle(fd, req);
    if (!conns_.count(fd)) return;  // closed while handling
  }
}

json Monitor::StateOf(const Ctr& c) const {
  return {{"container", c.id}, {"status", c.status}, {"pid", c.pid}, {"exit_code", c.exit_code},
          {"signal", c.signal}, {"oom", c.oom}, {"created_ns", c.created_ns}, {"started_ns", c.started_ns},
          {"finished_ns", c.finished_ns}, {"user", c.user}};
}

void Monitor::Handle(int conn, const json& req) {
  std::string op = req.value("op", "");
  std::string id = req.value("container", "");
  if (op == "hello") {
    int v = req.value("version", 0);
    if (v != kProtocolVersion) {
      Reply(conn, req, absl::FailedPreconditionError("monitor speaks protocol " + std::to_string(kProtocolVersion)));
      return;
    }
    Reply(conn, req, absl::OkStatus(),
          {{"version", kProtocolVersion}, {"pod", opt_.pod_id}, {"pid", ::getpid()}, {"reaper", reaper_}});
  } else if (op == "create") {
    Status st = Create(req);
    json body = {{"container", id}};
    if (st.ok()) body["user"] = ctrs_[id].user;
    Reply(conn, req, st, body);
  } else if (op == "start") {
    json out;
    Status st = Start(id, &out);
    Reply(conn, req, st, out);
  } else if (op == "kill" || op == "stop") {
    Reply(conn, req, Kill(id, req.value("signal", SIGTERM), op == "stop" ? req.value("timeout_s", 10) : -1));
  } else if (op == "state") {
    json list = json::array();
    for (const auto& [cid, c] : ctrs_)
      if (id.empty() || cid == id) list.push_back(StateOf(c));
    Reply(conn, req, absl::OkStatus(), {{"containers", list}});
  } else if (op == "remove") {
    auto it = ctrs_.find(id);
    Status st;
    if (it != ctrs_.end()) {
      if (it->second.status == "running") {
        st = absl::FailedPreconditionError("container " + id + " is running; stop it first");
      } else {
        if (!it->second.spec.linux.cgroups_path.empty())
          cgroups_->Destroy(it->second.spec.linux.cgroups_path).IgnoreError();
        ctrs_.erase(it);
      }
    }
    Reply(conn, req, st);
  } else if (op == "reopen_log") {
    auto it = ctrs_.find(id);
    Status st = it == ctrs_.end() ? absl::NotFoundError("container " + id + " not found")
                                  : (it->second.log ? it->second.log->Reopen() : absl::OkStatus());
    Reply(conn, req, st);
  } else if (op == "exec_sync") {
    ExecStart(conn, req);
  } else if (op == "exec") {
    ExecInteractive(conn, req);
  } else if (op == "attach") {
    Attach(conn, req);
  } else if (op == "subscribe") {
    subscribers_[conn] = true;
    Reply(conn, req, absl::OkStatus());
  } else if (op == "shutdown") {
    Reply(conn, req, absl::OkStatus());
    Shutdown();
  } else {
    Reply(conn, req, absl::InvalidArgumentError("unknown monitor operation \"" + op + "\""));
  }
}

Status Monitor::Create(const json& req) {
  std::string id = req.value("container", "");
  if (id.empty() || id.find('/') != std::string::npos) return absl::InvalidArgumentError("invalid container id");
  if (ctrs_.count(id)) return absl::AlreadyExistsError("container " + id + " already exists in this pod");
  if (!req.contains("spec")) return absl::InvalidArgumentError("create: no spec");
  KCR_ASSIGN_OR_RETURN(Spec spec, runtime::oci::ParseSpec(req["spec"].dump()));
  // "pod" as a namespace path means the pod's own namespace, held here.
  for (auto& n : spec.linux.namespaces)
    if (n.path == "pod") {
      n.path = PodNs(n.type);
      if (n.path.empty())
        return absl::InvalidArgumentError("create: the pod has no " + n.type + " namespace of its own to join");
    }
  runtime::CreateOptions o;
  if (req.contains("rootfs") && req["rootfs"].is_array())
    for (const auto& m : req["rootfs"])
      o.rootfs.push_back({m.value("type", ""), m.value("source", ""), m.value("options", std::vector<std::string>{})});
  Ctr c;
  c.id = id;
  KCR_ASSIGN_OR_RETURN(CriLogWriter log, CriLogWriter::Open(req.value("log_path", "")));
  c.log = std::make_unique<CriLogWriter>(std::move(log));
  UniqueFd out_r, out_w, err_r, err_w, in_r, in_w;
  if (req.value("stdin", false) && !spec.process.terminal) {
    int in[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return ErrnoError("pipe");
    in_r.reset(in[0]);
    in_w.reset(in[1]);
    o.stdin_fd = in_r.get();
    c.stdin_once = req.value("stdin_once", false);
  }
  if (!spec.process.terminal) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return ErrnoError("pipe");
    out_r.reset(out[0]);
    out_w.reset(out[1]);
    if (::pipe2(err, O_CLOEXEC) != 0) return ErrnoError("pipe");
    err_r.reset(err[0]);
    err_w.reset(err[1]);
    o.stdout_fd = out_w.get();
    o.stderr_fd = err_w.get();
  }
  o.cgroups = cgroups_.get();
  KCR_ASSIGN_OR_RETURN(c.c, Container::Create(spec, o));
  // A terminal's output (stdout and stderr together) is the stdout stream.
  if (spec.process.terminal) out_r = c.c->TakeConsole();
  c.pid = c.c->pid();
  c.spec = std::move(spec);
  c.created_ns = NowNs();
  c.user = ProcessUser(c.pid);
  if (!c.spec.linux.cgroups_path.empty())
    if (auto s = cgroups_->Stats(c.spec.linux.cgroups_path); s.ok()) c.oom_before = s->oom_kills;
  ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
  Watch(out_r.get(), {kCtrOut, id, -1});
  if (err_r) {
    ::fcntl(err_r.get(), F_SETFL, O_NONBLOCK);
    Watch(err_r.get(), {kCtrErr, id, -1});
  }
  c.out = std::move(out_r);
  c.err = std::move(err_r);
  c.stdin_w = std::move(in_w);
  ctrs_[id] = std::move(c);
  return absl::OkStatus();
}

Status Monitor::Start(const std::string& id, json* out) {
  auto it = ctrs_.find(id);
  if (it == ctrs_.end()) return absl::NotFoundError("container " + id + " not found");
  Ctr& c = it->second;
  if (c.status != "created") return absl::FailedPreconditionError("container " + id + " is " + c.status);
  c.started_ns = NowNs();
  Status st = c.c->Start();
  if (!st.ok()) return st;  // the init reported the exec failure and exits; the reaper records it
  c.status = "running";
  *out = {{"pid", c.pid}, {"started_ns", c.started_ns}};
  return absl::OkStatus();
}

Status Monitor::Kill(const std::string& id, int sig, int timeout_s) {
  auto it = ctrs_.find(id);
  if (it == ctrs_.end()) return absl::NotFoundError("container " + id + " not found");
  Ctr& c = it->second;
  if (c.status == "exited") return absl::OkStatus();  // stopping a stopped container succeeds
  if (::kill(c.pid, sig) != 0 && errno != ESRCH) return ErrnoError("kill container " + id);
  if (timeout_s >= 0 && sig != SIGKILL && !c.stop_timer) {
    c.stop_timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    itimerspec its{};
    its.it_value.tv_sec = timeout_s;
    its.it_value.tv_nsec = timeout_s == 0 ? 1 : 0;
    ::timerfd_settime(c.stop_timer.get(), 0, &its, nullptr);
    Watch(c.stop_timer.get(), {kStopTimer, id, -1});
  }
  return absl::OkStatus();
}

void Monitor::OnOutput(int fd, const Tag& t) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  bool eof = n <= 0;
  if (t.kind == kCtrOut || t.kind == kCtrErr) {
    auto it = ctrs_.find(t.ctr);
    if (it == ctrs_.end()) {
      Unwatch(fd);
      return;
    }
    const char* stream = t.kind == kCtrOut ? "stdout" : "stderr";
    auto& att = it->second.attached;
    if (!eof) {
      it->second.log->Write(stream, buf, static_cast<size_t>(n));
      // Attached sessions get a copy; one that does not keep up loses
      // output (the log has all of it), one that went away is dropped.
      for (auto a = att.begin(); a != att.end();) {
        UniqueFd& w = t.kind == kCtrOut ? a->out : a->err;
        if (w && ::write(w.get(), buf, static_cast<size_t>(n)) < 0 && errno == EPIPE) w.reset();
        a = (!a->out && !a->err) ? att.erase(a) : std::next(a);
      }
      return;
    }
    for (auto& a : att) (t.kind == kCtrOut ? a.out : a.err).reset();  // EOF to the attached
    att.erase(std::remove_if(att.begin(), att.end(), [](const Ctr::Attached& a) { return !a.out && !a.err; }),
              att.end());
    it->second.log->Flush(stream);
    Unwatch(fd);
    (t.kind == kCtrOut ? it->second.out : it->second.err).reset();
    return;
  }
  auto e = execs_.find(t.exec);
  if (e == execs_.end()) {
    Unwatch(fd);
    return;
  }
  std::string& dst = t.kind == kExecOut ? e->second.out_buf : e->second.err_buf;
  if (!eof) {
    size_t room = e->second.max_output > dst.size() ? e->second.max_output - dst.size() : 0;
    dst.append(buf, std::min(room, static_cast<size_t>(n)));  // capped, the rest is drained
    return;
  }
  Unwatch(fd);
  (t.kind == kExecOut ? e->second.out : e->second.err).reset();
  if (!e->second.out && !e->second.err && e->second.wait_status >= 0) ExecFinish(t.exec);
}

void Monitor::OnSignal() {
  signalfd_siginfo si;
  bool term = false;
  while (::read(sigfd_.get(), &si, sizeof si) == sizeof si)
    if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) term = true;
  for (;;) {
    int st;
    pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid <= 0) break;
    Reaped(pid, st);
  }
  if (term) Shutdown();
}

void Monitor::Reaped(pid_t pid, int status) {
  for (auto& [id, c] : ctrs_)
    if (c.pid == pid && c.status != "exited") {
      Exited(c, status);
      return;
    }
  if (auto i = interactive_.find(pid); i != interactive_.end()) {
    int conn = i->second;
    interactive_.erase(i);
    if (conns_.count(conn))
      Send(conn, {{"event", "exec_exited"}, {"exec", pid}, {"exit_code", runtime::ExitCodeOf(status)}});
    return;
  }
  auto e = execs_.find(pid);
  if (e != execs_.end()) {
    e->second.wait_status = status;
    if (!e->second.out && !e->second.err) ExecFinish(pid);
  }
}

void Monitor::Exited(Ctr& c, int status) {
  if (c.c) c.c->MarkReaped();
  c.c.reset();
  c.status = "exited";
  c.finished_ns = NowNs();
  c.exit_code = runtime::ExitCodeOf(status);
  c.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  if (!c.spec.linux.cgroups_path.empty())
    if (auto s = cgroups_->Stats(c.spec.linux.cgroups_path); s.ok()) c.oom = s->oom_kills > c.oom_before;
  if (c.stop_timer) {
    Unwatch(c.stop_timer.get());
    c.stop_timer.reset();
  }
  // Durable before it is reported: a kcrd that restarts reads this file.
  json rec = StateOf(c);
  std::string dir = JoinPath(opt_.containers_dir, c.id);
  Status st = fs::MkdirAll(dir, 0700);
  if (st.ok()) st = fs::WriteFileAtomic(JoinPath(dir, "exit.json"), rec.dump());
  if (!st.ok()) spdlog::error("container {}: exit not recorded: {}", c.id, st.message());
  json ev = rec;
  ev["event"] = "exited";
  for (auto it = subscribers_.begin(); it != subscribers_.end();) {
    int fd = (it++)->first;
    Send(fd, ev);
  }
}

StatusOr<Spec> Monitor::ExecSpec(std::map<std::string, Ctr>::iterator it, const json& req) const {
  std::string id = req.value("container", "");
  if (it == ctrs_.end()) return absl::NotFoundError("container " + id + " not found");
  if (it->second.status != "running") return absl::FailedPreconditionError("container " + id + " is not running");
  Spec spec = it->second.spec;
  spec.process.args = req.value("args", std::vector<std::string>{});
  if (spec.process.args.empty()) return absl::InvalidArgumentError("exec: no command");
  for (const auto& e : req.value("env", std::vector<std::string>{})) spec.process.env.push_back(e);
  return spec;
}

// exec_sync: a child joins the container's namespaces, cgroup, user,
// capabilities and seccomp, then runs the command; its output is collected
// up to max_output and the reply sent when it exits (or the timeout kills it).
void Monitor::ExecStart(int conn, const json& req) {
  std::string id = req.value("container", "");
  auto it = ctrs_.find(id);
  StatusOr<Spec> exec_spec = ExecSpec(it, req);
  if (!exec_spec.ok()) {
    Reply(conn, req, exec_spec.status());
    return;
  }
  Spec& spec = *exec_spec;
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    Reply(conn, req, ErrnoError("pipe"));
    return;
  }
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  auto forked = ForkExec(it->second, spec, devnull, out[1], err[1], false);
  ::close(devnull);
  pid_t pid = forked.ok() ? *forked : -1;
  ::close(out[1]);
  ::close(err[1]);
  if (pid < 0) {
    ::close(out[0]);
    ::close(err[0]);
    Reply(conn, req, forked.status());
    return;
  }
  Exec e;
  e.conn = conn;
  e.req_id = req.value("id", json());
  e.pid = pid;
  e.out.reset(out[0]);
  e.err.reset(err[0]);
  e.max_output = req.value("max_output", size_t{16 << 20});
  ::fcntl(out[0], F_SETFL, O_NONBLOCK);
  ::fcntl(err[0], F_SETFL, O_NONBLOCK);
  Watch(out[0], {kExecOut, id, pid});
  Watch(err[0], {kExecErr, id, pid});
  int64_t timeout_ms = req.value("timeout_ms", int64_t{0});
  if (timeout_ms > 0) {
    e.timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    itimerspec its{};
    its.it_value.tv_sec = timeout_ms / 1000;
    its.it_value.tv_nsec = (timeout_ms % 1000) * 1000000;
    ::timerfd_settime(e.timer.get(), 0, &its, nullptr);
    Watch(e.timer.get(), {kExecTimer, id, pid});
  }
  execs_[pid] = std::move(e);
}

// A child that joins the container's cgroup and namespaces (PID last: it
// applies to a second fork, which becomes the user's process with the
// container's identity and seccomp). `in`/`out`/`err` become its stdio;
// with `tty` they are a pty slave that becomes its controlling terminal.
// The first child mirrors the process's exit; both are one process group.
StatusOr<pid_t> Monitor::ForkExec(const Ctr& c, const Spec& spec, int in, int out, int err, bool tty) {
  pid_t target = c.pid;
  std::string cgroup = spec.linux.cgroups_path;
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError("fork exec");
  if (pid > 0) return pid;
  ::setpgid(0, 0);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(err, 2);
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
  }
  std::string ns = "/proc/" + std::to_string(target) + "/ns/";
  int fds[6];
  const char* names[6] = {"cgroup", "ipc", "uts", "net", "pid", "mnt"};
  int types[6] = {CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWNS};
  for (int i = 0; i < 6; i++) fds[i] = ::open((ns + names[i]).c_str(), O_RDONLY | O_CLOEXEC);
  for (int i = 0; i < 6; i++)
    if (fds[i] < 0 || ::setns(fds[i], types[i]) != 0) die(std::string("join ") + names[i] + " namespace: " + strerror(errno));
  pid_t inner = ::fork();
  if (inner == 0) {
    if (tty) {
      ::setsid();
      if (::ioctl(0, TIOCSCTTY, 0) != 0) die(std::string("controlling terminal: ") + strerror(errno));
      if (::fchown(0, spec.process.user.uid, static_cast<gid_t>(-1)) != 0 && errno != EPERM)
        die(std::string("chown terminal: ") + strerror(errno));
    }
    if (Status st = runtime::child::SetupIdentity(spec); !st.ok()) die(std::string(st.message()));
    if (Status st = runtime::child::ApplyAppArmor(spec); !st.ok()) die(std::string(st.message()));
    if (Status st = runtime::child::ApplySeccomp(spec); !st.ok()) die(std::string(st.message()));
    Status st = runtime::child::Exec(spec);
    std::string m = "kcr exec: " + std::string(st.message()) + "\n";
    ::write(2, m.data(), m.size());
    ::_exit(errno == ENOENT ? 127 : 126);
  }
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
StatusOr<std::pair<UniqueFd, UniqueFd>> ContainerPty(pid_t pid) {
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
  winsize ws{};
  ws.ws_row = 24;
  ws.ws_col = 80;
  ::ioctl(slave.get(), TIOCSWINSZ, &ws);
  return std::make_pair(std::move(master), std::move(slave));
}

}  // namespace

// exec: an interactive process in the container. Its stdio is handed to
// the client (no copy through the monitor): with tty, the pty master;
// otherwise stdin (when asked), stdout and stderr pipes. Its exit comes as
// an "exec_exited" event on the same connection.
void Monitor::ExecInteractive(int conn, const json& req) {
  std::string id = req.value("container", "");
  auto it = ctrs_.find(id);
  StatusOr<Spec> exec_spec = ExecSpec(it, req);
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
    auto pty = ContainerPty(it->second.pid);
    if (!pty.ok()) {
      Reply(conn, req, Annotate(pty.status(), "exec tty"));
      return;
    }
    pid = ForkExec(it->second, spec, pty->second.get(), pty->second.get(), pty->second.get(), true);
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
    pid = ForkExec(it->second, spec, want_stdin ? in_r.get() : devnull.get(), out_w.get(), err_w.get(), false);
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
  json body = {{"id", req.value("id", json())}, {"ok", true}, {"exec", *pid}, {"fds", names}};
  if (!WriteFrameWithFds(conn, body, raw).ok()) CloseConn(conn);
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
  json body = {{"id", req.value("id", json())}, {"ok", true}, {"fds", names}};
  if (!WriteFrameWithFds(conn, body, raw).ok()) CloseConn(conn);
}

void Monitor::ExecFinish(pid_t pid) {
  auto it = execs_.find(pid);
  if (it == execs_.end()) return;
  Exec& e = it->second;
  if (e.timer) Unwatch(e.timer.get());
  json body = {{"id", e.req_id},
               {"ok", true},
               {"exit_code", runtime::ExitCodeOf(e.wait_status)},
               {"stdout", e.out_buf},
               {"stderr", e.err_buf},
               {"timed_out", e.timed_out}};
  int conn = e.conn;
  execs_.erase(it);
  if (conns_.count(conn)) Send(conn, body);
}

void Monitor::Shutdown() {
  for (auto& [id, c] : ctrs_)
    if (c.status == "running" || c.status == "created") ::kill(c.pid, SIGKILL);
  for (auto& [id, c] : ctrs_) {
    if (c.status == "exited") continue;
    int st;
    if (::waitpid(c.pid, &st, 0) == c.pid) Exited(c, st);
    if (!c.spec.linux.cgroups_path.empty()) cgroups_->Destroy(c.spec.linux.cgroups_path).IgnoreError();
  }
  for (auto& [id, c] : ctrs_)
    if (!c.spec.linux.cgroups_path.empty()) cgroups_->Destroy(c.spec.linux.cgroups_path).IgnoreError();
  if (reaper_ > 0) {
    ::kill(reaper_, SIGKILL);
    int st;
    ::waitpid(reaper_, &st, 0);
  }
  ::unlink(opt_.socket.c_str());
  stopping_ = true;
}

}  // namespace

Status RunMonitor(const MonitorOptions& opts, const std::function<void(const Status&)>& ready) {
  Monitor m(opts);
  Status st = m.Init();
  if (ready) ready(st);
  KCR_RETURN_IF_ERROR(st);
  return m.Loop();
}

}  // namespace kcr::monitor

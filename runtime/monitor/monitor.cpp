// kcr-monitor's event loop, connections and protocol dispatch (see
// monitor_impl.h for how the monitor's files divide the work).
#include "runtime/monitor/monitor.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "common/fs.h"
#include "common/log.h"
#include "common/unix_socket.h"
#include "runtime/linux/userns.h"
#include "runtime/monitor/monitor_impl.h"
#include "runtime/monitor/pod_reaper.h"

namespace kcr::monitor {

using nlohmann::json;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

UniqueFd OneShotTimer(int64_t ms) {
  UniqueFd t(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  itimerspec its{};
  its.it_value.tv_sec = ms / 1000;
  its.it_value.tv_nsec = (ms % 1000) * 1000000;
  if (ms <= 0) its.it_value.tv_nsec = 1;  // zero would disarm it
  ::timerfd_settime(t.get(), 0, &its, nullptr);
  return t;
}

void Monitor::Watch(int fd, Tag t) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &ev);
  tags_[fd] = std::move(t);
}

void Monitor::Unwatch(int fd) {
  epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, nullptr);
  tags_.erase(fd);
}

std::string Monitor::PodNs(const std::string& type) const {
  std::string self = "/proc/" + std::to_string(::getpid()) + "/ns/";
  if (type == "network") return opt_.netns;
  if (type == "ipc") return opt_.host_ipc ? "" : self + "ipc";
  if (type == "uts") return opt_.host_uts ? "" : self + "uts";
  if (type == "pid") return reaper_ ? reaper_->PidNsPath() : "";  // held by descriptor: see pod_reaper.h
  if (type == "user") return userns_ ? "/proc/self/fd/" + std::to_string(userns_.get()) : "";
  return "";
}

Status Monitor::Init() {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  // Nothing in a container may read this process's memory or /proc/*/exe.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // The pod's user namespace (KEP-127), held by descriptor for as long as
  // the monitor lives. The pod's other namespaces stay the host user
  // namespace's: a container's init joins this one last, after the mounts,
  // cgroups and sysctls that need the host's privileges (docs/DESIGN-NOTES.md).
  if (!opt_.uid_mappings.empty() || !opt_.gid_mappings.empty()) {
    KCR_ASSIGN_OR_RETURN(userns_, runtime::MakeUserNamespace(opt_.uid_mappings, opt_.gid_mappings));
  }
  int flags = (opt_.host_ipc ? 0 : CLONE_NEWIPC) | (opt_.host_uts ? 0 : CLONE_NEWUTS);
  if (flags && ::unshare(flags) != 0) return ErrnoError("unshare pod IPC/UTS namespaces");
  if (!opt_.host_uts && !opt_.hostname.empty() && ::sethostname(opt_.hostname.c_str(), opt_.hostname.size()) != 0)
    return ErrnoError("sethostname " + opt_.hostname);
  if (opt_.share_pid) {
    KCR_ASSIGN_OR_RETURN(reaper_, PodReaper::Start());
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
    for (int i = 0; i < n && !stopping_; i++) {
      int fd = evs[i].data.fd;
      auto it = tags_.find(fd);
      if (it == tags_.end()) continue;  // closed by an earlier event of this batch
      Tag t = it->second;
      switch (t.kind) {
        case kListen: Accept(); break;
        case kConn:
          if (evs[i].events & EPOLLOUT) Flush(fd);
          if (conns_.count(fd) && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) OnConn(fd);
          break;
        case kSignal: OnSignal(); break;
        case kStopTimer: OnStopTimer(fd, t.ctr); break;
        case kExecTimer: OnExecTimeout(t.exec); break;
        case kExecDrain: ExecFinish(t.exec); break;
        case kExecKill: KillPass(t.ctr); break;
        case kCtrOut:
        case kCtrErr: OnCtrOutput(fd, t); break;
        case kExecOut:
        case kExecErr: OnExecOutput(fd, t); break;
        case kCreateProgress: OnCreateProgress(t.ctr); break;
        case kCgroupKill: CgroupPass(t.ctr); break;
        case kShutdownTimer: MaybeFinishShutdown(true); break;
        case kCreateTimer: {
          auto p = creating_.find(t.ctr);
          if (p != creating_.end()) CreateDone(t.ctr, p->second.ctr.c->SetupTimedOut());
          break;
        }
      }
    }
    if (shutting_down_ && !stopping_) MaybeFinishShutdown(false);
  }
  return absl::OkStatus();
}

void Monitor::Accept() {
  int c = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (c < 0) return;
  conns_[c];
  Watch(c, {kConn, "", -1});
}

void Monitor::OnConn(int fd) {
  char buf[65536];
  std::vector<int> fds;
  auto got = RecvWithFds(fd, buf, sizeof buf, &fds);
  for (int f : fds) ::close(f);  // nobody passes the monitor descriptors
  if (!got.ok() && (errno == EAGAIN || errno == EINTR)) return;
  if (!got.ok() || *got == 0) {
    CloseConn(fd);
    return;
  }
  conns_[fd].in.Append(buf, *got);
  for (;;) {
    auto cit = conns_.find(fd);
    if (cit == conns_.end()) return;  // closed while handling
    json req;
    auto next = cit->second.in.Next(&req);
    if (!next.ok()) {
      CloseConn(fd);
      return;
    }
    if (!*next) return;
    // A request whose fields have the wrong types is refused, never fatal:
    // the monitor holds every container of the pod.
    try {
      Handle(fd, req);
    } catch (const json::exception& e) {
      if (conns_.count(fd))
        Reply(fd, req, absl::InvalidArgumentError(std::string("malformed monitor request: ") + e.what()));
    }
  }
}

void Monitor::Send(int conn, const json& msg, const std::vector<int>& fds) {
  auto it = conns_.find(conn);
  if (it == conns_.end()) return;
  Outgoing o;
  o.data = EncodeFrame(msg);
  for (int f : fds) o.fds.emplace_back(::fcntl(f, F_DUPFD_CLOEXEC, 3));
  it->second.queued += o.data.size();
  it->second.out.push_back(std::move(o));
  if (it->second.queued > kMaxQueued) {
    spdlog::warn("monitor client on fd {} does not read its replies; dropping it", conn);
    CloseConn(conn);
    return;
  }
  Flush(conn);
}

void Monitor::Flush(int conn) {
  auto it = conns_.find(conn);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  while (!c.out.empty()) {
    Outgoing& o = c.out.front();
    std::vector<int> fds;
    if (o.off == 0)
      for (auto& f : o.fds) fds.push_back(f.get());
    auto sent = SendSomeWithFds(conn, std::string_view(o.data).substr(o.off), fds, MSG_DONTWAIT);
    if (!sent.ok()) {
      if (absl::IsUnavailable(sent.status())) break;  // the socket is full: wait for EPOLLOUT
      CloseConn(conn);
      return;
    }
    o.off += *sent;
    c.queued -= *sent;
    o.fds.clear();  // they went with the first byte
    if (o.off == o.data.size()) c.out.pop_front();
  }
  bool want = !c.out.empty();
  if (want != c.writable_watch) {
    epoll_event ev{};
    ev.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
    ev.data.fd = conn;
    epoll_ctl(ep_.get(), EPOLL_CTL_MOD, conn, &ev);
    c.writable_watch = want;
  }
}

void Monitor::Reply(int conn, const json& req, const Status& st, json body) {
  body["id"] = req.contains("id") ? req["id"] : json();
  body["ok"] = st.ok();
  if (!st.ok()) {
    body["code"] = static_cast<int>(st.code());
    body["error"] = std::string(st.message());
  }
  Send(conn, body);
}

void Monitor::CloseConn(int fd) {
  // An interactive exec whose client left: nobody can reach its stdio
  // any more, so it ends now (its exit is reaped as any other).
  for (auto it = interactive_.begin(); it != interactive_.end();) {
    if (it->second != fd) {
      ++it;
      continue;
    }
    KillExec(it->first);
    it = interactive_.erase(it);
  }
  // exec_sync replies nobody will read: the commands keep running to their
  // end (or timeout) and are reaped; only the answer is dropped.
  for (auto& [pid, e] : execs_)
    if (e.conn == fd) e.conn = -1;
  // Creates go on (kcrd finds the container in the monitor's state); only
  // the answer is dropped.
  for (auto& [id, p] : creating_)
    if (p.conn == fd) p.conn = -1;
  std::erase_if(shutdown_waiters_, [fd](const auto& w) { return w.first == fd; });
  Unwatch(fd);
  conns_.erase(fd);
  ::close(fd);
}

void Monitor::Handle(int conn, const json& req) {
  std::string op = req.value("op", "");
  std::string id = req.value("container", "");
  // Nothing new starts in a pod whose monitor is on its way out.
  if (shutting_down_ && (op == "create" || op == "start" || op == "exec_sync" || op == "exec" || op == "attach")) {
    Reply(conn, req, absl::UnavailableError("the pod monitor is shutting down"));
    return;
  }
  if (op == "hello") {
    int v = req.value("version", 0);
    if (v != kProtocolVersion) {
      Reply(conn, req, absl::FailedPreconditionError("monitor speaks protocol " + std::to_string(kProtocolVersion)));
      return;
    }
    Reply(conn, req, absl::OkStatus(),
          {{"version", kProtocolVersion}, {"pod", opt_.pod_id}, {"pid", ::getpid()}, {"reaper", reaper_ ? reaper_->pid() : -1}});
  } else if (op == "create") {
    // The reply goes out once the init is set up (CreateDone); meanwhile
    // the loop serves everything else.
    if (Status st = CreateBegin(conn, req); !st.ok()) Reply(conn, req, st, {{"container", id}});
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
    Reply(conn, req, Remove(id));
  } else if (op == "reopen_log") {
    auto it = ctrs_.find(id);
    Status st = it == ctrs_.end() ? absl::NotFoundError("container " + id + " not found")
                                  : (it->second.log ? it->second.log->Reopen() : absl::OkStatus());
    Reply(conn, req, st);
  } else if (op == "exec_sync") {
    ExecSyncStart(conn, req);
  } else if (op == "exec") {
    ExecInteractive(conn, req);
  } else if (op == "attach") {
    Attach(conn, req);
  } else if (op == "subscribe") {
    conns_[conn].subscribed = true;
    Reply(conn, req, absl::OkStatus());
  } else if (op == "shutdown") {
    Shutdown(conn, req);  // answers once done (bounded)
  } else {
    Reply(conn, req, absl::InvalidArgumentError("unknown monitor operation \"" + op + "\""));
  }
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
  if (reaper_ && reaper_->Reaped(pid)) {
    // The pod's shared PID namespace is gone, and every container in it
    // with it (their own exits follow); no container can join it again.
    spdlog::error("pod {}: the shared PID namespace's reaper exited ({})", opt_.pod_id, runtime::ExitCodeOf(status));
    json ev = {{"event", "pod_reaper_exited"}, {"pod", opt_.pod_id}, {"exit_code", runtime::ExitCodeOf(status)}};
    std::vector<int> subscribers;
    for (const auto& [fd, conn] : conns_)
      if (conn.subscribed) subscribers.push_back(fd);
    for (int fd : subscribers) Send(fd, ev);
    return;
  }
  ExecLeaderReaped(pid);
  for (auto& [id, c] : ctrs_)
    if (c.pid == pid && c.status != "exited") {
      Exited(c, status);
      return;
    }
  // An init that died during its set-up: its report pipe's EOF ends the
  // create; its Container must not wait for it again.
  for (auto& [id, p] : creating_)
    if (p.ctr.pid == pid) {
      p.ctr.c->MarkReaped();
      p.init_reaped = true;
      return;
    }
  if (auto i = interactive_.find(pid); i != interactive_.end()) {
    int conn = i->second;
    interactive_.erase(i);
    Send(conn, {{"event", "exec_exited"}, {"exec", pid}, {"exit_code", runtime::ExitCodeOf(status)}});
    return;
  }
  if (auto e = execs_.find(pid); e != execs_.end()) {
    e->second.wait_status = status;
    ExecProgress(pid);
  }
}

void Monitor::Shutdown(int conn, const json& req) {
  if (conn >= 0) shutdown_waiters_.push_back({conn, req.contains("id") ? req["id"] : json()});
  if (shutting_down_) return;
  shutting_down_ = true;
  std::vector<std::string> pending;
  for (const auto& [id, p] : creating_) pending.push_back(id);
  for (const auto& id : pending) CreateDone(id, absl::UnavailableError("the pod monitor is shutting down"));
  for (auto& [id, c] : ctrs_)
    if (c.status == "running" || c.status == "created") ::kill(c.pid, SIGKILL);
  // The reaper's death kills what is left in the shared PID namespace.
  if (reaper_ && reaper_->pid() > 0) ::kill(reaper_->pid(), SIGKILL);
  // Kills, too, what containers started that is no longer their child.
  for (auto& [id, c] : ctrs_)
    if (!c.spec.linux.cgroups_path.empty()) ReleaseCgroup(c.spec.linux.cgroups_path);
  // The exits are reaped, recorded and reported by the loop; a process
  // that cannot die (D state, frozen) holds the shutdown up this long.
  shutdown_timer_ = OneShotTimer(kShutdownBoundMs);
  Watch(shutdown_timer_.get(), {kShutdownTimer, "", -1});
}

void Monitor::MaybeFinishShutdown(bool force) {
  if (!shutting_down_ || stopping_) return;
  std::vector<std::string> alive;
  for (const auto& [id, c] : ctrs_)
    if (c.status != "exited") alive.push_back(id);
  bool reaper_alive = reaper_ && reaper_->pid() > 0;
  if (!force && (!alive.empty() || !dying_cgroups_.empty() || reaper_alive)) return;
  if (force) {
    // Killed, but not dead yet: whoever inherits them reaps them; waiting
    // here would have no bound.
    for (const auto& id : alive) {
      spdlog::warn("container {}: killed, but not dead when the monitor's shutdown bound passed", id);
      if (auto& c = ctrs_[id]; c.c) c.c->MarkReaped();
    }
    for (const auto& [path, d] : dying_cgroups_) spdlog::warn("cgroup {}: not yet removed at shutdown", path);
    if (reaper_alive) reaper_->Abandon();
  }
  reaper_.reset();
  for (const auto& [conn, id] : shutdown_waiters_) Reply(conn, {{"id", id}}, absl::OkStatus());
  // Replies already queued (the shutdown's own) get one last chance to go.
  std::vector<int> open;
  for (const auto& [fd, c] : conns_) open.push_back(fd);
  for (int fd : open) Flush(fd);
  ::unlink(opt_.socket.c_str());
  stopping_ = true;
}

Status RunMonitor(const MonitorOptions& opts, const std::function<void(const Status&)>& ready) {
  Monitor m(opts);
  Status st = m.Init();
  if (ready) ready(st);
  KCR_RETURN_IF_ERROR(st);
  return m.Loop();
}

}  // namespace kcr::monitor

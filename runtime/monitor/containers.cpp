// kcr-monitor: container lifecycle — create, start, kill/stop with its
// SIGKILL timer, removal, the containers' output into CRI logs and attached
// sessions, and each exit recorded durably before it is reported.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "common/fs.h"
#include "common/log.h"
#include "common/paths.h"
#include "runtime/monitor/monitor_impl.h"

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


}  // namespace

json Monitor::StateOf(const Ctr& c) const {
  return {{"container", c.id}, {"status", c.status}, {"pid", c.pid}, {"exit_code", c.exit_code},
          {"signal", c.signal}, {"oom", c.oom}, {"created_ns", c.created_ns}, {"started_ns", c.started_ns},
          {"finished_ns", c.finished_ns}, {"user", c.user}};
}

Status Monitor::CreateBegin(int conn, const json& req) {
  std::string id = req.value("container", "");
  if (id.empty() || id.find('/') != std::string::npos) return absl::InvalidArgumentError("invalid container id");
  if (ctrs_.count(id) || creating_.count(id))
    return absl::AlreadyExistsError("container " + id + " already exists in this pod");
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
  PendingCreate p;
  p.conn = conn;
  p.req_id = {{"id", req.contains("id") ? req["id"] : json()}};
  Ctr& c = p.ctr;
  c.id = id;
  KCR_ASSIGN_OR_RETURN(CriLogWriter log, CriLogWriter::Open(req.value("log_path", "")));
  c.log = std::make_unique<CriLogWriter>(std::move(log));
  // The init's ends are closed when this returns: it has its copies.
  UniqueFd out_w, err_w, in_r;
  if (req.value("stdin", false) && !spec.process.terminal) {
    int in[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return ErrnoError("pipe");
    in_r.reset(in[0]);
    p.in_w.reset(in[1]);
    o.stdin_fd = in_r.get();
    c.stdin_once = req.value("stdin_once", false);
  }
  if (!spec.process.terminal) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return ErrnoError("pipe");
    p.out.reset(out[0]);
    out_w.reset(out[1]);
    if (::pipe2(err, O_CLOEXEC) != 0) return ErrnoError("pipe");
    p.err.reset(err[0]);
    err_w.reset(err[1]);
    o.stdout_fd = out_w.get();
    o.stderr_fd = err_w.get();
  }
  o.cgroups = cgroups_.get();
  o.container_id = id;  // its hooks' state
  KCR_ASSIGN_OR_RETURN(c.c, Container::Spawn(spec, o));
  c.pid = c.c->pid();
  c.spec = std::move(spec);
  p.timer = OneShotTimer(o.init_timeout.count());
  Watch(c.c->setup_fd(), {kCreateProgress, id, -1});
  Watch(p.timer.get(), {kCreateTimer, id, -1});
  creating_[id] = std::move(p);
  return absl::OkStatus();
}

void Monitor::OnCreateProgress(const std::string& id) {
  auto it = creating_.find(id);
  if (it == creating_.end()) return;
  StatusOr<bool> ready = it->second.ctr.c->ContinueSetup();
  if (!ready.ok()) CreateDone(id, ready.status());
  else if (*ready) CreateDone(id, absl::OkStatus());
}

void Monitor::CreateDone(const std::string& id, const Status& st) {
  auto it = creating_.find(id);
  if (it == creating_.end()) return;
  PendingCreate p = std::move(it->second);
  creating_.erase(it);
  Unwatch(p.ctr.c->setup_fd());
  Unwatch(p.timer.get());
  Ctr& c = p.ctr;
  json body = {{"container", id}};
  if (st.ok()) {
    // A terminal's output (stdout and stderr together) is the stdout stream.
    if (c.spec.process.terminal) p.out = c.c->TakeConsole();
    c.created_ns = NowNs();
    c.user = ProcessUser(c.pid);
    if (!c.spec.linux.cgroups_path.empty())
      if (auto s = cgroups_->Stats(c.spec.linux.cgroups_path); s.ok()) c.oom_before = s->oom_kills;
    ::fcntl(p.out.get(), F_SETFL, O_NONBLOCK);
    Watch(p.out.get(), {kCtrOut, id, -1});
    if (p.err) {
      ::fcntl(p.err.get(), F_SETFL, O_NONBLOCK);
      Watch(p.err.get(), {kCtrErr, id, -1});
    }
    c.out = std::move(p.out);
    c.err = std::move(p.err);
    c.stdin_w = std::move(p.in_w);
    body["user"] = c.user;
    ctrs_[id] = std::move(c);
  } else {
    // Kills the init; the loop reaps it (an init stuck in the kernel, say
    // on a hung mount, must not stall the loop in a wait). Its cgroup goes
    // with it, asynchronously.
    if (!p.init_reaped) ::kill(c.pid, SIGKILL);
    c.c->MarkReaped();
    c.c.reset();
    if (!c.spec.linux.cgroups_path.empty()) ReleaseCgroup(c.spec.linux.cgroups_path);
  }
  if (p.conn >= 0) Reply(p.conn, p.req_id, st, body);
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
    c.stop_timer = OneShotTimer(int64_t{timeout_s} * 1000);
    Watch(c.stop_timer.get(), {kStopTimer, id, -1});
  }
  return absl::OkStatus();
}

Status Monitor::Remove(const std::string& id) {
  auto it = ctrs_.find(id);
  if (it == ctrs_.end()) return absl::OkStatus();
  if (it->second.status == "running") return absl::FailedPreconditionError("container " + id + " is running; stop it first");
  // Gone from the protocol's view now; what is left in its cgroup (what
  // the container started, re-parented to a pod's PID 1) is killed and the
  // cgroup removed from timers.
  if (!it->second.spec.linux.cgroups_path.empty()) ReleaseCgroup(it->second.spec.linux.cgroups_path);
  ctrs_.erase(it);
  return absl::OkStatus();
}

namespace {
// Passes over a container cgroup whose processes do not die (a few minutes
// at one pass per second at most) before it is left to the pod's removal.
constexpr int kMaxCgroupPasses = 300;
}  // namespace

void Monitor::ReleaseCgroup(const std::string& path) {
  if (dying_cgroups_.count(path)) return;  // passes already run
  dying_cgroups_[path];
  CgroupPass(path);
}

void Monitor::CgroupPass(const std::string& path) {
  auto it = dying_cgroups_.find(path);
  if (it == dying_cgroups_.end()) return;
  DyingCgroup& d = it->second;
  if (d.retry) {
    Unwatch(d.retry.get());
    d.retry.reset();
  }
  StatusOr<bool> gone = cgroups_->KillAndRemove(path);
  if (!gone.ok() || *gone || ++d.attempts >= kMaxCgroupPasses) {
    if (!gone.ok() || !*gone)
      spdlog::warn("cgroup {}: {}", path,
                   gone.ok() ? std::string("processes survive; left to the pod's removal")
                             : std::string(gone.status().message()));
    dying_cgroups_.erase(it);
    return;
  }
  // Deaths are asynchronous: look again soon (backing off to once a
  // second), never waiting here.
  d.retry = OneShotTimer(std::min(5 * d.attempts, 1000));
  Watch(d.retry.get(), {kCgroupKill, path, -1});
}

// The stop timeout expired: SIGKILL.
void Monitor::OnStopTimer(int fd, const std::string& id) {
  Unwatch(fd);
  auto c = ctrs_.find(id);
  if (c == ctrs_.end()) return;
  if (c->second.status == "running") ::kill(c->second.pid, SIGKILL);
  c->second.stop_timer.reset();
}

void Monitor::OnCtrOutput(int fd, const Tag& t) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  auto it = ctrs_.find(t.ctr);
  if (it == ctrs_.end()) {
    Unwatch(fd);
    return;
  }
  const char* stream = t.kind == kCtrOut ? "stdout" : "stderr";
  auto& att = it->second.attached;
  if (n > 0) {
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
  std::vector<int> subscribers;
  for (const auto& [fd, conn] : conns_)
    if (conn.subscribed) subscribers.push_back(fd);
  for (int fd : subscribers) Send(fd, ev);
}

}  // namespace kcr::monitor

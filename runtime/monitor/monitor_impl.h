#pragma once
// kcr-monitor's internals, shared by its files (not an interface):
//   monitor.cpp     event loop, connections and their output queues,
//                   protocol dispatch, reaping, shutdown
//   containers.cpp  container lifecycle, stdio and CRI logs, exit records
//   exec.cpp        exec_sync, interactive exec, attach
//   pod_reaper.cpp  PID 1 of a shared PID namespace
// Every wait is bounded and nothing a container controls can block the
// loop: descriptors a container holds are non-blocking and watched, replies
// are queued per connection and written as the peer reads them.
#include <sys/types.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/fd.h"
#include "common/status.h"
#include "runtime/cgroups/cgroup.h"
#include "runtime/linux/container.h"
#include "runtime/monitor/cri_log.h"
#include "runtime/monitor/monitor.h"
#include "runtime/monitor/pod_reaper.h"
#include "runtime/monitor/protocol.h"
#include "runtime/oci/spec.h"

namespace kcr::monitor {

int64_t NowNs();

// A timerfd that fires once after `ms` milliseconds (0: at once).
UniqueFd OneShotTimer(int64_t ms);

// The tracking child cgroup (CgroupManager::AddTracked) of the monitor's
// `serial`th exec: never the name of an earlier one, even one still dying
// (an exec's PID may be reused once it was reaped).
std::string ExecCgroupName(uint64_t serial);

// An exec's tracking cgroup: child `name` of the container's `cgroup`.
struct TrackedCgroup {
  std::string cgroup, name;
  int attempts = 0;  // kill passes so far
  UniqueFd retry;    // the timer of the next pass
};

struct Ctr {
  std::string id;
  runtime::oci::Spec spec;
  std::unique_ptr<runtime::Container> c;
  pid_t pid = -1;
  std::string status = "created";  // created running exited
  int exit_code = 0, signal = 0;
  bool oom = false;
  int64_t created_ns = 0, started_ns = 0, finished_ns = 0;
  std::unique_ptr<CriLogWriter> log;
  UniqueFd out, err;  // read ends (with a terminal: out is the pty master, err is unused)
  UniqueFd stop_timer;
  uint64_t oom_before = 0;
  nlohmann::json user;  // {uid, gid, groups} the init runs as (set before it execs)
  UniqueFd stdin_w;     // the container's stdin pipe (CRI stdin without a terminal)
  bool stdin_once = false;
  struct Attached {
    UniqueFd out, err;  // non-blocking pipe write ends, one attach session
  };
  std::vector<Attached> attached;
};

// A create whose init is still setting up (it runs what the image
// controls: mounts, user databases, ...). The loop goes on serving; the
// reply goes out when the init is ready or failed, or when its set-up
// bound (CreateOptions::init_timeout) fires and it is killed.
struct PendingCreate {
  int conn = -1;  // -1 once the client went away: the reply is dropped
  nlohmann::json req_id;
  Ctr ctr;                  // its Container (setting up), log, stdin mode
  UniqueFd out, err, in_w;  // the monitor's ends of its stdio pipes
  UniqueFd timer;
  bool init_reaped = false;  // the loop reaped it: its PID is no longer ours to signal
};

// A container cgroup being killed and removed after its container left the
// protocol's view (remove, a failed create, shutdown): one pass per timer
// tick until it is gone, so a process that cannot die yet (D state, frozen)
// or a fork bomb refilling it never holds up the loop.
struct DyingCgroup {
  int attempts = 0;  // passes so far
  UniqueFd retry;    // the timer of the next pass
};

// One exec_sync: its output is collected up to max_output per stream and
// the reply goes out when the command has exited and its pipes are drained,
// or a drain period after its exit (a process it left behind may hold the
// pipes open forever), or at once when its timeout killed it.
struct ExecSync {
  int conn = -1;
  nlohmann::json req_id;
  pid_t pid = -1;  // the exec's first child (it mirrors the command's exit)
  std::string container;
  UniqueFd out, err, timer, drain;
  std::string out_buf, err_buf;
  bool out_truncated = false, err_truncated = false;
  size_t max_output = 16 << 20;
  int64_t drain_ms = 1000;
  bool timed_out = false;
  int wait_status = -1;
};

// Bytes queued for a connection, with descriptors to attach to the first
// byte (SCM_RIGHTS).
struct Outgoing {
  std::string data;
  size_t off = 0;
  std::vector<UniqueFd> fds;
};

struct Conn {
  FrameReader in;
  std::deque<Outgoing> out;
  size_t queued = 0;        // bytes not yet written
  bool subscribed = false;  // gets "exited" events
  bool writable_watch = false;
};

class Monitor {
 public:
  explicit Monitor(MonitorOptions o) : opt_(std::move(o)) {}

  Status Init();
  Status Loop();

 private:
  enum Kind {
    kListen, kConn, kSignal, kCtrOut, kCtrErr, kStopTimer, kExecOut, kExecErr, kExecTimer, kExecDrain, kExecKill,
    kCreateProgress, kCreateTimer, kCgroupKill, kShutdownTimer
  };
  struct Tag {
    Kind kind;
    std::string ctr;
    pid_t exec = -1;
  };
  // A connection that queues more than this without reading is dropped.
  static constexpr size_t kMaxQueued = 64 << 20;

  // monitor.cpp: the loop and connections.
  void Watch(int fd, Tag t);
  void Unwatch(int fd);
  void Accept();
  void OnConn(int fd);
  // Queues `msg` (and `fds`, dup'ed) for `conn` and writes what the socket
  // takes now; the rest goes out as the peer reads. A peer that lets more
  // than kMaxQueued pile up is dropped.
  void Send(int conn, const nlohmann::json& msg, const std::vector<int>& fds = {});
  void Flush(int conn);
  void Reply(int conn, const nlohmann::json& req, const Status& st, nlohmann::json body = nlohmann::json::object());
  void CloseConn(int fd);
  void Handle(int conn, const nlohmann::json& req);
  void OnSignal();
  void Reaped(pid_t pid, int status);
  std::string PodNs(const std::string& type) const;
  // Kills every container and the reaper, removes their cgroups, then the
  // monitor exits; the reply (to `conn`, -1: none, e.g. SIGTERM) goes out
  // once every container is reaped (its exit recorded) and every cgroup is
  // gone, or after kShutdownBound, whatever is left then. Never blocks.
  void Shutdown(int conn = -1, const nlohmann::json& req = nlohmann::json::object());
  // Ends a shutdown in progress when nothing is left to wait for, or at
  // once with `force` (its bound passed).
  void MaybeFinishShutdown(bool force);
  static constexpr int64_t kShutdownBoundMs = 10000;

  // containers.cpp
  // Starts a create: its init is spawned and the reply goes out later
  // (CreateDone). An error is the reply, at once.
  Status CreateBegin(int conn, const nlohmann::json& req);
  void OnCreateProgress(const std::string& id);
  // Ends a pending create: the container joins ctrs_ when `st` is OK,
  // else its init is killed and reaped; the client gets the answer.
  void CreateDone(const std::string& id, const Status& st);
  Status Start(const std::string& id, nlohmann::json* out);
  Status Kill(const std::string& id, int sig, int timeout_s);
  Status Remove(const std::string& id);
  void OnStopTimer(int fd, const std::string& id);
  void OnCtrOutput(int fd, const Tag& t);
  void Exited(Ctr& c, int status);
  nlohmann::json StateOf(const Ctr& c) const;
  // Kills what is in a container cgroup and removes it, pass after pass
  // from a timer (CgroupManager::KillAndRemove), never waiting.
  void ReleaseCgroup(const std::string& path);
  void CgroupPass(const std::string& path);  // one pass over dying_cgroups_[path]

  // exec.cpp
  // The spec of a process to run in the request's container (running,
  // returned in `target`): its own, with the request's args and extra env.
  // NotFound, FailedPrecondition or InvalidArgument naming what is wrong.
  StatusOr<runtime::oci::Spec> ExecSpec(const nlohmann::json& req, const Ctr** target) const;
  void ExecSyncStart(int conn, const nlohmann::json& req);
  void ExecInteractive(int conn, const nlohmann::json& req);
  void Attach(int conn, const nlohmann::json& req);
  StatusOr<pid_t> ForkExec(const Ctr& c, const runtime::oci::Spec& spec, int in, int out, int err, bool tty);
  void OnExecOutput(int fd, const Tag& t);
  void OnExecTimeout(pid_t pid);
  // The exec's process (or its pipes) ended: answers once both happened,
  // or arms the drain period when only the process has.
  void ExecProgress(pid_t pid);
  void ExecFinish(pid_t pid);
  // The exec's first child was reaped: its tracking cgroup is removed when
  // empty, or kept while an exec_sync may still kill it.
  void ExecLeaderReaped(pid_t pid);
  // Kills the exec's processes: its process group while its leader is
  // unreaped (after that the number may be another's), and its tracking
  // cgroup, pass after pass from a timer until the cgroup is gone.
  void KillExec(pid_t pid);
  void KillPass(const std::string& name);  // one pass over dying_[name]

  MonitorOptions opt_;
  UniqueFd ep_, listen_, sigfd_;
  std::map<int, Tag> tags_;
  std::map<int, Conn> conns_;
  std::map<std::string, Ctr> ctrs_;
  std::map<std::string, PendingCreate> creating_;
  std::map<pid_t, ExecSync> execs_;
  std::map<pid_t, int> interactive_;  // exec pid -> the connection told of its exit
  std::map<pid_t, TrackedCgroup> tracked_;      // exec pid (unreaped, or exec_sync unanswered) -> its tracking cgroup
  std::map<std::string, TrackedCgroup> dying_;  // tracking cgroups being killed, by name, until gone
  std::map<std::string, DyingCgroup> dying_cgroups_;  // container cgroups being removed, by path
  uint64_t exec_serial_ = 0;
  std::unique_ptr<runtime::CgroupManager> cgroups_;
  std::unique_ptr<PodReaper> reaper_;  // shared PID namespace only
  UniqueFd userns_;                    // the pod's user namespace (KEP-127) only
  bool stopping_ = false;
  bool shutting_down_ = false;
  std::vector<std::pair<int, nlohmann::json>> shutdown_waiters_;  // connection, request id
  UniqueFd shutdown_timer_;
};

}  // namespace kcr::monitor

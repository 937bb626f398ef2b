// The systemd cgroup driver: transient scopes over sd-bus (systemd.h).
#include "runtime/cgroups/systemd.h"

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <chrono>
#include <mutex>

#include "common/log.h"

namespace kcr::runtime {

namespace {

constexpr const char* kDest = "org.freedesktop.systemd1";
constexpr const char* kPath = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";
constexpr const char* kMonitorLeaf = "kcr-monitor";

struct BusCloser {
  void operator()(sd_bus* b) const { sd_bus_flush_close_unref(b); }
};
struct MessageUnref {
  void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
};
struct SlotUnref {
  void operator()(sd_bus_slot* s) const { sd_bus_slot_unref(s); }
};
using Bus = std::unique_ptr<sd_bus, BusCloser>;
using Message = std::unique_ptr<sd_bus_message, MessageUnref>;
using Slot = std::unique_ptr<sd_bus_slot, SlotUnref>;

// sd_bus_error, freed on scope exit.
struct BusError {
  sd_bus_error e = SD_BUS_ERROR_NULL;
  ~BusError() { sd_bus_error_free(&e); }
  std::string Text() const {
    return std::string(e.name ? e.name : "") + (e.message ? std::string(": ") + e.message : std::string());
  }
};

Status BusFailure(const std::string& what, int r, const BusError* err = nullptr) {
  std::string msg = what + ": " + (err && sd_bus_error_is_set(&err->e) ? err->Text() : std::strerror(-r));
  return absl::UnavailableError(msg);
}

StatusOr<Bus> Connect(const std::string& address) {
  sd_bus* raw = nullptr;
  std::string addr = address;
  if (addr.empty() && ::geteuid() == 0) addr = "unix:path=/run/systemd/private";
  if (!addr.empty()) {
    int r = sd_bus_new(&raw);
    if (r < 0) return BusFailure("sd_bus_new", r);
    Bus bus(raw);
    if ((r = sd_bus_set_address(bus.get(), addr.c_str())) < 0) return BusFailure("sd-bus address " + addr, r);
    if ((r = sd_bus_start(bus.get())) >= 0) return bus;
    if (!address.empty()) return BusFailure("connect to systemd at " + addr, r);
    spdlog::debug("systemd private bus: {}; trying the system bus", std::strerror(-r));
  }
  int r = sd_bus_open_system(&raw);
  if (r < 0) return BusFailure("connect to the system bus", r);
  return Bus(raw);
}

// The last component of a cgroup path.
std::string Base(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

class Systemd final : public CgroupManager {
 public:
  Systemd(SystemdOptions o, Bus bus, std::unique_ptr<CgroupManager> fs)
      : o_(std::move(o)), bus_(std::move(bus)), fs_(std::move(fs)) {}

  std::string Driver() const override { return "systemd"; }
  Status Create(const std::string& path, const oci::Resources& res) override { return fs_->Create(path, res); }
  Status Add(const std::string& path, pid_t pid) override { return fs_->Add(path, pid); }
  Status Update(const std::string& path, const oci::Resources& res) override { return fs_->Update(path, res); }
  StatusOr<CgroupStats> Stats(const std::string& path) override { return fs_->Stats(path); }
  Status Destroy(const std::string& path) override { return fs_->Destroy(path); }
  StatusOr<bool> KillAndRemove(const std::string& path) override { return fs_->KillAndRemove(path); }
  std::string Dir(const std::string& path) const override { return fs_->Dir(path); }

  // The slice is systemd's to create (it appears with the scope); only its
  // name is checked here.
  Status CreatePod(const std::string& pod_cgroup, const std::string&) override {
    auto expected = SlicePath(Base(pod_cgroup));
    if (!expected.ok()) return Annotate(expected.status(), "cgroup driver systemd: pod cgroup");
    if (*expected != pod_cgroup)
      return absl::InvalidArgumentError("cgroup driver systemd: pod cgroup \"" + pod_cgroup +
                                        "\" is not where systemd puts " + Base(pod_cgroup));
    return absl::OkStatus();
  }

  Status AdoptMonitor(const std::string& pod_cgroup, const std::string& pod_id,
                      const std::vector<pid_t>& pids) override {
    std::string scope = PodScopeName(pod_id);
    KCR_RETURN_IF_ERROR(StartScope(scope, Base(pod_cgroup), pod_id, pids));
    // From here the scope's subtree is kcr's: the monitor moves to a leaf.
    std::string leaf = ContainerParent(pod_cgroup, pod_id) + "/" + kMonitorLeaf;
    KCR_RETURN_IF_ERROR(Annotate(fs_->Create(leaf, {}), "monitor cgroup"));
    for (pid_t pid : pids) KCR_RETURN_IF_ERROR(Annotate(fs_->Add(leaf, pid), "monitor cgroup"));
    return absl::OkStatus();
  }

  std::string ContainerParent(const std::string& pod_cgroup, const std::string& pod_id) const override {
    return pod_cgroup + "/" + PodScopeName(pod_id);
  }

  Status DestroyPod(const std::string& pod_cgroup, const std::string& pod_id) override {
    std::string scope_dir = ContainerParent(pod_cgroup, pod_id);
    // kcr's cgroups inside the delegated scope first (container cgroups are
    // the monitor's and normally gone already).
    KCR_RETURN_IF_ERROR(fs_->Destroy(scope_dir + "/" + kMonitorLeaf));
    KCR_RETURN_IF_ERROR(StopUnit(PodScopeName(pod_id)));
    bool own_slice = Base(pod_cgroup).ends_with("-" + pod_id + ".slice");
    if (own_slice) KCR_RETURN_IF_ERROR(StopUnit(Base(pod_cgroup)));
    // Hierarchies systemd does not manage (v1 cpuset) keep what the cgroupfs
    // writes made there.
    KCR_RETURN_IF_ERROR(fs_->Destroy(scope_dir));
    if (own_slice) KCR_RETURN_IF_ERROR(fs_->Destroy(pod_cgroup));
    return absl::OkStatus();
  }

 private:
  Status StartScope(const std::string& scope, const std::string& slice, const std::string& pod_id,
                    const std::vector<pid_t>& pids) {
    std::lock_guard<std::mutex> l(mu_);
    return WithJob("start " + scope, [&](sd_bus_message** reply, BusError* err) {
      sd_bus_message* raw = nullptr;
      int r = sd_bus_message_new_method_call(bus_.get(), &raw, kDest, kPath, kManager, "StartTransientUnit");
      if (r < 0) return r;
      Message m(raw);
      std::string desc = "kcr pod " + pod_id;
      std::vector<uint32_t> upids(pids.begin(), pids.end());
      if ((r = sd_bus_message_append(m.get(), "ss", scope.c_str(), "fail")) < 0 ||
          (r = sd_bus_message_open_container(m.get(), 'a', "(sv)")) < 0 ||
          (r = sd_bus_message_append(m.get(), "(sv)(sv)(sv)(sv)(sv)", "Description", "s", desc.c_str(), "Slice", "s",
                                     slice.c_str(), "Delegate", "b", 1, "DefaultDependencies", "b", 0, "CollectMode",
                                     "s", "inactive-or-failed")) < 0 ||
          (r = sd_bus_message_open_container(m.get(), 'r', "sv")) < 0 ||
          (r = sd_bus_message_append(m.get(), "s", "PIDs")) < 0 ||
          (r = sd_bus_message_open_container(m.get(), 'v', "au")) < 0 ||
          (r = sd_bus_message_append_array(m.get(), 'u', upids.data(), upids.size() * sizeof(uint32_t))) < 0 ||
          (r = sd_bus_message_close_container(m.get())) < 0 || (r = sd_bus_message_close_container(m.get())) < 0 ||
          (r = sd_bus_message_close_container(m.get())) < 0 ||
          (r = sd_bus_message_append(m.get(), "a(sa(sv))", 0)) < 0)
        return r;
      return sd_bus_call(bus_.get(), m.get(), 0, &err->e, reply);
    });
  }

  // Stops `unit` and waits; a unit systemd no longer has is stopped already.
  Status StopUnit(const std::string& unit) {
    std::lock_guard<std::mutex> l(mu_);
    Status st = WithJob("stop " + unit, [&](sd_bus_message** reply, BusError* err) {
      return sd_bus_call_method(bus_.get(), kDest, kPath, kManager, "StopUnit", &err->e, reply, "ss", unit.c_str(),
                                "replace");
    });
    if (absl::IsNotFound(st)) return absl::OkStatus();
    return st;
  }

  // Runs a manager call that answers with a job path, then waits for that
  // job's JobRemoved signal. The connection is reopened once if systemd
  // dropped it (e.g. after daemon-reexec).
  template <typename CallFn>
  Status WithJob(const std::string& what, CallFn call) {
    for (int attempt = 0;; attempt++) {
      Status st = TryJob(what, call);
      if (st.ok() || attempt > 0 || !absl::IsUnavailable(st) || sd_bus_is_open(bus_.get()) > 0) return st;
      spdlog::warn("systemd connection lost ({}); reconnecting", st.message());
      auto bus = Connect(o_.bus_address);
      if (!bus.ok()) return bus.status();
      bus_ = std::move(*bus);
    }
  }

  template <typename CallFn>
  Status TryJob(const std::string& what, CallFn call) {
    struct Wait {
      std::string job, result;
      bool done = false;
    } w;
    sd_bus_slot* raw_slot = nullptr;
    // Subscribed before the call so the job's end cannot be missed; signals
    // read during the call are queued and dispatched below.
    int r = sd_bus_match_signal(
        bus_.get(), &raw_slot, kDest, kPath, kManager, "JobRemoved",
        [](sd_bus_message* m, void* ud, sd_bus_error*) -> int {
          auto* w = static_cast<Wait*>(ud);
          uint32_t id;
          const char *path, *unit, *result;
          if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) >= 0 && w->job == path) {
            w->done = true;
            w->result = result;
          }
          return 0;
        },
        &w);
    if (r < 0) return BusFailure(what + ": subscribe to JobRemoved", r);
    Slot slot(raw_slot);
    BusError sub_err;  // the system bus sends job signals to subscribers only
    sd_bus_call_method(bus_.get(), kDest, kPath, kManager, "Subscribe", &sub_err.e, nullptr, "");

    sd_bus_message* raw_reply = nullptr;
    BusError err;
    r = call(&raw_reply, &err);
    Message reply(raw_reply);
    if (r < 0) {
      if (sd_bus_error_has_name(&err.e, "org.freedesktop.systemd1.NoSuchUnit"))
        return absl::NotFoundError(what + ": " + err.Text());
      if (sd_bus_error_has_name(&err.e, "org.freedesktop.systemd1.UnitExists"))
        return absl::AlreadyExistsError(what + ": " + err.Text());
      if (sd_bus_error_is_set(&err.e) && !sd_bus_error_has_name(&err.e, SD_BUS_ERROR_NO_REPLY) &&
          !sd_bus_error_has_name(&err.e, SD_BUS_ERROR_DISCONNECTED))
        return absl::FailedPreconditionError("systemd: " + what + ": " + err.Text());
      return BusFailure("systemd: " + what, r, &err);
    }
    const char* job = nullptr;
    if ((r = sd_bus_message_read(reply.get(), "o", &job)) < 0) return BusFailure(what + ": reply", r);
    w.job = job;

    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o_.job_timeout_ms);
    while (!w.done) {
      r = sd_bus_process(bus_.get(), nullptr);
      if (r < 0) return BusFailure(what + ": waiting for job " + w.job, r);
      if (r > 0) continue;
      auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return absl::DeadlineExceededError("systemd: " + what + ": job " + w.job + " did not finish in " +
                                           std::to_string(o_.job_timeout_ms) + " ms");
      if ((r = sd_bus_wait(bus_.get(), static_cast<uint64_t>(left.count()))) < 0)
        return BusFailure(what + ": waiting for job " + w.job, r);
    }
    if (w.result != "done") return absl::FailedPreconditionError("systemd: " + what + ": job " + w.result);
    return absl::OkStatus();
  }

  SystemdOptions o_;
  std::mutex mu_;  // sd-bus connections are not thread-safe
  Bus bus_;
  std::unique_ptr<CgroupManager> fs_;
};

}  // namespace

std::string PodScopeName(const std::string& pod_id) { return "kcr-" + pod_id + ".scope"; }

StatusOr<std::unique_ptr<CgroupManager>> NewSystemdCgroupManager(const SystemdOptions& o) {
  if (sd_booted() <= 0)
    return absl::FailedPreconditionError(
        "cgroup driver systemd: systemd is not the init system on this host (no /run/systemd/system); use cgroupfs");
  auto bus = Connect(o.bus_address);
  if (!bus.ok()) return absl::FailedPreconditionError("cgroup driver systemd: " + std::string(bus.status().message()));
  KCR_ASSIGN_OR_RETURN(std::unique_ptr<CgroupManager> fs, NewCgroupfsManager(o.mount_root));
  return std::unique_ptr<CgroupManager>(new Systemd(o, std::move(*bus), std::move(fs)));
}

}  // namespace kcr::runtime

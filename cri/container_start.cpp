// StartContainer: the created init execs the container's command.
#include "common/log.h"
#include "cri/container_hooks.h"
#include "cri/grpc_status.h"
#include "cri/runtime_common.h"
#include "cri/runtime_service.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;

// Under transition_mu_, from a fresh read: an exit recorded since the
// handler read `c` (its monitor died and MonitorLost declared it lost, or
// the exit watcher gave up waiting for this start) stays; the start time
// is kept with it.
absl::Status RuntimeService::RecordStart(kcr::runtime::ContainerRecord& c, const nlohmann::json& started) {
  if (auto now = d_.store.GetContainer(c.id); now.ok() && now->state == kcr::runtime::ContainerState::kExited) {
    c = *now;
    if (c.started_ns != 0) return absl::OkStatus();
    c.started_ns = started.value("started_ns", NowNs());
    return d_.store.UpdateContainer(c);
  }
  MarkStarted(c, started);
  return d_.store.UpdateContainer(c);
}

kcr::runtime::ContainerRecord RuntimeService::AdoptMonitorState(kcr::runtime::ContainerRecord c,
                                                                 kcr::monitor::MonitorClient& m) {
  if (c.state != kcr::runtime::ContainerState::kCreated) return c;
  auto s = m.Call({{"op", "state"}, {"container", c.id}});
  if (!s.ok()) {
    spdlog::warn("container {}: its state from its monitor: {}", c.id, s.status().message());
    return c;
  }
  nlohmann::json cs = (*s)["containers"].is_array() && !(*s)["containers"].empty() ? (*s)["containers"][0]
                                                                                 : nlohmann::json::object();
  std::string status = cs.value("status", "");
  if (status != "running" && status != "exited") return c;
  std::lock_guard<std::mutex> order(transition_mu_);
  auto now = d_.store.GetContainer(c.id);
  if (!now.ok()) return c;
  if (now->state != kcr::runtime::ContainerState::kCreated) return *now;  // recorded meanwhile
  spdlog::warn("container {}: started by its monitor, though its start was not recorded", c.id);
  if (status == "exited") return RecordExit(*now, cs);  // its exit event announces it
  c = *now;
  if (absl::Status st = RecordStart(c, cs); !st.ok()) {
    spdlog::warn("container {}: {}", c.id, st.message());
    return *now;
  }
  Publish(c.id, v1::CONTAINER_STARTED_EVENT);
  return c;
}

grpc::Status RuntimeService::StartContainer(grpc::ServerContext*, const v1::StartContainerRequest* req,
                                            v1::StartContainerResponse*) {
  auto c = d_.store.GetContainer(req->container_id());
  if (!c.ok()) return ToGrpc(c.status());
  std::lock_guard<std::mutex> lock(LockFor(c->sandbox_id));
  c = d_.store.GetContainer(c->id);  // as it is now that no other call on the pod runs
  if (!c.ok()) return ToGrpc(c.status());
  if (c->state != kcr::runtime::ContainerState::kCreated)
    return ToGrpc(absl::FailedPreconditionError("container " + c->id + " is not in the created state"));
  auto mon = Monitor(c->sandbox_id);
  if (!mon.ok()) return ToGrpc(mon.status(), "StartContainer");
  int64_t asked_ns = NowNs();
  auto r = (*mon)->Call({{"op", "start"}, {"container", c->id}}, kCreateOrStart);
  if (!r.ok() && (absl::IsDeadlineExceeded(r.status()) || absl::IsUnavailable(r.status()))) {
    ForgetMonitor(c->sandbox_id);  // a late reply could not be matched on that connection
    // The monitor may have started it all the same (its answer came too
    // late, or the connection broke after it acted). Left CREATED, a
    // running container could be neither stopped nor removed, which go by
    // the record: the monitor's state, asked on a fresh connection, says
    // what happened. Only when that fails too is the outcome unknown (the
    // pod's watcher adopts the start when it reconnects).
    if (auto fresh = Monitor(c->sandbox_id); fresh.ok()) {
      kcr::runtime::ContainerRecord now = AdoptMonitorState(*c, **fresh);
      if (now.state != kcr::runtime::ContainerState::kCreated) {
        spdlog::warn("StartContainer {}: its monitor's answer was lost ({}), but it started the container", c->id,
                     r.status().message());
        return grpc::Status::OK;
      }
    }
    return ToGrpc(r.status(), "StartContainer");
  }
  if (!r.ok() && absl::IsFailedPrecondition(r.status())) {
    // An earlier StartContainer whose answer was lost (kcrd was killed, or
    // the call's deadline passed) may have started it: the monitor then
    // refuses, and its state shows a start from before this call. That
    // start is recorded as it happened; the container is neither started
    // twice nor reported as failed to start.
    auto s = (*mon)->Call({{"op", "state"}, {"container", c->id}});
    nlohmann::json cs = s.ok() && (*s)["containers"].is_array() && !(*s)["containers"].empty()
                            ? (*s)["containers"][0]
                            : nlohmann::json::object();
    int64_t started_ns = cs.value("started_ns", int64_t{0});
    if (started_ns > 0 && started_ns < asked_ns) {
      std::lock_guard<std::mutex> order(transition_mu_);
      spdlog::warn("StartContainer {}: already started (an earlier start's answer was lost)", c->id);
      if (cs.value("status", "") == "exited") {
        RecordExit(*c, cs);  // its exit event announces it
      } else {
        if (absl::Status st = RecordStart(*c, cs); !st.ok()) return ToGrpc(st, "StartContainer");
        Publish(c->id, v1::CONTAINER_STARTED_EVENT);
      }
      return ToGrpc(absl::FailedPreconditionError("container " + c->id + " was already started"));
    }
  }
  if (!r.ok()) {
    // The init could not exec (e.g. no such command): the container exits
    // with that reason, as runc's "executable file not found" would.
    c->state = kcr::runtime::ContainerState::kExited;
    c->finished_ns = NowNs();
    c->exit_code = 128;
    c->reason = "StartError";
    c->message = std::string(r.status().message());
    d_.store.UpdateContainer(*c).IgnoreError();
    return ToGrpc(Annotate(r.status(), "start container " + c->id));
  }
  std::lock_guard<std::mutex> order(transition_mu_);
  if (absl::Status st = RecordStart(*c, *r); !st.ok()) return ToGrpc(st, "StartContainer");
  spdlog::info("StartContainer {} pid {}", c->id, r->value("pid", -1));
  Publish(c->id, v1::CONTAINER_STARTED_EVENT);
  RunPostHooks(d_.paths.ContainerDir(c->id), c->id, false, r->value("pid", -1));  // poststart, if any
  return grpc::Status::OK;
}

}  // namespace kcr::cri

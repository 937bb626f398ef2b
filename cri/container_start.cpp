// StartContainer: the created init execs the container's command.
#include "common/log.h"
#include "cri/grpc_status.h"
#include "cri/runtime_common.h"
#include "cri/runtime_service.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;

grpc::Status RuntimeService::StartContainer(grpc::ServerContext*, const v1::StartContainerRequest* req,
                                            v1::StartContainerResponse*) {
  auto c = d_.store.GetContainer(req->container_id());
  if (!c.ok()) return ToGrpc(c.status());
  std::lock_guard<std::mutex> lock(LockFor(c->sandbox_id));
  if (c->state != kcr::runtime::ContainerState::kCreated)
    return ToGrpc(absl::FailedPreconditionError("container " + c->id + " is not in the created state"));
  auto mon = Monitor(c->sandbox_id);
  if (!mon.ok()) return ToGrpc(mon.status(), "StartContainer");
  auto r = (*mon)->Call({{"op", "start"}, {"container", c->id}}, kCreateOrStart);
  if (!r.ok() && (absl::IsDeadlineExceeded(r.status()) || absl::IsUnavailable(r.status()))) {
    ForgetMonitor(c->sandbox_id);  // the monitor's answer is unknown: nothing is recorded
    return ToGrpc(r.status(), "StartContainer");
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
  c->state = kcr::runtime::ContainerState::kRunning;
  c->started_ns = r->value("started_ns", NowNs());
  // The process, for ContainerStatus' verbose info.
  nlohmann::json extra = nlohmann::json::parse(c->extra.empty() ? "{}" : c->extra, nullptr, false);
  if (!extra.is_object()) extra = nlohmann::json::object();
  extra["pid"] = r->value("pid", -1);
  c->extra = extra.dump();
  if (absl::Status st = d_.store.UpdateContainer(*c); !st.ok()) return ToGrpc(st, "StartContainer");
  spdlog::info("StartContainer {} pid {}", c->id, r->value("pid", -1));
  Publish(c->id, v1::CONTAINER_STARTED_EVENT);
  return grpc::Status::OK;
}

}  // namespace kcr::cri

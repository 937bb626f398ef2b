// ExecSync: runs a command inside the container through its monitor, with
// the timeout honoured (CRI: DeadlineExceeded when it expires) and output
// capped. Exec, Attach and PortForward: container_streaming.cpp.
#include "cri/grpc_status.h"
#include "cri/runtime_service.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;

namespace {
// Output kept per stream; the rest is read and dropped. Both streams
// together, with the message around them, stay within kubelet's 16 MiB
// limit on a CRI response.
constexpr size_t kMaxExecSyncOutput = (8 << 20) - (64 << 10);
}  // namespace

grpc::Status RuntimeService::ExecSync(grpc::ServerContext* ctx, const v1::ExecSyncRequest* req,
                                      v1::ExecSyncResponse* resp) {
  if (req->cmd().empty()) return ToGrpc(absl::InvalidArgumentError("ExecSync: cmd is empty"));
  auto c = d_.store.GetContainer(req->container_id());
  if (!c.ok()) return ToGrpc(c.status());
  kcr::runtime::ContainerRecord r = Refresh(*c);
  if (r.state != kcr::runtime::ContainerState::kRunning)
    return ToGrpc(absl::FailedPreconditionError("container " + r.id + " is not running"));
  // A connection of its own: a long command never holds up the pod's
  // other calls, and its deadline (the timeout, with the monitor's drain
  // period and a margin) bounds the wait even if the monitor hangs.
  auto mon = kcr::monitor::MonitorClient::Connect(d_.paths.MonitorSocket(r.sandbox_id));
  if (!mon.ok()) return ToGrpc(mon.status(), "ExecSync");
  std::vector<std::string> cmd(req->cmd().begin(), req->cmd().end());
  kcr::monitor::MonitorClient::CallOptions o;
  o.timeout = req->timeout() > 0 ? std::chrono::seconds(req->timeout() + 15) : std::chrono::hours(24 * 365);
  o.cancelled = [ctx] { return ctx->IsCancelled(); };
  auto out = (*mon)->Call({{"op", "exec_sync"},
                           {"container", r.id},
                           {"args", cmd},
                           {"timeout_ms", req->timeout() * 1000},
                           {"max_output", kMaxExecSyncOutput}},
                          o);
  if (!out.ok()) return ToGrpc(out.status(), "ExecSync");
  if (out->value("timed_out", false))
    return ToGrpc(absl::DeadlineExceededError("command " + cmd[0] + " timed out after " +
                                              std::to_string(req->timeout()) + "s"));
  resp->set_stdout(out->value("stdout", ""));
  resp->set_stderr(out->value("stderr", ""));
  resp->set_exit_code(out->value("exit_code", -1));
  return grpc::Status::OK;
}

}  // namespace kcr::cri

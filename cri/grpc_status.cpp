#include "cri/grpc_status.h"

#include "common/log.h"

namespace kcr::cri {

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(s.code())), std::string(s.message()));
}

grpc::Status ToGrpc(const absl::Status& s, const char* rpc) {
  if (!s.ok()) {
    if (s.code() == absl::StatusCode::kInternal || s.code() == absl::StatusCode::kDataLoss ||
        s.code() == absl::StatusCode::kUnknown)
      spdlog::error("{}: {}", rpc, s);
    else
      spdlog::debug("{}: {}", rpc, s);
  }
  return ToGrpc(s);
}

}  // namespace kcr::cri

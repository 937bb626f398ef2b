#include "cri/grpc_status.h"

namespace kcr::cri {

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(s.code())), std::string(s.message()));
}

// The failure is logged once, by the CRI interceptor (cri/metrics_interceptor.h),
// with the method, the objects the request names, the code and the duration.
grpc::Status ToGrpc(const absl::Status& s, const char* /*rpc*/) { return ToGrpc(s); }

}  // namespace kcr::cri

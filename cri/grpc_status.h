#pragma once
// The one place where kcr's absl::Status values become gRPC statuses.
#include <grpcpp/grpcpp.h>

#include "common/status.h"

namespace kcr::cri {

// Same code (absl and gRPC share numbering), same message.
grpc::Status ToGrpc(const absl::Status& s);

// The same; `rpc` (the CRI method) is no longer used: the interceptor logs
// every failed call once, with its method (kept so handlers need no edit).
grpc::Status ToGrpc(const absl::Status& s, const char* rpc);

}  // namespace kcr::cri

#pragma once
// The one place where kcr's absl::Status values become gRPC statuses.
#include <grpcpp/grpcpp.h>

#include "common/status.h"

namespace kcr::cri {

// Same code (absl and gRPC share numbering), same message.
grpc::Status ToGrpc(const absl::Status& s);

// `rpc` is the CRI method name, used for the log line of internal errors.
grpc::Status ToGrpc(const absl::Status& s, const char* rpc);

}  // namespace kcr::cri

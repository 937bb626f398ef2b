#pragma once
// CRI RuntimeService (runtime.v1). One file per RPC group:
// runtime_info.cpp (Version, Status, RuntimeConfig, UpdateRuntimeConfig);
// RPCs of later steps answer UNIMPLEMENTED naming the RPC
// (runtime_unimplemented.cpp) until their file exists.
#include <string>

#include "api/api.grpc.pb.h"
#include "runtime/cni/network.h"

namespace kcr::cri {

// What the runtime reports about itself; filled by the daemon's wiring.
struct RuntimeInfo {
  std::string cgroup_driver;  // "cgroupfs" | "systemd"
};

class RuntimeService final : public ::runtime::v1::RuntimeService::Service {
 public:
  // `network` is borrowed and outlives the service.
  RuntimeService(RuntimeInfo info, kcr::runtime::NetworkPlugin& network)
      : info_(std::move(info)), network_(network) {}

#define KCR_UNARY(name, req, resp) \
  grpc::Status name(grpc::ServerContext*, const ::runtime::v1::req*, ::runtime::v1::resp*) override;
#define KCR_STREAM(name, req, resp) \
  grpc::Status name(grpc::ServerContext*, const ::runtime::v1::req*, grpc::ServerWriter<::runtime::v1::resp>*) override;
#include "cri/runtime_rpcs.inc"
#undef KCR_UNARY
#undef KCR_STREAM

 private:
  RuntimeInfo info_;
  kcr::runtime::NetworkPlugin& network_;
};

}  // namespace kcr::cri

#pragma once
// The one place every CRI call passes: a gRPC server interceptor that
// counts each call by method and status code, observes its latency
// (cri/metrics.h), and logs it at debug level with the objects it names
// (pod, container, image) and its duration; a failed call is logged with
// the same fields at warn level (error for Internal, Unknown and DataLoss),
// so every error carries the pod or container ID it concerns.
#include <grpcpp/support/server_interceptor.h>

#include "cri/metrics.h"

namespace kcr::cri {

class MetricsInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `metrics` is borrowed and outlives the server.
  explicit MetricsInterceptorFactory(Metrics& metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override;

 private:
  Metrics& metrics_;
};

}  // namespace kcr::cri

// RuntimeService RPCs of later steps: UNIMPLEMENTED naming the RPC. An RPC
// leaves this list when its own file implements it.
#include "cri/runtime_service.h"

namespace kcr::cri {

#define KCR_NOT_YET(name) \
  grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "kcr: " #name " is not implemented yet")
#define KCR_UNARY(name, req, resp)                                                                   \
  grpc::Status RuntimeService::name(grpc::ServerContext*, const ::runtime::v1::req*, ::runtime::v1::resp*) { \
    return KCR_NOT_YET(name);                                                                        \
  }
#define KCR_STREAM(name, req, resp)                                                \
  grpc::Status RuntimeService::name(grpc::ServerContext*, const ::runtime::v1::req*, \
                                    grpc::ServerWriter<::runtime::v1::resp>*) {      \
    return KCR_NOT_YET(name);                                                      \
  }

KCR_UNARY(CheckpointPod, CheckpointPodRequest, CheckpointPodResponse)
KCR_UNARY(RestorePod, RestorePodRequest, RestorePodResponse)

}  // namespace kcr::cri

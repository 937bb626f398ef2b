// RemoveImage: idempotent; removing a missing image succeeds (CRI).
#include "common/log.h"
#include "cri/grpc_status.h"
#include "cri/image_service.h"

namespace kcr::cri {

grpc::Status ImageService::RemoveImage(grpc::ServerContext*, const ::runtime::v1::RemoveImageRequest* req,
                                       ::runtime::v1::RemoveImageResponse*) {
  const std::string& ref = req->image().image();
  if (ref.empty()) return ToGrpc(absl::InvalidArgumentError("RemoveImage: image.image is empty"));
  spdlog::info("RemoveImage {}", ref);
  return ToGrpc(Annotate(store_.Remove(ref), "remove image " + ref), "RemoveImage");
}

}  // namespace kcr::cri

// PullImage: fetches an image from its registry (or a configured mirror)
// into the store and returns its ID as image_ref, as containerd does.
#include "common/log.h"
#include "cri/grpc_status.h"
#include "cri/image_service.h"
#include "cri/metrics.h"

namespace kcr::cri {

grpc::Status ImageService::PullImage(grpc::ServerContext* ctx, const ::runtime::v1::PullImageRequest* req,
                                     ::runtime::v1::PullImageResponse* resp) {
  const std::string& ref = req->image().image();
  if (ref.empty()) return ToGrpc(absl::InvalidArgumentError("PullImage: image.image is empty"));
  images::AuthConfig auth;
  if (req->has_auth()) {
    // Secrets (password, auth, identity_token, registry_token) are never logged.
    const auto& a = req->auth();
    auth.username = a.username();
    auth.password = a.password();
    auth.auth = a.auth();
    auth.server_address = a.server_address();
    auth.identity_token = a.identity_token();
    auth.registry_token = a.registry_token();
  }
  spdlog::info("PullImage {}", ref);
  // The pull ends with its call: kubelet's deadline or a client that hung
  // up (crictl's Ctrl-C) cancel the call, and the download, unpack and any
  // wait on another pull stop with it.
  std::unique_ptr<Metrics::Pull> pull = metrics_ ? metrics_->StartPull() : nullptr;
  images::Cancel cancel([ctx] { return ctx->IsCancelled(); },
                        [p = pull.get()](size_t n) {
                          if (p) p->AddBytes(n);
                        });
  auto img = store_.Pull(ref, auth, cancel);
  if (pull) pull->Finish(img.status());
  if (!img.ok()) return ToGrpc(Annotate(img.status(), "pull " + ref), "PullImage");
  spdlog::info("PullImage {} -> {}", ref, img->id);
  resp->set_image_ref(img->id);
  return grpc::Status::OK;
}

}  // namespace kcr::cri

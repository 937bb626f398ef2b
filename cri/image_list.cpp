// ListImages, StreamImages and ImageStatus.
#include <nlohmann/json.hpp>

#include "cri/grpc_status.h"
#include "cri/stream_chunks.h"
#include "cri/image_service.h"

namespace kcr::cri {

void ToCri(const images::Image& in, ::runtime::v1::Image* out) {
  out->set_id(in.id);
  for (const auto& t : in.repo_tags) out->add_repo_tags(t);
  for (const auto& d : in.repo_digests) out->add_repo_digests(d);
  out->set_size(in.size);
  if (in.uid) out->mutable_uid()->set_value(*in.uid);
  out->set_username(in.username);
  out->set_pinned(in.pinned);
  auto* spec = out->mutable_spec();
  spec->set_image(in.id);
  for (const auto& [k, v] : in.annotations) (*spec->mutable_annotations())[k] = v;
}

grpc::Status ImageService::ListImages(grpc::ServerContext*, const ::runtime::v1::ListImagesRequest* req,
                                      ::runtime::v1::ListImagesResponse* resp) {
  for (const auto& img : store_.List(req->filter().image().image())) ToCri(img, resp->add_images());
  return grpc::Status::OK;
}

// Each image is sent once; chunks keep every message far below gRPC's limit.
grpc::Status ImageService::StreamImages(grpc::ServerContext* ctx, const ::runtime::v1::StreamImagesRequest* req,
                                        grpc::ServerWriter<::runtime::v1::StreamImagesResponse>* writer) {
  return WriteChunked<::runtime::v1::StreamImagesResponse>(ctx, writer, store_.List(req->filter().image().image()), 100,
                      [](::runtime::v1::StreamImagesResponse& m, const auto& img) {
                        ToCri(img, m.add_images());
                        return true;
                      });
}

// A missing image is not an error: the response carries no image (CRI).
grpc::Status ImageService::ImageStatus(grpc::ServerContext*, const ::runtime::v1::ImageStatusRequest* req,
                                       ::runtime::v1::ImageStatusResponse* resp) {
  const std::string& ref = req->image().image();
  if (ref.empty()) return ToGrpc(absl::InvalidArgumentError("ImageStatus: image.image is empty"));
  auto img = store_.Get(ref);
  if (!img.ok()) {
    if (img.status().code() == absl::StatusCode::kNotFound) return grpc::Status::OK;
    return ToGrpc(Annotate(img.status(), "image " + ref), "ImageStatus");
  }
  ToCri(*img, resp->mutable_image());
  if (req->verbose()) {
    // As containerd: info["info"] holds JSON with the image spec (OCI config).
    nlohmann::json info;
    info["imageSpec"] = nlohmann::json::parse(img->config_json, nullptr, false);
    info["manifestDigest"] = img->manifest_digest;
    info["chainID"] = img->chain_ids.empty() ? "" : img->chain_ids.back();
    (*resp->mutable_info())["info"] = info.dump();
  }
  return grpc::Status::OK;
}

}  // namespace kcr::cri

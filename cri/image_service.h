#pragma once
// CRI ImageService (runtime.v1): one file per RPC group —
// image_pull.cpp (PullImage), image_list.cpp (ListImages, StreamImages,
// ImageStatus), image_remove.cpp (RemoveImage), image_fs_info.cpp
// (ImageFsInfo). Validates requests and translates to images::ImageStore.
#include "api/api.grpc.pb.h"
#include "images/image_store.h"

namespace kcr::cri {

class Metrics;

class ImageService final : public ::runtime::v1::ImageService::Service {
 public:
  // `store` and `metrics` (pull counts, bytes, in-flight pulls; null: none)
  // are borrowed and outlive the service.
  explicit ImageService(images::ImageStore& store, Metrics* metrics = nullptr) : store_(store), metrics_(metrics) {}

  grpc::Status PullImage(grpc::ServerContext*, const ::runtime::v1::PullImageRequest*,
                         ::runtime::v1::PullImageResponse*) override;
  grpc::Status ListImages(grpc::ServerContext*, const ::runtime::v1::ListImagesRequest*,
                          ::runtime::v1::ListImagesResponse*) override;
  grpc::Status StreamImages(grpc::ServerContext*, const ::runtime::v1::StreamImagesRequest*,
                            grpc::ServerWriter<::runtime::v1::StreamImagesResponse>*) override;
  grpc::Status ImageStatus(grpc::ServerContext*, const ::runtime::v1::ImageStatusRequest*,
                           ::runtime::v1::ImageStatusResponse*) override;
  grpc::Status RemoveImage(grpc::ServerContext*, const ::runtime::v1::RemoveImageRequest*,
                           ::runtime::v1::RemoveImageResponse*) override;
  grpc::Status ImageFsInfo(grpc::ServerContext*, const ::runtime::v1::ImageFsInfoRequest*,
                           ::runtime::v1::ImageFsInfoResponse*) override;

 private:
  images::ImageStore& store_;
  Metrics* metrics_;
};

// Fills a CRI Image from kcr's image record.
void ToCri(const images::Image& in, ::runtime::v1::Image* out);

}  // namespace kcr::cri

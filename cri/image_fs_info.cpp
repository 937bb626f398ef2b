// ImageFsInfo: usage of the filesystem holding images and, separately, the
// container writable layers (both live under <root>/snapshots today, so the
// container entry reports the same mountpoint).
#include "common/fs.h"
#include "cri/grpc_status.h"
#include "cri/image_service.h"

namespace kcr::cri {

grpc::Status ImageService::ImageFsInfo(grpc::ServerContext*, const ::runtime::v1::ImageFsInfoRequest*,
                                       ::runtime::v1::ImageFsInfoResponse* resp) {
  auto u = store_.Usage();
  if (!u.ok()) return ToGrpc(Annotate(u.status(), "image filesystem usage"), "ImageFsInfo");
  auto* fs = resp->add_image_filesystems();
  fs->set_timestamp(u->timestamp_ns);
  fs->mutable_fs_id()->set_mountpoint(u->mountpoint);
  fs->mutable_used_bytes()->set_value(u->used_bytes);
  fs->mutable_inodes_used()->set_value(u->inodes_used);
  auto* cfs = resp->add_container_filesystems();
  cfs->set_timestamp(u->timestamp_ns);
  cfs->mutable_fs_id()->set_mountpoint(u->mountpoint);
  cfs->mutable_used_bytes()->set_value(u->used_bytes);
  cfs->mutable_inodes_used()->set_value(u->inodes_used);
  return grpc::Status::OK;
}

}  // namespace kcr::cri

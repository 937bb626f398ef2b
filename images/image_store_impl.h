#pragma once
// The ImageStore implementation: puller (registry client + content store +
// layer store) and image metadata in SQLite (tables image_*).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/paths.h"
#include "common/sqlite.h"
#include "images/image_store.h"
#include "images/platform.h"
#include "images/registry_client.h"
#include "images/snapshot/layer_store.h"

namespace kcr::images {

struct ImageStoreOptions {
  std::map<std::string, RegistryHostConfig> hosts;  // key: registry host ("docker.io")
  int max_parallel_layers = 3;
  int max_retries = 3;
  // Chooses an index's manifest (PlatformMatcher's order) and the images
  // CheckPlatform accepts (cri/config [image] platform).
  Platform platform = HostPlatform();
  std::vector<std::string> pinned_refs;  // reported pinned (e.g. the pause image)
  // What a hostile registry can make one pull cost (cri/config [images]).
  // Uncompressed bytes of one layer; also the most a layer's descriptor may
  // declare (compressed data is not meaningfully larger).
  int64_t max_layer_bytes = int64_t{16} << 30;
  // Uncompressed bytes a pull unpacks for one image, all its new layers
  // together; also the most its descriptors may declare together.
  int64_t max_image_bytes = int64_t{64} << 30;
  int blob_timeout_s = 3600;      // all attempts at one blob (0: none)
  int blob_min_bytes_per_s = 1024;  // a blob moving slower than this ...
  int blob_stall_timeout_s = 60;    // ... for this long is abandoned
};

// Opens the store: creates tables, clears interrupted downloads, and
// collects blobs and layers no image references (left by a crash between a
// metadata change and the file removals that follow it).
StatusOr<std::unique_ptr<ImageStore>> NewImageStore(const Paths& paths, Database& db, LayerStore& layers,
                                                   ImageStoreOptions options);

}  // namespace kcr::images

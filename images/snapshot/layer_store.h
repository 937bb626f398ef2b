#pragma once
// LayerStore: the overlayfs snapshotter. Committed snapshots hold unpacked
// image layers keyed by chain ID (a layer shared by several images is
// stored once); active snapshots are container root filesystems on top of
// them. Each snapshot is <root>/snapshots/<n>/{fs,work} with a small
// integer n, which keeps overlay's lowerdir option short.
#include <cstdint>
#include <memory>
#include <string>

#include "common/paths.h"
#include "common/sqlite.h"
#include "images/cancel.h"
#include "images/snapshotter.h"

namespace kcr::images {

class LayerStore : public Snapshotter {
 public:
  // True if committed layer snapshot `chain_id` ("sha256:...") exists.
  virtual bool HasLayer(const std::string& chain_id) = 0;
  // What one ApplyLayer may unpack, and whether its caller still wants it.
  struct ApplyLimits {
    // Uncompressed bytes of the layer (the tar stream: headers, data,
    // padding); more is FailedPrecondition naming the layer and `limit`.
    int64_t max_bytes = INT64_MAX;
    std::string limit = "the layer size limit";  // names the limit in that error (a config key)
    const Cancel* cancel = nullptr;
  };
  // Decompresses (gzip, zstd or none, from media_type) and unpacks the layer
  // blob at `blob_path` into a new committed snapshot `chain_id` on top of
  // `parent_chain_id` ("" for the first layer). Verifies the uncompressed
  // stream's sha256 == diff_id. Atomic: nothing visible on failure (the
  // half-unpacked directory is removed). OK if `chain_id` already exists
  // (idempotent); while another call unpacks the same chain this one waits
  // for it, or until its caller cancels. Returns the uncompressed bytes
  // this call unpacked (0 when the layer was there). Errors:
  // FailedPrecondition for hostile/unsupported content or a limit passed,
  // DataLoss on diff_id mismatch, both naming `layer_digest`; NotFound if
  // the parent is missing; Cancelled when `limits.cancel` fires.
  virtual StatusOr<int64_t> ApplyLayer(const std::string& chain_id, const std::string& parent_chain_id,
                                       const std::string& blob_path, const std::string& media_type,
                                       const std::string& diff_id, const std::string& layer_digest,
                                       const ApplyLimits& limits) = 0;
  // The uncompressed bytes (the tar stream, as ApplyLayer counts them) of
  // committed layer `chain_id`, whichever pull unpacked it; -1 for a layer
  // stored before kcr recorded sizes. NotFound if it is not stored.
  virtual StatusOr<int64_t> LayerBytes(const std::string& chain_id) = 0;
  // Removes committed layer `chain_id`. OK if missing. FailedPrecondition if
  // a child layer or an active (container) snapshot still uses it.
  virtual Status RemoveLayer(const std::string& chain_id) = 0;
  // Bytes and inodes of all snapshots.
  virtual fs::DiskUsage TotalUsage() = 0;
  // Chain IDs of all committed layers, children before their parents.
  virtual std::vector<std::string> ListLayers() = 0;
};

// Snapshots under paths.Snapshots(), metadata in `db` (table snapshot_*).
// Removes unpacking leftovers and snapshot directories without a row (a
// kcrd killed mid-unpack) before returning.
StatusOr<std::unique_ptr<LayerStore>> NewOverlayLayerStore(const Paths& paths, Database& db);

}  // namespace kcr::images

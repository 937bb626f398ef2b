#pragma once
// ImageStore: the images/ module's face to cri/. Pulls, lists, inspects and
// removes images; owns content, snapshots of image layers and image metadata.
//
// Thread-safe. Concurrent pulls of one reference share one download.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "images/cancel.h"

namespace kcr::images {

// Credentials for one pull (CRI AuthConfig). Secrets are never logged.
struct AuthConfig {
  std::string username;
  std::string password;
  std::string auth;            // base64("user:password")
  std::string server_address;
  std::string identity_token;  // OAuth2 refresh token
  std::string registry_token;  // bearer token sent as is
};

struct Image {
  std::string id;                          // "sha256:<hex of config blob>"
  std::vector<std::string> repo_tags;      // "docker.io/library/busybox:1.36"
  std::vector<std::string> repo_digests;   // "docker.io/library/busybox@sha256:<manifest>"
  uint64_t size = 0;                       // sum of the manifest's blob sizes (config+layers)
  std::string config_json;                 // the OCI image config, verbatim
  std::string manifest_digest;             // "sha256:..." of the platform manifest
  std::vector<std::string> diff_ids;       // rootfs.diff_ids from the config
  std::vector<std::string> chain_ids;      // one per layer; back() is the rootfs top
  std::optional<int64_t> uid;              // USER when numeric (user part)
  std::string username;                    // USER when a name
  bool pinned = false;
  std::map<std::string, std::string> annotations;  // manifest annotations
};

struct FsUsage {
  std::string mountpoint;  // filesystem holding the store (for ImageFsInfo)
  uint64_t used_bytes = 0;
  uint64_t inodes_used = 0;
  int64_t timestamp_ns = 0;
};

class ImageStore {
 public:
  virtual ~ImageStore() = default;

  // Pulls `ref` (any form a user types: "busybox", "host:5000/a/b:tag",
  // "name@sha256:..."), stores it, tags it, and returns it. Idempotent: a
  // second pull of a present image refreshes the tag only. On failure the
  // store is exactly as it was (partial downloads are kept only in ingest/
  // and never visible). Errors: InvalidArgument (bad reference), NotFound
  // (no such manifest/tag), Unauthenticated / PermissionDenied (registry
  // auth), Unavailable (registry unreachable after retries), DataLoss
  // (digest mismatch), FailedPrecondition (hostile or unsupported content,
  // or a size limit passed, naming the layer digest), DeadlineExceeded (a
  // blob not complete within its time), Cancelled (the caller gave up:
  // `cancel` fired; the download, the unpack and any wait on another pull's
  // work stop within about a second). A pull never waits on another pull's
  // download from another registry, nor past its own cancellation.
  virtual StatusOr<Image> Pull(const std::string& ref, const AuthConfig& auth, const Cancel& cancel) = 0;

  // Resolves an image by ID ("sha256:<hex>" or a unique hex prefix), by
  // tag (normalised: "busybox" == "docker.io/library/busybox:latest") or by
  // digest reference. NotFound when nothing matches.
  virtual StatusOr<Image> Get(const std::string& ref_or_id) = 0;

  // All images, or the one matching `ref_or_id` when not empty (CRI
  // ImageFilter semantics: a missing match is an empty list, not an error).
  virtual std::vector<Image> List(const std::string& ref_or_id = "") = 0;

  // Removes the image `ref_or_id` resolves to (by ID, tag or digest), with
  // all its tags and digests, as containerd does, and frees content and
  // layer snapshots nothing else uses. OK when nothing matches (idempotent).
  virtual Status Remove(const std::string& ref_or_id) = 0;

  // Whether this node can run `image`: OK when its config's os /
  // architecture / variant is the node's platform or one the node also runs
  // (the order pulls choose index entries by: an amd64 node runs 386, an
  // arm64 node arm/v8..v5), and for an image whose config names no
  // architecture. FailedPrecondition naming both platforms otherwise, so a
  // foreign image fails at CreateContainer instead of "exec format error"
  // at start. PullImage itself accepts a single-manifest image of any
  // platform, as containerd does.
  virtual Status CheckPlatform(const Image& image) = 0;

  // Space used by images (content + layer snapshots).
  virtual StatusOr<FsUsage> Usage() = 0;
};

}  // namespace kcr::images

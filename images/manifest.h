#pragma once
// OCI image index/manifest/config and their Docker schema-2 equivalents:
// parsing with limits, and platform choice. Pure functions over bytes, so
// they can be fuzzed (images/fuzz/manifest_fuzz.cpp).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "images/platform.h"

namespace kcr::images {

namespace media {
inline constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kDockerConfig = "application/vnd.docker.container.image.v1+json";
// What kcr sends in Accept when fetching a manifest.
inline constexpr const char* kAcceptManifests =
    "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
}  // namespace media

inline constexpr size_t kMaxManifestBytes = 4 << 20;
inline constexpr size_t kMaxConfigBytes = 8 << 20;
inline constexpr size_t kMaxEntries = 1000;

struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
  std::vector<std::string> urls;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
};

struct Manifest {
  std::string media_type;
  Descriptor config;
  std::vector<Descriptor> layers;
  std::map<std::string, std::string> annotations;
};

struct ImageConfig {
  std::string user;
  std::vector<std::string> diff_ids;
  std::string os, architecture, variant;  // the platform it was built for ("" when not given)
};

// What a fetched manifest document is.
enum class DocKind { kIndex, kManifest };

// Classifies a manifest document from its Content-Type (or, when that is
// generic, its mediaType field / shape). InvalidArgument for schema 1 and
// anything unknown, naming the media type.
StatusOr<DocKind> ClassifyManifest(const std::string& body, const std::string& content_type);

// Parses an index / manifest list. Errors name the problem.
StatusOr<std::vector<Descriptor>> ParseIndex(const std::string& body);
// Picks the image manifest entry `want` ranks best (PlatformMatcher: the
// wanted platform, then its fallbacks in containerd's order); among equally
// ranked entries the first in the index. Entries without a platform and
// entries that are not image manifests (nested indexes, artifacts) are
// passed over. NotFound naming the wanted platform, its fallbacks and every
// platform the index offers.
StatusOr<Descriptor> ChoosePlatform(const std::vector<Descriptor>& entries, const PlatformMatcher& want);

StatusOr<Manifest> ParseManifest(const std::string& body);
StatusOr<ImageConfig> ParseConfig(const std::string& body);

// Layer media types kcr can unpack.
bool IsLayerMediaType(const std::string& mt);

}  // namespace kcr::images
